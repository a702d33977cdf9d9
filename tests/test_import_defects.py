"""Regression tests for the import defects of issue 14 (argument names, optional arguments, mode, limits).

The models are small ones written here and imported as
`tests.test_import_defects:NAME` (a package.module:NAME spec), each showing
one way real code is written that the importer used to refuse or get wrong.
"""

from __future__ import annotations

import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

from runtime.cli import main as cli_main
from runtime.importing.importer import run_import

SPEC = "tests.test_import_defects"


# --- models --------------------------------------------------------------------------------

def sequential_mlp() -> nn.Module:
    """nn.Sequential's forward takes `input`, which fx renames to input_1."""
    return nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))


def bare_linear() -> nn.Module:
    """A torch layer by itself: its forward is the layer, not an F.linear with loose weights."""
    return nn.Linear(8, 3)


class CapitalArgument(nn.Module):
    """forward(X): fx names the placeholder x."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, X):  # noqa: N803 - the spelling under test
        return self.fc(X)


class OptionalArguments(nn.Module):
    """Optional mask and targets, as language models write them."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x, mask=None, targets=None):
        y = self.fc(x)
        if mask is not None:
            y = y * mask
        if targets is not None:
            return F.mse_loss(y, targets)
        return y


class TrainingBranch(nn.Module):
    """A branch taken only in training: the imported model is the one used for inference."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.noise = nn.Linear(8, 3)

    def forward(self, x):
        y = self.fc(x)
        if self.training:
            y = y + self.noise(x)
        return F.dropout(y, 0.25, training=self.training)


def _import(tmp_path, registry, name: str, shapes: list[str], weights: str | None = None):
    return run_import(f"{SPEC}:{name}", tmp_path / f"{name}.dw.json", registry, shapes, None, weights)


def _types(report) -> dict[str, int]:
    return dict(report.networks[0].blocks)


# --- D1: argument names fx renames ---------------------------------------------------------

def test_sequential_with_its_input_argument_imports_exactly(tmp_path, registry):
    report = _import(tmp_path, registry, "sequential_mlp", ["8"])
    assert _types(report) == {"VectorInput": 1, "Linear": 2, "ReLU": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0


def test_a_bare_torch_layer_imports_as_its_block(tmp_path, registry):
    report = _import(tmp_path, registry, "bare_linear", ["8"])
    assert _types(report) == {"VectorInput": 1, "Linear": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0


def test_an_argument_fx_renames_is_found_by_its_own_name(tmp_path, registry, capsys):
    code = cli_main(["import", f"{SPEC}:CapitalArgument", "--input-shape", "X=8",
                     "-o", str(tmp_path / "cap.dw.json")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Linear       1" in out.out and "largest difference 0.00e+00" in out.out


# --- D2: optional arguments ----------------------------------------------------------------

def test_optional_arguments_are_traced_at_their_defaults(tmp_path, registry):
    report = _import(tmp_path, registry, "OptionalArguments", ["8"])
    assert _types(report) == {"VectorInput": 1, "Linear": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0


# --- D8: eval mode -------------------------------------------------------------------------

def test_tracing_leaves_training_branches_out_and_restores_the_modes(tmp_path, registry):
    report = _import(tmp_path, registry, "TrainingBranch", ["8"])
    # the training-only Linear and Add are gone; the functional dropout stays a Dropout block
    assert _types(report) == {"VectorInput": 1, "Linear": 1, "Dropout": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0


def test_trace_restores_each_modules_own_mode():
    from runtime.importing.fx_import import trace

    model = TrainingBranch()
    model.fc.eval()  # a mixed state, as a partly frozen model has
    trace(model, ["x"])
    assert model.training is True and model.noise.training is True and model.fc.training is False

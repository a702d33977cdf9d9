"""Regression tests for the import defects of issue 14 (argument names, optional arguments, mode, limits).

The models are small ones written here and imported as
`tests.test_import_defects:NAME` (a package.module:NAME spec), each showing
one way real code is written that the importer used to refuse or get wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

from graph.project_io import load_project
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


class WideConcat(nn.Module):
    """A cat of 33 tensors, as DenseNet's blocks write it: more than a Concatenate block's 16 inputs."""

    def __init__(self, branches: int = 33):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(2, 1, 1) for _ in range(branches))

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], 1)


class WideStack(nn.Module):
    """torch.stack of 20 tensors has no block: its Unsupported stand-in must still be written."""

    def __init__(self):
        super().__init__()
        self.branches = nn.ModuleList(nn.Linear(8, 2) for _ in range(20))

    def forward(self, x):
        return torch.stack([branch(x) for branch in self.branches], 1)


class Versioned(nn.Module):
    """A module that versions its state_dict and checks the version when loading, as MNASNet does."""

    _version = 2

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):
        if local_metadata.get("version") != 2:
            raise ValueError(f"version {local_metadata.get('version')} is not supported")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    def forward(self, x):
        return self.fc(x)


class FeatureDropout2d(nn.Module):
    """Dropout2d (the module and the function) on features (B, F), which torch accepts."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.drop = nn.Dropout2d(0.3)

    def forward(self, x):
        return F.dropout2d(self.drop(self.fc(x)), 0.2, training=self.training)


def _import(tmp_path, registry, name: str, shapes: list[str], weights: str | None = None):
    return run_import(f"{SPEC}:{name}", tmp_path / f"{name}.dw.json", registry, shapes, None, weights)


def _types(report) -> dict[str, int]:
    return dict(report.networks[0].blocks)


# --- D1: argument names fx renames ---------------------------------------------------------

def test_sequential_with_its_input_argument_imports_exactly(tmp_path, registry):
    report = _import(tmp_path, registry, "sequential_mlp", ["8"])
    assert _types(report) == {"VectorInput": 1, "Linear": 2, "ReLU": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0


def test_the_input_argument_takes_its_shape_by_its_own_name(tmp_path, capsys):
    code = cli_main(["import", f"{SPEC}:sequential_mlp", "--input-shape", "input=8",
                     "-o", str(tmp_path / "seq.dw.json")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "largest difference 0.00e+00" in out.out


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
    from runtime.importing.fx_trace import trace

    model = TrainingBranch()
    model.fc.eval()  # a mixed state, as a partly frozen model has
    trace(model, ["x"])
    assert model.training is True and model.noise.training is True and model.fc.training is False


# --- D3: more inputs than a variadic block takes -------------------------------------------

def test_a_cat_of_33_tensors_becomes_a_chain_of_concatenates_with_exact_outputs(tmp_path, registry):
    report = _import(tmp_path, registry, "WideConcat", ["2,4,4"])
    assert _types(report) == {"ImageInput": 1, "Conv2d": 33, "Concatenate": 3, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff == 0.0
    network = load_project(report.project_path, registry).networks[0]
    joins = sorted(int(b.params["inputs"]) for b in network.blocks.values() if b.type == "Concatenate")
    assert joins == [3, 16, 16]  # 16, then that + 15, then that + 2


def test_an_unsupported_call_of_20_tensors_is_written_with_16_wires(tmp_path, registry):
    report = _import(tmp_path, registry, "WideStack", ["8"])
    (problem,) = report.networks[0].problems
    assert problem.operation == "torch.stack" and "reads 20 tensors" in problem.detail
    network = load_project(report.project_path, registry).networks[0]
    stack = network.blocks[problem.block]
    assert stack.params["inputs"] == 16 and len(network.edges_into(problem.block)) == 16


# --- D4 and no tracebacks ------------------------------------------------------------------

def test_weights_of_a_versioned_module_keep_their_version(tmp_path, registry):
    weights = tmp_path / "versioned.pt"
    torch.save(Versioned().state_dict(), weights)
    report = _import(tmp_path, registry, "Versioned", ["8"], str(weights))
    assert report.ok and report.networks[0].max_abs_diff == 0.0


def test_weights_a_module_refuses_exit_2_in_one_line(tmp_path, capsys):
    weights = tmp_path / "plain.pt"
    torch.save(dict(Versioned().state_dict()), weights)  # a plain dict: no version recorded
    code = cli_main(["import", f"{SPEC}:Versioned", "--input-shape", "8", "--weights", str(weights),
                     "-o", str(tmp_path / "v.dw.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"deepwire: --weights {weights}: the weights do not fit the model: "
                                        "version None is not supported"]


def test_a_wrong_input_shape_is_one_line_without_torchs_traceback(tmp_path, capsys):
    code = cli_main(["import", f"{SPEC}:WideConcat", "--input-shape", "8", "-o", str(tmp_path / "w.dw.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "Expected 3D (unbatched) or 4D (batched) input to conv2d" in err and "--input-shape" in err


def test_any_failure_inside_the_importer_exits_2_in_one_line(tmp_path, capsys, monkeypatch):
    from runtime.importing import importer

    def broken(*args):
        raise ValueError("the model's forward refused a batch of 3")

    monkeypatch.setattr(importer, "_compare", broken)
    code = cli_main(["import", f"{SPEC}:bare_linear", "--input-shape", "8",
                     "-o", str(tmp_path / "l.dw.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"deepwire: cannot import {SPEC}:bare_linear: ValueError: the model's forward "
                          "refused a batch of 3") and len(err.strip().splitlines()) == 1


# --- D10: no block the importer's own check refuses ----------------------------------------

def test_dropout2d_on_features_becomes_a_dropout_the_check_accepts(tmp_path, registry):
    report = _import(tmp_path, registry, "FeatureDropout2d", ["8"])
    assert _types(report) == {"VectorInput": 1, "Linear": 1, "Dropout": 2, "Output": 1}
    assert report.networks[0].errors == [] and report.ok
    network = load_project(report.project_path, registry).networks[0]
    assert sorted(b.params.get("p") for b in network.blocks.values() if b.type == "Dropout") == [0.2, 0.3]


# --- D6: absolute + relative tolerance -----------------------------------------------------

def test_output_difference_is_relative_for_large_outputs():
    from runtime.importing.importer import output_difference

    large = torch.tensor([[458.0, -120.0]])
    worst, within = output_difference([large], [large + torch.tensor([[1.8e-4, 0.0]])])
    assert worst == pytest.approx(1.8e-4, rel=0.05) and within  # float rounding at 458
    worst, within = output_difference([torch.zeros(1, 2)], [torch.tensor([[2e-4, 0.0]])])
    assert worst == pytest.approx(2e-4) and not within  # near 0 only the absolute part counts
    assert output_difference([torch.zeros(1, 2)], [torch.tensor([[float("nan"), 0.0]])]) == (float("inf"),
                                                                                             False)
    assert output_difference([torch.zeros(2, 2)], [torch.zeros(2, 3)]) == (float("inf"), False)


def test_an_import_within_the_relative_tolerance_reports_a_match(tmp_path, capsys, monkeypatch):
    from runtime.importing import importer

    large = torch.full((3, 3), 458.0)
    monkeypatch.setattr(importer, "_compare",
                        lambda *args: importer.output_difference([large], [large + 1.8e-4]))
    code = cli_main(["import", f"{SPEC}:bare_linear", "--input-shape", "8",
                     "-o", str(tmp_path / "l.dw.json")])
    out = capsys.readouterr().out
    assert code == 0 and "outputs match the original: largest difference 1.8" in out


# --- D5: ONNX Identity aliases of weights --------------------------------------------------

def test_an_onnx_weight_aliased_by_identity_imports_for_both_uses(tmp_path, registry):
    import onnx  # imported here: the rest of the file needs no ONNX
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4), "shared")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["shared"], ["shared_alias"], name="alias"),
         helper.make_node("MatMul", ["x", "shared"], ["h"], name="first"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "shared_alias"], ["y"], name="second")],
        "tied", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [weight])
    path = tmp_path / "tied.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)

    report = run_import(str(path), tmp_path / "tied.dw.json", registry)

    assert _types(report) == {"VectorInput": 1, "Linear": 2, "ReLU": 1, "Output": 1}
    assert report.ok and report.networks[0].max_abs_diff <= 1e-6
    state = torch.load(report.weights_path, weights_only=True)["models"]["model"]
    weights = [v for k, v in state.items() if k.endswith(".weight")]
    assert len(weights) == 2 and all(torch.equal(w, torch.from_numpy(numpy_helper.to_array(weight).T.copy()))
                                     for w in weights)

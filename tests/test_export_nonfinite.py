"""An export whose model gives NaN or infinite outputs says so, naming the first block that produces them.

Before, NaN outputs compared unequal to themselves and the check printed
"different outputs ... max abs difference 0; please report this as a bug".
Weights files here are state_dicts of digits_cnn with one thing broken: a
NaN weight (conv2), a weight too large for float32 (scores), a negative
running variance (norm1: a NaN from finite weights).
"""

from __future__ import annotations

import pytest
import torch

import runtime.export_project as export_project
from graph.examples import resolve_project
from graph.project_io import load_project
from runtime.build import build_models
from runtime.cli import main
from runtime.export_project import export_project as export
from runtime.export_project import verify_export


def broken_weights(registry, tmp_path, key: str, value: float, everywhere: bool) -> str:
    """digits_cnn's seeded weights with `key` set to `value`: its first entry, or all of it."""
    project = load_project(resolve_project("digits_cnn"), registry)
    torch.manual_seed(project.seed)
    models, _ = build_models(project, registry)
    state = models["model"].state_dict()
    if everywhere:
        state[key].fill_(value)
    else:
        state[key].view(-1)[0] = value
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    return str(path)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("key, value, everywhere, block, what, weights", [
    ("conv2.weight", float("nan"), False, "'conv2' (Conv2d)", "NaN (not a number)", "conv2.weight"),
    ("scores.weight", 3e38, True, "'scores' (Linear)", "infinite", None),
    ("norm1.running_var", -1.0, True, "'norm1' (BatchNorm2d)", "NaN (not a number)", None),
])
def test_nonfinite_outputs_name_the_first_block_that_makes_them(registry, tmp_path, capsys, key, value,
                                                               everywhere, block, what, weights):
    path = broken_weights(registry, tmp_path, key, value, everywhere)
    code, out, err = run_cli(capsys, "export", "digits_cnn", "-o", str(tmp_path / "m.py"), "--weights", path)
    assert code == 1
    assert f"wrote {tmp_path / 'm.py'}" in out and (tmp_path / "m.py").is_file()
    assert f"gives {what} outputs" in err
    assert f"the first block whose output is not finite is {block}" in err
    assert "please report this as a bug" not in err and "max abs difference" not in err
    if weights:
        assert f"its weights ({weights}) hold NaN or infinite values" in err
    else:
        assert "check what it computes" in err


def test_a_file_that_turns_finite_outputs_into_nan_is_a_real_mismatch(registry, tmp_path, monkeypatch):
    """NaN in the exported file only: a difference of inf (not 0), and not blamed on the model."""
    real = export_project.export_python

    def poisoned(project, reg, out_path, *rest):
        path = real(project, reg, out_path, *rest)
        path.write_text(path.read_text().replace("        return x\n", "        return x * float('nan')\n"))
        return path

    monkeypatch.setattr(export_project, "export_python", poisoned)
    project = load_project(resolve_project("iris_mlp"), registry)
    [comparison] = verify_export(export(project, registry, "python", tmp_path / "m.py"))
    assert not comparison.ok and comparison.max_abs_diff == float("inf") and comparison.nonfinite == ""

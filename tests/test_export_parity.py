"""Per-block parity: a file that departs from the in-app model is localised to the first block that does.

The broken export comes from a test-only catalog: the default blocks, but
Conv2d's export template adds 0.01 to the output of a 64-channel convolution
(digits_cnn's conv2, not conv1). The files are written from that catalog;
the in-app model they are checked against is built from the normal one, with
the same seeded weights. So the files and the model agree up to relu1 and
part exactly at conv2, by 0.01.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import runtime.export_project as export_project
from graph.blocks import default_registry
from graph.definitions import registry_for
from graph.examples import list_examples, resolve_project
from graph.project_io import load_project
from graph.spec import Registry
from runtime.cli import main
from runtime.export_project import export_project as export
from runtime.export_project import prepare_models, verify_export
from runtime.parity import compare_value

BEFORE = ["conv1", "norm1", "relu1"]  # digits_cnn's blocks computed before conv2


def broken_catalog() -> Registry:
    """The default catalog with Conv2d emitting `+ 0.01` for 64 output channels."""
    specs = []
    for spec in default_registry():
        if spec.type_id == "Conv2d":
            emit = spec.emit

            def wrong(p, ins, out, emit=emit):
                emission = emit(p, ins, out)
                if p["channels"] != 64:
                    return emission
                return dataclasses.replace(emission, forward=f"({emission.forward} + 0.01)")

            spec = dataclasses.replace(spec, emit=wrong)
        specs.append(spec)
    return Registry(specs)


@pytest.mark.parametrize("fmt", ["onnx", "torch-export", "python"])
def test_a_broken_export_is_localised_to_the_block_that_breaks_it(registry, tmp_path, fmt):
    project = load_project(resolve_project("digits_cnn"), registry)
    suffix = {"onnx": ".onnx", "torch-export": ".pt2", "python": ".py"}[fmt]
    exported = export(project, broken_catalog(), fmt, tmp_path / f"m{suffix}")
    # the in-app model: the normal catalog, the same seed, so the same weights
    exported.models, _ = prepare_models(project, registry)
    exported.registry = registry
    [comparison] = verify_export(exported)

    assert not comparison.ok and comparison.block_note == ""
    report = comparison.blocks
    names = [b.name for b in report.blocks]
    assert names[:5] == [*BEFORE, "conv2", "norm2"]
    first = comparison.first_divergence
    assert (first.name, first.type, first.block) == ("conv2", "Conv2d", "b5")
    assert first.max_abs_diff == pytest.approx(0.01, abs=1e-5)
    assert all(b.ok and b.max_abs_diff < 1e-5 for b in report.blocks[:3])
    assert not any(b.ok for b in report.blocks[3:])  # everything after it carries the difference
    message = report.message()
    assert message.startswith("first divergence at block 'conv2' (Conv2d, id b5) of network 'model': "
                              "max abs diff 0.01 (rel ")
    assert message.endswith("the 3 blocks before it match")
    # the normal catalog's export of the same project matches, block by block too
    good = export(project, registry, fmt, tmp_path / f"good{suffix}")
    [fine] = verify_export(good, explain=True)
    assert fine.ok and fine.first_divergence is None and len(fine.blocks.blocks) == len(report.blocks)


def poison_conv2(monkeypatch):
    """export_python writes conv2's line with `+ 0.01`: the file departs from the model at conv2."""
    real = export_project.export_python

    def poisoned(project, reg, out_path, *rest):
        path = real(project, reg, out_path, *rest)
        text = path.read_text()
        assert "        x = self.conv2(x)  #" in text
        path.write_text(text.replace("        x = self.conv2(x)  #", "        x = self.conv2(x) + 0.01  #"))
        return path

    monkeypatch.setattr(export_project, "export_python", poisoned)


def test_the_cli_names_the_first_diverging_block_and_explains(tmp_path, capsys, monkeypatch):
    poison_conv2(monkeypatch)
    code = main(["export", "digits_cnn", "-o", str(tmp_path / "m.py"), "--explain"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "gives different outputs from the in-app model" in err
    assert ("first divergence at block 'conv2' (Conv2d, id b5) of network 'model': max abs diff 0.01 (rel "
            in err)
    assert "the 3 blocks before it match" in err
    table = out.split(f"per-block check of {tmp_path / 'm.py'} (network 'model'):\n")[1].splitlines()
    assert table[0].split() == ["block", "type", "shape", "max", "abs", "diff", "max", "rel", "diff", "ok"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert list(rows) == [*BEFORE, "conv2", "norm2", "relu2", "pool", "flatten", "dropout", "scores"]
    assert rows["conv1"][1:3] == ["Conv2d", "(3,"] and rows["conv1"][-1] == "yes"
    assert rows["conv2"][-1] == "NO" and float(rows["conv2"][-3]) == pytest.approx(0.01, abs=1e-5)
    assert rows["scores"][-1] == "NO"


def test_explain_prints_every_block_for_a_matching_export(tmp_path, capsys):
    code = main(["export", "digits_mlp", "-f", "torch-export", "-o", str(tmp_path / "m.pt2"), "--explain"])
    out, _err = capsys.readouterr()
    assert code == 0
    lines = out.split("(network 'model'):\n")[1].splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["hidden", "relu", "dropout", "scores"]
    assert all(line.split()[-1] == "yes" for line in lines[1:])
    assert lines[1].split()[1:4] == ["Linear", "(3,", "128)"]


def test_a_matching_export_skips_the_per_block_pass(registry, tmp_path):
    """Normal exports stay as fast: no second export unless the outputs differ or explain is asked."""
    project = load_project(resolve_project("digits_mlp"), registry)
    [comparison] = verify_export(export(project, registry, "onnx", tmp_path / "m.onnx"))
    assert comparison.ok and comparison.blocks is None


@pytest.mark.parametrize("dtype, diff, ok", [
    (torch.float32, 5e-5, True), (torch.float32, 1e-3, False),
    (torch.float16, 1e-3, True), (torch.float16, 1e-2, False),
    (torch.bfloat16, 1e-2, True), (torch.bfloat16, 1e-1, False),
])
def test_tolerance_follows_the_dtype(dtype, diff, ok):
    want = torch.tensor([0.5, -0.25, 0.125]).to(dtype)
    got = want.double() + diff
    worst, rel, within, problem = compare_value(got.to(dtype) if dtype != torch.bfloat16 else got, want)
    assert within is ok and problem == ""
    assert worst == pytest.approx(diff, rel=0.2) and rel == pytest.approx(worst / 0.5)


def test_integer_values_must_be_equal_and_shapes_must_agree():
    ids = torch.tensor([[1, 2, 3]])
    assert compare_value(ids.clone(), ids)[2] is True
    assert compare_value(ids + 1, ids)[2] is False
    worst, _rel, ok, problem = compare_value(torch.zeros(2, 3), torch.zeros(3, 3))
    assert not ok and worst == float("inf") and problem == "shape (2, 3) where the in-app model gives (3, 3)"


@pytest.mark.slow
@pytest.mark.parametrize("example", [e.name for e in list_examples()])
def test_every_bundled_example_matches_block_by_block(example, registry, tmp_path):
    project = load_project(resolve_project(example), registry)
    for fmt, suffix in (("onnx", ".onnx"), ("torch-export", ".pt2")):
        comparisons = verify_export(export(project, registry, fmt, tmp_path / f"m{suffix}"), explain=True)
        assert comparisons and all(c.block_note == "" for c in comparisons)
        for c in comparisons:
            bad = [f"{b.name}: {b.describe()}" for b in c.blocks.blocks if not b.ok]
            assert c.ok and not bad, f"{example} {fmt} {c.network}: {bad}"
            assert len(c.blocks.blocks) == len(exported_blocks(project, c.network))


def exported_blocks(project, network: str) -> list[str]:
    """The enabled blocks that compute something (not inputs, heads or disabled blocks)."""
    net = project.network(network)
    registry = registry_for(net, default_registry())  # the project's definitions are block types too
    return [bid for bid, b in net.blocks.items()
            if registry.get(b.type).role not in ("input", "head") and b.enabled]


def test_the_export_dialog_names_and_selects_the_first_diverging_block(window, tmp_path, capsys,
                                                                         monkeypatch):
    """The dialog reads the check's verdict (the real CLI's, on a file poisoned at conv2), says which
    block and by how much, and the window selects that block on the canvas; the model is not edited."""
    from studio.runs.export_dialog import ExportDialog

    poison_conv2(monkeypatch)
    out_file = tmp_path / "m.py"
    code = main(["export", "digits_cnn", "-o", str(out_file), "--explain"])
    out, err = capsys.readouterr()
    shown: list[ExportDialog] = []
    monkeypatch.setattr(ExportDialog, "exec", lambda self: shown.append(self) or 0)
    before = window.document.project
    window.tabs.select_block("model", "b2", center=False)
    assert window.tabs.selected_ids() == ["b2"]
    window.actions["export"].trigger()  # File > Export
    (dialog,) = shown
    dialog.explain.setChecked(True)
    assert dialog.export_arguments()[-1] == "--explain"
    dialog._exported(code, out, err)

    report = dialog.report_text
    assert report.startswith("Exported m.py, but it departs from the in-app model: the first block whose "
                             "output differs is 'conv2' (Conv2d) of network 'model' (selected on the "
                             "canvas): max abs diff 0.01 (rel "), report
    assert dialog.report_text.endswith("; the 3 blocks before it match")
    assert dialog.divergence == ("model", "b5")
    assert window.tabs.selected_ids() == ["b5"]
    assert window.document.project is before and window.document.undo_stack.count() == 0
    preview = dialog.preview.toPlainText()
    assert preview.startswith(f"per-block check of {out_file} (network 'model'):")
    assert "conv2    Conv2d" in preview and "class " not in preview
    dialog.reject()


def test_a_python_file_with_lines_added_above_the_classes_is_still_read_block_by_block(registry, tmp_path):
    """The preprocessing section of a trained run's export adds lines above the classes (an import,
    docstring lines): the file's forward lines are found where they moved to."""
    project = load_project(resolve_project("digits_cnn"), registry)
    exported = export(project, registry, "python", tmp_path / "m.py")
    text = (tmp_path / "m.py").read_text()
    text = text.replace("\nfrom torch import nn\n", "\nimport torch\n# added\n\nfrom torch import nn\n")
    text = text.replace("        x = self.conv2(x)  #", "        x = self.conv2(x) + 0.01  #")
    (tmp_path / "m.py").write_text(text)
    [comparison] = verify_export(exported)
    assert not comparison.ok and comparison.block_note == ""
    assert comparison.first_divergence.name == "conv2"
    assert [b.name for b in comparison.blocks.blocks if b.ok] == BEFORE

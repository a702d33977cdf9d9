"""The check, export and examples commands, run in-process through runtime.cli.main.

Exit codes: check gives 0 for a valid project, 1 when it has errors and 2 for
a file it cannot read; export gives 0 when the written files reproduce the
in-app model, 1 when they do not or the project has errors, 2 when the
project or weights file cannot be read.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import runtime.export_project as export_project
from graph.examples import list_examples, resolve_project
from graph.model import Block, Edge, Network, Project
from graph.project_io import load_project, save_project
from runtime.build import build_models
from runtime.cli import main
from runtime.export import as_tuple, sample_inputs
from tests.test_export import import_file, scramble


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_row(out: str, block: str) -> list[str]:
    """The cells of the table line for a block: name, type, shape, params."""
    for line in out.splitlines():
        cells = [c for c in line.strip().split("  ") if c.strip()]
        if cells and cells[0].strip() == block:
            return [c.strip() for c in cells]
    raise AssertionError(f"no row for {block!r} in:\n{out}")


@pytest.fixture
def broken_project(tmp_path, registry):
    """An image fed straight into Linear: a shape error with an 'Insert Flatten' quick fix."""
    net = Network("model")
    net.add_block(Block("b1", "ImageInput", "image", {"channels": 1, "height": 8, "width": 8}))
    net.add_block(Block("b2", "Linear", "dense", {"features": 10}, (220, 0)))
    net.add_block(Block("b3", "ClassificationHead", "digit", {"classes": 10}, (440, 0)))
    net.connect(Edge("b1", "b2", "x"))
    net.connect(Edge("b2", "b3", "x"))
    path = tmp_path / "broken.dw.json"
    save_project(Project("Broken", [net]), path)
    return path


# --- check --------------------------------------------------------------------------------

def test_check_prints_the_table_and_exits_0(capsys):
    code, out, err = run_cli(capsys, "check", "digits_cnn")
    assert code == 0, err
    assert "Block" in out and "Output shape" in out and "Params" in out
    assert table_row(out, "conv1") == ["conv1", "Conv2d", "(B, 32, 8, 8)", "320"]
    assert table_row(out, "pool") == ["pool", "MaxPool2d", "(B, 64, 4, 4)", "0"]
    assert table_row(out, "scores") == ["scores", "Linear", "(B, 10)", "10,250"]
    assert "Total parameters: 29,258" in out
    assert "No problems found." in out


@pytest.mark.parametrize("name", [e.name for e in list_examples()])
def test_every_example_passes_check(capsys, name):
    code, out, err = run_cli(capsys, "check", name)
    assert (code, err) == (0, "")
    assert "No problems found." in out


def test_check_a_gan_shows_both_networks(capsys):
    code, out, _ = run_cli(capsys, "check", "digits_gan")
    assert code == 0
    assert "Network 'generator'" in out and "Network 'discriminator'" in out
    assert table_row(out, "to_image") == ["to_image", "Reshape", "(B, 1, 8, 8)", "0"]


def test_check_reports_errors_with_quick_fix_and_exits_1(capsys, broken_project):
    code, out, _ = run_cli(capsys, "check", str(broken_project))
    assert code == 1
    assert table_row(out, "dense")[:3] == ["dense", "Linear", "?"]
    assert "1 error(s)" in out
    assert "error    Linear 'dense' expects a flat (B, F) input" in out
    assert "quick fix: Insert Flatten" in out


def test_check_json(capsys, broken_project):
    code, out, _ = run_cli(capsys, "check", "--json", str(broken_project))
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert [b["name"] for b in result["networks"][0]["blocks"]] == ["image", "dense", "digit"]
    (problem,) = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert problem["block"] == "b2" and problem["fix"] == "Insert Flatten"

    code, out, _ = run_cli(capsys, "check", "--json", "iris_mlp")
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True and result["networks"][0]["total_params"] == 403


@pytest.mark.parametrize("content", ["{not json", '{"format": "something-else"}', ""])
def test_check_unreadable_file_exits_2(capsys, tmp_path, content):
    path = tmp_path / "bad.dw.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "check", str(path))
    assert code == 2
    assert out == ""
    assert str(path) in err


def test_check_missing_file_exits_2_and_lists_examples(capsys):
    code, _, err = run_cli(capsys, "check", "no_such_project.dw.json")
    assert code == 2
    assert "no_such_project.dw.json: no such project file" in err and "digits_cnn" in err


def test_check_reports_data_that_does_not_fit(capsys, tmp_path, registry):
    project = load_project(resolve_project("digits_mlp"), registry)
    project.network().set_param("b1", "features", 32)  # digits have 64 pixels
    project.network().set_param("b5", "features", 5)
    project.network().set_param("b6", "classes", 5)  # digits have 10 classes
    path = tmp_path / "wrong.dw.json"
    save_project(project, path)
    code, out, _ = run_cli(capsys, "check", str(path))
    assert code == 1
    assert "64 values per sample" in out and "(B, 32)" in out
    project.network().set_param("b1", "features", 64)
    save_project(project, path)
    code, out, _ = run_cli(capsys, "check", str(path))
    assert code == 1
    assert "has classes 5 but data source 'digits' has 10 classes: set classes to 10" in out


def test_check_does_not_import_torch():
    script = ("import sys; from runtime.cli import main; code = main(['check', 'char_transformer']); "
              "print('torch loaded' if 'torch' in sys.modules else 'no torch', code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("no torch 0"), done.stdout[-500:] + done.stderr[-2000:]


# --- examples -----------------------------------------------------------------------------

def test_examples_lists_every_example(capsys):
    code, out, _ = run_cli(capsys, "examples")
    assert code == 0
    for example in list_examples():
        assert example.name in out and example.title in out and str(example.path) in out
    code, out, _ = run_cli(capsys, "examples", "--paths")
    assert out.split() == [str(e.path) for e in list_examples()]


# --- export -------------------------------------------------------------------------------

def test_export_python(capsys, tmp_path):
    out_file = tmp_path / "model.py"
    code, out, err = run_cli(capsys, "export", "digits_mlp", "--format", "python", "-o", str(out_file))
    assert code == 0, err
    assert f"wrote {out_file}" in out and "matches the in-app model" in out
    assert "class DigitsMlp(nn.Module):" in out_file.read_text(encoding="utf-8")


def test_export_onnx_writes_one_file_per_network(capsys, tmp_path):
    code, out, err = run_cli(capsys, "export", "digits_gan", "-f", "onnx", "-o", str(tmp_path / "gan.onnx"))
    assert code == 0, err
    assert (tmp_path / "gan.generator.onnx").is_file() and (tmp_path / "gan.discriminator.onnx").is_file()
    assert not (tmp_path / "gan.onnx").exists()
    assert out.count("matches the in-app model") == 2


def test_export_one_network_as_torch_program(capsys, tmp_path):
    path = tmp_path / "gen.pt2"
    code, out, err = run_cli(capsys, "export", "digits_gan", "-f", "torch-export", "--network", "generator",
                             "-o", str(path))
    assert code == 0, err
    assert path.is_file() and "generator: matches" in out and "discriminator" not in out
    program = torch.export.load(str(path)).module()
    assert tuple(program(torch.randn(4, 32)).shape) == (4, 1, 8, 8)


def test_export_script(capsys, tmp_path):
    path = tmp_path / "train_digits.py"
    code, out, err = run_cli(capsys, "export", "digits_mlp", "-f", "script", "-o", str(path))
    assert code == 0, err
    assert path.is_file() and "matches the in-app model" in out


def test_export_trained_weights(capsys, tmp_path, registry):
    project = load_project(resolve_project("iris_mlp"), registry)
    models, compiled = build_models(project, registry)
    scramble(models["model"], seed=5)
    checkpoint = tmp_path / "best.pt"
    torch.save({"format": "deepwire-checkpoint", "version": 1, "epoch": 9,
                "models": {"model": models["model"].state_dict()}}, checkpoint)
    out_file = tmp_path / "iris.py"
    code, out, err = run_cli(capsys, "export", "iris_mlp", "-o", str(out_file), "--weights", str(checkpoint))
    assert code == 0, err
    weights = tmp_path / "iris.pt"
    assert f"wrote {weights}" in out
    module = import_file(out_file)
    exported = module.IrisMlp().eval()
    exported.load_state_dict(torch.load(weights, weights_only=True))
    inputs = sample_inputs(compiled.network(), batch=6)
    with torch.no_grad():
        torch.testing.assert_close(as_tuple(exported(*inputs)), as_tuple(models["model"].eval()(*inputs)))

    # the ONNX file carries the trained weights, not a fresh initialisation
    code, out, err = run_cli(capsys, "export", "iris_mlp", "-f", "onnx", "-o", str(tmp_path / "iris.onnx"),
                             "--weights", str(checkpoint))
    assert code == 0, err
    import onnxruntime
    session = onnxruntime.InferenceSession(str(tmp_path / "iris.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"measurements": inputs[0].numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), models["model"](*inputs), atol=1e-5, rtol=1e-5)


def test_export_refuses_unreadable_inputs(capsys, tmp_path, broken_project):
    out_file = str(tmp_path / "m.py")
    code, _, err = run_cli(capsys, "export", str(tmp_path / "missing.dw.json"), "-o", out_file)
    assert code == 2 and "no such project file" in err
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-o", out_file, "--weights", str(tmp_path / "no.pt"))
    assert code == 2 and "no such weights file" in err
    code, _, err = run_cli(capsys, "export", str(broken_project), "-o", out_file)
    assert code == 1 and "fix them first" in err and "Linear 'dense'" in err
    code, _, err = run_cli(capsys, "export", "digits_gan", "--network", "critic", "-o", out_file)
    assert code == 1 and "has no network 'critic'" in err and "generator" in err


def test_export_fails_when_the_file_does_not_reproduce_the_model(capsys, tmp_path, monkeypatch):
    real = export_project.export_python

    def tampered(project, registry, out_path, *rest):
        path = real(project, registry, out_path, *rest)
        source = path.read_text(encoding="utf-8")
        assert "        return x\n" in source
        path.write_text(source.replace("        return x\n", "        return x + 1e-3\n"), encoding="utf-8")
        return path

    monkeypatch.setattr(export_project, "export_python", tampered)
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-o", str(tmp_path / "m.py"))
    assert code == 1
    assert "gives different outputs from the in-app model" in err


def test_export_python_to_a_name_without_py_still_checks_and_torch_export_wants_pt2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "export", "digits_cnn", "-o", str(tmp_path / "model.python"))
    assert code == 0, err
    assert "model: matches the in-app model" in out and (tmp_path / "model.python").is_file()
    wrong = str(tmp_path / "m.torch")
    code, out, err = run_cli(capsys, "export", "digits_cnn", "-f", "torch-export", "-o", wrong)
    assert code != 0 and "a torch.export archive is a .pt2 file; use -o" in err
    assert str(tmp_path / "m.pt2") in err
    assert not (tmp_path / "m.torch").exists() and "Traceback" not in err

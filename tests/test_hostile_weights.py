"""Hostile and malformed weight files, through the one reader and every command that reads weights.

Every case must end in WeightsFileError "<path>: <what is wrong>", and every command in exit code 2
with that line on stderr: never a traceback, never code run from a pickle (a marker file would say).
The commands run in-process (runtime.cli.main) on digits_mlp, so each case takes milliseconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from graph.examples import example_path
from runtime.build import build_models, load_source
from runtime.cli import main
from runtime.train.checkpoint import make_checkpoint
from runtime.weights_file import WeightsFileError, fit_state, read_checkpoint, read_file, read_state_dict
from tests.test_train_fixtures import REGISTRY

MARKER = Path("/tmp/deepwire-hostile-weights-marker")


class _Payload:
    """A pickle that would create MARKER if anyone ever unpickled it with code allowed."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _mlp_state() -> tuple[dict, dict]:
    from graph.project_io import load_project

    project = load_project(example_path("digits_mlp"), REGISTRY)
    models, compiled = build_models(project, REGISTRY)
    modules = {n: dict(info.module_names) for n, info in compiled.networks.items()}
    return make_checkpoint(models, modules, 1, 10, {}), dict(models["model"].state_dict())


# name -> (how to write it, a fragment the message must hold)
def _cases(good: dict, sd: dict) -> dict:
    grown = {k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in sd.items()}
    return {
        "empty": (b"", "is empty (0 bytes)"),
        "truncated": ("truncate", "it is damaged or not a PyTorch file"),
        "random": (bytes(range(256)) * 16, "never unpickles code"),
        "pickle_payload": (pickle.dumps(_Payload()), "never unpickles"),
        "zip_junk": ("zip", "it is damaged or not a PyTorch file"),
        "a_folder": ("dir", "is a folder"),
        "missing": ("missing", "no such"),
        "a_list": ([torch.zeros(2)], "found list"),
        "a_tensor": (torch.zeros(3), "found Tensor"),
        "a_number": (5, "found int"),
        "empty_dict": ({}, "found keys none"),
        "non_tensor_values": ({"hidden.weight": 3, "x": "hi"}, "expected a state_dict or a checkpoint"),
        "nested_junk": ({"a": {"b": [1, {"c": None}]}}, "expected a state_dict or a checkpoint"),
        "non_str_keys": ({1: torch.zeros(2), 2: torch.zeros(1)}, "names must be text"),
        "int_dtype": (
            {k: v.to(torch.int64) for k, v in sd.items()},
            "holds int64 values but the model needs float32",
        ),
        "wrong_shapes": (
            grown,
            "'hidden.weight' of network 'model' has shape (129, 65) in the file but (128, 64)",
        ),
        "ckpt_models_not_dict": ({**good, "models": 7}, "its 'models' entry should map"),
        "ckpt_models_list": ({**good, "models": {"model": [1, 2]}}, "found a list"),
        "ckpt_non_tensor": ({**good, "models": {"model": {k: "x" for k in sd}}}, "is a str, not a tensor"),
        "ckpt_shapes": ({**good, "models": {"model": grown}}, "has shape (129, 65) in the file"),
        "ckpt_int": (
            {**good, "models": {"model": {k: v.int() for k, v in sd.items()}}},
            "holds int32 values",
        ),
        "ckpt_block_modules": (
            {**good, "block_modules": {"model": {"b1": 5}}},
            "'block_modules' entry is damaged",
        ),
        "ckpt_epoch": ({**good, "epoch": "x"}, "'epoch' entry should be a whole number"),
        "ckpt_resume_str": ({**good, "resume": "hello"}, "training state ('resume') should be a dict"),
        "ckpt_wrong_network": ({**good, "models": {"other": sd}}, "network"),
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("hostile_weights")
    good, sd = _mlp_state()
    good_path = folder / "good.pt"
    torch.save(good, good_path)
    out = {}
    for name, (content, fragment) in _cases(good, sd).items():
        path = folder / f"{name}.pt"
        if content == "truncate":
            path.write_bytes(good_path.read_bytes()[: good_path.stat().st_size // 2])
        elif content == "zip":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("x/data.pkl", b"garbage")
        elif content == "dir":
            path.mkdir()
        elif content == "missing":
            pass
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            torch.save(content, path)
        out[name] = (path, fragment)
    out["_good"] = (good_path, "")
    return out


NAMES = list(_cases(*_mlp_state()))


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, err.getvalue()


def _expect_refused(rc: int, err: str, path: Path, fragment: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    assert f"{path}: " in err and fragment in err, err
    assert not MARKER.exists()


@pytest.mark.parametrize("name", NAMES)
def test_the_reader_names_the_file_and_what_is_wrong(hostile, name):
    from graph.project_io import load_project
    from runtime.export import read_state, weights_for

    path, fragment = hostile[name]
    model = build_models(load_project(example_path("digits_mlp"), REGISTRY), REGISTRY)[0]["model"]
    with pytest.raises(WeightsFileError) as caught:
        fit_state(model, weights_for(read_state(path), ["model"], str(path))["model"], path, "model")
    assert str(caught.value).startswith(f"{path}: ") and fragment in str(caught.value)
    assert caught.value.path == str(path)
    assert not MARKER.exists()


@pytest.mark.parametrize("name", NAMES)
def test_export_weights_refuses_with_exit_2(hostile, name, tmp_path):
    path, fragment = hostile[name]
    if name == "a_folder":  # export also takes a run folder, so a folder is read as one
        fragment = "this folder holds no best.pt or last.pt"
    rc, err = _cli("export", "digits_mlp", "-o", str(tmp_path / "m.py"), "--weights", str(path))
    _expect_refused(rc, err, path, fragment)
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_preview_weights_refuses_with_exit_2(hostile, name, tmp_path):
    path, fragment = hostile[name]
    rc, err = _cli(
        "preview", "digits_mlp", "--block", "b1", "--weights", str(path), "--out", str(tmp_path / "p.npz")
    )
    _expect_refused(rc, err, path, fragment)


@pytest.mark.parametrize(
    "name",
    [
        "truncated",
        "pickle_payload",
        "a_list",
        "non_str_keys",
        "int_dtype",
        "wrong_shapes",
        "ckpt_non_tensor",
        "ckpt_block_modules",
    ],
)
def test_train_init_refuses_with_exit_2(hostile, name, tmp_path):
    path, fragment = hostile[name]
    rc, err = _cli(
        "train", "digits_mlp", "--init", str(path), "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")
    )
    assert rc == 2 and "Traceback" not in err and str(path) in err, err
    assert not MARKER.exists()


def _run_folder(tmp_path: Path, checkpoint: Path, name: str) -> Path:
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    shutil.copy(example_path("digits_mlp"), run / "project.dw.json")
    target = run / name
    if checkpoint.is_dir():
        target.mkdir()
    elif checkpoint.exists():
        shutil.copy(checkpoint, target)
    return run


@pytest.mark.parametrize(
    "name",
    [
        "empty",
        "truncated",
        "random",
        "pickle_payload",
        "a_number",
        "ckpt_models_list",
        "ckpt_shapes",
        "ckpt_int",
        "ckpt_epoch",
        "ckpt_wrong_network",
    ],
)
def test_evaluate_refuses_a_damaged_best_pt(hostile, name, tmp_path):
    path, fragment = hostile[name]
    run = _run_folder(tmp_path, path, "best.pt")
    rc, err = _cli("evaluate", str(run))
    assert rc == 2 and "Traceback" not in err and f"{run / 'best.pt'}: " in err, err
    assert not MARKER.exists()


@pytest.mark.parametrize(
    "resume",
    [
        "hello",
        {"optimizers": 5},
        {"optimizers": {}, "schedulers": {}, "scalers": {}, "rng": {"torch": "x"}},
        {
            "optimizers": {},
            "schedulers": {},
            "scalers": {},
            "rng": {"torch": torch.get_rng_state(), "shuffle": 3},
        },
    ],
)
def test_resume_refuses_a_damaged_training_state(hostile, resume, tmp_path):
    good = torch.load(hostile["_good"][0], weights_only=True)
    torch.save({**good, "resume": resume}, tmp_path / "last.pt")
    run = _run_folder(tmp_path, tmp_path / "last.pt", "last.pt")
    rc, err = _cli("train", "digits_mlp", "--resume", str(run), "--epochs", "2", "--quiet")
    assert rc == 2 and "Traceback" not in err and "last.pt: " in err, err


def test_a_pipe_or_device_is_not_read(tmp_path):
    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(WeightsFileError, match="not a regular file"):
            read_file(path)
    with pytest.raises(WeightsFileError, match="cannot open"):
        read_state_dict(tmp_path / ("x" * 300 + ".pt"))


def test_a_file_over_the_size_cap_is_refused_before_reading(hostile, monkeypatch):
    monkeypatch.setenv("DEEPWIRE_MAX_WEIGHTS_BYTES", "100")
    with pytest.raises(WeightsFileError, match=r"more than the 100 bytes .*DEEPWIRE_MAX_WEIGHTS_BYTES"):
        read_checkpoint(hostile["_good"][0])


def _backbone_project(weights: str):
    from tests.test_transfer_backbones import _project

    return _project("MobileNetV3SmallBackbone", pretrained_weights=weights)


@pytest.mark.parametrize(
    "name", ["empty", "truncated", "pickle_payload", "a_list", "non_str_keys"]
)  # a folder never gets this far: analysis refuses it (test_transfer_backbones.py)
def test_a_backbones_pretrained_weights_go_through_the_same_reader(hostile, name):
    path, _ = hostile[name]
    with pytest.raises(WeightsFileError) as caught:
        build_models(_backbone_project(str(path)), REGISTRY)
    assert str(caught.value).startswith(
        f"{path}: "
    ) and "(the pretrained_weights of block 'backbone')" in str(caught.value)
    assert not MARKER.exists()


@pytest.mark.parametrize("name", ["empty", "truncated", "random", "a_list", "non_str_keys", "int_dtype"])
def test_the_generated_loader_fails_with_a_message_not_a_traceback(hostile, name, tmp_path):
    """The exported file stands alone (no runtime import), so its own loader checks what it reads."""
    from graph.compiler import compile_project

    path, _ = hostile[name]
    module = load_source(compile_project(_backbone_project(""), REGISTRY).source)
    with pytest.raises(ValueError, match=f"pretrained weights {path}: "):
        module.MobileNetV3SmallFeatures(weights=str(path))
    torch.save({"features.0.0.weight": torch.zeros(1)}, tmp_path / "small.pth")
    with pytest.raises(
        ValueError, match=r"'features.0.0.weight' has shape \(1,\) in the file but \(16, 3, 3, 3\)"
    ):
        module.MobileNetV3SmallFeatures(weights=str(tmp_path / "small.pth"))


def test_export_of_a_backbone_with_a_hostile_weights_file_exits_2(hostile, tmp_path):
    from graph.project_io import save_project

    path, _ = hostile["pickle_payload"]
    save_project(_backbone_project(str(path)), tmp_path / "b.dw.json")
    rc, err = _cli("export", str(tmp_path / "b.dw.json"), "-o", str(tmp_path / "b.py"))
    _expect_refused(rc, err, path, "never unpickles")


TINY = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)
'''


@pytest.mark.parametrize("name", ["empty", "truncated", "pickle_payload", "a_list", "non_str_keys",
                                  "int_dtype", "wrong_shapes", "a_folder", "missing"])
def test_import_weights_refuses_with_exit_2(hostile, name, tmp_path):
    path, _ = hostile[name]
    (tmp_path / "tiny.py").write_text(TINY)
    rc, err = _cli("import", f"{tmp_path / 'tiny.py'}:Tiny", "-o", str(tmp_path / "t.dw.json"),
                   "--input-shape", "4", "--weights", str(path))
    assert rc == 2 and "Traceback" not in err and f"--weights {path}: " in err, err
    assert not (tmp_path / "t.dw.json").exists() and not MARKER.exists()

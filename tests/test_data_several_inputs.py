"""A network with several inputs (a siamese pair) trains on one array per input (runtime/train/data.py).

The arrays source reads one .npz array per forward() argument and feeds them
side by side as one flat vector per sample; a forward pre-hook cuts each
batch apart again, so the network, its weights and its state_dict keys are
the ones it has when called with its inputs one by one. The exported
training script does the same.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from graph.model import Block, Edge, Network, Project
from graph.training_config import DataSpec, TrainingConfig
from runtime.cli import main as cli_main
from runtime.data import DataError
from runtime.export_script import write_training_script
from runtime.train.data import load_project_data
from tests.test_train_fixtures import REGISTRY, run_training

FEATURES = 6


def _pairs(path, rows: int = 400, **extra):
    """Label 1 when the two vectors point the same way: neither input alone says it."""
    rng = np.random.default_rng(2)
    left = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    right = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    y = ((left * right).sum(axis=1) > 0).astype(np.int64)
    arrays = {"left": left, "right": right, "y": y, **extra}
    np.savez(path, **arrays)
    return left, right, y


def _project(data: DataSpec) -> Project:
    net = Network("model")
    for block in (Block("a", "VectorInput", "left", {"features": FEATURES}),
                  Block("b", "VectorInput", "right", {"features": FEATURES}),
                  Block("mul", "Multiply", "both", {}),
                  Block("fc1", "Linear", "fc1", {"features": 16}), Block("act", "ReLU", "act", {}),
                  Block("fc2", "Linear", "fc2", {"features": 2}),
                  Block("head", "ClassificationHead", "same_way", {"classes": 2})):
        net.add_block(block)
    ports = REGISTRY.get("Multiply").input_ports({})
    net.connect(Edge("a", "mul", ports[0].name))
    net.connect(Edge("b", "mul", ports[1].name))
    for src, dst in (("mul", "fc1"), ("fc1", "act"), ("act", "fc2"), ("fc2", "head")):
        net.connect(Edge(src, dst, "x"))
    settings = {"epochs": 15, "batch_size": 32, "lr": 0.01, "log_every": 10, "stats_every": 0}
    return Project("pairs", [net], data, TrainingConfig(settings), 0)


def test_a_pair_network_trains_on_one_array_per_input(tmp_path):
    left, right, y = _pairs(tmp_path / "pairs.npz")
    project = _project(DataSpec("arrays", {"path": str(tmp_path / "pairs.npz")}))
    dataset = load_project_data(project, REGISTRY)
    assert dataset.input_shape == (2 * FEATURES,) and dataset.extra["input_parts"] == [
        ("left", (FEATURES,)), ("right", (FEATURES,))]
    summary, _ = run_training(project, dataset, tmp_path / "run")
    assert summary["final"]["accuracy"] >= 0.8, summary["final"]
    # the weights are the network's own: its two-input forward() gives the trained answers
    from graph.compiler import compile_project
    from runtime.build import load_source

    compiled = compile_project(project, REGISTRY)
    net = getattr(load_source(compiled.source), compiled.network().class_name)()
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["models"]["model"]
    net.load_state_dict(state)  # strict: no wrapper prefix, no extra keys
    with torch.no_grad():
        scores = net(torch.as_tensor((left - dataset.mean[:FEATURES]) / dataset.std[:FEATURES]),
                     torch.as_tensor((right - dataset.mean[FEATURES:]) / dataset.std[FEATURES:]))
    assert np.mean(scores.argmax(-1).numpy() == y) >= 0.8


def test_the_exported_training_script_cuts_the_inputs_apart_too(tmp_path):
    _pairs(tmp_path / "pairs.npz")
    project = _project(DataSpec("arrays", {"path": str(tmp_path / "pairs.npz")}))
    script = write_training_script(project, REGISTRY, tmp_path / "train.py")
    text = script.read_text() if hasattr(script, "read_text") else (tmp_path / "train.py").read_text()
    assert "register_forward_pre_hook(split_inputs)" in text
    done = subprocess.run([sys.executable, str(tmp_path / "train.py"), "--epochs", "2"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 2/2" in done.stdout and (tmp_path / "train.pt").is_file()


@pytest.mark.parametrize("make, expected", [
    (lambda p: np.savez(p, x=np.zeros((5, 6), np.float32), y=np.zeros(5)),
     "no array named 'left', 'right'; the network's inputs are left, right, so save np.savez(file, "
     "left=..., right=..., y=...)"),
    (lambda p: np.savez(p, left=np.zeros((5, 6), np.float32), right=np.zeros((4, 6), np.float32),
                        y=np.zeros(5)), "array 'right' has 4 samples but 'left' has 5"),
    (lambda p: np.savez(p, left=np.zeros((5, 7), np.float32), right=np.zeros((5, 6), np.float32),
                        y=np.zeros(5)), "array 'left' holds samples of shape (7,), but the network's input "
                                        "'left' expects (6,)"),
])
def test_arrays_that_do_not_fit_the_inputs_are_named(tmp_path, make, expected):
    make(tmp_path / "bad.npz")
    project = _project(DataSpec("arrays", {"path": str(tmp_path / "bad.npz")}))
    with pytest.raises(DataError) as raised:
        load_project_data(project, REGISTRY)
    assert expected in str(raised.value)


def test_a_source_that_feeds_one_input_is_refused_naming_the_way(tmp_path, capsys):
    project = _project(DataSpec("digits"))
    with pytest.raises(DataError, match=r"the network has 2 inputs \(left, right\), but data source 'digits' "
                                        r"feeds one; save one array per input"):
        load_project_data(project, REGISTRY)
    from graph.project_io import save_project

    save_project(project, tmp_path / "pairs.dw.json")
    assert cli_main(["data", str(tmp_path / "pairs.dw.json")]) == 1
    out = capsys.readouterr().out
    assert "feeds one; save one array per input" in out and "Traceback" not in out


def test_the_exported_module_prepares_each_input_as_training_did(tmp_path):
    from graph.project_io import load_project
    from runtime.export_project import export_project, import_module_from

    left, right, y = _pairs(tmp_path / "pairs.npz")
    project = _project(DataSpec("arrays", {"path": str(tmp_path / "pairs.npz")}))
    run_training(project, load_project_data(project, REGISTRY), tmp_path / "run")
    trained = load_project(tmp_path / "run" / "project.dw.json", REGISTRY)
    export_project(trained, REGISTRY, "python", tmp_path / "pairs.py", tmp_path / "run" / "best.pt")
    module = import_module_from(tmp_path / "pairs.py")
    model = module.Pairs()
    model.load_state_dict(torch.load(tmp_path / "pairs.pt", weights_only=True))
    predicted = module.predict(model, left, right)  # raw values, one argument per input
    assert np.mean([p == str(t) for p, t in zip(predicted, y)]) >= 0.8
    a, b = module.preprocess(left[:3], right[:3])
    assert a.shape == (3, FEATURES) and b.shape == (3, FEATURES)

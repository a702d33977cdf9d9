"""Integer arrays feed a Token ids input: text classifiers (an imported BERT-like encoder) train on them.

An `arrays` source whose inputs are (N, T) whole numbers gives int64 token
ids when the network starts with a Token ids input, exactly as stored, in
memory and memory-mapped; to any other input they stay numbers, as before.
Ids below 0 or beyond the input's vocabulary are refused naming the fix.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graph.model import Project
from graph.project_io import load_project
from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError
from runtime.export_project import export_project, import_module_from
from runtime.train.data import load_project_data
from runtime.train.errors import SetupError
from tests.test_train_fixtures import REGISTRY, chain, run_training

VOCAB, LENGTH = 30, 6


def _ids(tmp_path, rows: int = 240, high: int = VOCAB, dtype=np.int64, offset: int = 0):
    """Rows of ids whose class is whether token 7 occurs: learnable from the embedding alone."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, high, (rows, LENGTH)).astype(dtype) + offset
    y = (x == 7).any(axis=1).astype(np.int64)
    path = tmp_path / "ids.npz"
    np.savez(path, x=x, y=y)
    return path, x, y


def _project(path, first: str = "TokenInput", vocab: int = VOCAB) -> Project:
    if first == "TokenInput":
        blocks = [("in", "TokenInput", {"length": LENGTH, "vocab_size": vocab}),
                  ("emb", "Embedding", {"vocab_size": vocab, "dim": 8}), ("flat", "Flatten", {})]
    else:
        blocks = [("in", "VectorInput", {"features": LENGTH})]
    blocks += [("fc", "Linear", {"features": 2}), ("head", "ClassificationHead", {"classes": 2})]
    settings = {"epochs": 6, "batch_size": 32, "lr": 0.02, "log_every": 5, "stats_every": 0}
    return Project("ids", [chain("model", blocks)], DataSpec("arrays", {"path": str(path)}),
                   TrainingConfig(settings), 0)


@pytest.mark.parametrize("streamed", [False, True])
def test_integer_arrays_reach_a_token_input_as_the_ids_stored(tmp_path, monkeypatch, streamed):
    if streamed:
        monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")  # memory-mapped rows, read per batch
    path, x, y = _ids(tmp_path, dtype=np.int32)
    project = _project(path)
    dataset = load_project_data(project, REGISTRY)
    assert dataset.input_kind == "tokens" and dataset.mean is None  # ids are never scaled
    train = dataset.train
    rows = np.asarray(train.inputs.read(np.arange(len(train))) if streamed else train.inputs)
    assert rows.dtype == np.int64 and rows.shape == (len(train), LENGTH)
    # every training row is one of the stored rows, unchanged
    stored = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in stored for r in rows.tolist())
    summary, _ = run_training(project, dataset, tmp_path / "run")
    assert summary["final"]["accuracy"] >= 0.85, summary["final"]


def test_the_same_integers_stay_numbers_for_a_vector_input(tmp_path):
    path, x, _ = _ids(tmp_path)
    dataset = load_project_data(_project(path, first="VectorInput"), REGISTRY)
    assert dataset.input_kind == "vector" and dataset.train.inputs.dtype == np.float32


def test_a_trained_id_classifier_exports_a_predict_for_rows_of_ids(tmp_path):
    path, x, y = _ids(tmp_path)
    project = _project(path)
    run_training(project, load_project_data(project, REGISTRY), tmp_path / "run")
    trained = load_project(tmp_path / "run" / "project.dw.json", REGISTRY)  # defaults filled in, as trained
    export_project(trained, REGISTRY, "python", tmp_path / "ids_model.py", tmp_path / "run" / "best.pt")
    module = import_module_from(tmp_path / "ids_model.py")
    model = module.Ids()  # the class is named after the project
    model.load_state_dict(torch.load(tmp_path / "ids_model.pt", weights_only=True))
    predicted = module.predict(model, x[:50])
    with torch.no_grad():
        expected = model(torch.as_tensor(x[:50])).argmax(-1).tolist()
    assert predicted == [module.CLASSES[i] for i in expected]
    assert np.mean([p == str(t) for p, t in zip(predicted, y[:50])]) >= 0.85


def test_ids_the_network_cannot_index_are_refused_naming_the_fix(tmp_path):
    path, _, _ = _ids(tmp_path, offset=-1)
    with pytest.raises(DataError, match=r"ids.npz: input sample \d+ holds a negative token id \(-1\)"):
        load_project_data(_project(path), REGISTRY)
    path, _, _ = _ids(tmp_path, high=45)
    project = _project(path)
    with pytest.raises(SetupError, match="token ids up to 44, but the input block 'in' allows ids below 30; "
                                         "set its vocab_size"):
        run_training(project, load_project_data(project, REGISTRY), tmp_path / "run")
    short = tmp_path / "short.npz"
    np.savez(short, x=np.zeros((20, 4), np.int64), y=np.zeros(20, np.int64))
    with pytest.raises(DataError, match=r"token ids \(B, 4\), but the network's Token ids input expects "
                                        r"\(B, 6\); set its length to 4"):
        load_project_data(_project(short), REGISTRY)
    floats = tmp_path / "floats.npz"
    np.savez(floats, x=np.zeros((20, LENGTH), np.float32), y=np.zeros(20, np.int64))
    with pytest.raises(DataError, match="the network starts with a Token ids input"):
        load_project_data(_project(floats), REGISTRY)

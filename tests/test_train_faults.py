"""What goes wrong, said clearly: NaN losses, out of memory, crashes, projects that do not fit their data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graph.project_io import save_project
from graph.training_config import DataSpec
from runtime.cli import main
from runtime.train import SetupError, TrainingError
from runtime.train.recipes.supervised import Supervised
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    chain,
    char_tokens,
    digits_images,
    digits_pixels,
    digits_vectors,
    mlp,
    project,
    run_training,
    single_thread,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_nan_loss_stops_the_run_naming_the_step_and_suggesting_fixes(tmp_path):
    data = digits_vectors(train=128, val=64)
    data.train.inputs[:] = np.nan  # every batch gives a NaN loss, so the very first step is the culprit
    with pytest.raises(TrainingError) as caught:
        run_training(project(mlp(), epochs=3, lr=0.003, log_every=2), data, tmp_path / "run")
    error = caught.value
    assert error.reason == "nan" and error.step == 1 and error.epoch == 1
    assert "at step 1 (epoch 1)" in str(error) and "NaN" in str(error)
    assert "lower the learning rate (now 0.003; try 0.0003)" in error.suggestion
    assert "gradient clipping" in error.suggestion


def test_nan_stop_sends_error_then_finished_failed_and_writes_the_summary(tmp_path):
    data = digits_vectors(train=128, val=64)
    data.train.inputs[:] = np.nan
    from runtime.train import Collector, Trainer, TrainOptions
    from tests.test_train_fixtures import REGISTRY

    events = Collector()
    with pytest.raises(TrainingError):
        Trainer(project(mlp()), REGISTRY, data, TrainOptions(tmp_path / "run", handle_signals=False),
                [events]).run()
    assert [e.kind for e in events.events][-2:] == ["error", "finished"]
    assert events.of("finished")[0].reason == "failed"
    assert events.of("error")[0].reason == "nan"
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reason"] == "failed" and summary["error"]["reason"] == "nan"


def _raise_on_call(monkeypatch, exc: Exception, after: int = 2):
    calls = {"n": 0}
    original = Supervised.train_step

    def failing(self, x, y):
        calls["n"] += 1
        if calls["n"] > after:
            raise exc
        return original(self, x, y)

    monkeypatch.setattr(Supervised, "train_step", failing)


def test_out_of_memory_is_reported_with_a_smaller_batch_size(tmp_path, monkeypatch):
    _raise_on_call(monkeypatch, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    with pytest.raises(TrainingError) as caught:
        run_training(project(mlp(), batch_size=32), digits_vectors(), tmp_path / "run")
    assert caught.value.reason == "out_of_memory"
    assert "batch size 32" in str(caught.value) and "at step 2" in str(caught.value)
    assert "--batch-size 16" in caught.value.suggestion


def test_cpu_allocation_failure_counts_as_out_of_memory(tmp_path, monkeypatch):
    _raise_on_call(monkeypatch, RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"))
    with pytest.raises(TrainingError) as caught:
        run_training(project(mlp(), batch_size=8), digits_vectors(), tmp_path / "run")
    assert caught.value.reason == "out_of_memory" and "--batch-size 4" in caught.value.suggestion


def test_any_other_crash_is_reported_and_its_traceback_saved(tmp_path, monkeypatch):
    _raise_on_call(monkeypatch, ValueError("something odd"), after=0)
    with pytest.raises(TrainingError) as caught:
        run_training(project(mlp()), digits_vectors(), tmp_path / "run")
    assert caught.value.reason == "exception" and "ValueError: something odd" in str(caught.value)
    trace = (tmp_path / "run" / "error.txt").read_text()
    assert "Traceback" in trace and "something odd" in trace


# --- the project does not fit its data: SetupError before the first step ------------------------

def _gan_with(generator_out: int):
    generator = chain("generator", [("z", "NoiseInput", {"size": 4}),
                                    ("g", "Linear", {"features": generator_out}), ("fake", "Output", {})])
    discriminator = chain("discriminator", [("x", "VectorInput", {"features": 64}),
                                            ("d", "Linear", {"features": 1}), ("score", "BinaryHead", {})])
    return [generator, discriminator]


def _vector_net(*tail):
    return chain("model", [("in", "VectorInput", {"features": 64}), *tail])


def _image_classifier():
    return chain("model", [("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
                           ("flat", "Flatten", {}), ("fc", "Linear", {"features": 10}),
                           ("head", "ClassificationHead", {})])


def _tiny_language_model():
    return chain("model", [("in", "TokenInput", {"length": 12, "vocab_size": 5}),
                           ("emb", "Embedding", {"vocab_size": 5, "dim": 4}),
                           ("fc", "Linear", {"features": 5}), ("head", "ClassificationHead", {"classes": 5})])


MISFITS = {  # name: (project, data, what the message must say)
    "input size": (lambda: project(mlp(features=32)), digits_vectors,
                   "expects samples of shape (B, 32), but the data 'digits' gives (B, 64); "
                   "set the input block"),
    "input kind": (lambda: project(mlp()), digits_images,
                   "is a VectorInput (vector), but the data 'digits' gives image samples"),
    "too few classes": (lambda: project(mlp(classes=5)), digits_vectors,
                        "has 10 classes, but the ClassificationHead of 'model' scores only 5"),
    "no loss": (lambda: project(_vector_net(("out", "Output", {}))), digits_vectors,
                "ends in a Output, which has no loss to learn from"),
    "class data for regression": (
        lambda: project(_vector_net(("fc", "Linear", {"features": 1}), ("head", "RegressionHead", {})),
                        recipe="regression"),
        digits_vectors, "the regression recipe needs value targets, but the data 'digits' has class labels"),
    "unlabelled data for a classifier": (lambda: project(_image_classifier()), digits_pixels,
                                         "needs class targets, but the data 'digits' has no targets"),
    "one network for a GAN": (lambda: project(mlp(), recipe="gan"), digits_vectors,
                              "a GAN needs two networks"),
    "generator shape": (lambda: project(_gan_with(32), recipe="gan"), digits_vectors,
                        "makes samples of shape (B, 32), but the real data"),
    "autoencoder shape": (lambda: project(_vector_net(("fc", "Linear", {"features": 10}),
                                                      ("head", "RegressionHead", {})), recipe="autoencoder"),
                          digits_vectors, "an autoencoder must output what it reads"),
    "language model vocabulary": (lambda: project(_tiny_language_model(), recipe="language_model"),
                                  char_tokens, "scores only 5"),
}


@pytest.mark.parametrize("case", MISFITS, ids=list(MISFITS))
def test_a_project_that_does_not_fit_its_data_is_refused_before_training(tmp_path, case):
    make_project, make_data, message = MISFITS[case]
    with pytest.raises(SetupError) as caught:
        run_training(make_project(), make_data(), tmp_path / "run")
    assert message in str(caught.value)
    assert not (tmp_path / "run").exists()  # nothing half-written


# --- exit codes of `deepwire train` ------------------------------------------------------------

def test_cli_exit_code_2_for_a_missing_project(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.dw.json"), "--quiet"]) == 2
    assert "nope.dw.json" in capsys.readouterr().err


def test_cli_exit_code_2_for_a_bad_setting(tmp_path, capsys):
    path = tmp_path / "p.dw.json"
    save_project(project(mlp()), path)
    assert main(["train", str(path), "--lr", "-1", "--quiet"]) == 2
    assert "'lr' must be between" in capsys.readouterr().err


def test_cli_exit_code_2_for_bad_data_naming_the_file_and_row(tmp_path, capsys):
    csv = tmp_path / "table.csv"
    csv.write_text("a,b,c,label\n1,2,3,0\n4,5,1\n7,8,9,1\n")
    proj = project(chain("model", [("in", "VectorInput", {"features": 3}), ("fc", "Linear", {"features": 2}),
                                   ("head", "ClassificationHead", {"classes": 2})]))
    proj.data = DataSpec("csv", {"path": "table.csv"})
    save_project(proj, tmp_path / "p.dw.json")
    assert main(["train", str(tmp_path / "p.dw.json"), "--quiet", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "table.csv" in err and "3" in err  # the file and the short row (line 3)


def test_cli_exit_code_1_for_a_nan_loss_with_the_suggestion(tmp_path, capsys, monkeypatch):
    def nan_data(project, registry, base_dir=None, compiled=None, **_options):
        data = digits_vectors(train=64, val=32)
        data.train.inputs[:] = np.nan
        return data

    monkeypatch.setattr("runtime.train.data.load_project_data", nan_data)
    save_project(project(mlp()), tmp_path / "p.dw.json")
    code = main(["train", str(tmp_path / "p.dw.json"), "--quiet", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert "training failed: the loss became NaN" in err and "lower the learning rate" in err

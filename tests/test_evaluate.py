"""`deepwire evaluate` and `deepwire sample` on tiny runs trained with the real trainer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.cli import main as cli_main
from runtime.evaluate import open_run
from runtime.train.images import decode_png_size

ROOT = Path(__file__).resolve().parents[1]


def train(example: str, out: Path, *extra: str) -> Path:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "train", example, "--epochs", "1",
                           "--out", str(out), "--quiet", "--threads", "1", *extra],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    return train("digits_mlp", tmp_path_factory.mktemp("runs") / "digits")


def test_confusion_matrix_matches_independent_predictions(digits_run, capsys):
    assert cli_main(["evaluate", str(digits_run), "--split", "val"]) == 0
    assert "evaluated classification run on val" in capsys.readouterr().out
    result = json.loads((digits_run / "evaluation.json").read_text())
    confusion = np.array(result["confusion"])

    # predictions computed here, from the checkpoint and the rebuilt data, not through evaluate_run
    recipe = open_run(digits_run).recipe
    with torch.no_grad():
        scores = recipe.model(recipe.val_data.inputs)
    predicted = scores.argmax(dim=1).numpy()
    true = recipe.val_data.targets.numpy()
    assert confusion.sum() == len(true) == result["size"]
    expected = np.zeros_like(confusion)
    np.add.at(expected, (true, predicted), 1)
    assert (confusion == expected).all()
    assert result["accuracy"] == pytest.approx(float((predicted == true).mean()))

    # the run's own validation accuracy (written by the trainer) is what evaluation finds
    summary = json.loads((digits_run / "summary.json").read_text())
    assert result["metrics"]["accuracy"] == pytest.approx(summary["final"]["accuracy"], abs=1e-6)

    wrong_cells = [c for c in result["cells"] if c["true"] != c["predicted"]]
    assert wrong_cells, "one epoch of digits_mlp should leave some mistakes"
    for cell in result["cells"]:
        assert cell["count"] == confusion[cell["true"], cell["predicted"]]
        for i in cell["indices"]:
            assert true[i] == cell["true"] and predicted[i] == cell["predicted"]
        for name in cell["images"]:
            width, height = decode_png_size((digits_run / name).read_bytes())
            assert width >= 8 and height >= 8
    for row in result["per_class"]:
        c = result["class_names"].index(row["class"])
        assert row["support"] == confusion[c].sum()
        if confusion[:, c].sum():
            assert row["precision"] == pytest.approx(confusion[c, c] / confusion[:, c].sum())


def test_saliency_maps_are_written(digits_run):
    result = json.loads((digits_run / "evaluation.json").read_text())
    assert len(result["saliency"]) == 6
    for item in result["saliency"]:
        png = (digits_run / item["png"]).read_bytes()
        width, height = decode_png_size(png)
        assert width > height  # the sample and its overlay side by side


def test_json_copy_and_missing_test_split(digits_run, tmp_path, capsys):
    copy = tmp_path / "eval.json"
    assert cli_main(["evaluate", str(digits_run), "--json", str(copy)]) == 0
    assert json.loads(copy.read_text())["kind"] == "classification"
    assert cli_main(["evaluate", str(digits_run), "--split", "test"]) == 2
    assert "no test split" in capsys.readouterr().err
    # the failed evaluation left the previous one whole: every picture it names is still there
    result = json.loads((digits_run / "evaluation.json").read_text())
    names = [n for c in result["cells"] for n in c["images"]] + [s["png"] for s in result["saliency"]]
    assert names and all((digits_run / n).is_file() for n in names)
    assert not (digits_run / "evaluation.new").exists()


def test_run_without_checkpoint_is_reported(digits_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "project.dw.json").write_bytes((digits_run / "project.dw.json").read_bytes())
    assert cli_main(["evaluate", str(broken)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert not (broken / "evaluation.json").exists()


def test_language_model_sample_has_requested_length(tmp_path, capsys):
    run = train("char_transformer", tmp_path / "lm", "--max-seconds", "2")
    assert cli_main(["sample", str(run), "--prompt", "the ", "--temperature", "0.7", "--length", "37"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and len(out[:-1]) == 37
    assert cli_main(["sample", str(run), "--prompt", "x", "--temperature", "0"]) == 2


def test_regression_pairs(tmp_path):
    run = train("sine_lstm", tmp_path / "sine", "--max-seconds", "2")
    assert cli_main(["evaluate", str(run)]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert result["kind"] == "regression"
    assert len(result["predicted"]) == len(result["true"]) == min(result["size"], 2000)


def test_autoencoder_pairs_picture(tmp_path):
    run = train("digits_autoencoder", tmp_path / "ae", "--max-seconds", "2")
    assert cli_main(["evaluate", str(run)]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert result["kind"] == "autoencoder"
    width, height = decode_png_size((run / result["pairs_png"]).read_bytes())
    assert width > 2 * height  # one row of inputs over one row of reconstructions, 8 wide

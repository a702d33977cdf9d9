"""Bad data stops `deepwire train` before the first step, with a message naming the file and sample.

NaN or infinite inputs, NaN labels, labels beyond the network's classes,
negative labels and empty datasets in a .npz; blank, NaN and missing values
and empty tables in a CSV (whose labels are class names, so any value is a
class), through the
real CLI entry point (in-process): exit code 2, the file named on stderr,
and no training step logged and no checkpoint in the run folder.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.project_io import save_project
from graph.training_config import DataSpec
from runtime.cli import main
from tests.test_train_fixtures import chain, project

CASES = {
    "nan input": (np.array([[1.0, 2.0], [np.nan, 1], [0, 1]]), np.array([0, 1, 0]), "sample 1 holds NaN"),
    "inf input": (np.array([[1.0, 2.0], [1, 1], [0, np.inf]]), np.array([0, 1, 0]), "sample 2 holds NaN"),
    "nan label": (np.ones((3, 2)), np.array([0.0, np.nan, 1.0]), "sample 1 is not a whole number"),
    "label beyond classes": (np.ones((3, 2)), np.array([0, 1, 3]), "label 3 of sample 2 is out of range"),
    "negative label": (np.ones((3, 2)), np.array([0, -2, 1]), "label -2 of sample 1 is negative"),
    "empty": (np.zeros((0, 2)), np.zeros(0, dtype=np.int64), "hold no samples"),
}


def _network():
    return chain("model", [("in", "VectorInput", {"features": 2}), ("fc", "Linear", {"features": 3}),
                           ("head", "ClassificationHead", {"classes": 3})])


def _train(tmp_path, data: DataSpec, capsys) -> str:
    proj = project(_network(), epochs=1)
    proj.data = data
    save_project(proj, tmp_path / "p.dw.json")
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "p.dw.json"), "--quiet", "--out", str(run)]) == 2
    assert not (run / "last.pt").exists() and not (run / "metrics.jsonl").exists()
    return capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_arrays_stop_before_training(tmp_path, capsys, case):
    x, y, words = CASES[case]
    np.savez(tmp_path / "data.npz", x=x, y=y)
    err = _train(tmp_path, DataSpec("arrays", {"path": "data.npz"}), capsys)
    assert "data.npz" in err and words in err, err


@pytest.mark.parametrize("table, words", [
    ("a,b,label\n1,2,0\n,1,1\n", "empty"),
    ("a,b,label\n1,2,0\nnan,1,1\n", "'nan' is not a finite number"),
    ("a,b,label\n1,2,0\n1,inf,\n", "the label is empty"),
    ("a,b,label\n", "no data rows"),
    ("", "empty"),
], ids=["blank cell", "nan cell", "no label", "header only", "empty file"])
def test_bad_csv_stops_before_training(tmp_path, capsys, table, words):
    (tmp_path / "t.csv").write_text(table, encoding="utf-8")
    err = _train(tmp_path, DataSpec("csv", {"path": "t.csv"}), capsys)
    assert "t.csv" in err and words in err, err

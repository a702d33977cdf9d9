"""`deepwire train` in-process: run folders, overrides, resume, quiet and progress output."""

from __future__ import annotations

import json

import pytest

from graph.project_io import save_project
from runtime.cli import main
from runtime.train.runs import read_metrics
from tests.test_train_fixtures import mlp, project, single_thread  # noqa: F401 - single_thread is a fixture

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def project_file(tmp_path):
    path = tmp_path / "My Digits.dw.json"
    save_project(project(mlp(), epochs=1, lr=0.01), path)
    return path


def test_default_run_folder_is_beside_the_project_with_the_overrides_applied(project_file, capsys):
    assert main(["train", str(project_file), "--epochs", "2", "--batch-size", "128", "--lr", "0.02",
                 "--seed", "3", "--device", "cpu"]) == 0
    runs = list((project_file.parent / "runs" / "test-project").iterdir())  # runs/<project>/<run>
    assert len(runs) == 1 and runs[0].name.startswith("test-project-")
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["batch_size"] == 128 and summary["seed"] == 3
    assert summary["config"]["lr"] == 0.02 and summary["device"] == "cpu"
    err = capsys.readouterr().err
    assert "Training 'test project' (classification) on cpu" in err
    assert "epoch 2/2" in err and "finished after 2 epochs" in err and str(runs[0]) in err


def test_quiet_prints_nothing_and_resume_continues_the_run(project_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(project_file), "--quiet", "--out", str(run_dir)]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["train", str(project_file), "--quiet", "--resume", str(run_dir), "--epochs", "3"]) == 0
    epochs = [r["epoch"] for r in read_metrics(run_dir) if r["type"] == "epoch"]
    assert epochs == [1, 2, 3]
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 3


def test_resume_and_out_together_are_refused(project_file, tmp_path, capsys):
    assert main(["train", str(project_file), "--resume", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "either --resume" in capsys.readouterr().err


def test_max_seconds_stops_with_a_checkpoint_and_exit_0(project_file, tmp_path, capsys):
    code = main(["train", str(project_file), "--epochs", "100000", "--max-seconds", "0.3",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    assert "reached the time limit" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["reason"] == "time_limit"
    assert (tmp_path / "run" / "last.pt").is_file()

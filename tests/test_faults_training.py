"""Kill the training child at random moments: nothing is lost and everything stays usable.

CLI: `deepwire train --events jsonl` (what the studio runs) is SIGKILLed a
random time after a random checkpoint event, so some kills land while the
next checkpoint is being written. The run folder's last.pt must then load
(`load_checkpoint`, weights only) and `--resume` must continue from it to a
completed run. Default: one kill, resumed in-process; slow: five more, each
resumed with `deepwire train --resume` as a user would.

Studio (slow): the training child is killed after a random number of events; the
panel reports a crash, the project is untouched, and Train works again
(a second run completes).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.project_io import save_project
from runtime.train.checkpoint import load_checkpoint
from tests.conftest import stressed
from tests.test_train_fixtures import digits_vectors, mlp, project, run_training, single_thread  # noqa: F401

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _train_args(path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "runtime.cli", "train", str(path), "--events", "jsonl", "--threads", "1",
            "--max-seconds", "60", *extra]


def kill_train_and_resume(tmp_path: Path, seed: int, in_process: bool = False) -> dict:
    rng = random.Random(seed)
    path = tmp_path / "digits.dw.json"
    save_project(project(mlp(hidden=16), epochs=10_000, log_every=1), path)
    run = tmp_path / f"run{seed}"
    child = subprocess.Popen(_train_args(path, "--out", str(run)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=ENV)
    checkpoints, events = rng.randint(1, 4), 0
    try:
        for line in child.stdout:
            event = json.loads(line)
            events += 1
            if event["kind"] == "checkpoint" and event["which"] == "last":
                checkpoints -= 1
                if checkpoints == 0:
                    time.sleep(rng.uniform(0, 0.2))  # anywhere in the next epoch, or its checkpoint write
                    child.kill()
                    break
    finally:
        child.kill()
        child.wait(timeout=30)
    assert checkpoints == 0, child.stderr.read()

    state = load_checkpoint(run / "last.pt")  # weights only; raises SetupError if damaged
    assert state["epoch"] >= 1 and "resume" in state and state["models"]["model"]
    assert not list(run.glob("*.tmp")) or (run / "last.pt").is_file()

    if in_process:  # the same as --resume, without paying another torch import
        summary, events = run_training(project(mlp(hidden=16), epochs=state["epoch"] + 1, log_every=1),
                                       digits_vectors(), run, resume=True)
        assert summary["reason"] == "completed", summary
    else:
        done = subprocess.run(_train_args(path, "--resume", str(run), "--epochs", str(state["epoch"] + 1)),
                              capture_output=True, text=True, env=ENV, timeout=120)
        assert done.returncode == 0, done.stderr
        finished = json.loads(done.stdout.splitlines()[-1])
        assert finished["kind"] == "finished" and finished["reason"] == "completed", finished
    resumed = load_checkpoint(run / "last.pt")
    assert resumed["epoch"] == state["epoch"] + 1 and resumed["step"] > state["step"]
    return {"events_before_kill": events, "epoch_at_kill": state["epoch"]}


def test_a_killed_training_run_resumes_from_its_last_checkpoint(tmp_path, single_thread):  # noqa: F811
    kill_train_and_resume(tmp_path, seed=0, in_process=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 1 + stressed(2)))
def test_training_killed_at_random_moments_always_resumes(tmp_path, seed):
    kill_train_and_resume(tmp_path, seed)


@pytest.mark.slow
def test_the_studio_reports_a_killed_child_and_trains_again(qtbot, tmp_path, registry, monkeypatch):
    from tests.studio_support import close_window, make_window, refuse_dialogs

    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry, example="digits_mlp")
    try:
        panel = window.training
        panel.runs_base = tmp_path
        panel.extra_args = ("--max-seconds", "60", "--threads", "1")
        panel.child_env = {"OMP_NUM_THREADS": "1"}
        panel.prewarm_enabled = False
        window.document.set_training({"epochs": 500})
        before = window.document.project.copy()

        assert panel.train()
        events = random.Random(7).randint(1, 30)
        qtbot.waitUntil(lambda: panel.events_seen >= events or not panel.worker.running, timeout=90_000)
        panel.worker.process.kill()
        qtbot.waitUntil(lambda: not panel.worker.running, timeout=10_000)
        reason, text = panel.last_outcome
        assert reason == "crashed" and "killed" in text
        assert window.document.project == before and panel.train_button.isEnabled()

        window.document.set_training({"epochs": 1})  # usable: a second run goes to the end
        assert panel.train()
        qtbot.waitUntil(lambda: not panel.worker.running, timeout=90_000)
        assert panel.last_outcome[0] == "completed", panel.last_outcome
    finally:
        window.training.worker.wait_stopped()
        close_window(window)

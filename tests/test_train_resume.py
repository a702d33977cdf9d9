"""Stop and resume: a stopped run saves a checkpoint, and resuming gives the numbers of an unbroken run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from graph.project_io import save_project
from runtime.train import StopFlag
from runtime.train.runs import read_metrics
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    comparable,
    digits_images,
    digits_vectors,
    mlp,
    project,
    run_training,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _weights(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)["models"]["model"]


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class StopAt:
    """A listener that presses Stop once the run reaches a step, or the end of an epoch."""

    def __init__(self, flag: StopFlag, step: int | None = None, epoch: int | None = None):
        self.flag, self.step, self.epoch = flag, step, epoch

    def on_event(self, event):
        if self.step is not None and event.kind == "step" and event.step >= self.step:
            self.flag.set()
        if self.epoch is not None and event.kind == "checkpoint" and event.epoch >= self.epoch:
            self.flag.set()


def _train_until_stopped(proj, data, run_dir, **stop_at):
    from runtime.train import Collector, Trainer, TrainOptions
    from tests.test_train_fixtures import REGISTRY

    flag, events = StopFlag(), Collector()
    summary = Trainer(proj, REGISTRY, data, TrainOptions(run_dir=run_dir, stop=flag, handle_signals=False),
                      [events, StopAt(flag, **stop_at)]).run()
    return summary, events


@pytest.mark.parametrize("settings", [
    {"optimizer": "adam", "schedule": "cosine", "warmup_epochs": 1},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "schedule": "onecycle", "augment": True},
], ids=["adam-cosine-warmup", "sgd-onecycle-augment"])
def test_resumed_run_matches_an_unbroken_run(tmp_path, settings):
    data = digits_images(train=256, val=128)
    straight_dir, split_dir = tmp_path / "straight", tmp_path / "split"
    straight, _ = run_training(project(small_cnn(), epochs=4, **settings), data, straight_dir)

    first, _ = _train_until_stopped(project(small_cnn(), epochs=4, **settings), data, split_dir, epoch=2)
    assert first["reason"] == "stopped" and first["epochs"] == 2
    resumed, events = run_training(project(small_cnn(), epochs=4, **settings), data, split_dir, resume=True)

    assert events.of("started")[0].start_epoch == 2
    assert [e.epoch for e in events.of("epoch")] == [3, 4]  # only the remaining epochs ran
    assert comparable(read_metrics(split_dir)) == comparable(read_metrics(straight_dir))
    assert resumed["final"] == straight["final"] and resumed["best_epoch"] == straight["best_epoch"]
    _assert_same_weights(_weights(split_dir), _weights(straight_dir))


def test_more_epochs_on_resume_continue_a_constant_rate_run_exactly(tmp_path):
    data = digits_vectors(train=256, val=64)
    straight_dir, split_dir = tmp_path / "straight", tmp_path / "split"
    run_training(project(mlp(), epochs=3), data, straight_dir)
    run_training(project(mlp(), epochs=1), data, split_dir)  # finished after 1 epoch ...
    run_training(project(mlp(), epochs=3), data, split_dir, resume=True)  # ... then asked for 3
    assert comparable(read_metrics(split_dir)) == comparable(read_metrics(straight_dir))
    _assert_same_weights(_weights(split_dir), _weights(straight_dir))


def test_stop_mid_epoch_saves_a_checkpoint_and_resume_continues_exactly(tmp_path):
    data = digits_vectors(train=320, val=64)  # 10 steps per epoch; stop at step 15, mid epoch 2
    straight_dir, split_dir = tmp_path / "straight", tmp_path / "split"
    run_training(project(mlp(), epochs=3), data, straight_dir)

    summary, events = _train_until_stopped(project(mlp(), epochs=3), data, split_dir, step=15)
    finished = events.of("finished")[0]
    assert finished.reason == "stopped" == summary["reason"]
    assert finished.steps == 15 and finished.epochs == 1
    assert events.of("checkpoint")[-1].which == "last"
    assert torch.load(split_dir / "last.pt", weights_only=True)["step"] == 15

    run_training(project(mlp(), epochs=3), data, split_dir, resume=True)
    assert comparable(read_metrics(split_dir)) == comparable(read_metrics(straight_dir))
    _assert_same_weights(_weights(split_dir), _weights(straight_dir))


def test_time_limit_stops_cleanly_with_a_checkpoint(tmp_path):
    summary, events = run_training(project(mlp(), epochs=1000), digits_vectors(), tmp_path / "run",
                                   max_seconds=0.5)
    assert summary["reason"] == "time_limit"
    assert 0 < summary["steps"] < 1000 * 13
    assert (tmp_path / "run" / "last.pt").is_file()


def test_resume_refuses_a_folder_without_a_checkpoint(tmp_path):
    from runtime.train import SetupError

    with pytest.raises(SetupError, match="no last.pt to resume from"):
        run_training(project(mlp()), digits_vectors(), tmp_path / "empty", resume=True)


def test_sigint_to_a_training_subprocess_saves_and_finishes_stopped(tmp_path):
    path = tmp_path / "digits.dw.json"
    proj = project(mlp(), epochs=100000, log_every=1)
    save_project(proj, path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    child = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "train", str(path), "--events", "jsonl",
         "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    kinds = []
    try:
        for line in child.stdout:  # wait until it really trains, then press Ctrl+C
            kinds.append(json.loads(line)["kind"])
            if kinds.count("step") == 3:
                child.send_signal(signal.SIGINT)
                break
        rest = [json.loads(line) for line in child.stdout]
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, child.stderr.read()
    assert rest[-1]["kind"] == "finished" and rest[-1]["reason"] == "stopped"
    assert any(e["kind"] == "checkpoint" and e["which"] == "last" for e in rest)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert saved["step"] >= 3 and "resume" in saved
    assert time.time() - (tmp_path / "run" / "summary.json").stat().st_mtime < 60


def test_a_stop_line_on_stdin_sets_the_flag():
    import io

    from runtime.train.stop import watch_stdin

    flag = StopFlag()
    watch_stdin(flag, io.StringIO("hello\n  STOP \n")).join(timeout=5)
    assert flag.requested and flag.reason == "stopped"
    quiet = StopFlag()
    watch_stdin(quiet, io.StringIO("")).join(timeout=5)  # the parent closing stdin is not a stop
    assert not quiet.requested


def test_sigterm_and_sigint_set_the_flag_while_training_and_are_restored_after():
    from runtime.train.stop import stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGINT):
        flag = StopFlag()
        with stop_on_signals(flag):
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # the handler runs between bytecodes of the main thread
            assert flag.requested
    assert signal.getsignal(signal.SIGTERM) is before

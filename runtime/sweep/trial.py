"""Training one trial: in this process, or in a child process that cannot take the sweep down.

Both ways end in the same `TrialWatcher`, which sees the trial's training
events: it reports each epoch's validation metric to optuna (so the pruner
can stop a hopeless trial), keeps the best value, and forwards the events to
the sweep's listeners tagged with the trial number.

    watcher = TrialWatcher(number, metric, maximize, report, forward)
    run_in_process(project, registry, run_dir, base_dir, project_path, max_seconds, watcher)
    run_in_child(project_json, run_dir, ..., watcher, log_path, env)
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.atomic import write_text
from runtime.train import events as ev
from runtime.train.stop import StopFlag

# the training events the sweep passes on (steps and per-block statistics would flood the studio)
FORWARDED = ("started", "epoch", "validation", "warning", "error", "finished")


class TrialWatcher:
    """Follows one trial's events: objective, pruning, the end, and what went wrong."""

    def __init__(self, number: int, metric: str, maximize: bool,
                 report: Callable[[float, int], bool], forward: Callable[[dict[str, Any]], None]):
        self.number = number
        self.metric = metric
        self.maximize = maximize
        self.report = report  # (value, epoch, final) -> True when the trial should be pruned
        self.forward = forward
        self.best: float | None = None
        self.epochs = 0
        self.total_epochs: int | None = None  # from the started event
        self.reason: str | None = None  # the trainer's finished reason
        self.error: str | None = None
        self.pruned = False
        self.stop_trial: Callable[[], None] = lambda: None  # set by the runner

    def on_event(self, event: ev.Event) -> None:
        if event.kind in FORWARDED:
            data = event.to_dict()
            data.pop("confusion", None)
            data.pop("class_names", None)
            data["trial"] = self.number
            self.forward(data)
        if event.kind == "started":
            self.total_epochs = event.epochs
        elif event.kind == "epoch":
            self.epochs = max(self.epochs, event.epoch)
        elif event.kind == "validation":
            self._validation(event.epoch, event.metrics.get(self.metric))
        elif event.kind == "error":
            self.error = event.message + (f"\n  suggestion: {event.suggestion}" if event.suggestion else "")
        elif event.kind == "finished":
            self.reason = event.reason
            self.epochs = max(self.epochs, event.epochs)

    def _validation(self, epoch: int, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = value
        final = self.total_epochs is not None and epoch >= self.total_epochs
        if self.report(value, epoch, final) and not self.pruned:
            self.pruned = True
            self.stop_trial()


def run_in_process(project, registry, run_dir: Path, base_dir: Path | None, project_path: Path | None,
                   max_seconds: float | None, watcher: TrialWatcher, stop: StopFlag) -> None:
    """Train the trial here; every failure ends up in watcher.error, never as an exception."""
    from runtime.data import DataError
    from runtime.train import SetupError, Trainer, TrainingError, TrainOptions
    from runtime.train.data import load_project_data

    watcher.stop_trial = lambda: stop.set("stopped")
    try:
        dataset = load_project_data(project, registry, base_dir=base_dir)
        options = TrainOptions(run_dir=run_dir, max_seconds=max_seconds, project_path=project_path, stop=stop,
                               handle_signals=False)  # the sweep owns Ctrl+C and SIGTERM
        Trainer(project, registry, dataset, options, [watcher]).run()
    except (DataError, SetupError, TrainingError) as err:
        watcher.error = watcher.error or str(err)
    except Exception as err:  # noqa: BLE001 - a crashing trial is recorded as failed; the sweep goes on
        watcher.error = f"{type(err).__name__}: {err}"


class ChildTrial:
    """A trial trained by `python -m runtime.sweep.worker SPEC` in a process of its own."""

    def __init__(self, spec: dict[str, Any], spec_path: Path, log_path: Path, env: dict[str, str]):
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        write_text(spec_path, json.dumps(spec))
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in run()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.sweep.worker", str(spec_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env, bufsize=1)
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            try:
                self.process.stdin.write("stop\n")
                self.process.stdin.flush()
            except (OSError, ValueError):
                pass  # already gone

    def run(self, watcher: TrialWatcher) -> None:
        """Read the child's events until it ends; a child that dies is an error, not a crash."""
        watcher.stop_trial = self.stop
        for line in self.process.stdout:
            if not line.strip():
                continue
            try:
                event = ev.event_from_json(line)
            except ev.EventFormatError:
                continue  # a stray print in the child
            watcher.on_event(event)
        code = self.process.wait()
        self._log.close()
        if code != 0 and watcher.error is None:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            watcher.error = f"the trial's process ended with exit code {code}" + (
                ": " + " / ".join(tail) if tail else "")
        if watcher.reason is None and watcher.error is None:
            watcher.error = "the trial's process ended without finishing its run"


def child_env(gpu: int | None, threads: int | None) -> dict[str, str]:
    from runtime.lifeline import child_environment

    env = child_environment()  # the trial dies with the sweep, however the sweep ends
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)  # each parallel trial sees one GPU, as cuda:0
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env

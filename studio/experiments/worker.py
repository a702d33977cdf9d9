"""Runs `deepwire sweep --events jsonl` as a child process; its JSON lines become Qt signals.

The sweep, like training, never runs in the GUI process. The project as it
is now (unsaved edits too) is saved to a snapshot (studio/training/worker.py
`snapshot`, which makes relative data paths absolute), and the child is
`python -m runtime.cli sweep SNAPSHOT --events jsonl --out SWEEP_DIR ...`.
Events stay plain dicts: the studio never imports torch or optuna.

Stop writes "stop" on the child's stdin: the running trial stops cleanly and
is recorded as interrupted, ready for a resumed sweep. A child still alive
after 10 s is terminated (SIGTERM also stops cleanly), then killed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess

from graph.model import Project
from studio.event_child import EventChild
from studio.training.worker import snapshot


class SweepWorker(EventChild):
    STDERR_LINES = 30

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.sweep_dir: Path | None = None

    def start(self, project: Project, sweep_dir: Path, base_dir: Path | None, args: list[str]) -> None:
        if self.process is not None:
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="deepwire-sweep-")
        path = snapshot(project, base_dir, Path(self._tmp.name))
        self._launch(Path(sweep_dir), base_dir, [str(path), "--out", str(sweep_dir), *args])

    def resume(self, sweep_dir: Path, args: list[str]) -> None:
        """Continue the sweep stored in `sweep_dir` (its study, settings and project are there)."""
        if self.process is None:
            self._launch(Path(sweep_dir), None, ["--resume", str(sweep_dir), *args])

    def _launch(self, sweep_dir: Path, base_dir: Path | None, args: list[str]) -> None:
        self.sweep_dir = sweep_dir
        self._reset()
        process = self._new_process()
        if base_dir is not None:
            process.setWorkingDirectory(str(base_dir))
        self._attach(process)
        process.start(sys.executable, ["-m", "runtime.cli", "sweep", "--events", "jsonl", *args])
        self.runningChanged.emit(True)

    def stop(self) -> None:
        """Ask the sweep to stop cleanly (the running trial is recorded as interrupted); terminate it
        after 10 s (SIGTERM stops cleanly too), kill it a second later."""
        self._ask_to_stop(10000)

    def wait_stopped(self, msecs: int = 5000) -> None:
        """Stop and block until the child is gone (window closing, tests' clean-up)."""
        process = self.process
        if process is None:
            return
        self.stop()
        if not process.waitForFinished(msecs):
            process.terminate()
            if not process.waitForFinished(2000):
                process.kill()
                process.waitForFinished(1000)

    def _on_event(self, event: dict) -> None:
        if event["kind"] == "sweep_finished":
            self.finished_event = event

    def _outcome(self, code: int, status: QProcess.ExitStatus) -> tuple[str, str]:
        done = self.finished_event
        if done is not None:
            return done.get("reason", "completed"), ""
        if code == 2:
            return "failed", self.stderr_tail() or "the sweep could not start"
        how = "was killed" if status == QProcess.ExitStatus.CrashExit else f"exited with code {code}"
        tail = self.stderr_tail(5)
        return "crashed", f"the sweep process {how}" + (f":\n{tail}" if tail else "")

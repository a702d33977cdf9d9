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

import json
import sys
import tempfile
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from graph.model import Project
from studio.training.worker import snapshot


class SweepWorker(QObject):
    eventReceived = Signal(dict)
    runningChanged = Signal(bool)
    ended = Signal(str, str)  # reason (completed, stopped, time_limit, failed, crashed), message

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self.sweep_dir: Path | None = None
        self.finished_event: dict | None = None
        self._stderr: deque[str] = deque(maxlen=30)
        self._buffer = b""
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.process is not None

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
        self.finished_event = None
        self._stderr.clear()
        self._buffer = b""
        self._stopping = False
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        if base_dir is not None:
            process.setWorkingDirectory(str(base_dir))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process = process
        process.start(sys.executable, ["-m", "runtime.cli", "sweep", "--events", "jsonl", *args])
        self.runningChanged.emit(True)

    def stop(self) -> None:
        process = self.process
        if process is None or self._stopping:
            return
        self._stopping = True
        process.write(b"stop\n")
        QTimer.singleShot(10000, lambda: self._escalate(process, kill=False))
        QTimer.singleShot(15000, lambda: self._escalate(process, kill=True))

    def _escalate(self, process: QProcess, kill: bool) -> None:
        if self.process is process and process.state() != QProcess.ProcessState.NotRunning:
            process.kill() if kill else process.terminate()

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

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            self._stderr.append(text)
            return
        if isinstance(event, dict) and "kind" in event:
            if event["kind"] == "sweep_finished":
                self.finished_event = event
            self.eventReceived.emit(event)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        for line in bytes(self.process.readAllStandardError()).decode("utf-8", "replace").splitlines():
            if line.strip():
                self._stderr.append(line.rstrip())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finished(-1, QProcess.ExitStatus.CrashExit)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process = self.process
        if process is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._buffer:
            self._line(self._buffer)
            self._buffer = b""
        self.process = None
        process.deleteLater()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        done = self.finished_event
        self.runningChanged.emit(False)
        if done is not None:
            self.ended.emit(done.get("reason", "completed"), "")
        elif code == 2:
            self.ended.emit("failed", "\n".join(self._stderr) or "the sweep could not start")
        else:
            how = "was killed" if status == QProcess.ExitStatus.CrashExit else f"exited with code {code}"
            tail = "\n".join(list(self._stderr)[-5:])
            self.ended.emit("crashed", f"the sweep process {how}" + (f":\n{tail}" if tail else ""))

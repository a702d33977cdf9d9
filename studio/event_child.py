"""A child process that speaks JSON lines on stdout, turned into Qt signals: the common part of
the training worker (studio/training/worker.py) and the sweep worker (studio/experiments/worker.py).

The child's stdout carries one JSON event per line (`--events jsonl`);
anything else on it, and everything on stderr, is kept (the last lines) for
the message when the child crashes. Events stay plain dicts: the studio
never imports torch to read them. A subclass says what an event means to it
(`_on_event`) and how the child's end reads to the user (`_outcome`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from runtime.lifeline import ENV as LIFELINE


class EventChild(QObject):
    """One child at a time; `process` is None when none runs."""

    eventReceived = Signal(dict)  # every event, in order
    runningChanged = Signal(bool)
    ended = Signal(str, str)  # reason (completed, stopped, failed, crashed, ...), a message for the user

    STDERR_LINES = 20  # kept for a crash report

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self.finished_event: dict | None = None
        self._stderr: deque[str] = deque(maxlen=self.STDERR_LINES)
        self._buffer = b""
        self._tmp: tempfile.TemporaryDirectory | None = None  # the project snapshot's folder
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.process is not None

    # --- subclass hooks ---
    def _on_event(self, event: dict) -> None:
        """Called for each event before it is emitted."""

    def _outcome(self, code: int, status: QProcess.ExitStatus) -> tuple[str, str]:
        raise NotImplementedError

    # --- starting and stopping ---
    def _new_process(self, env: dict[str, str] | None = None) -> QProcess:
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert(LIFELINE, str(os.getpid()))  # the child dies with the studio
        environment.insert("PYTHONUNBUFFERED", "1")  # events must arrive as they happen
        for key, value in (env or {}).items():
            environment.insert(key, value)
        process.setProcessEnvironment(environment)
        return process

    def _reset(self) -> None:
        self.finished_event = None
        self._stderr.clear()
        self._buffer = b""
        self._stopping = False

    def _attach(self, process: QProcess) -> None:
        """Make `process` the running child: its output becomes events, its end `ended`."""
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._process_finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process

    def _ask_to_stop(self, terminate_after_ms: int, close_stdin: bool = False) -> None:
        """Write "stop" on the child's stdin (it stops cleanly); terminate it if it is still there
        after `terminate_after_ms`, kill it a second after that."""
        process = self.process
        if process is None or self._stopping:
            return
        self._stopping = True
        process.write(b"stop\n")
        if close_stdin:
            process.closeWriteChannel()
        QTimer.singleShot(terminate_after_ms, lambda: self._escalate(process, kill=False))
        QTimer.singleShot(terminate_after_ms + 1000, lambda: self._escalate(process, kill=True))

    def _escalate(self, process: QProcess, kill: bool) -> None:
        if self.process is process and process.state() != QProcess.ProcessState.NotRunning:
            process.kill() if kill else process.terminate()

    # --- reading the child ---
    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._handle_line(line)

    def _handle_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self._stderr.append(line)  # not an event (a stray print): keep it for a crash report
            return
        if not isinstance(event, dict) or "kind" not in event:
            return
        self._on_event(event)
        self.eventReceived.emit(event)

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr.append(line.rstrip())

    def stderr_tail(self, lines: int | None = None) -> str:
        kept = list(self._stderr)
        return "\n".join(kept if lines is None else kept[-lines:])

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._process_finished(-1, QProcess.ExitStatus.CrashExit)

    def _process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process = self.process
        if process is None:
            return
        self._read_stdout()
        self._read_stderr()
        if self._buffer:
            self._handle_line(self._buffer)
            self._buffer = b""
        self.process = None
        process.deleteLater()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        reason, message = self._outcome(code, status)
        self.runningChanged.emit(False)
        self.ended.emit(reason, message)

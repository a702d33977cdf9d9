"""Runs `deepwire train` as a child process and turns its JSON-lines events into Qt signals.

Training never runs in the GUI process: a crash, an out-of-memory error or
a hang there would take the editor down, and a thread here slowed training
1.3-1.6x. The worker saves the project as it is now (unsaved edits train
too) to a snapshot file, starts
`python -m runtime.cli train SNAPSHOT --events jsonl --out RUN_DIR` and
parses stdout line by line. Events arrive as plain dicts: importing
runtime.train.events would run runtime/train/__init__.py, which imports
torch, and the studio process must stay torch-free.

A new child spends 2-3 s importing torch before its first event, so
`prewarm()` starts one ahead of time (the panel does when it is shown): it
imports the training runtime and waits for one line of arguments on stdin;
Train then hands it the snapshot instead of spawning a fresh process.

Stop writes "stop" on the child's stdin (it saves a checkpoint and ends
with reason "stopped"); if it is still alive a second later it is
terminated, and killed a second after that.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer

from graph.model import Project
from graph.project_io import save_project
from studio.event_child import EventChild

# The warm child: pay the imports, then run `deepwire <arguments from the first stdin line>`. Given as
# code (python -c), so it needs nothing of the studio package in the child.
WARM_CODE = """
import importlib, json, sys
# the slow part of a start (measured with -X importtime): torch, its compiler stack that torch.optim
# pulls in on first use, scikit-learn's data sets, the runtime itself
for name in ("torch", "torch.optim", "torch._dynamo", "sklearn.datasets", "graph.blocks", "graph.compiler",
             "runtime.train", "runtime.commands.train", "runtime.data.pipeline"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # an optional package: the run itself will say if it needs it
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)  # the studio closed without training: leave quietly
from runtime.cli import main
sys.exit(main(json.loads(line)))
"""
PATH_OPTIONS = ("path", "root", "labels")  # data options that name files, resolved against the project folder
EXIT_GRACE_MS = 300  # after its finished event, how long a child may take to exit on its own


def snapshot(project: Project, base_dir: Path | None, folder: Path) -> Path:
    """Save a copy of the project to train; relative data paths made absolute first.

    The child resolves data paths against the snapshot's folder, which is a
    temporary one, so paths relative to the user's project file would break.
    """
    copy = project.copy()
    if base_dir is not None:
        for key in PATH_OPTIONS:
            value = copy.data.options.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                copy.data.options[key] = str((base_dir / value).resolve())
        start = copy.training.init_checkpoint  # transfer learning's weights: beside the project too
        if start and not Path(start).expanduser().is_absolute() and (base_dir / start).exists():
            copy.training = copy.training.replace(init_checkpoint=str((base_dir / start).resolve()))
    path = folder / "project.dw.json"
    save_project(copy, path)
    return path


class TrainingWorker(EventChild):
    """One training child at a time. Signals carry event dicts (see runtime/train/events.py)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.last_error: dict | None = None
        self._warm: QProcess | None = None  # a started child waiting for its arguments
        self._warm_env: dict[str, str] = {}
        self.used_warm = False  # whether the last start took the warm child (tests, benchmarks)

    def prewarm(self, env: dict[str, str] | None = None) -> None:
        """Start a child that imports torch now, so the next Train gets its first event sooner."""
        if self._warm is not None or self.process is not None:
            return
        warm = self._new_process(env)
        warm.finished.connect(lambda *_args, p=warm: self._warm_died(p))
        self._warm, self._warm_env = warm, dict(env or {})
        warm.start(sys.executable, ["-c", WARM_CODE])

    def _warm_died(self, process: QProcess) -> None:
        if self._warm is process:  # it failed before being used: the next start spawns afresh
            self._warm = None
            try:
                process.deleteLater()
            except RuntimeError:  # already deleted along with the window
                pass

    def discard_warm(self) -> None:
        """End the waiting child (window closing); it holds nothing yet, so killing it loses nothing."""
        warm, self._warm = self._warm, None
        if warm is None:
            return
        warm.finished.disconnect()
        warm.kill()
        warm.waitForFinished(1000)
        warm.deleteLater()

    def start(self, project: Project, run_dir: Path, base_dir: Path | None = None,
              extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        """Snapshot the project and start training it into `run_dir` (nothing happens if one runs)."""
        if self.process is not None:
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="deepwire-train-")
        path = snapshot(project, base_dir, Path(self._tmp.name))
        self.run_dir = Path(run_dir)
        self._reset()
        self.last_error = None
        args = ["train", str(path), "--events", "jsonl", "--out", str(self.run_dir), *extra_args]
        warm = self._warm
        # Starting counts too: what is written before the child runs waits in the pipe
        self.used_warm = (warm is not None and warm.state() != QProcess.ProcessState.NotRunning
                          and self._warm_env == dict(env or {}))
        if self.used_warm:
            self._warm = None
            warm.finished.disconnect()
            process = warm
        else:
            self.discard_warm()
            process = self._new_process(env)
            if base_dir is not None:
                process.setWorkingDirectory(str(base_dir))
        self._attach(process)
        if self.used_warm:
            process.write((json.dumps(args) + "\n").encode())
        else:
            process.start(sys.executable, ["-m", "runtime.cli", *args])
        self.runningChanged.emit(True)

    def stop(self) -> None:
        """Ask the child to stop cleanly; terminate it after 1 s, kill it after 2 s."""
        self._ask_to_stop(1000, close_stdin=True)

    def wait_stopped(self, msecs: int = 3000) -> None:
        """Stop and block until the child is gone, the warm one too (window closing, tests' clean-up)."""
        self.discard_warm()
        process = self.process
        if process is None:
            return
        self.stop()
        if not process.waitForFinished(min(msecs, 1000)):
            process.terminate()
            if not process.waitForFinished(1000):
                process.kill()
                process.waitForFinished(1000)
        self.discard_warm()  # a listener to `ended` may have warmed a new one meanwhile

    # --- what the child says ---
    def _on_event(self, event: dict) -> None:
        if event["kind"] == "finished":
            self.finished_event = event
            # everything is on disk before this event (summary.json, checkpoints); the child's own exit
            # (interpreter and torch teardown) can take a second, which Stop and the next Train should
            # not wait for: a short grace, then it is ended
            process = self.process
            QTimer.singleShot(EXIT_GRACE_MS, lambda: self._escalate(process, kill=False))
            QTimer.singleShot(EXIT_GRACE_MS + 1000, lambda: self._escalate(process, kill=True))
        elif event["kind"] == "error":
            self.last_error = event

    def _outcome(self, code: int, status: QProcess.ExitStatus) -> tuple[str, str]:
        done = self.finished_event
        if done is not None and done.get("reason") != "failed":
            return done["reason"], ""
        if self.last_error is not None:
            error = self.last_error
            suggestion = f" ({error['suggestion']})" if error.get("suggestion") else ""
            return "failed", f"{error.get('message', 'training failed')}{suggestion}"
        if self._stopping and done is None:
            return "stopped", "training was stopped before it could report"
        crashed = status == QProcess.ExitStatus.CrashExit or code != 0 or done is None
        if crashed:
            how = "was killed" if status == QProcess.ExitStatus.CrashExit else f"exited with code {code}"
            tail = self.stderr_tail()
            return "crashed", f"the training process {how}" + (f":\n{tail}" if tail else "")
        return "failed", "training failed"

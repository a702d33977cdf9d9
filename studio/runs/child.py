"""Running a `deepwire` command as a child process (evaluate, sample, export): torch stays out of the GUI.

`start_cli(parent, args, done)` starts `python -m runtime.cli ARGS` from this
source tree and calls `done(exit_code, stdout, stderr)` once it ends; a child
that cannot start or crashes reports a non-zero code and a message instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QProcess, QProcessEnvironment

from runtime.lifeline import ENV as LIFELINE
from studio.runs.run_info import REPO_ROOT, cli_command

Done = Callable[[int, str, str], None]


def start_cli(parent: QObject, args: list[str], done: Done) -> QProcess:
    program, arguments, extra = cli_command(*args)
    process = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    env.insert(LIFELINE, str(os.getpid()))  # the child dies with the studio
    for key, value in extra.items():
        env.insert(key, value)
    process.setProcessEnvironment(env)
    process.setWorkingDirectory(str(REPO_ROOT))
    reported = []

    def finish(code: int, out: str, err: str) -> None:
        if reported:
            return  # errorOccurred and finished can both arrive for one crash
        reported.append(True)
        done(code, out, err)

    def finished(code: int, status: QProcess.ExitStatus) -> None:
        if not shiboken6.isValid(process) or not shiboken6.isValid(parent):
            return  # the window went away while the child ran: nobody is left to tell
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace")
        if status == QProcess.ExitStatus.CrashExit:
            err += "\nthe child process crashed or was killed"
            code = code or 1
        finish(code, out, err)

    def failed(error: QProcess.ProcessError) -> None:
        if not shiboken6.isValid(process) or not shiboken6.isValid(parent):
            return
        if error == QProcess.ProcessError.FailedToStart:
            finish(127, "", f"could not start {program}: {process.errorString()}")

    process.finished.connect(finished)
    process.errorOccurred.connect(failed)
    process.start(program, arguments)
    return process


def child_error(err: str, code: int) -> str:
    """The message a failed `deepwire` child printed (its last 'deepwire: ...' block), for the user."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("deepwire:")]
    if starts:
        return " ".join(lines[starts[-1]:]).removeprefix("deepwire:").strip()
    return " ".join(lines[-3:]) if lines else f"exit code {code}"

"""A fork server for kill trials: torch imported once, one forked child per trial, killed on cue.

Run as `python -m tests.kill_server`; it reads one JSON job per line on
stdin and answers one JSON line on stdout when the job's child has ended.
A job: {"op": "cli" | "save" | "autosave", "argv": [...], "cwd": DIR, "env": {...},
"log": FILE, "delay": SECONDS or null, "wait_for": PATH or null, "signal": N, "grace": SECONDS}.

The child starts a session of its own, runs the job in-process (the CLI
through runtime.cli.main, exactly as `deepwire ...` would) with stdout and
stderr in `log`; the server sends `signal` once `delay` seconds have passed
(counted from when `wait_for` exists, if given). A child that survives a
catchable signal for `grace` seconds is SIGKILLed and reported as hung.
The answer: {"pid", "killed", "hung", "status", "code", "elapsed"}.

With KILL_SERVER_PRELOAD=1 it also imports the ONNX exporter and optuna
up front (worth it for hundreds of trials, not for a handful).

The server itself only imports (never runs a torch operation or starts a
thread), so a forked child starts from a clean state, in milliseconds
instead of the seconds a fresh Python with torch takes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy  # noqa: E402, F401 - imported once here, for every child
import torch  # noqa: E402, F401

import graph.project_io  # noqa: E402, F401
import runtime.cli  # noqa: E402
import runtime.export_project  # noqa: E402, F401
import runtime.export_script  # noqa: E402, F401
import runtime.train.trainer  # noqa: E402, F401

PRELOAD = ("onnx", "onnxscript", "onnxruntime", "torch.onnx._internal.exporter._core", "optuna")
for optional in PRELOAD if os.environ.get("KILL_SERVER_PRELOAD") else ():
    try:
        __import__(optional)
    except Exception:  # noqa: BLE001 - a missing optional package only makes children slower
        pass


def _save_forever(job: dict) -> int:
    from graph.blocks import default_registry
    from graph.project_io import load_project, save_project

    registry = default_registry()
    versions = [load_project(path, registry) for path in job["argv"][1:]]
    i = 0
    while True:
        save_project(versions[i % len(versions)], job["argv"][0])
        i += 1


def _autosave_forever(job: dict) -> int:
    from PySide6.QtWidgets import QApplication

    from graph.blocks import default_registry
    from studio.document import Document
    from studio.files import Autosave

    app = QApplication([])  # noqa: F841 - the Document's undo stack needs one
    document = Document(default_registry())
    autosave = Autosave(document, job["argv"][0])
    # as in the studio (studio/launcher.py): Ctrl+C ends the session between steps; raised inside a Qt
    # slot, a KeyboardInterrupt would only be printed and the loop would go on
    interrupted = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    for i in range(1_000_000):
        if interrupted:
            return 130
        document.add_block("model", "Linear", (float(i), 0.0))
        autosave.autosave_now()
    return 0


def _child(job: dict, log_fd: int) -> None:
    code = 99
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # a signal sent already is raised here, inside try
        os.setsid()
        os.chdir(job["cwd"])
        os.environ.update(job.get("env") or {})
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        torch.set_num_threads(1)
        op = job["op"]
        if op == "cli":
            code = runtime.cli.main(job["argv"])
        elif op == "save":
            code = _save_forever(job)
        else:
            code = _autosave_forever(job)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except KeyboardInterrupt:
        if job["op"] == "cli":  # the command itself must have caught it: a traceback for the test to see
            traceback.print_exc()
        code = 130  # the save and autosave loops are library calls: Ctrl+C is how they end
    except BaseException:  # noqa: BLE001 - shown in the log, where the test looks for tracebacks
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(int(code or 0) & 0xFF)


def _wait(pid: int, until: float) -> int | None:
    while time.monotonic() < until:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.005)
    return None


def run(job: dict) -> dict:
    log_fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    # blocked across fork(): a signal that arrives while the child is still inside fork() would hit
    # the server's copy, not the trial; the child unblocks it first thing
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    pid = os.fork()
    if pid == 0:
        _child(job, log_fd)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(log_fd)
    limit = start + float(job.get("timeout", 600))
    wait_for = job.get("wait_for")
    begin = start
    if wait_for:
        while not os.path.exists(wait_for) and time.monotonic() < limit:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return _answer(pid, status, False, False, start)
            time.sleep(0.01)
        begin = time.monotonic()
    delay = job.get("delay")
    status = _wait(pid, begin + delay if delay is not None else limit)
    if status is not None:
        return _answer(pid, status, False, False, start)
    sig = int(job["signal"])
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    status = _wait(pid, time.monotonic() + float(job.get("grace", 60)))
    hung = status is None
    if hung:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return _answer(pid, status, True, hung, start)


def _answer(pid: int, status: int, killed: bool, hung: bool, start: float) -> dict:
    return {"pid": pid, "killed": killed, "hung": hung, "status": status,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "elapsed": time.monotonic() - start}


def main() -> None:
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()

"""Run one red-team case and judge it.

Most cases run in this process through `runtime.cli.main(argv)`: fds 1 and 2
and sys.stdout/sys.stderr all go to one capture file, an interval timer
turns a hang into a `Hang` exception, and an exception that escapes `main`
counts as a traceback. Cases that could hang in a system call that no
signal interrupts, or allocate until the machine swaps (FIFOs, /dev/zero,
memory bombs), run as a child in its own session with a wall-clock limit
and an address-space cap; the whole session is killed at the limit.

The verdict (`Result`) holds every property the issue asks for: exit code
in the documented set, no "Traceback" and no "internal error" line (the
CLI's safety net turns an escaped exception into that line; it is still a
defect), done in time, no input file changed, no partial output after a
failure, no marker file from a pickle payload, no process and no temporary
file left behind.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from runtime.crash_log import MARKER as INTERNAL_ERROR
from tests.redteam.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_CODES = frozenset({0, 1, 2})
MEMORY_HEADROOM = 3 * 2**30  # bytes a case run in this process may add to its address space


class Hang(BaseException):
    """Raised by the timer in the middle of a case that took too long (BaseException: no command
    catches it as an ordinary error)."""


@dataclass
class Result:
    """What one case did; `failures()` lists every broken property (empty: the case passed)."""

    name: str
    rc: int | None = None
    output: str = ""
    seconds: float = 0.0
    hang: bool = False
    escaped: str = ""  # the traceback of an exception that escaped runtime.cli.main
    code_ran: bool = False
    changed: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    codes: frozenset = DOCUMENTED_CODES

    @property
    def traceback(self) -> bool:
        return bool(self.escaped) or "Traceback (most recent call last)" in self.output

    @property
    def internal(self) -> bool:
        return INTERNAL_ERROR in self.output

    def failures(self) -> list[str]:
        found = []
        if self.hang:
            found.append("hang")
        if self.traceback:
            found.append("traceback")
        if self.internal:
            found.append("internal error")
        if not self.hang and not self.traceback and self.rc not in self.codes:
            found.append(f"exit code {self.rc}")
        if self.code_ran:
            found.append("code executed")
        if self.changed:
            found.append("files changed")
        if self.partial:
            found.append("partial output")
        if self.leftovers:
            found.append("leftovers")
        return found

    def describe(self) -> str:
        tail = (self.escaped or self.output).strip().splitlines()[-3:]
        details = "; ".join(self.changed + self.partial + self.leftovers)
        return (
            f"{self.name}: {', '.join(self.failures())} (exit {self.rc}, {self.seconds:.1f} s) "
            f"{details} | {' / '.join(tail)[:400]}"
        )


def _children() -> set[int]:
    """Pids of the live child processes of this process (any of its threads' children)."""
    found = set()
    for task in os.listdir("/proc/self/task"):
        try:
            found.update(int(pid) for pid in Path(f"/proc/self/task/{task}/children").read_text().split())
        except OSError:
            continue
    return {pid for pid in found if _state(pid) not in ("Z", "X", "")}


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _session_members(session: int) -> list[int]:
    """Pids still alive in the given session (a child's own session: its children, grandchildren)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(entry))
    return found


def _expired(signum, frame):
    raise Hang()


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def run_in_process(call, seconds: float, capture_dir: Path) -> tuple[int | None, str, str, bool]:
    """(exit code, everything printed, traceback of an escaped exception, hang) of `call()`.

    The address space may grow by MEMORY_HEADROOM at most during the call, so that a memory bomb
    fails to allocate (as it would on a full machine) instead of making the machine swap."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    capture = tempfile.TemporaryFile(dir=capture_dir)
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    sys.stdout = io.TextIOWrapper(
        os.fdopen(os.dup(1), "wb"), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(2), "wb"), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    rc, escaped, hang = None, "", False
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + MEMORY_HEADROOM, old_limit[1]))
    old_handler = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        rc = call()
    except Hang:
        hang = True
    except SystemExit as exit_:  # argparse's errors and --help
        rc = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - anything that escapes main is the defect we count
        escaped = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, old_limit)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
    capture.seek(0)
    text = capture.read().decode("utf-8", "backslashreplace")
    capture.close()
    return rc, text, escaped, hang


def run_child(
    command: list[str], seconds: float, env: dict[str, str], memory_gb: float = 6.0, cwd: Path | None = None
) -> tuple[int | None, str, bool, list[int]]:
    """(exit code, output, hang, pids left in its session) of a child with a time and memory cap."""
    limit = int(memory_gb * 2**30)

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    child = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=cap_memory,
    )
    hang = False
    try:
        out, _ = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        hang = True
        os.killpg(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
    left = [pid for pid in _session_members(child.pid) if pid != child.pid]
    if left:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # clean up, but the case has failed
        except ProcessLookupError:
            pass
    return child.returncode, out.decode("utf-8", "backslashreplace"), hang, left


def child_env(ws: Workspace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        QT_QPA_PLATFORM="offscreen",
        TMPDIR=str(ws.tmp),
        DEEPWIRE_LOG_DIR=str(ws.logs),
        OMP_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def judge(
    name: str,
    ws: Workspace,
    argv: list[str],
    seconds: float,
    child: bool = False,
    codes: frozenset = DOCUMENTED_CODES,
    command: list[str] | None = None,
    writes_files: bool = True,
    allowed: tuple[str, ...] = (),
    call=None,
    temporary_ok: tuple[str, ...] = (),
) -> Result:
    """Run one case in workspace `ws` (inputs already written) and check every property.

    In process: `call()` if given (the studio), else runtime.cli.main(argv). With `child` or
    `command`: a child process (`command`, default `python -m runtime.cli ARGV`)."""
    from runtime.cli import main

    before = ws.snapshot()
    result = Result(name, codes=codes)
    start = time.monotonic()
    if child or command is not None:
        full = command or [sys.executable, "-m", "runtime.cli", *argv]
        result.rc, result.output, result.hang, left = run_child(full, seconds, child_env(ws), cwd=ws.root)
        result.leftovers += [f"process {pid} still running" for pid in left]
    else:
        children = _children()
        call = call or (lambda: main(argv))
        with ws.as_temporary_folder():
            result.rc, result.output, result.escaped, result.hang = run_in_process(call, seconds, ws.root)
        new = _children() - children
        if new:
            time.sleep(0.2)  # a child that is just exiting
            new = _children() - children
        result.leftovers += [f"process {pid} still running" for pid in sorted(new)]
        for pid in new:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    result.seconds = time.monotonic() - start
    result.code_ran = ws.marker.exists()
    result.changed = ws.changed(before, allowed)
    if writes_files and result.rc not in (0, None):
        # an export whose check failed (exit 1: NaN outputs, not loadable back) says "wrote PATH" for each
        # file it wrote whole (refusing to replace files without --force, it replaced no good one): those
        # are reported results, not partial leftovers
        announced = {line[len("wrote "):].split(" (")[0].strip()
                     for line in (result.output or "").splitlines() if line.startswith("wrote ")}
        result.partial = [p for p in ws.outputs_left()
                          if result.rc != 1 or str(ws.root / p.split(" left after")[0]) not in announced]
    result.leftovers += ws.temporary_leftovers(temporary_ok)
    return result

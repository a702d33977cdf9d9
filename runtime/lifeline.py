"""Child processes die with their parent, and the temp folders of torchrun go with them.

A DeepWire process that starts another one (the studio its training child,
a sweep its trials, `train --nproc` torchrun and torchrun its workers) puts
DEEPWIRE_DIE_WITH_PARENT in the child's environment; the child calls
`die_with_parent()` first thing, which asks Linux to SIGKILL it the moment
its parent goes (prctl PR_SET_PDEATHSIG), however the parent went: SIGKILL
included, where nothing in the parent could clean up. Elsewhere it does
nothing. The variable is inherited, so grandchildren (torchrun's workers)
hold on to their own parent the same way.

`python -m runtime.lifeline MODULE ARGS...` runs a module that is not ours
(torch.distributed.run) under the same rule.

`private_tempdir(kind)` makes the folder given to such children as TMPDIR
(`<tmp>/deepwire-<kind>-<pid>`), removed when the parent ends; folders left
by a parent that was killed are removed by the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import runpy
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV = "DEEPWIRE_DIE_WITH_PARENT"
PR_SET_PDEATHSIG = 1


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the variable that makes the child die with us."""
    out = dict(os.environ if env is None else env)
    out[ENV] = str(os.getpid())
    return out


def die_with_parent() -> bool:
    """When started by a DeepWire process, die as soon as it does (Linux); True when armed."""
    spawner = os.environ.get(ENV)
    if not spawner or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1 and spawner != "1":  # the parent died before the request: follow it now
        os._exit(1)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_tempdirs(kind: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Remove `deepwire-<kind>-<pid>` folders whose process is gone (a killed parent's)."""
    root = Path(root or tempfile.gettempdir())
    pattern = re.compile(rf"^deepwire-{re.escape(kind)}-(\d+)$")
    removed = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            match = pattern.match(entry.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def private_tempdir(kind: str, root: str | os.PathLike | None = None) -> Iterator[Path]:
    """A temp folder for this process's children (their TMPDIR), removed afterwards."""
    root = Path(root or tempfile.gettempdir())
    clean_stale_tempdirs(kind, root)
    folder = root / f"deepwire-{kind}-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> None:
    """Run a module as __main__ (like python -m) after arming die_with_parent."""
    if not argv:
        raise SystemExit("usage: python -m runtime.lifeline MODULE [ARGS...]")
    die_with_parent()
    sys.argv = [argv[0], *argv[1:]]
    try:
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:  # Ctrl+C handed on before the module set up its own handling
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as err:
        # torchrun turns SIGINT/SIGTERM into a SignalException once it has stopped its workers;
        # that is an ordinary stop, not a crash to print a traceback for
        sigval = getattr(err, "sigval", None)
        if sigval is None:
            raise
        print(f"{argv[0]}: stopped by signal {int(sigval)}", file=sys.stderr)
        raise SystemExit(128 + int(sigval)) from None


if __name__ == "__main__":
    main(sys.argv[1:])

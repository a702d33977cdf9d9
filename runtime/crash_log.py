"""The CLI's last-resort safety net: an unexpected exception becomes one line and a log file.

A defect that escapes every command's own error handling must not print a
Python traceback at a user. `report_internal_error` writes the traceback to
a log file (under $DEEPWIRE_LOG_DIR, else the user's cache folder, else the
temporary folder) and prints one line naming the command, the exception and
that file. The command then exits with 2. Tests still count these lines as
defects: the net is for users, not a place to hide bugs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

MARKER = "internal error:"  # tests look for this text on stderr


def log_folder() -> Path:
    """Where crash logs go: $DEEPWIRE_LOG_DIR, else $XDG_CACHE_HOME/deepwire/logs, else ~/.cache/..."""
    if os.environ.get("DEEPWIRE_LOG_DIR"):
        return Path(os.environ["DEEPWIRE_LOG_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "deepwire" / "logs"


def _write_log(command: str, argv: list[str], err: BaseException) -> Path | None:
    text = (f"deepwire {command}: internal error at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            f"arguments: {argv!r}\npython: {sys.version.split()[0]}\n\n"
            + "".join(traceback.format_exception(type(err), err, err.__traceback__)))
    for folder in (log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"deepwire-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return path
        except OSError:
            continue  # read-only or full: try the next place
    return None


def report_internal_error(command: str, argv: list[str], err: BaseException) -> int:
    """Print the one line about `err` on stderr (its traceback goes to a log file); return exit code 2."""
    path = _write_log(command, argv, err)
    message = " ".join(str(err).split())[:300]  # one line, even for a multi-line message
    where = f"details in {path}" if path else "no log file could be written"
    try:
        print(f"deepwire {command}: {MARKER} {type(err).__name__}: {message} — please report; {where}",
              file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr itself is gone: nothing more to say
    return 2

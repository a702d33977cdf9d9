"""Writing files so that a crash, a kill or a full disk never leaves a partial one.

Every file DeepWire writes (project saves, autosaves, exports, checkpoints,
run files) goes to a temporary name in the target's own folder, is flushed
and synced, and is renamed over the target only when complete; a failure
removes the temporary and leaves the previous file as it was.

    with atomic_path(out) as tmp:        # for writers that want a path (torch.save, ONNX, ...)
        torch.save(state, tmp)
    with atomic_open(out, "w") as handle:  # for writers that want a file
        handle.write(text)

Temporary names look like `.model.onnx.dwtmp-<pid>-<8 hex>.onnx`: hidden,
the writer's process id inside, the real suffix kept last (some writers
check it) and never ending in `.dw.json`, so no file dialog or folder scan
takes one for a project. A process killed mid-write (SIGKILL cannot be
caught) leaves its temporary behind; `clean_temporaries(folder)` removes the
ones whose writer is no longer running, and is called when DeepWire next
saves, exports or starts in that folder.

Pure Python (no torch, no Qt): the graph layer's saves and the runtime's
exports share it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

TAG = "dwtmp"
_PATTERN = re.compile(rf"^\.(?P<name>.+)\.{TAG}-(?P<pid>\d+)-[0-9a-f]{{8}}(?P<suffix>\.[^.]*)?$")


def temporary_for(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path` (not created)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{TAG}-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether `path` is named like one of atomic_path's temporaries."""
    return _PATTERN.match(Path(path).name) is not None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, _synced: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` when the block ends cleanly.

    The writer inside the block writes the whole file to the temporary path.
    If the block raises (or the process is interrupted by an exception such as
    KeyboardInterrupt or SystemExit), the temporary is removed and `path` keeps
    its previous content. A target that is a symlink is written through.
    """
    target = Path(os.path.realpath(os.fspath(path)))
    temp = temporary_for(target)
    try:
        yield temp
        if not temp.is_file():
            raise OSError(errno.ENOENT, "the writer produced no file", str(temp))
        if not _synced:
            _fsync_file(temp)
        if target.is_file():  # keep the old file's permissions
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """An open file (mode "w" or "wb") whose content replaces `path` only once it is complete."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path, _synced=True) as temp:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # a full disk may only say so here


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_with(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Call `writer(temporary_path)` and move its file into place (for writers that take a path)."""
    with atomic_path(path) as temp:
        writer(temp)
    return Path(path)


def clean_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries in `folder` whose writing process is gone; returns what was removed.

    A temporary of a process still running (this one included: another thread
    may be writing it) is kept. Never raises: cleaning is a courtesy.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _PATTERN.match(entry.name)
        if match is None or _alive(int(match.group("pid"))):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: not ours to judge
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(0); /proc says it is dead."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _fsync_file(path: Path) -> None:
    """Sync a file another writer made; a full disk may only say so here, so errors propagate."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno != errno.EINVAL:  # a file system that cannot sync (some FUSE ones) is not a failure
            raise
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); where folders cannot be opened, skip it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Special files where a data file or a checkpoint is expected: `place(kind, folder) -> path text`.

FIFOs, /dev/zero and /dev/urandom can block or stream forever, so the cases
that use them run in a child process (HANGS). The rest: /proc files, names
longer than the OS allows, a folder where a file is expected, a socket, a
dangling link, a link loop, a NUL byte in the name.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HANGS = ("fifo", "/dev/zero", "/dev/urandom")
# run in a child too: a walk of /proc or /dev may take long, /proc/self/mem is the reader's own memory
IN_CHILD = HANGS + ("/proc", "device folder", "/proc/self/mem")
KINDS = HANGS + (
    "/dev/null",
    "/proc/self/status",
    "/proc/self/mem",
    "/proc",
    "name of 300 characters",
    "path of 5000 characters",
    "folder",
    "socket",
    "dangling link",
    "link loop",
    "NUL in name",
    "missing",
    "empty name",
    "device folder",
)


def place(kind: str, folder: Path) -> str:
    """Make the special file `kind` under `folder` (when it is one of ours); the path to give."""
    if kind == "fifo":
        os.mkfifo(folder / "data.fifo")
        return str(folder / "data.fifo")
    if kind.startswith(("/dev/", "/proc")):
        return kind
    if kind == "name of 300 characters":
        return "n" * 300 + ".csv"
    if kind == "path of 5000 characters":
        return "/".join(["d" * 200] * 25) + "/x.csv"
    if kind == "folder":
        (folder / "a_folder.csv").mkdir()
        return str(folder / "a_folder.csv")
    if kind == "socket":
        path = folder / "data.sock"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()  # the socket file stays; nothing listens
        return str(path)
    if kind == "dangling link":
        (folder / "gone.csv").symlink_to(folder / "nowhere.csv")
        return str(folder / "gone.csv")
    if kind == "link loop":
        (folder / "loop1.csv").symlink_to(folder / "loop2.csv")
        (folder / "loop2.csv").symlink_to(folder / "loop1.csv")
        return str(folder / "loop1.csv")
    if kind == "NUL in name":
        return str(folder / "bad\x00name.csv")
    if kind == "missing":
        return str(folder / "missing.csv")
    if kind == "empty name":
        return ""
    if kind == "device folder":
        return "/dev"
    raise ValueError(kind)

"""Finding and reading the user's files, with errors that name the file and say what to do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runtime.data.base import DataError
from runtime.data.source import Context

MAX_BYTES_ENV = "DEEPWIRE_MAX_DATA_BYTES"
DEFAULT_MAX_BYTES = 8 * 2**30  # far above any dataset read whole into memory here


def max_bytes() -> int:
    try:
        return int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


def existing_path(context: Context, text: str, source: str, option: str, folder: bool = False) -> Path:
    """The path named by an option, checked (os.stat, before any open) to be a regular file or a folder.

    A pipe, a device (/dev/zero), a socket, a name the system refuses (too long) or a file larger
    than the cap is refused with a DataError here, so reading never hangs or fills the memory.
    """
    path = context.path(text)
    what = "folder" if folder else "file"
    where = f"data source '{source}', option '{option}'"
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{where}: the {what} '{text}' does not exist (looked for {_absolute(path)}); "
                        "check the path") from None
    except OSError as exc:  # a name too long, permission denied, a loop of links
        raise DataError(f"{where}: '{text}' cannot be opened ({exc.strerror or exc}); "
                        "check the path") from None
    if folder and not stat.S_ISDIR(info.st_mode):
        kind = "a file" if stat.S_ISREG(info.st_mode) else "not a folder (a pipe, device or socket)"
        raise DataError(f"{where}: '{path}' is {kind}, not a folder")
    if not folder:
        if stat.S_ISDIR(info.st_mode):
            raise DataError(f"{where}: '{path}' is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{where}: '{path}' is not a regular file (a pipe, device or socket); "
                            "DeepWire reads data only from ordinary files")
        check_size(path, info.st_size)
    return path


def check_size(path: Path, size: int) -> None:
    limit = max_bytes()
    if size > limit:
        raise DataError(f"{path}: the file is {human_size(size)}, more than the {human_size(limit)} a data "
                        f"file may be (set {MAX_BYTES_ENV} to raise the limit)")


def human_size(n: float) -> str:
    """'812 bytes', '4.2 MB', '23.0 GB' (powers of 1000, as file managers show them)."""
    if n < 1000:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} TB"


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def read_bytes(path: Path) -> bytes:
    """The whole file, at most the size cap (a file that grows while read, or /proc, stops there)."""
    limit, chunks, total = max_bytes(), [], 0
    try:
        with open(path, "rb") as stream:
            while total <= limit:
                chunk = stream.read(1 << 22)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise DataError(f"{path}: could not be read ({exc.strerror or exc})") from None
    except MemoryError:
        raise DataError(f"{path}: too large to read into this machine's memory") from None
    if len(data) > limit:
        check_size(path, len(data))
    return data


def decode_utf8(path: Path, data: bytes) -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped); DataError names the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data[:offset].count(b"\n") + 1
        raise DataError(
            f"{path.name}: byte {offset} (line {line}) is not valid UTF-8 text "
            f"(byte value 0x{data[offset]:02x}); save the file with UTF-8 encoding "
            f"(most editors offer it under 'Save as')") from None


def read_text(path: Path) -> str:
    return decode_utf8(path, read_bytes(path))

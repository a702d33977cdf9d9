"""Finding and reading the user's files, with errors that name the file and say what to do."""

from __future__ import annotations

from pathlib import Path

from runtime.data.base import DataError
from runtime.data.source import Context


def existing_path(context: Context, text: str, source: str, option: str, folder: bool = False) -> Path:
    """The path named by an option, checked to exist as a file (or a folder)."""
    path = context.path(text)
    what = "folder" if folder else "file"
    if not path.exists():
        raise DataError(f"data source '{source}', option '{option}': the {what} '{text}' does not "
                        f"exist (looked for {path.resolve()}); check the path")
    if folder and not path.is_dir():
        raise DataError(f"data source '{source}', option '{option}': '{path}' is a file, not a folder")
    if not folder and path.is_dir():
        raise DataError(f"data source '{source}', option '{option}': '{path}' is a folder, not a file")
    return path


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: could not be read ({exc.strerror or exc})") from None


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

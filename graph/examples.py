"""The bundled example projects in assets/examples, and finding a project by name or path.

Pure Python and cheap: listing reads only each file's name and description
(no registry, no validation), so `deepwire examples` and the studio's
"Open example" menu stay instant. `resolve_project` lets every command take
either a path or an example name: `deepwire check digits_cnn`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".dw.json"
EXAMPLE_ID_PREFIX = "example-"  # each example's fixed project id is "example-<name>"


class ProjectNotFoundError(FileNotFoundError):
    """Neither a project file nor a bundled example has that name; the message lists the examples."""


@dataclass(frozen=True)
class Example:
    name: str  # the file name without ".dw.json": what `deepwire check NAME` accepts
    path: Path
    title: str  # the project's own "name" field
    description: str


def examples_dir() -> Path:
    """assets/examples at the repository root (the package is installed editable)."""
    return Path(__file__).resolve().parent.parent / "assets" / "examples"


def _read_header(path: Path) -> tuple[str, str]:
    """(title, description) of a project file; a broken file still gets listed, so it can be fixed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return path.name, "(this file could not be read)"
    if not isinstance(data, dict):
        return path.name, "(this file is not a DeepWire project)"
    title = data.get("name")
    description = data.get("description")
    return (title if isinstance(title, str) and title else path.name,
            description if isinstance(description, str) else "")


def list_examples(directory: Path | None = None) -> list[Example]:
    """Every *.dw.json in the examples folder, sorted by name."""
    directory = directory or examples_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        title, description = _read_header(path)
        found.append(Example(path.name[: -len(SUFFIX)], path, title, description))
    return found


def example_path(name: str, directory: Path | None = None) -> Path | None:
    """Path of the bundled example called `name` (with or without .dw.json), or None."""
    directory = directory or examples_dir()
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = directory / f"{stem}{SUFFIX}"
    return path if path.is_file() else None


def resolve_project(arg: str | Path, directory: Path | None = None) -> Path:
    """A project path from a command-line argument: an existing file, or a bundled example name.

    Raises ProjectNotFoundError naming the argument and listing the examples.
    """
    path = Path(arg)
    if path.is_file():
        return path
    if path.is_dir():
        raise ProjectNotFoundError(f"{arg}: is a folder; give a project file ({SUFFIX}) inside it")
    if path.exists():  # a pipe, a device, a socket: loading refuses it with a message that says so
        return path
    found = example_path(str(arg), directory)
    if found is not None:
        return found
    names = ", ".join(e.name for e in list_examples(directory)) or "none installed"
    raise ProjectNotFoundError(
        f"{arg}: no such project file, and no bundled example has that name "
        f"(examples: {names}); run 'deepwire examples' to see them")

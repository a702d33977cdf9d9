"""The user library ("My blocks"): block definitions saved once, used in any project, shared as files.

The library is a folder, `<user data>/blocks` (graph.user_dirs: $DEEPWIRE_HOME
when set, else the platform's per-user data folder), holding one file per
definition, `<name>.dwblock.json`. Each file is an ordinary project file (the
same format, read by the same checks, so a hostile or damaged file gives the
same clear message naming the file and the place): its "definitions" hold the
saved definition and every definition it uses, nested ones included, and its
one network holds one instance of it, so the file also opens as a project.
The saved definition carries `"library": {"name", "version"}`; saving it
again bumps the version only when its content (body, exposed parameters,
description, or a definition it uses) changed.

A project's definition copied from the library records that entry and version
(Definition.origin); `updates` tells which have a newer version in the library.
Nothing here imports Qt or torch; the studio does the edits through undo
commands (studio/commands_definitions.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from graph.atomic import write_text
from graph.definitions import uses
from graph.model import Block, Definition, Definitions, LibraryRef, Network, Project
from graph.project_io import ProjectFileError, dumps_project, load_project, loads_project, project_to_dict
from graph.spec import Registry
from graph.user_dirs import user_data_dir

SUFFIX = ".dwblock.json"
FOLDER = "blocks"
MAX_ENTRIES = 2_000  # a listing stops there (a folder of many thousand files is not a block library)


class LibraryError(ValueError):
    """A library file that cannot be used, or a save that cannot be made (the message says why)."""


def library_dir() -> Path:
    """The user's block library folder (it need not exist yet)."""
    return user_data_dir() / FOLDER


@dataclass
class Entry:
    """One definition of the library, with the definitions it uses (`definitions`, itself included)."""

    name: str
    version: int
    description: str
    path: Path
    definitions: Definitions

    @property
    def definition(self) -> Definition:
        return self.definitions.get(self.name)


@dataclass(frozen=True)
class Skipped:
    """A file of the library folder that could not be read: the listing leaves it out, saying why."""

    path: Path
    reason: str


def closure(definitions: Definitions, name: str) -> list[Definition]:
    """`name` and every definition it uses, nested ones too, each after the ones it uses."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(current: str, depth: int) -> None:
        if current in seen or depth > 64:
            return
        seen.add(current)
        for used in uses(definitions.get(current), definitions):
            visit(used, depth + 1)
        order.append(current)

    visit(name, 0)
    return [definitions.get(n) for n in order]


def _content(definitions: list[Definition], registry: Registry) -> list:
    """What 'the content changed' compares: the definitions' file data without versions or origins, as
    read back from a file (so settings left at their default compare equal to the default written out)."""
    project = Project("content", [Network("n")], definitions=Definitions([d.copy() for d in definitions]))
    project.link()
    project = loads_project(dumps_project(project), registry)
    out = project_to_dict(project)["definitions"]
    for entry in out:
        entry.pop("version", None)
        entry.pop("library", None)
    return out


def block_project(main: Definition, used: list[Definition]) -> Project:
    """The project a library file holds: the definitions, and a network with one instance of `main`."""
    definitions = Definitions([d.copy() for d in used])
    net = Network("example")
    values = {p.name: p.default for p in main.params}
    net.add_block(Block("block", main.name, main.name[:1].lower() + main.name[1:], values, (0.0, 0.0)))
    project = Project(main.name, [net], description=main.description, definitions=definitions)
    project.link()
    return project


def file_name(name: str) -> str:
    return f"{name}{SUFFIX}"


def read_entry(path: str | os.PathLike, registry: Registry) -> Entry:
    """Read one library (or shared) file; raises ProjectFileError naming the file and the place."""
    project = load_project(path, registry)  # every check of a project file
    source = os.fspath(path)
    name = project.name
    if name not in project.definitions:
        found = ", ".join(project.definitions.names()[:5]) or "none"
        raise ProjectFileError(source, "name", f"this is not a DeepWire block file: its name {name[:60]!r} "
                               f"is none of its definitions ({found}); save a block with Save to My blocks")
    main = project.definitions.get(name)
    origin = main.origin
    if origin is None or origin.name != name:
        raise ProjectFileError(source, f"definitions > {name[:60]!r} > library",
                               "the block's entry must say its library name and version "
                               f"(\"library\": {{\"name\": {json.dumps(name[:60])}, \"version\": 1}})")
    kept = Definitions([d for d in closure(project.definitions, name)])
    return Entry(name, origin.version, main.description, Path(path), kept)


class Library:
    """The block library in `folder` (default: library_dir()). Reading is cached by file size and time."""

    def __init__(self, registry: Registry, folder: str | os.PathLike | None = None):
        self.registry = registry.base
        self.folder = Path(folder) if folder is not None else library_dir()
        self._cache: dict[Path, tuple[tuple[int, int], Entry | Skipped]] = {}

    # --- reading ---
    def scan(self) -> tuple[list[Entry], list[Skipped]]:
        """Every readable entry, by name, and the files left out with the reason."""
        entries: list[Entry] = []
        skipped: list[Skipped] = []
        try:
            paths = sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX))[:MAX_ENTRIES]
        except FileNotFoundError:
            return [], []
        except OSError as err:
            return [], [Skipped(self.folder, f"{self.folder}: the folder could not be read "
                                             f"({err.strerror or err})")]
        names: dict[str, Path] = {}
        for path in paths:
            got = self._read_cached(path)
            if isinstance(got, Entry) and got.name in names:
                got = Skipped(path, f"{path}: name: a block named {got.name!r} is in {names[got.name].name} "
                                    "already; remove one of the two files")
            if isinstance(got, Skipped):
                skipped.append(got)
            else:
                names[got.name] = path
                entries.append(got)
        entries.sort(key=lambda e: e.name.lower())
        return entries, skipped

    def entries(self) -> list[Entry]:
        return self.scan()[0]

    def get(self, name: str) -> Entry | None:
        return next((e for e in self.entries() if e.name == name), None)

    def _read_cached(self, path: Path) -> Entry | Skipped:
        try:
            info = path.stat()
            key = (info.st_size, info.st_mtime_ns)
        except OSError as err:
            return Skipped(path, f"{path}: file: it could not be read ({err.strerror or err})")
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            got: Entry | Skipped = read_entry(path, self.registry)
        except ProjectFileError as err:
            got = Skipped(path, str(err))
        self._cache[path] = (key, got)
        return got

    # --- writing ---
    def save(self, definitions: Definitions, name: str) -> Entry:
        """Save definition `name` (with the definitions it uses) as its library entry; the version goes
        up by one when the content differs from the entry's, stays when it is the same."""
        used = closure(definitions, name)
        main = definitions.get(name)
        existing = self.get(name)
        if existing is None:
            version = 1
        else:
            try:
                same = _content(used, self.registry) == _content(closure(existing.definitions, name),
                                                                 self.registry)
            except (ProjectFileError, ValueError) as err:
                raise LibraryError(f"cannot save {name} to My blocks: {err}") from None
            if same:
                return existing
            version = existing.version + 1
        return self._write(main, used, version, existing.path if existing else None)

    def import_file(self, path: str | os.PathLike) -> Entry:
        """Copy a shared block file into the library (raises ProjectFileError for a bad file). An entry
        of the same name with other content is replaced by a version above both."""
        shared = read_entry(path, self.registry)
        existing = self.get(shared.name)
        used = list(shared.definitions)
        if existing is not None:
            if _content(used, self.registry) == _content(list(existing.definitions), self.registry):
                return existing
            version = max(shared.version, existing.version + 1)
        else:
            version = shared.version
        return self._write(shared.definition, used, version, existing.path if existing else None)

    def _write(self, main: Definition, used: list[Definition], version: int, path: Path | None) -> Entry:
        copies = [d.copy() for d in used]
        for d in copies:
            if d.name == main.name:
                d.origin = LibraryRef(main.name, version)
        project = block_project(next(d for d in copies if d.name == main.name), copies)
        target = path or self.folder / file_name(main.name)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_text(target, dumps_project(project))
        except OSError as err:
            raise LibraryError(f"{target}: could not save the block ({err.strerror or err}); check that the "
                               "folder exists and can be written") from None
        except ValueError as err:
            raise LibraryError(f"{target}: could not save the block: {err}") from None
        self._cache.pop(target, None)
        return read_entry(target, self.registry)


# ---------------------------------------------------------------- a project and the library


def to_copy(entry: Entry, project: Definitions) -> list[Definition]:
    """The library definitions inserting `entry` into a project adds (copies, the ones used first): those
    the project has no definition of that name for (an existing one of the same name is kept)."""
    return [d.copy() for d in closure(entry.definitions, entry.name) if d.name not in project]


@dataclass(frozen=True)
class Update:
    """A project's definition whose library entry has a newer version."""

    name: str  # the project's definition
    current: int
    newest: int


def updates(project: Definitions, entries: list[Entry]) -> list[Update]:
    """The project's definitions copied from the library whose entry is newer now, in project order."""
    newest = {e.name: e.version for e in entries}
    found = []
    for definition in project:
        origin = definition.origin
        if origin is not None and newest.get(origin.name, 0) > origin.version:
            found.append(Update(definition.name, origin.version, newest[origin.name]))
    return found


def updated(entry: Entry, name: str) -> Definition:
    """The library's newer body for the project's definition `name` (named as in the project)."""
    fresh = entry.definition.copy()
    fresh.name = name
    fresh.body.name = name
    return fresh

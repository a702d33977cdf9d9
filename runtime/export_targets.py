"""Which files an export will write, and whether it may: checked before anything is written.

An export never writes over what it reads (the project file, its data files,
the weights it exports, any file a block or the recipe names), never writes
two networks to one file (names such as "my net" and "my_net" both become
`my_net` in a file name), never makes folders (a missing folder is a typo
more often than a wish), and replaces another existing file only when told
(`--force`). Every refusal is an `ExportTargetError` naming the files and
what to do; `deepwire export` exits with 2 for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.model import Project
from graph.pycode import to_identifier
from runtime.export import network_path


class ExportTargetError(ValueError):
    """The export would write where it must not; nothing was written."""


@dataclass(frozen=True)
class Target:
    """One file an export will write. network is None for a file holding every network."""

    path: Path
    kind: str  # "python", "script", "onnx", "torch-export", "weights" or "data"
    network: str | None = None

    def describe(self) -> str:
        what = {"data": "the script's data", "weights": "the weights"}.get(self.kind, f"the {self.kind} file")
        return f"{what} of network '{self.network}'" if self.network else what


def plan(fmt: str, out: str | Path, networks: list[str], with_weights: bool) -> list[Target]:
    """The files `export_project` writes for these arguments, in the order it writes them."""
    out = Path(out)
    several = len(networks) > 1
    if fmt == "python":
        targets = [Target(out, "python")]
    elif fmt == "script":
        targets = [Target(out.with_suffix(".npz"), "data"), Target(out, "script")]
    else:
        targets = [Target(network_path(out, name, several), fmt, name) for name in networks]
    if with_weights and fmt == "python":
        for name in networks:
            path = network_path(out.with_suffix(".pt"), name, several)
            if path == out:  # -o model.pt: never write the weights over the code
                path = network_path(out.with_suffix(".weights.pt"), name, several)
            targets.append(Target(path, "weights", name))
    return targets


def check(targets: list[Target], inputs: Iterable[Path], force: bool = False) -> None:
    """Raise ExportTargetError unless every target may be written; writes nothing."""
    for target in targets:
        folder = target.path.parent
        if not folder.is_dir():
            why = "is not a folder" if folder.exists() else "does not exist"
            raise ExportTargetError(f"{target.path}: the folder {folder} {why}; create it first or choose "
                                    "another -o")
    seen: dict[str, Target] = {}
    for target in targets:
        key = os.path.normcase(os.path.realpath(target.path))
        if key in seen:
            first = seen[key]
            raise ExportTargetError(
                f"{target.path}: {first.describe()} and {target.describe()} would both be written to this "
                f"file (network names that differ only in characters a file name drops: "
                f"{to_identifier(first.network or '', 'network')!r}); rename one of the networks, or "
                "export them one at a time with --network")
        seen[key] = target
    readings = [p for p in inputs if p.exists()]
    for target in targets:
        for source in readings:
            if _same(target.path, source):
                raise ExportTargetError(f"{target.path}: is a file this export reads ({source}); "
                                        f"{target.describe()} must go elsewhere: choose another -o")
    if force:
        return
    existing = [t for t in targets if t.path.exists() or t.path.is_symlink()]
    if existing:
        names = ", ".join(str(t.path) for t in existing)
        raise ExportTargetError(f"{names}: already exists; add --force to replace it, or choose another -o")


def inputs_of(project: Project, project_path: str | Path | None,
              weights: str | Path | None = None) -> list[Path]:
    """Every file the export reads: the project, the weights, and each file a data option, the
    recipe or a block parameter names (relative names read from the project's folder or the
    current folder)."""
    found: list[Path] = []
    folders = [Path.cwd()]
    if project_path is not None:
        found.append(Path(project_path))
        folders.insert(0, Path(project_path).resolve().parent)
    if weights is not None:
        found.append(Path(weights))
    names = list(_strings(project.data.options)) + list(_strings(project.training.changed()))
    for net in project.networks:
        for block in net.blocks.values():
            names += list(_strings(block.params))
    for name in names:
        if not name or len(name) > 4096 or "\0" in name:
            continue
        path = Path(name)
        for candidate in ([path] if path.is_absolute() else [folder / path for folder in folders]):
            try:
                if candidate.is_file():
                    found.append(candidate)
            except (OSError, ValueError):  # a name too long for the OS is no file
                continue
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))

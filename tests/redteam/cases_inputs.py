"""Cells for bad data files, special files, memory bombs and huge project files.

Each builder returns {surface: [Case, ...]} for the kinds it is given; the
test module decides how many kinds each suite runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.redteam import datafiles, projects, specials, surfaces
from tests.redteam.cases import SUCCEED, Case, _copy_run, _with
from tests.redteam.seeds import Seeds

REFUSE_BOMB = frozenset({1})  # analysis must refuse it as a problem on the block


# --- bad data files ------------------------------------------------------------------------
DATA_SURFACES = ("check", "train", "export script", "preview", "sweep", "studio", "evaluate")


def data_cases(seeds: Seeds, kinds: list[str], surface_names=DATA_SURFACES) -> dict[str, list[Case]]:
    cells = {}
    for name in surface_names:

        def prepare(ws, kind, name=name):
            project = datafiles.make(kind, ws.inputs, ws.marker)
            if name == "evaluate":  # a finished iris run whose snapshot reads the bad file
                run = _copy_run(seeds.iris_run, ws, project)
                projects.write(run, project)
                inv = surfaces.evaluate(ws, run)
            else:
                inv = surfaces.PROJECT_SURFACES[name](ws, projects.write(ws.inputs, project))
            good = kind.endswith(": good") and not (
                name == "evaluate" and not kind.startswith(("csv", "arr"))
            )
            return _with(inv, codes=SUCCEED) if good and name != "sweep" else inv

        cells[name] = [Case(name, "data", kind, lambda ws, k=kind, p=prepare: p(ws, k)) for kind in kinds]
    return cells


# --- special files where a file is expected ------------------------------------------------
def _special_project(target: str, path: str) -> dict:
    if target == "csv path":
        return projects.with_data(projects.iris(), "csv", path=path)
    if target == "npz path":
        return projects.with_data(projects.iris(), "arrays", path=path)
    if target == "text path":
        project = projects.tiny(projects.example("char_transformer"))
        project["data"] = {"source": "text_file", "options": {"path": path}}
        return project
    if target == "image folder":
        project = datafiles._image_project()
        project["data"]["options"]["path"] = path
        return project
    return projects.iris(init_checkpoint=path, freeze_init=False)  # "init_checkpoint"


CHILD_SECONDS = 25  # a child starts in 1-5 s; one that blocks on a FIFO would wait forever


def _child_seconds(surface: str, inv) -> float:
    return min(inv.seconds, 10 if surface.startswith("check") else CHILD_SECONDS)  # check: no torch


SPECIAL_TARGETS = ("csv path", "npz path", "text path", "image folder", "init_checkpoint")
SPECIAL_SURFACES = ("check", "train", "export script", "preview", "studio")
# where the special path is an argument, not a field of the project
SPECIAL_ARGUMENTS = (
    "check PROJECT",
    "export --weights",
    "train --init",
    "evaluate RUN_DIR",
    "import MODEL",
    "sweep --space",
)


def _argument_invocation(where: str, ws, path: str, seeds: Seeds) -> surfaces.Invocation:
    project = projects.write(ws.inputs, projects.iris())
    if where == "check PROJECT":
        return surfaces.Invocation(["check", path], seconds=20)
    if where == "export --weights":
        return surfaces.export_weights("python")(ws, project, path)
    if where == "train --init":
        return surfaces.train_init(ws, project, path)
    if where == "evaluate RUN_DIR":
        return surfaces.Invocation(["evaluate", path], seconds=30)
    if where == "import MODEL":
        return surfaces.Invocation(["import", path, "-o", str(ws.out / "imported.dw.json")], seconds=30)
    return surfaces.Invocation(
        [
            "sweep",
            str(project),
            "--space",
            path,
            "--trials",
            "1",
            "--epochs",
            "1",
            "--out",
            str(ws.out / "sweep"),
        ],
        seconds=60,
        writes_files=False,
    )


def special_cases(seeds: Seeds, kinds: list[str], targets=SPECIAL_TARGETS) -> dict[str, list[Case]]:
    cells: dict[str, list[Case]] = {}
    for name in SPECIAL_SURFACES:

        def prepare(ws, kind, target, name=name):
            path = specials.place(kind, ws.inputs)
            inv = surfaces.PROJECT_SURFACES[name](
                ws, projects.write(ws.inputs, _special_project(target, path))
            )
            return _with(inv, child=kind in specials.IN_CHILD, seconds=_child_seconds(name, inv))

        cells[name] = [
            Case(name, "special", f"{kind} as {target}", lambda ws, k=kind, t=target, p=prepare: p(ws, k, t))
            for kind in kinds
            for target in targets
        ]
    for where in SPECIAL_ARGUMENTS:

        def prepare(ws, kind, where=where):
            path = specials.place(kind, ws.inputs)
            if where == "import MODEL" and kind == "fifo":  # the importer picks its reader by suffix
                os.rename(path, ws.inputs / "model.onnx")
                path = str(ws.inputs / "model.onnx")
            inv = _argument_invocation(where, ws, path, seeds)
            child = kind in specials.IN_CHILD and "\x00" not in path
            return _with(inv, child=child, seconds=_child_seconds(where, inv))

        cells[where] = [
            Case(where, "special", kind, lambda ws, k=kind, p=prepare: p(ws, k)) for kind in kinds
        ]
    return cells


# --- memory bombs ----------------------------------------------------------------------------
BOMB_SURFACES = (
    "check",
    "export python",
    "export onnx",
    "export torch-export",
    "export script",
    "train",
    "preview",
    "studio",
)


def bomb_cases(kinds: list[str], surface_names=BOMB_SURFACES, child: bool = False) -> dict[str, list[Case]]:
    cells = {}
    for name in surface_names:

        def prepare(ws, kind, name=name):
            project = projects.BOMBS[kind]
            inv = surfaces.PROJECT_SURFACES[name](ws, projects.write(ws.inputs, project))
            if name == "check":
                return _with(inv, codes=REFUSE_BOMB)
            return _with(inv, child=child and name != "studio")

        cells[name] = [Case(name, "bomb", kind, lambda ws, k=kind, p=prepare: p(ws, k)) for kind in kinds]
    return cells


# --- huge project files (made once, hard-linked into each case) ---------------------------------
HUGE_KINDS = (
    "sparse 120 MB of NUL",
    "project + 110 MB of spaces",
    "110 MB description",
    "110 MB of nested lists",
    "200,000 blocks",
)
HUGE_SURFACES = ("check", "export python", "train", "preview", "studio")


class HugeFiles:
    """The huge project files, each written once per session (on first use) into `folder`."""

    def __init__(self, folder: Path):
        self.folder, self.made = Path(folder), {}

    def __getitem__(self, kind: str) -> Path:
        if kind not in self.made:
            self.made[kind] = self._make(kind, self.folder / f"huge{len(self.made)}.dw.json")
        return self.made[kind]

    @staticmethod
    def _make(kind: str, path: Path) -> Path:
        text = projects._example_text("iris_mlp")
        mb110 = 110 * 2**20
        with open(path, "wb") as handle:
            if kind == "sparse 120 MB of NUL":
                handle.truncate(120 * 2**20)  # a hole: no disk used, no time spent
            elif kind == "project + 110 MB of spaces":
                handle.write(text.encode() + b" " * mb110)
            elif kind == "110 MB description":
                handle.write(text.replace('"description": "', '"description": "' + "x" * mb110).encode())
            elif kind == "110 MB of nested lists":
                handle.write(
                    text.rstrip()[:-1].encode()
                    + b', "extra": '
                    + b"[" * (mb110 // 2)
                    + b"]" * (mb110 // 2)
                    + b"}"
                )
            else:  # 200,000 blocks
                blocks = [("in", "VectorInput", {"features": 4})] + [
                    (f"r{i}", "ReLU", {}) for i in range(200_000)
                ]
                big = projects.chain(
                    "big",
                    blocks
                    + [("fc", "Linear", {"features": 3}), ("head", "ClassificationHead", {"classes": 3})],
                    {"source": "iris", "options": {}},
                    {"recipe": "classification", "epochs": 1},
                )
                handle.write(json.dumps(big).encode())
        return path


def huge_cases(huge: HugeFiles, kinds: list[str], surface_names=HUGE_SURFACES) -> dict[str, list[Case]]:
    cells = {}
    for name in surface_names:

        def prepare(ws, kind, name=name):
            target = ws.inputs / "project.dw.json"
            try:
                os.link(huge[kind], target)
            except OSError:
                shutil.copy(huge[kind], target)
            return _with(surfaces.PROJECT_SURFACES[name](ws, target), seconds=120)

        cells[name] = [Case(name, "huge", kind, lambda ws, k=kind, p=prepare: p(ws, k)) for kind in kinds]
    return cells

"""The cases of each cell (surface x input class): `Case` prepares its inputs and says how to run.

One builder per class returns {surface: [Case, ...]}; `size` picks how many
(the default suite a few per cell, the slow one everything). `run_case`
resets the workspace, prepares the case and judges it (runner.judge).
Every cell also holds a "good" case whose exit code must be 0, so a cell
that fails early for a reason of its own (a wrong flag) cannot pass as
"no traceback".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.redteam import checkpoints, projects, surfaces
from tests.redteam.runner import Result, judge
from tests.redteam.seeds import Seeds
from tests.redteam.surfaces import Invocation
from tests.redteam.workspace import Workspace

REFUSE = frozenset({1, 2})
SUCCEED = frozenset({0})


@dataclass(frozen=True)
class Case:
    surface: str
    klass: str
    name: str
    prepare: Callable[[Workspace], Invocation]


def run_case(case: Case, ws: Workspace) -> Result:
    ws.reset()
    inv = case.prepare(ws)
    call = None
    if inv.studio is not None and not inv.child:
        from tests.redteam.studio_open import open_and_paint

        call = lambda: open_and_paint(inv.studio, ws.root)  # noqa: E731
    return judge(
        f"{case.surface} x {case.name}",
        ws,
        inv.argv,
        inv.seconds,
        codes=inv.codes,
        command=inv.command(ws),
        writes_files=inv.writes_files,
        allowed=inv.allowed,
        call=call,
        temporary_ok=() if inv.child else inv.temporary_ok,
    )


def _with(inv: Invocation, **changes) -> Invocation:
    for key, value in changes.items():
        setattr(inv, key, value)
    return inv


def _copy_run(source: Path, ws: Workspace, project: dict | None = None) -> Path:
    """A copy of a run folder at inputs/runs/run, and inputs/project.dw.json (its snapshot by default)."""
    run = ws.inputs / "runs" / "run"
    shutil.copytree(source, run)
    if project is None:
        shutil.copy(run / "project.dw.json", ws.inputs / "project.dw.json")
    else:
        projects.write(ws.inputs, project)
    return run


# --- hostile checkpoints through every weights path -----------------------------------------
def _weights_codes(kind: str) -> frozenset:
    return (
        SUCCEED if kind == "good" else REFUSE if kind in checkpoints.CODE_KINDS else surfaces.DOCUMENTED_CODES
    )


def _checkpoint(kind: str, ws: Workspace, seeds: Seeds, path: Path) -> None:
    path.unlink(missing_ok=True)
    if kind == "good":
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seeds.checkpoint, path)
    else:
        checkpoints.write(kind, path, seeds.checkpoint, ws.marker)


def checkpoint_kinds(slow: bool, seeds: Seeds) -> list[str]:
    kinds = ["good", *checkpoints.KINDS, "folder", "missing"]
    if slow:
        kinds += [f"truncated@{n}" for n in checkpoints.offsets(seeds.checkpoint, 20, seed=1)]
        kinds += [f"flip@{n}" for n in checkpoints.offsets(seeds.checkpoint, 20, seed=2)]
    return kinds


def checkpoint_cases(seeds: Seeds, kinds: list[str]) -> dict[str, list[Case]]:
    cells: dict[str, list[Case]] = {}

    def add(surface: str, prepare):
        cells[surface] = [
            Case(surface, "checkpoint", kind, lambda ws, k=kind: prepare(ws, k)) for kind in kinds
        ]

    for name, surface in surfaces.WEIGHTS_SURFACES.items():

        def weights_path(ws, kind, surface=surface):
            project = projects.write(ws.inputs, projects.iris())
            _checkpoint(kind, ws, seeds, ws.inputs / "weights.pt")
            return _with(surface(ws, project, str(ws.inputs / "weights.pt")), codes=_weights_codes(kind))

        add(name, weights_path)

    def init_folder(ws, kind):
        project = projects.write(ws.inputs, projects.iris())
        run = _copy_run(seeds.iris_run, ws, projects.iris())
        _checkpoint(kind, ws, seeds, run / "best.pt")
        _checkpoint(kind, ws, seeds, run / "last.pt")
        return _with(surfaces.train_init(ws, project, str(run)), codes=_weights_codes(kind))

    add("train --init folder", init_folder)

    def import_weights(ws, kind):
        model = ws.inputs / "model.py"
        shutil.copy(seeds.model_py, model)
        _checkpoint(kind, ws, seeds, ws.inputs / "weights.pt")
        codes = _weights_codes(kind)
        return _with(surfaces.import_weights(ws, model, str(ws.inputs / "weights.pt")), codes=codes)

    add("import --weights", import_weights)

    for command in ("check", "train", "studio", "sweep"):

        def init_checkpoint(ws, kind, command=command):
            project = projects.write(
                ws.inputs, projects.iris(init_checkpoint="weights.pt", freeze_init=False)
            )
            _checkpoint(kind, ws, seeds, ws.inputs / "weights.pt")
            inv = surfaces.PROJECT_SURFACES[command](ws, project)
            return _with(inv, codes=_weights_codes(kind) if command in ("train", "sweep") else inv.codes)

        add(f"{command} init_checkpoint", init_checkpoint)

    def init_checkpoint_folder(ws, kind):
        settings = projects.iris(init_checkpoint="runs/run", freeze_init=False)
        project = projects.write(ws.inputs, settings)
        run = _copy_run(seeds.iris_run, ws, settings)
        _checkpoint(kind, ws, seeds, run / "best.pt")
        return _with(surfaces.train(ws, project), codes=_weights_codes(kind))

    add("train init_checkpoint folder", init_checkpoint_folder)

    for name, surface, source in (
        ("evaluate", surfaces.evaluate, seeds.iris_run),
        ("train --resume", surfaces.resume, seeds.iris_run),
        ("sample", surfaces.sample, seeds.lm_run),
        ("predict", surfaces.predict, seeds.iris_run),
        ("evaluate --attack", surfaces.attack, seeds.iris_run),
        ("quantize", surfaces.quantize, seeds.iris_run),
    ):

        def run_folder(ws, kind, surface=surface, source=source):
            run = _copy_run(source, ws)
            if kind != "good":
                for checkpoint in ("best.pt", "last.pt"):
                    if checkpoint == "last.pt" or (run / checkpoint).exists():
                        (run / checkpoint).unlink(missing_ok=True)
                        _checkpoint(kind, ws, seeds, run / checkpoint)
            return _with(surface(ws, run), codes=_weights_codes(kind))

        add(name, run_folder)

    for command in ("check", "train", "export python"):

        def pretrained(ws, kind, command=command):
            weights = ws.inputs / "resnet18.pth"
            _checkpoint(kind, ws, seeds, weights)
            projects.write_images_npz(ws.inputs / "images.npz")
            project = projects.write(ws.inputs, projects.backbone(str(weights)))
            inv = surfaces.PROJECT_SURFACES[command](ws, project)
            # the good file is an iris checkpoint: for a ResNet-18 it is the wrong weights
            return _with(inv, codes=inv.codes if command == "check" or kind != "good" else REFUSE)

        add(f"{command} pretrained_weights", pretrained)
    return cells

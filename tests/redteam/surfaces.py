"""The commands under attack, each as a function from a case's inputs to an `Invocation`.

PROJECT_SURFACES take a project file: check, export in each format, train
(one tiny epoch), preview, sweep (one trial), studio (open + first paint +
Runs panel). RUN_SURFACES take a run folder: evaluate, sample, train
--resume, studio (a project whose runs/ holds the run), predict, evaluate
--attack, quantize. WEIGHTS_SURFACES
take a checkpoint path: export --weights in each format, preview --weights,
train --init, import --weights. `child=True` runs any of them in a child
process (for inputs that may hang where no timer reaches).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.redteam.runner import DOCUMENTED_CODES
from tests.redteam.workspace import Workspace

SUFFIX = {"python": ".py", "script": ".py", "onnx": ".onnx", "torch-export": ".pt2"}
FORMATS = tuple(SUFFIX)
TRAIN = ("--quiet", "--threads", "1", "--epochs", "1", "--max-seconds", "20")


@dataclass
class Invocation:
    """How to run one case: CLI argv (or a studio call), and what may change."""

    argv: list[str] = field(default_factory=list)
    studio: str | None = None  # a project path to open in the studio instead of running the CLI
    seconds: float = 60.0
    child: bool = False
    writes_files: bool = True  # a failure must leave nothing under out/
    allowed: tuple[str, ...] = ()  # input paths the command may write (a run folder it evaluates)
    codes: frozenset = DOCUMENTED_CODES
    # temporary folders an in-process studio may leave, since Python removes them only at exit (the
    # preview panel's TemporaryDirectory); a studio run in a child must leave none
    temporary_ok: tuple[str, ...] = ()

    def command(self, ws: Workspace) -> list[str] | None:
        """The child's command line, or None to run in this process."""
        if not self.child:
            return None
        if self.studio is not None:
            return [sys.executable, "-m", "tests.redteam.studio_open", self.studio, str(ws.root)]
        return [sys.executable, "-m", "runtime.cli", *self.argv]


def check(ws: Workspace, project: Path) -> Invocation:
    return Invocation(["check", str(project)], seconds=20)


def export(fmt: str):
    def surface(ws: Workspace, project: Path) -> Invocation:
        return Invocation(
            ["export", str(project), "--format", fmt, "-o", str(ws.out / f"model{SUFFIX[fmt]}")], seconds=120
        )

    surface.__name__ = f"export {fmt}"
    return surface


def train(ws: Workspace, project: Path) -> Invocation:
    return Invocation(
        ["train", str(project), *TRAIN, "--out", str(ws.out / "run")], seconds=90, writes_files=False
    )


def preview(ws: Workspace, project: Path) -> Invocation:
    return Invocation(
        ["preview", str(project), "--block", "b2", "--samples", "2", "--out", str(ws.out / "preview.npz")],
        seconds=60,
    )


def sweep(ws: Workspace, project: Path) -> Invocation:
    return Invocation(
        ["sweep", str(project), "--trials", "1", "--epochs", "1", "--out", str(ws.out / "sweep")],
        seconds=120,
        writes_files=False,
    )


STUDIO_TEMPORARY = ("deepwire-preview-",)


def studio(ws: Workspace, project: Path) -> Invocation:
    return Invocation(studio=str(project), seconds=60, writes_files=False, temporary_ok=STUDIO_TEMPORARY)


PROJECT_SURFACES = {
    "check": check,
    **{f"export {f}": export(f) for f in FORMATS},
    "train": train,
    "preview": preview,
    "sweep": sweep,
    "studio": studio,
}


# --- run folders (inputs/project.dw.json with its run in inputs/runs/run) ---
def evaluate(ws: Workspace, run: Path) -> Invocation:
    return Invocation(
        ["evaluate", str(run), "--json", str(ws.out / "evaluation.json")], seconds=60, allowed=("runs/",)
    )


def sample(ws: Workspace, run: Path) -> Invocation:
    return Invocation(
        ["sample", str(run), "--prompt", "def ", "--length", "8", "--seed", "1"],
        seconds=60,
        writes_files=False,
        allowed=("runs/",),
    )


def resume(ws: Workspace, run: Path) -> Invocation:
    return Invocation(
        [
            "train",
            str(ws.inputs / "project.dw.json"),
            "--quiet",
            "--threads",
            "1",
            "--epochs",
            "2",
            "--resume",
            str(run),
        ],
        seconds=90,
        writes_files=False,
        allowed=("runs/",),
    )


def studio_runs(ws: Workspace, run: Path) -> Invocation:
    return Invocation(
        studio=str(ws.inputs / "project.dw.json"),
        seconds=60,
        writes_files=False,
        temporary_ok=STUDIO_TEMPORARY,
    )


def predict(ws: Workspace, run: Path) -> Invocation:
    rows = ws.inputs / "rows.csv"  # two iris flowers, as a user would type them
    rows.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    return Invocation(["predict", str(run), str(rows), "--json"], seconds=60, writes_files=False,
                      allowed=("runs/",))


def attack(ws: Workspace, run: Path) -> Invocation:
    return Invocation(["evaluate", str(run), "--attack", "fgsm", "--eps", "0,0.1"], seconds=60,
                      writes_files=False, allowed=("runs/",))


def quantize(ws: Workspace, run: Path) -> Invocation:
    return Invocation(["quantize", str(run), "-o", str(ws.out / "model.int8.onnx"), "--calibration", "32",
                       "--rounds", "1"], seconds=120, allowed=("runs/",))


RUN_SURFACES = {"evaluate": evaluate, "sample": sample, "train --resume": resume, "studio runs": studio_runs,
                "predict": predict, "evaluate --attack": attack, "quantize": quantize}


# --- a checkpoint path, for a project that fits it ---
def export_weights(fmt: str):
    def surface(ws: Workspace, project: Path, weights: str) -> Invocation:
        return Invocation(
            [
                "export",
                str(project),
                "--format",
                fmt,
                "-o",
                str(ws.out / f"model{SUFFIX[fmt]}"),
                "--weights",
                weights,
            ],
            seconds=120,
        )

    return surface


def preview_weights(ws: Workspace, project: Path, weights: str) -> Invocation:
    return Invocation(
        [
            "preview",
            str(project),
            "--block",
            "b2",
            "--samples",
            "2",
            "--weights",
            weights,
            "--out",
            str(ws.out / "preview.npz"),
        ],
        seconds=60,
    )


def train_init(ws: Workspace, project: Path, weights: str) -> Invocation:
    # one block copied and frozen, so that something is left to train
    return Invocation(
        [
            "train",
            str(project),
            *TRAIN,
            "--init",
            weights,
            "--init-blocks",
            "hidden1",
            "--out",
            str(ws.out / "run"),
        ],
        seconds=90,
        writes_files=False,
    )


def import_weights(ws: Workspace, model_py: Path, weights: str) -> Invocation:
    return Invocation(
        ["import", str(model_py), "-o", str(ws.out / "imported.dw.json"), "--weights", weights], seconds=60
    )


WEIGHTS_SURFACES = {
    **{f"export {f} --weights": export_weights(f) for f in FORMATS},
    "preview --weights": preview_weights,
    "train --init": train_init,
}

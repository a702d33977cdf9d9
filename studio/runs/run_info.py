"""Reading run folders without torch: what the runs panel lists and plots.

A run folder (runtime/train/runs.py) holds project.dw.json, summary.json and
metrics.jsonl. Runs sit in `<runs root>/<project>/<run>` (runtime/run_names.py;
older runs straight in `<runs root>/<run>`), and a root may hold the runs
of several projects: `list_runs(root, project)` keeps the project's own, by
the id its snapshot records. A run still training (or killed) has no summary.json yet; it
is listed as "running / no summary" with the settings from its snapshot.
Everything here is plain JSON reading, so the GUI process never imports torch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime import run_files
from runtime.run_names import belongs_to

SNAPSHOT, SUMMARY, METRICS = "project.dw.json", "summary.json", "metrics.jsonl"
SWEEP = "sweep.json"  # marks a sweep's folder (runtime/sweep), whose trials are not listed as runs
CHECKPOINTS = ("best.pt", "last.pt")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunInfo:
    path: Path
    name: str
    started: float  # folder time, for sorting
    recipe: str = ""
    optimizer: str = ""
    lr: float | None = None
    epochs: int | None = None
    status: str = ""
    monitor: str = ""
    final: float | None = None
    best: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, Any] | None = field(default=None, repr=False)  # project.dw.json as plain JSON

    @property
    def has_checkpoint(self) -> bool:
        return any((self.path / name).is_file() for name in CHECKPOINTS)

    @property
    def best_checkpoint(self) -> Path | None:
        for name in CHECKPOINTS:
            if (self.path / name).is_file():
                return self.path / name
        return None


def _read_json(path: Path) -> dict | None:
    """A run's summary.json or snapshot, checked by runtime/run_files.py.

    A damaged summary.json reads as one whose reason is the damage ("this run's files are damaged:
    summary.json: ..."), so the Status column says what is wrong; a damaged snapshot reads as none.
    """
    try:
        if path.name == SUMMARY:
            return run_files.read_summary(path)
        value = run_files.read_json(path)
        if value is not None:
            run_files.read_snapshot_training(path)
        return value
    except run_files.RunFileError as err:
        return {"reason": str(err)} if path.name == SUMMARY else None


def read_run(path: Path) -> RunInfo | None:
    """The run in `path`, or None when it is not a run folder."""
    path = Path(path)
    snapshot = _read_json(path / SNAPSHOT)
    summary = _read_json(path / SUMMARY)
    if snapshot is None and summary is None:
        return None
    info = RunInfo(path, path.name, path.stat().st_mtime, snapshot=snapshot)
    config = dict((summary or {}).get("config") or (snapshot or {}).get("training") or {})
    info.config = config
    info.recipe = str(config.get("recipe", (summary or {}).get("recipe", "")))
    info.optimizer = str(config.get("optimizer", ""))
    info.lr = config.get("lr")
    if summary is None:
        info.status = "running / no summary"
        return info
    info.epochs = summary.get("epochs")
    info.status = str(summary.get("reason", ""))
    info.monitor = str(summary.get("monitor", ""))
    final = summary.get("final") or {}
    info.final = final.get(info.monitor) if isinstance(final, dict) else None
    info.best = summary.get("best_metric")
    return info


def _is_sweep(folder: Path) -> bool:
    return (folder / SWEEP).is_file()


def _run_folders(root: Path):
    """The run folders of a runs root: its children, and its children's children (one per project)."""
    for child in root.iterdir():
        if not child.is_dir() or _is_sweep(child):
            continue  # a sweep's trials are listed by the Experiments panel
        if (child / SNAPSHOT).is_file() or (child / SUMMARY).is_file():
            yield child
            continue
        try:
            grandchildren = list(child.iterdir())
        except OSError:
            continue
        yield from (g for g in grandchildren if g.is_dir() and not _is_sweep(g))


def project_folders(root: Path | None) -> list[Path]:
    """The folders under a runs root where runs of some project appear (for a file watcher)."""
    if root is None or not Path(root).is_dir():
        return []
    return [child for child in Path(root).iterdir() if child.is_dir() and not _is_sweep(child)
            and not (child / SNAPSHOT).is_file()]


def list_runs(folder: Path | None, project=None) -> list[RunInfo]:
    """Every run under `folder` (a runs root), newest first; with `project`, only that project's runs."""
    if folder is None or not Path(folder).is_dir():
        return []
    runs, names = [], set()
    for path in _run_folders(Path(folder)):
        run = read_run(path)
        if run is None:
            continue
        if project is not None and not belongs_to(run.snapshot, project.id, project.name):
            continue
        if run.name in names:  # the same folder name under two project folders
            run.name = f"{path.parent.name}/{path.name}"
        names.add(run.name)
        runs.append(run)
    return sorted(runs, key=lambda r: (r.started, r.name), reverse=True)


def read_curves(path: Path) -> dict[str, np.ndarray]:
    """Per-epoch curves: epoch, train_loss, val_loss and val_<metric> arrays (NaN where missing)."""
    return read_curves_checked(path)[0]


def read_curves_checked(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The curves and what is wrong with metrics.jsonl ("" when nothing; a cut-off last line is normal)."""
    epochs: dict[int, dict[str, float]] = {}
    try:
        records, junk = run_files.read_metrics(Path(path) / METRICS)
        problem = (f"this run's files are damaged: {METRICS}: {junk} lines are not records; the curves "
                   "show the rest") if junk > 1 else ""
    except run_files.RunFileError as err:
        records, problem = [], str(err)
    for record in records:
        kind, epoch = record.get("type"), record.get("epoch")
        if kind not in ("epoch", "validation") or not isinstance(epoch, int) or isinstance(epoch, bool):
            continue
        row = epochs.setdefault(epoch, {})
        prefix = "train_" if kind == "epoch" else "val_"
        for key, value in record.items():
            if run_files.is_number(value) and key not in ("epoch", "step"):
                row[prefix + str(key)] = float(value)
    order = sorted(epochs)
    keys = sorted({k for row in epochs.values() for k in row})
    curves = {"epoch": np.array(order, dtype=float)}
    for key in keys:
        curves[key] = np.array([epochs[e].get(key, np.nan) for e in order], dtype=float)
    return curves, problem


def cli_command(*args: str) -> tuple[str, list[str], dict[str, str]]:
    """(program, arguments, extra environment) to run `deepwire ARGS` as a child of this source tree."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return sys.executable, ["-m", "runtime.cli", *args], env

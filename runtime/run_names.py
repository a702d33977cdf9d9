"""Where runs go: one rule for `deepwire train`, `deepwire sweep` and the studio.

    <project dir>/runs/<project>/<project>-<timestamp>/    a project saved in a file
    <user data>/runs/<project>/<project>-<timestamp>/      a bundled example, or an untitled project

<user data> is $DEEPWIRE_HOME when set (tests point it at a temporary folder),
else the platform's per-user data folder: $XDG_DATA_HOME/deepwire (default
~/.local/share/deepwire) on Linux, ~/Library/Application Support/DeepWire on
macOS, %LOCALAPPDATA%\\DeepWire on Windows. Bundled examples never write
into the installed package, and every example keeps its runs in its own
subfolder there.

A folder may hold the runs of several projects (two projects saved side by
side); each run's snapshot records the project id (graph.model.Project.id),
and `belongs_to` tells whether a run is the open project's.

Kept free of torch so the studio (which must not import torch) names run
folders exactly as the CLI does.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from graph.user_dirs import user_data_dir  # noqa: F401 - one rule for runs, caches and My blocks

RUNS = "runs"


def slug(name: str) -> str:
    """A file-name-safe version of a project name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return cleaned[:60] or "project"


def is_bundled(project_path: str | os.PathLike | None) -> bool:
    """Whether the file is one of the bundled examples (which must not get runs/ beside them)."""
    if project_path is None:
        return False
    from graph.examples import examples_dir

    try:
        return Path(project_path).resolve().parent == examples_dir().resolve()
    except OSError:
        return False


def runs_root(project_path: str | os.PathLike | None) -> Path:
    """The runs/ folder for a project file: beside it, or in the user data folder (example, untitled)."""
    if project_path is None or is_bundled(project_path):
        return user_data_dir() / RUNS
    return Path(project_path).resolve().parent / RUNS


def project_runs_dir(project_name: str, project_path: str | os.PathLike | None) -> Path:
    """The folder that holds one project's runs: `<runs root>/<project>`."""
    return runs_root(project_path) / slug(project_name)


def new_run_dir(folder: Path, project_name: str) -> Path:
    """`folder/<project>-<timestamp>`, with a counter if two runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(folder) / f"{slug(project_name)}-{stamp}"
    n = 2
    while path.exists():
        path = Path(folder) / f"{slug(project_name)}-{stamp}-{n}"
        n += 1
    return path


def default_run_dir(project_name: str, project_path: str | os.PathLike | None,
                    kind: str = "") -> Path:
    """Where a new run (kind "") or sweep (kind "sweep") of the project goes when no --out is given."""
    name = f"{project_name}-{kind}" if kind else project_name
    return new_run_dir(project_runs_dir(project_name, project_path), name)


def project_dir_of_run(run_dir: str | os.PathLike) -> Path:
    """The folder a run's project was in (where its relative data paths are read from).

    The folder holding the runs/ above the run (`<dir>/runs/<project>/<run>`,
    or `<dir>/runs/<run>` of older runs and of `--out runs/NAME`); for a run
    folder elsewhere, the folder two levels up as before.
    """
    run_dir = Path(run_dir)
    for ancestor in (run_dir.parent, run_dir.parent.parent):
        if ancestor.name == RUNS:
            return ancestor.parent
    return run_dir.parent.parent


def belongs_to(snapshot: dict[str, Any] | None, project_id: str, project_name: str) -> bool:
    """Whether a run whose project snapshot is `snapshot` (plain JSON) was trained by this project.

    By id when the snapshot has one; a run from before ids (no id in its
    snapshot) or of a project that has none yet is matched by project name.
    """
    if not isinstance(snapshot, dict):
        return False
    run_id = snapshot.get("id")
    if isinstance(run_id, str) and run_id and project_id:
        return run_id == project_id
    return snapshot.get("name", "Untitled") == project_name

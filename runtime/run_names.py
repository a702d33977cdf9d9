"""Where a run's folder goes: `<base>/runs/<project>-<timestamp>`.

Kept free of torch so the studio (which must not import torch) names run
folders exactly as `deepwire train` does.
"""

from __future__ import annotations

import re
import time
from pathlib import Path


def slug(name: str) -> str:
    """A file-name-safe version of a project name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return cleaned[:60] or "project"


def default_run_dir(project_name: str, base: Path) -> Path:
    """`base/runs/<project>-<timestamp>`, with a counter if two runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / "runs" / f"{slug(project_name)}-{stamp}"
    n = 2
    while path.exists():
        path = base / "runs" / f"{slug(project_name)}-{stamp}-{n}"
        n += 1
    return path

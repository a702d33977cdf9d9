"""The data-health report: what a scan found, and its JSON form (stable, versioned).

A `Report` is plain data, filled by the scanners (images.py, table.py,
loaded.py) and the dry run (dry_run.py); the CLI prints it as a table and
`--json` prints `Report.as_dict()`. The JSON schema is `SCHEMA` below; a
field is only ever added, never renamed or removed, within one version.

    {
      "schema": "deepwire.data-health/1",
      "project": str, "source": str, "path": str | null,  # the data file or folder, resolved
      "ok": bool,                     # false: a problem would stop training (exit code 1)
      "samples": int,                 # usable samples (skipped files not counted)
      "splits": {"train": int, "val": int, "test": int} | null,
      "classes": [{"name": str, "count": int}] | null,   # in class-id order
      "class_pixels": [{"name": str, "pixels": int, "fraction": float}] | null,  # segmentation masks
      "labels": [str] | null,         # the label set (class names), in class-id order
      "imbalance": {"largest": str, "smallest": str, "ratio": float} | null,  # classes with samples
      "images": {"sizes": [{"width": int, "height": int, "mode": str, "channels": int,
                            "count": int, "fraction": float}]} | null,   # most common first
      "missing": {"cells": int, "rows": int, "columns": {name: int}} | null,   # tables
      "skipped": {"count": int, "files": [{"path": str, "reason": str, "code": str}]},
      "problems": [{"severity": "error" | "warning", "code": str, "message": str,
                    "count": int, "files": [str], "block": str | null, "network": str | null}],
      "dry_run": [{"network": str, "input_block": {"id", "name", "type", "declared": [int]},
                   "data_shape": [int] | null, "fed_shape": [int] | null, "fits": bool,
                   "failing_block": {"id", "name", "type", "message"} | null,
                   "message": str}],
      "scan": {"files": int, "seconds": float, "decoded": bool, "cancelled": bool}
    }
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "deepwire.data-health/1"
ERROR, WARNING = "error", "warning"
IMBALANCE_RATIO = 3.0  # largest / smallest class above this: a warning
MAX_LISTED = 20  # file names listed per problem; the count says how many there are in all


class Cancelled(Exception):  # noqa: N818 - not an error: the user asked for it
    """The user cancelled the scan (Cancel in the Data panel, Ctrl+C)."""


@dataclass
class Problem:
    severity: str  # ERROR: training would stop; WARNING: it trains, but look
    code: str  # stable: unreadable, zero_bytes, not_image, bomb, symlink_loop, ...
    message: str
    files: list[str] = field(default_factory=list)  # at most MAX_LISTED names
    count: int = 0  # how many files or rows it concerns (0: not countable)
    block: str | None = None  # the block it points at (dry run)
    network: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message, "count": self.count,
                "files": list(self.files), "block": self.block, "network": self.network}


@dataclass
class Skipped:
    """Files a scan passed over, grouped by why (each group becomes one problem)."""

    files: list[tuple[str, str, str]] = field(default_factory=list)  # (path, code, reason)

    def add(self, path: str, code: str, reason: str) -> None:
        self.files.append((path, code, reason))

    def by_code(self) -> dict[str, list[tuple[str, str]]]:
        groups: dict[str, list[tuple[str, str]]] = {}
        for path, code, reason in self.files:
            groups.setdefault(code, []).append((path, reason))
        return groups


@dataclass
class DryRun:
    network: str
    block_id: str
    block_name: str
    block_type: str
    declared: tuple[int, ...] | None
    data_shape: tuple[int, ...] | None
    fed_shape: tuple[int, ...] | None
    fits: bool
    message: str
    failing: dict[str, str] | None = None  # id, name, type, message of the first block refusing

    def as_dict(self) -> dict[str, Any]:
        shape = (lambda s: None if s is None else [int(d) for d in s])
        return {"network": self.network,
                "input_block": {"id": self.block_id, "name": self.block_name, "type": self.block_type,
                                "declared": shape(self.declared)},
                "data_shape": shape(self.data_shape), "fed_shape": shape(self.fed_shape), "fits": self.fits,
                "failing_block": dict(self.failing) if self.failing else None, "message": self.message}


@dataclass
class Report:
    project: str
    source: str
    path: str | None = None
    samples: int = 0
    splits: dict[str, int] | None = None
    class_names: list[str] | None = None
    class_counts: list[int] | None = None
    class_pixels: list[int] | None = None  # segmentation masks: pixels of each class, in class-id order
    image_sizes: Counter | None = None  # (width, height, mode, channels) -> count
    missing: dict[str, Any] | None = None
    skipped: Skipped = field(default_factory=Skipped)
    problems: list[Problem] = field(default_factory=list)
    dry_runs: list[DryRun] = field(default_factory=list)
    shape: tuple[int, ...] | None = None  # one sample as stored (the dry run's input), when known
    target_kind: str | None = None  # what a table's label column gives: class, value or none
    files_seen: int = 0
    seconds: float = 0.0
    decoded: bool = False
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.cancelled and not any(p.severity == ERROR for p in self.problems)

    def problem(self, severity: str, code: str, message: str, files=(), count: int = 0, **where) -> Problem:
        files = list(files)
        found = Problem(severity, code, message, files[:MAX_LISTED], count or len(files), **where)
        self.problems.append(found)
        return found

    def imbalance(self) -> dict[str, Any] | None:
        """Largest and smallest class and their ratio, when there are two or more classes."""
        # classes without samples are a problem of their own (empty_class), not part of the ratio
        present = [i for i, n in enumerate(self.class_counts or ()) if n > 0]
        if len(present) < 2:
            return None
        big = max(present, key=self.class_counts.__getitem__)
        small = min(present, key=self.class_counts.__getitem__)
        return {"largest": self.class_names[big], "smallest": self.class_names[small],
                "ratio": round(self.class_counts[big] / self.class_counts[small], 2)}

    def _pixel_rows(self) -> list[dict[str, Any]] | None:
        if self.class_pixels is None or self.class_names is None:
            return None
        total = max(1, sum(self.class_pixels))
        return [{"name": n, "pixels": int(c), "fraction": round(c / total, 4)}
                for n, c in zip(self.class_names, self.class_pixels)]

    def size_rows(self) -> list[dict[str, Any]]:
        if not self.image_sizes:
            return []
        total = sum(self.image_sizes.values())
        ordered = sorted(self.image_sizes.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"width": w, "height": h, "mode": mode, "channels": channels, "count": n,
                 "fraction": round(n / total, 4)} for (w, h, mode, channels), n in ordered]

    def as_dict(self) -> dict[str, Any]:
        classes = None
        if self.class_names is not None and self.class_counts is not None:
            classes = [{"name": n, "count": int(c)} for n, c in zip(self.class_names, self.class_counts)]
        return {
            "schema": SCHEMA, "project": self.project, "source": self.source, "path": self.path,
            "ok": self.ok, "samples": int(self.samples),
            "splits": dict(self.splits) if self.splits is not None else None,
            "classes": classes, "labels": list(self.class_names) if self.class_names is not None else None,
            "class_pixels": self._pixel_rows(),
            "imbalance": self.imbalance(),
            "images": {"sizes": self.size_rows()} if self.image_sizes else None,
            "missing": self.missing,
            "skipped": {"count": len(self.skipped.files),
                        "files": [{"path": p, "code": c, "reason": r} for p, c, r in self.skipped.files]},
            "problems": [p.as_dict() for p in self.problems],
            "dry_run": [d.as_dict() for d in self.dry_runs],
            "scan": {"files": self.files_seen, "seconds": round(self.seconds, 3), "decoded": self.decoded,
                     "cancelled": self.cancelled},
        }

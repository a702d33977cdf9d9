"""Reading a run folder's JSON files with every value checked: what the studio's run panels show.

A run folder (runtime/train/runs.py) may have been damaged: a crash cuts
metrics.jsonl short, someone edits summary.json, a file is replaced by
something else entirely. These readers never raise anything but
RunFileError, whose text is "this run's files are damaged: <file>: <what>",
so a panel can show that line instead of a traceback. Plain json and os:
no torch, no Qt (the studio's GUI process imports this).

- read_json: a regular file under a size cap, UTF-8, JSON, an object.
- read_summary: summary.json with each field the panels use of the right type.
- read_metrics: metrics.jsonl's records (objects only); junk lines are
  skipped and counted, a cut-off last line is normal.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 20 * 10**6  # summary.json, evaluation.json, project.dw.json of a run
MAX_METRICS_BYTES = 200 * 10**6  # metrics.jsonl of a very long run


class RunFileError(ValueError):
    """A run file that cannot be used; str() is "this run's files are damaged: <file>: <what>"."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"this run's files are damaged: {self.path.name}: {reason}")


def read_text(path: Path, limit: int = MAX_JSON_BYTES) -> str | None:
    """The file's text, None when it does not exist; RunFileError for anything else wrong."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RunFileError(path, f"cannot be opened ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise RunFileError(path, "is not a regular file")
    if info.st_size > limit:
        raise RunFileError(
            path, f"is {info.st_size / 1e6:.0f} MB, more than the {limit / 1e6:.0f} MB such a file can be"
        )
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as err:
        raise RunFileError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunFileError(path, f"is not UTF-8 text (byte {err.start})") from None


def read_json(path: str | Path, limit: int = MAX_JSON_BYTES) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when there is no such file."""
    path = Path(path)
    text = read_text(path, limit)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise RunFileError(path, f"is not valid JSON ({str(err)[:120]})") from None
    if not isinstance(value, dict):
        raise RunFileError(path, f"should hold a JSON object, holds a {type(value).__name__}")
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional(summary: Mapping, key: str, check, what: str, path: Path) -> None:
    if summary.get(key) is not None and not check(summary[key]):
        raise RunFileError(path, f"'{key}' should be {what}, is {json.dumps(summary[key])[:60]}")


def read_summary(path: str | Path) -> dict[str, Any] | None:
    """summary.json with the fields the panels use checked; None when the run has none (yet)."""
    path = Path(path)
    summary = read_json(path)
    if summary is None:
        return None
    _optional(summary, "config", lambda v: isinstance(v, dict), "an object", path)
    _optional(summary, "reason", lambda v: isinstance(v, str), "text", path)
    _optional(summary, "monitor", lambda v: isinstance(v, str), "text", path)
    _optional(summary, "recipe", lambda v: isinstance(v, str), "text", path)
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731 - one use, reads as a rule
    _optional(summary, "epochs", whole, "a whole number", path)
    _optional(summary, "best_metric", is_number, "a number", path)
    _optional(summary, "final", lambda v: isinstance(v, dict), "an object", path)
    for key, value in (summary.get("final") or {}).items():
        if value is not None and not is_number(value):
            raise RunFileError(path, f"'final' > '{key}' should be a number, is {json.dumps(value)[:60]}")
    config = summary.get("config") or {}
    _optional(config, "lr", is_number, "a number", path)
    return summary


def read_snapshot_training(path: str | Path) -> dict[str, Any] | None:
    """The 'training' settings of a run's project.dw.json (the panels list them), checked to be an object."""
    path = Path(path)
    snapshot = read_json(path)
    if snapshot is None:
        return None
    training = snapshot.get("training") or {}
    if not isinstance(training, dict):
        raise RunFileError(path, "'training' should be an object")
    return training


def read_metrics(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """metrics.jsonl's records and how many lines were not records (junk, or cut off by a crash)."""
    text = read_text(Path(path), MAX_METRICS_BYTES)
    records, junk = [], 0
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            junk += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            junk += 1
    return records, junk

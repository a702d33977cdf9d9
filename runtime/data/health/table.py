"""Scanning a CSV table for the data-health report: rows, classes, missing values, bad rows.

Unlike the csv source, which stops at the first bad row, the scan reads to
the end and counts: rows with too few or too many values (ragged), lines
that are not UTF-8 (mixed encodings: a file saved partly as Latin-1), empty
or non-number cells per feature column. It streams: lines are decoded one by
one and rows checked in chunks with numpy, so memory stays flat however long
the file (only one small class id per row is kept, for the split counts).

Severities follow the csv source: a file up to `column_store.stream_bytes()`
(8 MB) is refused for any of these; a bigger one (the column store) skips
ragged rows while they are at most 1 in `RAGGED_SHARE` and reads non-UTF-8
lines as Windows-1252, with a warning, so those are warnings there. Missing
values and non-numbers stop both. The label set and the count per class come
from the label column as the csv source chooses it (the same options).
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from array import array
from pathlib import Path

import numpy as np

from runtime.data.health.report import ERROR, MAX_LISTED, WARNING, Cancelled, Report

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|", "space": " "}
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}  # how spreadsheets write a missing value
PROGRESS_EVERY = 20_000  # rows between two progress calls (and looks at Cancel)
CHUNK_ROWS = 10_000  # rows checked at once with numpy (about 10 MB of cells)


def _streamed(size: int) -> bool:
    """Whether the csv source reads a file this big through the column store (which skips more)."""
    try:
        from runtime.data import column_store
    except ImportError:  # before the column store: every file is read whole
        return False
    return size > column_store.stream_bytes()


def _ragged_share() -> int:
    from runtime.data import column_store

    return column_store.RAGGED_SHARE


class _Lines:
    """The file's lines as text, one at a time; lines that are not UTF-8 are read as Windows-1252
    and their numbers kept, so the scan goes on and the report can name them."""

    def __init__(self, path: Path):
        self.path, self.bad, self.first = path, [], None

    def __iter__(self):
        with open(self.path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    self.bad.append(number)
                    if self.first is None:
                        self.first = (number, raw[exc.start])
                    yield raw.decode("cp1252", errors="replace")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _column(names: list[str], text: str, option: str, file: str, report: Report) -> int | None:
    """A column named by its header text or index; None (after a problem was recorded) if unknown."""
    text = text.strip()
    if text in names:
        return names.index(text)
    try:
        index = int(text)
        if -len(names) <= index < len(names):
            return index % len(names)
    except ValueError:
        pass
    report.problem(ERROR, "source", f"{file}: option '{option}' names column '{text}', which does not exist; "
                   f"the columns are: {', '.join(names)}")
    return None


class _Tally:
    """What the rows held so far: missing cells per column, non-numbers, class ids (provisional)."""

    def __init__(self, names: list[str], label: int | None, features: list[int]):
        self.names, self.label, self.features = names, label, features
        self.missing = np.zeros(len(names), np.int64)
        self.missing_rows = 0
        self.not_numbers: dict[int, list] = {}  # column -> [count, first line, first text]
        self.ids: dict[str, int] = {}  # label text -> provisional id (order of first appearance)
        self.labels = array("l")  # provisional id per row; -1 where the label is missing

    def add(self, lines: list[int], rows: list[list[str]]) -> None:
        count, features = len(rows), self.features
        bad = self._fast_missing(rows)
        if bad is None:  # an empty cell or a word somewhere: look at each cell to count and name them
            bad = np.zeros((count, len(features)), bool)
            for r, row in enumerate(rows):
                for j, c in enumerate(features):
                    text = row[c].strip()
                    if text.lower() in MISSING:
                        bad[r, j] = True
                        continue
                    try:
                        bad[r, j] = not math.isfinite(float(text))
                    except ValueError:
                        found = self.not_numbers.setdefault(c, [0, lines[r], text])
                        found[0] += 1
        rows_missing = bad.any(axis=1)
        self.missing[features] += bad.sum(axis=0)
        if self.label is not None:
            gone = np.zeros(count, bool)
            for r, row in enumerate(rows):
                text = row[self.label].strip()
                if text.lower() in MISSING:
                    gone[r] = True
                    self.labels.append(-1)
                else:
                    self.labels.append(self.ids.setdefault(text, len(self.ids)))
            self.missing[self.label] += int(gone.sum())
            rows_missing |= gone
        self.missing_rows += int(rows_missing.sum())

    def _fast_missing(self, rows: list[list[str]]):
        """(rows, features) non-finite flags when every feature cell parses as a number, else None.

        One numpy parse of the chunk's cells joined by commas (3x faster than converting a string
        array): a cell that is no number stops the parse early, so the count comes out short.
        """
        features = self.features
        joined = ",".join([",".join([row[c] for c in features]) for row in rows])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "could not be read to its end"
            try:
                values = np.fromstring(joined, sep=",")
            except ValueError:
                return None
        if values.size != len(rows) * len(features):
            return None
        return ~np.isfinite(values.reshape(len(rows), len(features)))  # NaN and inf count as missing


def _header(fields: list[str], options: dict) -> list[str]:
    if options.get("header", True):
        return [f.strip() for f in fields]
    return [str(i) for i in range(len(fields))]


def scan_csv(report: Report, path: Path, options: dict, recipe: str | None, progress,
             stop) -> list[int] | None:
    """Fill `report` for a CSV file; return each good row's class id (None: no classes or unusable)."""
    progress(0, None, f"reading {path.name}")
    streamed = _streamed(os.stat(path).st_size)
    delimiter = DELIMITERS.get(options.get("delimiter", ","), ",")
    lines = _Lines(path)
    reader = csv.reader(iter(lines), delimiter=delimiter)
    names: list[str] | None = None
    tally: _Tally | None = None
    ragged: list[int] = []
    ragged_detail = ""
    good = 0
    chunk_lines: list[int] = []
    chunk: list[list[str]] = []
    try:
        for fields in reader:
            if not fields or (not fields[0].strip() and not "".join(fields).strip()):
                continue  # blank lines (and lines of bare separators) are skipped by the source too
            line = reader.line_num
            if names is None:
                names = _header(fields, options)
                tally = _start(report, path, names, options)
                if tally is None:
                    return None
                if options.get("header", True):
                    continue
            if len(fields) != len(names):
                if not ragged:
                    ragged_detail = f"row {line} has {len(fields)} values, the header {len(names)} columns"
                ragged.append(line)
                continue
            good += 1
            chunk.append(fields)
            chunk_lines.append(line)
            if len(chunk) >= CHUNK_ROWS:
                tally.add(chunk_lines, chunk)
                chunk, chunk_lines = [], []
            if good % PROGRESS_EVERY == 0:
                if stop():
                    raise Cancelled
                progress(good, None, f"reading rows of {path.name}")
    except csv.Error as exc:
        report.problem(ERROR, "quoting", f"{path.name}, row {reader.line_num}: {exc}; fix the quoting in "
                       "that row", [str(path)])
    except OSError as exc:
        report.problem(ERROR, "source", f"{path}: could not be read ({exc.strerror or exc})", [str(path)])
        return None
    if chunk:
        tally.add(chunk_lines, chunk)
    report.files_seen = 1
    _encoding_problem(report, path, lines, streamed)
    if tally is None or not good:
        report.problem(ERROR, "no_samples", f"{path.name} holds no data rows; a CSV file needs a header row "
                       "and one row per sample", [str(path)])
        return None
    if ragged:
        _ragged_problem(report, path, ragged, ragged_detail, good, streamed)
    report.samples = good
    report.shape = (len(tally.features),)
    _missing_problems(report, path, tally)
    task = options.get("task", "auto")
    if tally.label is None:
        report.target_kind = "none"
        return None
    if task == "regression" or (task == "auto" and recipe == "regression"):
        report.target_kind = "value"
        return None
    report.target_kind = "class"
    return _classes(report, tally)


def _start(report: Report, path: Path, names: list[str], options: dict) -> _Tally | None:
    """The tally for this header: label and feature columns resolved as the csv source does."""
    text = options.get("label", "").strip()
    if text.lower() == "none":
        label = None
    else:
        label = _column(names, text, "label", path.name, report) if text else len(names) - 1
        if label is None:
            return None
    wanted = options.get("features", "").strip()
    if wanted:
        features = [_column(names, part, "features", path.name, report) for part in wanted.split(",")]
        if None in features:
            return None
    else:
        features = [i for i in range(len(names)) if i != label]
    if not features:
        report.problem(ERROR, "source", f"{path.name}: no feature columns are left besides the label; "
                       "the file needs at least one column of inputs", [str(path)])
        return None
    return _Tally(names, label, features)


def _encoding_problem(report: Report, path: Path, lines: _Lines, streamed: bool) -> None:
    if not lines.bad:
        return
    bad = lines.bad
    shown = ", ".join(str(n) for n in bad[:MAX_LISTED]) + (" ..." if len(bad) > MAX_LISTED else "")
    what = (f"{path.name}: {len(bad)} line(s) are not UTF-8 text (first: line {lines.first[0]}, byte "
            f"0x{lines.first[1]:02x}), e.g. a file saved partly as Latin-1 (Windows-1252); lines {shown}")
    if streamed:
        report.problem(WARNING, "encoding", f"{what}; they are read as Windows-1252: check their labels",
                       [str(path)], count=len(bad))
    else:
        report.problem(ERROR, "encoding", f"{what}; save the file as UTF-8 (the csv source refuses it)",
                       [str(path)], count=len(bad))


def _ragged_problem(report: Report, path: Path, ragged: list[int], detail: str, good: int,
                    streamed: bool) -> None:
    shown = ", ".join(str(n) for n in ragged[:MAX_LISTED]) + (" ..." if len(ragged) > MAX_LISTED else "")
    what = (f"{path.name}: {len(ragged)} row(s) have a different number of values than the header "
            f"({detail}); rows {shown}")
    if streamed and len(ragged) * _ragged_share() <= good + len(ragged):
        report.problem(WARNING, "ragged_row", f"{what}; skipped (at most 1 row in {_ragged_share()} may be)",
                       [str(path)], count=len(ragged))
    else:
        report.problem(ERROR, "ragged_row", f"{what}; the csv source refuses them: fix or delete those rows",
                       [str(path)], count=len(ragged))


def _missing_problems(report: Report, path: Path, tally: _Tally) -> None:
    by_column = {tally.names[i]: int(n) for i, n in enumerate(tally.missing) if n}
    cells = sum(by_column.values())
    report.missing = {"cells": cells, "rows": tally.missing_rows, "columns": by_column}
    if cells:
        worst = ", ".join(f"'{name}' {n}" for name, n in sorted(by_column.items(), key=lambda kv: -kv[1])[:5])
        report.problem(ERROR, "missing_values", f"{path.name}: {cells} missing value(s) in "
                       f"{tally.missing_rows} row(s) (by column: {worst}); the csv source refuses empty "
                       "cells: fill them in or delete those rows", [str(path)], count=tally.missing_rows)
    for column, (count, first, shown) in tally.not_numbers.items():
        report.problem(ERROR, "not_number", f"{path.name}, column '{tally.names[column]}': {count} value(s) "
                       f"are not numbers (first: row {first}, {shown[:40]!r}); a feature column must hold "
                       "numbers only (or make it the label column)", [str(path)], count=count)


def _classes(report: Report, tally: _Tally) -> list[int]:
    """Class names sorted as the csv source sorts them ('10' after '9'), counts, and each row's id."""
    present = list(tally.ids)
    if present and all(_is_number(t) and float(t).is_integer() for t in present):
        ordered = sorted(present, key=float)
    else:
        ordered = sorted(present)
    final = {name: i for i, name in enumerate(ordered)}
    remap = np.array([final[name] for name in present] + [-1], dtype=np.int64)  # index -1: missing label
    ids = remap[np.array(tally.labels, dtype=np.int64)]
    ids = ids[ids >= 0]
    report.class_names = ordered
    report.class_counts = [int(n) for n in np.bincount(ids, minlength=len(ordered))]
    return ids.tolist()

"""Scanning a CSV table for the data-health report: rows, classes, missing values, bad rows.

Unlike the csv source, which stops at the first bad row, the scan reads to
the end and counts: rows with too few or too many values (ragged), lines
that are not UTF-8 (mixed encodings: a file saved partly as Latin-1), empty
or non-number cells per column. Severities follow the csv source: a file
up to `column_store.stream_bytes()` (8 MB) is refused for any of them; a
bigger one (the column store) skips ragged rows while they are at most 1 in
`RAGGED_SHARE` and reads non-UTF-8 lines as Windows-1252, with a warning, so
those are warnings there. Missing values and non-numbers stop both. The
label set and the count per class come from the label column as the csv
source chooses it (the same options).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from runtime.data.health.report import ERROR, MAX_LISTED, WARNING, Cancelled, Report

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|", "space": " "}
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}  # how spreadsheets write a missing value
PROGRESS_EVERY = 20_000  # rows between two progress calls


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


def _decode(report: Report, path: Path, data: bytes) -> str:
    """The text; lines that are not UTF-8 are named, and read as Windows-1252 so the scan goes on."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            bad.append(number)
            lines.append(raw.decode("cp1252", errors="replace"))
            if len(bad) == 1:
                first = (number, raw[exc.start])
    shown = ", ".join(str(n) for n in bad[:MAX_LISTED]) + (" ..." if len(bad) > MAX_LISTED else "")
    what = (f"{path.name}: {len(bad)} line(s) are not UTF-8 text (first: line {first[0]}, byte "
            f"0x{first[1]:02x}), e.g. a file saved partly as Latin-1 (Windows-1252); lines {shown}")
    if _streamed(len(data)):
        report.problem(WARNING, "encoding", f"{what}; they are read as Windows-1252: check their labels",
                       [str(path)], count=len(bad))
    else:
        report.problem(ERROR, "encoding", f"{what}; save the file as UTF-8 (the csv source refuses it)",
                       [str(path)], count=len(bad))
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _label_column(names: list[str], text: str, file: str, report: Report) -> int | None | str:
    """The label column's index, None for 'none', or "bad" after a problem was recorded."""
    text = text.strip()
    if text.lower() == "none":
        return None
    if not text:
        return len(names) - 1
    if text in names:
        return names.index(text)
    try:
        index = int(text)
        if -len(names) <= index < len(names):
            return index % len(names)
    except ValueError:
        pass
    report.problem(ERROR, "source", f"{file}: option 'label' names column '{text}', which does not exist; "
                   f"the columns are: {', '.join(names)}")
    return "bad"


def scan_csv(report: Report, path: Path, options: dict, recipe: str | None, progress, stop,
             read_bytes) -> list[int] | None:
    """Fill `report` for a CSV file; return each good row's class id (None: no classes or unusable)."""
    progress(0, None, f"reading {path.name}")
    data = read_bytes(path)
    size_streamed = _streamed(len(data))
    text = _decode(report, path, data)
    del data
    if stop():
        raise Cancelled
    delimiter = DELIMITERS.get(options.get("delimiter", ","), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    names: list[str] | None = None
    ragged: list[int] = []
    ragged_detail = ""
    good: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # blank lines are skipped by the source too
            line = reader.line_num
            if names is None:
                names = ([f.strip() for f in fields] if options.get("header", True)
                         else [str(i) for i in range(len(fields))])
                if options.get("header", True):
                    continue
            if len(fields) != len(names):
                if not ragged:
                    ragged_detail = f"row {line} has {len(fields)} values, the header {len(names)} columns"
                ragged.append(line)
            else:
                good.append((line, fields))
            if line % PROGRESS_EVERY == 0:
                if stop():
                    raise Cancelled
                progress(line, None, f"reading rows of {path.name}")
    except csv.Error as exc:
        report.problem(ERROR, "quoting", f"{path.name}, row {reader.line_num}: {exc}; fix the quoting in "
                       "that row", [str(path)])
    report.files_seen = 1
    if names is None or not good:
        report.problem(ERROR, "no_samples", f"{path.name} holds no data rows; a CSV file needs a header row "
                       "and one row per sample", [str(path)])
        return None
    if ragged:
        shown = ", ".join(str(n) for n in ragged[:MAX_LISTED]) + (" ..." if len(ragged) > MAX_LISTED else "")
        what = (f"{path.name}: {len(ragged)} row(s) have a different number of values than the header "
                f"({ragged_detail}); rows {shown}")
        if size_streamed and len(ragged) * _ragged_share() <= len(good) + len(ragged):
            report.problem(WARNING, "ragged_row", f"{what}; skipped (at most 1 row in "
                           f"{_ragged_share()} may be)", [str(path)], count=len(ragged))
        else:
            report.problem(ERROR, "ragged_row", f"{what}; the csv source refuses them: fix or delete "
                           "those rows", [str(path)], count=len(ragged))
    label = _label_column(names, options.get("label", ""), path.name, report)
    if label == "bad":
        return None
    report.shape = (feature_count(options, len(names), label is not None),)
    missing_by_column = {name: 0 for name in names}
    missing_rows = 0
    not_numbers: dict[str, tuple[int, int, str]] = {}  # column -> (count, first row, first text)
    for line, fields in good:
        row_missing = False
        for index, cell in enumerate(fields):
            value = cell.strip()
            if value.lower() in MISSING:
                missing_by_column[names[index]] += 1
                row_missing = True
            elif index != label and not _is_number(value):
                count, first, shown = not_numbers.get(names[index], (0, line, value))
                not_numbers[names[index]] = (count + 1, first, shown)
        missing_rows += row_missing
    cells = sum(missing_by_column.values())
    report.missing = {"cells": cells, "rows": missing_rows,
                      "columns": {name: n for name, n in missing_by_column.items() if n}}
    if cells:
        worst = ", ".join(f"'{name}' {n}" for name, n in sorted(report.missing["columns"].items(),
                                                               key=lambda kv: -kv[1])[:5])
        report.problem(ERROR, "missing_values", f"{path.name}: {cells} missing value(s) in {missing_rows} "
                       f"row(s) (by column: {worst}); the csv source refuses empty cells: fill them in or "
                       "delete those rows", [str(path)], count=missing_rows)
    for name, (count, first, shown) in not_numbers.items():
        report.problem(ERROR, "not_number", f"{path.name}, column '{name}': {count} value(s) are not numbers "
                       f"(first: row {first}, {shown[:40]!r}); a feature column must hold numbers only "
                       "(or make it the label column)", [str(path)], count=count)
    report.samples = len(good)
    task = options.get("task", "auto")
    regression = task == "regression" or (task == "auto" and recipe == "regression")
    if label is None or regression:
        return None
    texts = [fields[label].strip() for _, fields in good]
    present = sorted({t for t in texts if t.lower() not in MISSING})
    if present and all(_is_number(t) and float(t).is_integer() for t in present):
        present.sort(key=float)  # '10' after '9', as the csv source orders them
    ids = {name: i for i, name in enumerate(present)}
    report.class_names = present
    counts = [0] * len(present)
    labels = []
    for t in texts:
        if t in ids:
            counts[ids[t]] += 1
            labels.append(ids[t])
    report.class_counts = counts
    return labels


def feature_count(options: dict, names: int, has_label: bool) -> int:
    """How many feature columns the csv source makes of a table with `names` columns."""
    features = options.get("features", "").strip()
    if features:
        return len([part for part in features.split(",") if part.strip()])
    return names - has_label


"""The report for sources read whole by their own `read`: bundled sets, generated data, text, arrays.

These have no files to scan one by one (or one file, already checked by the
source), so the report reads the data as training would and counts:
samples, classes, values that are not finite numbers.
"""

from __future__ import annotations

import numpy as np

from runtime.data.health.report import ERROR, WARNING, Report

CHUNK = 65_536  # samples per pass when counting non-finite values (a memory-mapped array stays on disk)


def _non_finite(inputs) -> tuple[int, int]:
    """(values, samples) that are NaN or infinite, counted chunk by chunk."""
    if not np.issubdtype(np.asarray(inputs[:1]).dtype, np.floating):
        return 0, 0
    values = samples = 0
    for start in range(0, len(inputs), CHUNK):
        part = np.asarray(inputs[start:start + CHUNK])
        bad = ~np.isfinite(part.reshape(len(part), -1))
        values += int(bad.sum())
        samples += int(bad.any(axis=1).sum())
    return values, samples


def scan_loaded(report: Report, source, options: dict, context, progress) -> list[int] | None:
    """Fill `report` from the source's full read; return the class ids (None: no classes)."""
    progress(0, None, f"reading the {source.title} data")
    raw = source.read(options, context)
    report.files_seen = 0
    for warning in raw.extra.get("warnings", []):  # lines a text-pair source skipped, named
        report.problem(WARNING, "skipped_lines", warning, count=int(raw.extra.get("skipped_lines") or 0))
    if raw.splits is not None:  # text: split by the source into contiguous parts
        sizes = [0 if part is None else len(part[0]) for part in raw.splits]
        report.splits = dict(zip(("train", "val", "test"), sizes))
        report.samples = sum(sizes)
        return None
    inputs = raw.inputs
    report.samples = len(inputs)
    values, samples = _non_finite(inputs)
    report.missing = {"cells": values, "rows": samples, "columns": {}}
    if values:
        report.problem(ERROR, "missing_values", f"{raw.origin}: {values} value(s) in {samples} sample(s) are "
                       "NaN or infinite; training on them gives a NaN loss: fill or drop them", count=samples)
    progress(report.samples, report.samples, "counting")
    if raw.target_kind != "class" or raw.targets is None:
        return None
    targets = np.asarray(raw.targets)
    if targets.ndim != 1:
        return None  # per-step classes (sequence labelling): no one class per sample to count
    classes = int(raw.num_classes or (targets.max() + 1 if len(targets) else 0))
    counts = np.bincount(targets, minlength=classes)
    report.class_names = list(raw.class_names) if raw.class_names else [str(i) for i in range(len(counts))]
    report.class_counts = [int(c) for c in counts]
    return [int(t) for t in targets]

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
    if targets.ndim == 3:  # a class mask per image (segmentation): the share of pixels of each class
        _mask_classes(report, raw, targets)
        return None
    if targets.ndim != 1:
        return None  # per-step classes (sequence labelling): no one class per sample to count
    classes = int(raw.num_classes or (targets.max() + 1 if len(targets) else 0))
    counts = np.bincount(targets, minlength=classes)
    report.class_names = list(raw.class_names) if raw.class_names else [str(i) for i in range(len(counts))]
    report.class_counts = [int(c) for c in counts]
    return [int(t) for t in targets]


RARE_PIXELS = 0.01  # a class under this share of the pixels: a warning (a model can ignore it)


def _mask_classes(report: Report, raw, masks: np.ndarray) -> None:
    """Pixel counts per class of segmentation masks, the files the source skipped, rare classes."""
    classes = int(raw.num_classes or (masks.max() + 1 if masks.size else 0))
    counts = np.bincount(masks.reshape(-1), minlength=classes)
    names = list(raw.class_names) if raw.class_names else [str(i) for i in range(len(counts))]
    report.class_names = names
    report.class_pixels = [int(c) for c in counts]
    skipped = raw.extra.get("skipped_files") or []
    if skipped:
        report.problem(WARNING, "mask_skipped", f"{len(skipped)} image(s) could not be used with a mask; "
                       "skipped", skipped)
    total = max(1, int(counts.sum()))
    rare = [names[c] for c in range(1, len(counts)) if counts[c] / total < RARE_PIXELS]
    if rare:
        report.problem(WARNING, "rare_class", f"class(es) {', '.join(repr(n) for n in rare)} cover less than "
                       f"{RARE_PIXELS:.0%} of the pixels; a model can score well by never predicting them: "
                       "add images that show them, or crop closer")

"""The data-health report: is this project's data fit to train on, before anything trains?

    from runtime.data.health import check_data
    report = check_data(project, registry, base_dir=path.parent)
    report.ok, report.as_dict()          # as `deepwire data PROJECT --json` prints it

Counts per split and per class (with an imbalance warning), files that
cannot be used (corrupt, empty, not images, decompression bombs, link
loops, changed while scanning) by name with a count, image sizes and
modes, the label set, missing values, and the dry run: the network's shape
inference with the data's real sample shape, naming the first block that
refuses it. No Qt, no torch for files; nothing is ever written.

`progress(done, total, what)` is called now and then (total None while
unknown); `stop()` returning True cancels: `check_data` returns the partial
report with `cancelled` set.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.health.dry_run import dry_run
from runtime.data.health.images import data_shape as image_shape
from runtime.data.health.images import scan_image_folder
from runtime.data.health.loaded import scan_loaded
from runtime.data.health.report import (
    ERROR,
    IMBALANCE_RATIO,
    SCHEMA,
    WARNING,
    Cancelled,
    DryRun,
    Problem,
    Report,
)
from runtime.data.health.table import scan_csv
from runtime.data.source import Context, Natural, target_kind_for
from runtime.data.split import split_indices

__all__ = ["SCHEMA", "Cancelled", "DryRun", "Problem", "Report", "check_data"]

# why a file was passed over -> how the report says it (all are skipped; training goes on without them)
SKIP_WORDS = {
    "unreadable": "cannot be read (corrupt or not what its name says)",
    "zero_bytes": "are empty (0 bytes)",
    "not_image": "are not images",
    "bomb": "are refused as decompression bombs (more pixels than Pillow allows)",
    "symlink_loop": "are symbolic links that loop",
    "nested_folder": "are folders inside a class folder",
    "changed": "changed or vanished while scanning",
}


def _never() -> bool:
    return False


def _quiet(done, total, what) -> None:
    return None


def check_data(project, registry, base_dir: str | Path | None = None, *, progress=None, stop=None,
               decode: bool = False) -> Report:
    """The report on `project`'s data source (see runtime/data/health/report.py for its fields)."""
    started = time.monotonic()
    progress, stop = progress or _quiet, stop or _never
    report = Report(project.name, project.data.source)
    try:
        base = Path(base_dir) if base_dir is not None else None
        _fill(report, project, registry, base, progress, stop, decode)
    except Cancelled:
        report.cancelled = True
    except DataError as exc:
        report.problem(ERROR, "source", str(exc))
    except MemoryError:
        report.problem(ERROR, "source", "the data does not fit in this machine's memory")
    report.seconds = time.monotonic() - started
    # errors first: a long list still starts with what stops training
    report.problems.sort(key=lambda p: p.severity != ERROR)
    return report


def _fill(report: Report, project, registry, base_dir, progress, stop, decode: bool) -> None:
    from runtime.data.registry import source_info

    source = source_info(project.data.source)
    options = source.check_options(project.data.options)
    training = project.training
    context = Context(recipe=training.recipe, base_dir=base_dir, seed=project.seed,
                      val_fraction=training.val_fraction, test_fraction=training.test_fraction,
                      input_parts=_input_parts(project, registry))
    if context.input_parts and not source.several_inputs:
        names = ", ".join(n for n, _s in context.input_parts)
        raise DataError(f"the network has {len(context.input_parts)} inputs ({names}), but data source "
                        f"'{source.name}' feeds one; save one array per input with np.savez and use the "
                        "arrays source")
    natural: Natural | None = None
    if source.name == "image_folder":
        folder = existing_path(context, options["path"], source.name, "path", folder=True)
        report.path = str(folder.resolve())
        labels = scan_image_folder(report, folder, progress, stop, decode)
        shape = image_shape(report)
        if shape is not None:
            natural = Natural(shape, "image", "class", len(report.class_names or ()),
                              f"the images in {folder.name}", "image_size")
    elif source.name == "csv":
        path = existing_path(context, options["path"], source.name, "path")
        report.path = str(path.resolve())
        labels = scan_csv(report, path, options, training.recipe, progress, stop)
        # what the csv source's natural() would say, from the scan (no second parse of a big file)
        if report.shape is not None:
            natural = Natural(report.shape, "vector", report.target_kind,
                              len(report.class_names) if report.target_kind == "class" else None,
                              f"the rows of {path.name}")
        shape = report.shape
    else:
        if isinstance(options.get("path"), str) and options["path"].strip():
            report.path = str(context.path(options["path"]).absolute())
        natural = source.natural(options, context)
        shape = natural.shape
        context.shape = _fed_shape(project, registry, natural) or tuple(natural.shape)
        if training.recipe == "seq2seq":  # the source and the decoder input lengths, as training reads
            lengths = _token_lengths(project, registry)
            if lengths is not None:
                context.shape, context.target_length = (lengths[0],), lengths[1]
        labels = scan_loaded(report, source, options, context, progress)
    if stop():
        raise Cancelled
    _skipped_problems(report)
    _balance(report)
    _sizes(report)
    target_kind = None
    if natural is not None:
        try:
            target_kind = target_kind_for(natural.target_kind, source.name, training.recipe)
        except DataError as exc:
            report.problem(ERROR, "recipe", str(exc))
    # split as training will: stratified by class only when the recipe trains on the classes
    _splits(report, labels if target_kind == "class" else None, training, project.seed)
    dry_run(report, project, registry, natural, shape)


def _input_parts(project, registry) -> list | None:
    """[(argument, shape)] of the first network's inputs when it has several data inputs (the arrays
    source reads one array each), else None; None too when it does not compile or cannot be fed so
    (training says why)."""
    from graph.compiler import CompileError, compile_project
    from runtime.data.source import several_inputs

    try:
        return several_inputs(compile_project(project, registry).network())
    except (CompileError, ValueError, KeyError):
        return None


def _token_lengths(project, registry) -> tuple[int, int] | None:
    """(source length, decoder input length) of a seq2seq network's two Token ids inputs, or None."""
    from graph.infer import infer

    network = project.networks[0]
    blocks = [b for b in network.blocks.values() if b.type == "TokenInput"]
    if len(blocks) != 2:
        return None
    shapes = infer(network, registry).shapes
    lengths = [shapes.get(b.id) for b in blocks]
    return None if None in lengths else (lengths[0][0], lengths[1][0])


def _fed_shape(project, registry, natural: Natural):
    """The shape training reads the samples in for the first data input block, or None."""
    from graph.infer import infer
    from runtime.data.health.dry_run import INPUT_BLOCKS
    from runtime.data.source import fit_shape

    for network in project.networks:
        blocks = [b for b in network.blocks.values() if b.type in INPUT_BLOCKS]
        if len(blocks) == 1:
            declared = infer(network, registry).shapes.get(blocks[0].id)
            try:
                return fit_shape(natural, project.data.source, declared, INPUT_BLOCKS[blocks[0].type][0])[0]
            except DataError:
                return None
    return None


def _skipped_problems(report: Report) -> None:
    for code, files in report.skipped.by_code().items():
        reasons = {reason for _, reason in files}
        # one reason for all: said once; several: the CLI and the panel show each file's own
        detail = f": {next(iter(reasons))}" if len(reasons) == 1 and code not in ("zero_bytes",) else ""
        report.problem(WARNING, code, f"{len(files)} file(s) {SKIP_WORDS.get(code, code)}{detail}; skipped",
                       [path for path, _ in files])


def _balance(report: Report) -> None:
    found = report.imbalance()
    if found is None or found["ratio"] <= IMBALANCE_RATIO:
        return
    counts = dict(zip(report.class_names, report.class_counts))
    report.problem(WARNING, "imbalance",
                   f"classes are imbalanced: '{found['largest']}' has {counts[found['largest']]} samples, "
                   f"'{found['smallest']}' {counts[found['smallest']]} ({found['ratio']:g} to 1, more than "
                   f"{IMBALANCE_RATIO:g}); a model can score well by ignoring the small class: add samples, "
                   "or weigh the classes")


def _sizes(report: Report) -> None:
    rows = report.size_rows()
    if len(rows) > 1:
        kinds = ", ".join(f"{r['fraction']:.0%} {r['width']}x{r['height']} {r['mode']}" for r in rows[:4])
        more = f" and {len(rows) - 4} more" if len(rows) > 4 else ""
        report.problem(WARNING, "mixed_sizes", f"the images come in {len(rows)} sizes or modes "
                       f"({kinds}{more}); each is converted and resized to the input block")


def _splits(report: Report, labels, training, seed: int) -> None:
    if report.splits is not None or report.samples == 0:
        if report.samples == 0 and not any(p.severity == ERROR for p in report.problems):
            report.problem(ERROR, "no_samples", "the data holds no usable samples")
        return
    whole = labels is not None and len(labels) == report.samples
    stratify = np.asarray(labels, dtype=np.int64) if whole else None
    try:
        train, val, test = split_indices(report.samples, training.val_fraction, training.test_fraction, seed,
                                         labels=stratify, origin=report.path or report.source)
    except DataError as exc:
        report.problem(ERROR, "split", str(exc))
        return
    report.splits = {"train": len(train), "val": len(val), "test": len(test)}

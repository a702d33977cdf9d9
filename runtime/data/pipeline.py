"""`load_dataset`: a data spec becomes a split, normalised `Dataset` shaped for the network.

Steps: check the options; fit the source's natural sample shape to the
network's input block; read every sample; drop or check the targets for the
recipe; split with the seed (stratified by class); scale the inputs with
training-split statistics. Every problem is a DataError before training starts.

A source may hand back its inputs streamed (a memory-mapped array or a
`SampleStore`, see store.py) instead of in memory: then the splits are index
views (`take_rows`, nothing is copied or decoded), the statistics are gathered
in chunks and the scaling is applied per batch as rows are read (normalize.py).
In-memory inputs take the same steps as always, with the same results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.data.base import DataError, Dataset, Split
from runtime.data.normalize import apply_scaling, choose_scaling
from runtime.data.registry import source_info
from runtime.data.source import Context, RawData, fit_shape, target_kind_for
from runtime.data.split import split_indices
from runtime.data.store import take_rows


def _check_labels(raw: RawData, num_classes: int | None) -> None:
    """Class ids must fit the network's output (sources reading files name the file themselves)."""
    if not num_classes or raw.target_kind != "class":
        return
    for part in ([raw.targets] if raw.splits is None else [s[1] for s in raw.splits if s is not None]):
        too_big = np.flatnonzero(part.reshape(len(part), -1).max(axis=1) >= num_classes)
        if len(too_big):
            sample = int(too_big[0])
            raise DataError(
                f"{raw.origin}: sample {sample} has class {int(part[sample].max())}, out of range for the "
                f"network's {num_classes} classes (0 to {num_classes - 1}); the data has "
                f"{raw.num_classes} classes, so give the network's output {raw.num_classes} units")


def _split(raw: RawData, target_kind: str, config, seed: int) -> list[Split | None]:
    keep_targets = target_kind != "none"
    if raw.splits is not None:  # text: split into contiguous parts by the source
        return [None if part is None else Split(part[0], part[1] if keep_targets else None)
                for part in raw.splits]
    labels = raw.targets if target_kind == "class" else None
    parts = split_indices(len(raw.inputs), config.val_fraction, config.test_fraction, seed,
                          labels=labels, origin=raw.origin)
    splits: list[Split | None] = []
    for index, part in enumerate(parts):
        wanted = index == 0 or (config.val_fraction, config.test_fraction)[index - 1] > 0
        if not wanted:
            splits.append(None)
            continue
        targets = take_rows(raw.targets, part) if keep_targets and raw.targets is not None else None
        splits.append(Split(take_rows(raw.inputs, part), targets))
    return splits


def load_dataset(spec, config, seed: int, input_shape: tuple[int, ...] | None = None,
                 input_kind: str | None = None, *, num_classes: int | None = None,
                 base_dir: str | Path | None = None, progress=None, input_parts=None,
                 target_length: int | None = None) -> Dataset:
    """Load `spec` (a DataSpec) for a network whose input block gives `input_shape`/`input_kind`.

    config: a TrainingConfig (recipe, val_fraction, test_fraction, normalize).
    seed: fixes the split (and nothing else: generated data has its own data_seed).
    num_classes: the network's class count, when known: labels beyond it are refused.
    base_dir: the folder relative file paths are read from (the project's folder).
    progress: called as progress(what, done, total) while a big folder is indexed (total may be
    None); raising from it (e.g. `IndexCancelled`) stops the load.
    input_parts: [(forward argument, sample shape)] of a network with several inputs, fed as one flat
    vector of their values side by side (only the arrays source reads such data: one array each).
    target_length: seq2seq, the length of the decoder's Token ids input (targets are padded to it).
    """
    source = source_info(spec.source)
    options = source.check_options(spec.options)
    context = Context(recipe=config.recipe, base_dir=Path(base_dir) if base_dir is not None else None,
                      seed=seed, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                      num_classes=num_classes, progress=progress,
                      input_parts=[(str(n), tuple(sh)) for n, sh in input_parts] if input_parts else None,
                      target_length=target_length)
    if context.input_parts and not source.several_inputs:
        names = ", ".join(n for n, _s in context.input_parts)
        raise DataError(f"the network has {len(context.input_parts)} inputs ({names}), but data source "
                        f"'{source.name}' feeds one; save one array per input with np.savez(file, "
                        f"{', '.join(f'{n}=...' for n, _s in context.input_parts)}, y=...) and use the "
                        "arrays source")
    natural = source.natural(options, context)
    shape, kind = fit_shape(natural, source.name, input_shape, input_kind)
    target_kind = target_kind_for(natural.target_kind, source.name, config.recipe)
    context.shape, context.input_kind = shape, kind
    raw = source.read(options, context)
    _check_labels(raw, num_classes)
    train, val, test = _split(raw, target_kind, config, seed)
    mean, std = choose_scaling(train.inputs, kind, config.recipe, config.normalize, raw.pixel_range)
    for part in (train, val, test):
        if part is not None:
            part.inputs = apply_scaling(part.inputs, mean, std)
    has_classes = target_kind in ("class", "tokens", "translation") or raw.target_kind == "class"
    return Dataset(
        name=source.name, train=train, val=val, test=test, input_shape=tuple(shape), input_kind=kind,
        target_kind=target_kind, num_classes=raw.num_classes if has_classes else None,
        class_names=raw.class_names, vocab=raw.vocab, mean=mean, std=std, description=raw.description,
        extra={"source": source.name, "options": options, "pixel_range": raw.pixel_range, **raw.extra,
               **({"input_parts": context.input_parts} if context.input_parts else {})},
    )

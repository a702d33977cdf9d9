"""Input scaling, always recorded as x' = (x - mean) / std with statistics of the training split.

Which scaling a dataset gets (see also base.py):
- token ids: none.
- autoencoder: images (sources with a pixel range) to [0, 1]; other inputs
  standardised when config.normalize is set.
- gan: to [-1, 1], the range of a Tanh generator: images by their pixel range,
  other inputs by the training split's minimum and maximum per feature.
- classification, regression, language models: standardised (zero mean, unit
  variance per feature) when config.normalize is set; with it off, images are
  still scaled to [0, 1] and other inputs are left as they are.
Statistics are per channel for images (mean shape (C, 1, 1)) and per feature
(the last axis) otherwise, so `mean` and `std` broadcast against one sample.
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-6  # a constant feature keeps std 1 rather than dividing by zero


def _reduce_axes(kind: str, ndim: int) -> tuple[int, ...]:
    keep = 1 if kind == "image" and ndim >= 3 else ndim - 1
    return tuple(axis for axis in range(ndim) if axis != keep)


def _as_sample(stat: np.ndarray, kind: str, sample_ndim: int) -> np.ndarray:
    """Per-feature statistics shaped to broadcast against one sample."""
    if kind == "image" and sample_ndim >= 2:
        return stat.reshape((-1,) + (1,) * (sample_ndim - 1)).astype(np.float32)
    return stat.reshape(-1).astype(np.float32)


def standardise_stats(train: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    axes = _reduce_axes(kind, train.ndim)
    mean = train.mean(axis=axes, dtype=np.float64)
    std = train.std(axis=axes, dtype=np.float64)
    std = np.where(std < _TINY, 1.0, std)
    return _as_sample(mean, kind, train.ndim - 1), _as_sample(std, kind, train.ndim - 1)


def _range_stats(low, high, target: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """mean/std mapping [low, high] onto the target interval, e.g. (0, 1) or (-1, 1)."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    span = np.where(high - low < _TINY, 1.0, high - low)
    a, b = target
    std = span / (b - a)
    mean = low - a * std
    return mean, std


def choose_scaling(train: np.ndarray, kind: str, recipe: str, normalize: bool,
                   pixel_range: tuple[float, float] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, std) to apply to every split, or (None, None) to leave the inputs as they are."""
    if kind == "tokens":
        return None, None
    sample_ndim = train.ndim - 1
    axes = _reduce_axes(kind, train.ndim)
    features = train.shape[[a for a in range(train.ndim) if a not in axes][0]]
    target = (-1.0, 1.0) if recipe == "gan" else (0.0, 1.0)
    if pixel_range is not None and (recipe in ("gan", "autoencoder") or not normalize):
        low, high = (np.full(features, bound) for bound in pixel_range)
    elif recipe == "gan":
        low, high = train.min(axis=axes), train.max(axis=axes)
    else:
        low = high = None
    if low is not None:
        mean, std = _range_stats(low, high, target)
        return _as_sample(mean, kind, sample_ndim), _as_sample(std, kind, sample_ndim)
    if normalize:
        return standardise_stats(train, kind)
    return None, None


def apply_scaling(inputs: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None) -> np.ndarray:
    if mean is None:
        return inputs
    return ((inputs - mean) / std).astype(np.float32)

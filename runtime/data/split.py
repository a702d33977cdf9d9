"""Train/validation/test splits with a fixed seed, stratified by class where there are classes.

The same seed and data always give the same split. With class labels each
class is split in the same proportions, so a rare class is not left out of
validation by chance.
"""

from __future__ import annotations

import numpy as np

from runtime.data.base import DataError


def split_indices(count: int, val_fraction: float, test_fraction: float, seed: int,
                  labels: np.ndarray | None = None, origin: str = "the data") -> tuple[np.ndarray, ...]:
    """(train, val, test) index arrays, disjoint and covering 0..count-1.

    A requested part (fraction > 0) gets at least one sample, and so does the
    training part; when there are too few samples for that, DataError says so.
    """
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"{origin}: val_fraction ({val_fraction:g}) + test_fraction ({test_fraction:g}) "
                        f"leave nothing for training; keep their sum below 1")
    rng = np.random.default_rng(seed)
    if labels is not None and labels.ndim == 1:
        groups = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    else:
        groups = [rng.permutation(count)]
    train, val, test = [], [], []
    for group in groups:
        n_val, n_test = round(len(group) * val_fraction), round(len(group) * test_fraction)
        # rounding both shares up can swallow a small class whole: keep one sample to train on
        excess = n_val + n_test - (len(group) - 1)
        if excess > 0:
            cut_test = min(excess, n_test)
            n_test, n_val = n_test - cut_test, n_val - (excess - cut_test)
        val.append(group[:n_val])
        test.append(group[n_val:n_val + n_test])
        train.append(group[n_val + n_test:])
    parts = [np.concatenate(p) if p else np.empty(0, np.int64) for p in (train, val, test)]
    del groups, train, val, test  # at 1.2M samples each copy of the index is 9.6 MB: keep the peak low
    # Tiny classes can round every share to zero: make sure a requested part is not empty.
    for index, fraction in ((1, val_fraction), (2, test_fraction)):
        if fraction > 0 and len(parts[index]) == 0 and len(parts[0]) > 1:
            parts[index], parts[0] = parts[0][-1:], parts[0][:-1]
    requested = (True, val_fraction > 0, test_fraction > 0)
    if any(wanted and len(part) == 0 for wanted, part in zip(requested, parts)):
        raise DataError(f"{origin}: only {count} sample(s), too few to hold out "
                        f"{val_fraction:.0%} for validation and {test_fraction:.0%} for test "
                        f"and still train; add data or lower the fractions")
    # Mix the classes (stratified parts come out grouped by class); the seed keeps it reproducible.
    return tuple(rng.permutation(part).astype(np.int64, copy=False) for part in parts)

"""Reading rows of any input kind, with the rows that could not be decoded told apart.

A store that decodes files (an image folder) may meet a file that is
corrupt, unreadable, not an image after all, or a decompression bomb. It does
not crash the run: it implements `read_checked(index) -> (rows, bad, names)`,
where `bad` is a boolean mask of the rows it could not decode (their values
are zeros) and `names` the files behind them. `read_checked` below follows
the wrappers the pipeline puts around a store (a split's `SubsetStore`, the
per-batch scaling of `ScaledStore`) down to it; every other kind (an
in-memory array, a memmap, a plain store) has no bad rows.
"""

from __future__ import annotations

import numpy as np

from runtime.data.store import SubsetStore


def read_checked(array, index: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(rows `index` of `array`, mask of rows that could not be decoded or None, their file names)."""
    from runtime.data.normalize import ScaledStore

    index = np.asarray(index, dtype=np.int64)
    if isinstance(array, ScaledStore):
        rows, bad, names = read_checked(array.base, index)
        rows = ((np.asarray(rows, dtype=np.float32) - array.mean) / array.std).astype(np.float32)
        return rows, bad, names
    if isinstance(array, SubsetStore):
        return read_checked(array.base, array.index[index])
    checked = getattr(array, "read_checked", None)
    if checked is not None:
        return checked(index)
    return np.asarray(array[index]), None, []

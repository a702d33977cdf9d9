"""Sample stores: data sets read one batch at a time instead of all at once.

A source may give its inputs (and targets) as a numpy array in memory, as a
memory-mapped array (`np.memmap`, or a view of one such as a sliding window
over a token file), or as a `SampleStore`: an object that decodes the rows
it is asked for (an image folder, an audio folder). Every one of them
answers the same three questions:

    len(store)                 how many samples
    store.shape, store.dtype   (N, *one sample) and the decoded dtype
    store[index]               the rows `index` (an int64 array), in that order, as one ndarray

so the pipeline can split, and the trainer can batch, without knowing which
it has. `in_memory(array)` tells a plain in-memory array (the small-set path,
kept exactly as it was) from the two streaming kinds, which must never be
read whole.
"""

from __future__ import annotations

import numpy as np


class SampleStore:
    """Base of stores that decode rows on demand; subclasses implement `read(index)`.

    Must be picklable (DataLoader workers receive a copy): keep paths and
    offsets, not open files or decoded data.
    """

    shape: tuple[int, ...] = (0,)
    dtype: np.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def read(self, index: np.ndarray) -> np.ndarray:  # pragma: no cover - the interface
        raise NotImplementedError

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):  # store[:4]: those rows only (not an arange of every row, sliced)
            index = np.arange(*index.indices(len(self)), dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        scalar = index.ndim == 0
        rows = self.read(index.reshape(-1))
        return rows[0] if scalar else rows

    def subset(self, index: np.ndarray) -> SampleStore:
        return SubsetStore(self, np.asarray(index, dtype=np.int64))

    def cache_key(self):
        """A JSON-able identity of exactly these rows (files' size+mtime, options), or None when it cannot
        be told cheaply: derived figures such as normalisation statistics are then never cached."""
        return None


class SubsetStore(SampleStore):
    """Some rows of another store, in a given order (a split of a data set)."""

    def __init__(self, base: SampleStore, index: np.ndarray):
        self.base, self.index = base, index
        self.shape = (len(index), *base.shape[1:])
        self.dtype = base.dtype

    def read(self, index: np.ndarray) -> np.ndarray:
        return self.base.read(self.index[index])

    def subset(self, index: np.ndarray) -> SampleStore:
        return SubsetStore(self.base, self.index[np.asarray(index, dtype=np.int64)])

    def cache_key(self):
        return _rows_key(data_key(self.base), self.index)


def in_memory(array) -> bool:
    """A plain ndarray that owns (or views) memory: not a memmap, not a view of one, not a store."""
    if not isinstance(array, np.ndarray):
        return False
    base = array
    while base is not None:  # views of views (sliding windows pass through a stride-tricks wrapper)
        if isinstance(base, np.memmap):
            return False
        base = getattr(base, "base", None)
    return True


def take_rows(array, index: np.ndarray):
    """Rows `index` of any input kind; a store stays a store (nothing is decoded)."""
    if isinstance(array, SampleStore):
        return array.subset(index)
    if in_memory(array):
        return array[index]
    return IndexedArray(array, np.asarray(index, dtype=np.int64))


class IndexedArray(SampleStore):
    """Rows of a memory-mapped array chosen by index, read only when asked (splitting must not copy)."""

    def __init__(self, array: np.ndarray, index: np.ndarray):
        self.array, self.index = array, index
        self.shape = (len(index), *array.shape[1:])
        self.dtype = array.dtype

    def read(self, index: np.ndarray) -> np.ndarray:
        rows = self.index[index]
        order = np.argsort(rows, kind="stable")  # read forwards through the file, then restore the order
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        out[order] = self.array[rows[order]]
        return out

    def subset(self, index: np.ndarray) -> SampleStore:
        return IndexedArray(self.array, self.index[np.asarray(index, dtype=np.int64)])

    def cache_key(self):
        return _rows_key(data_key(self.array), self.index)


def _rows_key(base, index: np.ndarray):
    """The key of rows `index` of data keyed `base` (a digest of the index: the split, its seed)."""
    if base is None:
        return None
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(index, dtype=np.int64).tobytes()).hexdigest()[:24]
    return {"of": base, "rows": digest, "count": len(index)}


def data_key(array):
    """A JSON-able identity of `array`'s rows for caches of derived figures, or None (not cached).

    A store says it itself (`cache_key`); a memory-mapped array is its file's path, size and mtime
    with the map's offset, shape and dtype; an in-memory array has none (it is read whole anyway).
    """
    if isinstance(array, SampleStore):
        return array.cache_key()
    import mmap

    # only a map that owns its mapping: a view of one (a slice) keeps the parent's offset and name
    owns_map = isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap)
    if owns_map and getattr(array, "filename", None):
        import os

        try:
            info = os.stat(array.filename)
        except OSError:
            return None
        return {"map": str(array.filename), "size": info.st_size, "mtime": info.st_mtime_ns,
                "offset": int(array.offset), "shape": list(array.shape), "dtype": str(array.dtype)}
    return None


def rows_fingerprint(array, index: np.ndarray) -> str | None:
    """A digest of the size and mtime of the files behind rows `index`, or None (no files per row).

    An image folder's index is valid while its folders' mtimes hold, which an image rewritten in place
    does not change; figures derived from a few decoded rows (normalisation statistics) add this, one
    stat per row they read (1,024: ~5 ms), so rewriting any of those files invalidates them."""
    index = np.asarray(index, dtype=np.int64)
    while isinstance(array, SubsetStore):
        array, index = array.base, array.index[index]
    stat_rows = getattr(array, "stat_rows", None)
    if stat_rows is None:
        return None
    import hashlib

    return hashlib.sha256(np.asarray(stat_rows(index), dtype=np.int64).tobytes()).hexdigest()[:24]

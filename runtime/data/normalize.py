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

Streamed inputs (a memmap or a `SampleStore`, see store.py) are never read
whole: their statistics are gathered in chunks of rows (float64 sums per
feature, merged with Chan's formula; minimum and maximum chunk by chunk), over
every training row when there are at most `STATS_ROWS` (20,000; 1,024 when
every row is a file to decode, such as an image), else over a fixed-seed
sample of that many rows (read in file order); the per-channel mean and
spread of 1,024 images of a thousand pixels each are within a fraction of a
percent of the whole folder's. The scaling is applied to each batch when it
is read (`ScaledStore`). An in-memory array takes the
whole-array path exactly as before.

Streamed statistics are cached (runtime/data/cache.py, never beside the
data) under a key made of what they were computed from: the data's identity
(`store.data_key`: an image folder's size+mtime fingerprint and decode shape,
a memory-mapped file's path, size, mtime, offset, shape and dtype), a digest
of the training split's rows (so the split, its seed and fractions), a digest
of the sampled rows, the size and mtime of each sampled file (an image
rewritten in place leaves its folder's mtime as it was), and the kind. Any
change there is another key, so a stale entry is never read; a warm start skips the decoding pass (1,024 PNGs,
0.2-0.4 s before the first step on 40k images). Data without a cheap identity
is never cached.
"""

from __future__ import annotations

import numpy as np

from runtime.data.base import DataError
from runtime.data.rows import read_checked
from runtime.data.store import SampleStore, data_key, in_memory, rows_fingerprint

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


STATS_ROWS = 20_000  # streamed inputs: statistics from at most this many training rows (a fixed-seed sample)
STATS_DECODED_ROWS = 1_024  # ... and from this many when each row is a file to decode (5,400 PNGs/s: 0.2 s)
STATS_CHUNK_BYTES = 32 * 2**20  # rows read at a time while gathering them
STATS_SEED = 20_240_601  # the sample is the same on every run, whatever the project's seed


class ChunkedStats:
    """Per-feature count, mean, sum of squared deviations, minimum and maximum, one chunk at a time."""

    def __init__(self, kind: str):
        self.kind, self.count, self.mean, self.m2, self.low, self.high = kind, 0, None, None, None, None
        self.cached = False  # read back from the statistics cache rather than computed now

    def add(self, rows: np.ndarray) -> None:
        # decoded images arrive as (N, C, H, W) views of (N, H, W, C) pixels: numpy reduces such strided
        # axes ~10x slower than a contiguous copy (75 ms against 8 ms for 1,024 32x32 RGB images)
        rows = np.ascontiguousarray(rows)
        axes = _reduce_axes(self.kind, rows.ndim)
        count = rows.size // (rows.shape[[a for a in range(rows.ndim) if a not in axes][0]] or 1)
        mean = rows.mean(axis=axes, dtype=np.float64)
        m2 = ((rows - mean.reshape(_broadcast(self.kind, rows.ndim, mean))) ** 2).sum(axis=axes,
                                                                                       dtype=np.float64)
        low, high = rows.min(axis=axes), rows.max(axis=axes)
        if self.mean is None:
            self.count, self.mean, self.m2, self.low, self.high = count, mean, m2, low, high
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta ** 2 * (self.count * count / total)
        self.count = total
        self.low, self.high = np.minimum(self.low, low), np.maximum(self.high, high)

    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.count, 1))


def _broadcast(kind: str, ndim: int, stat: np.ndarray) -> tuple[int, ...]:
    keep = 1 if kind == "image" and ndim >= 3 else ndim - 1
    return tuple(len(stat) if axis == keep else 1 for axis in range(ndim))


def stats_rows(count: int, limit: int = STATS_ROWS) -> tuple[np.ndarray, bool]:
    """The training rows statistics are gathered from (sorted) and whether that is a sample."""
    if count <= limit:
        return np.arange(count, dtype=np.int64), False
    rng = np.random.default_rng(STATS_SEED)
    return np.sort(rng.choice(count, limit, replace=False)).astype(np.int64), True


def decodes(array) -> bool:
    """Whether reading rows of `array` decodes files (an image store): then statistics use fewer rows."""
    while array is not None:
        if getattr(array, "decodes", False):
            return True
        array = getattr(array, "base", None)
    return False


def streamed_stats(train, kind: str) -> ChunkedStats:
    """Statistics of a streamed training split, read `STATS_CHUNK_BYTES` at a time (or from the cache)."""
    rows, _sampled = stats_rows(len(train), STATS_DECODED_ROWS if decodes(train) else STATS_ROWS)
    entry, key = _stats_entry(train, kind, rows)
    cached = _load_stats(entry, key, kind)
    if cached is not None:
        return cached
    row_bytes = max(1, int(np.prod(train.shape[1:])) * 4)
    chunk = max(1, STATS_CHUNK_BYTES // row_bytes)
    stats = ChunkedStats(kind)
    read = _threaded_read if decodes(train) else read_checked
    for start in range(0, len(rows), chunk):
        values, bad, _names = read(train, rows[start:start + chunk])
        values = np.asarray(values if bad is None else values[~bad], dtype=np.float32)
        if len(values):  # rows a store could not decode (a corrupt image) do not count
            stats.add(values)
    if stats.mean is None:
        raise DataError("none of the training samples could be read (every file in the sample of "
                        f"{len(rows)} failed to decode); check the data files")
    _save_stats(entry, key, stats)
    return stats


STATS_READ_THREADS = 4  # files of the statistics sample opened and decoded at once (I/O overlaps)


def _threaded_read(train, rows: np.ndarray):
    """read_checked of `rows` in STATS_READ_THREADS contiguous parts at once, joined in order: the same
    rows, values and order as one read. Opening and decoding a file releases the GIL, so when the
    files are not in the page cache (a cold start on a busy machine) their reads overlap: 1,024 PNGs
    of 40k measured 0.31 s read one after another, 0.14 s in 2 threads; no slower when cached."""
    parts = [part for part in np.array_split(rows, STATS_READ_THREADS) if len(part)]
    if len(parts) < 2:
        return read_checked(train, rows)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(parts), thread_name_prefix="stats-read") as pool:
        results = list(pool.map(lambda part: read_checked(train, part), parts))
    values = np.concatenate([np.asarray(r[0]) for r in results])
    masks = [r[1] for r in results]
    bad = None if all(m is None for m in masks) else np.concatenate(
        [np.zeros(len(part), bool) if m is None else m for m, part in zip(masks, parts)])
    return values, bad, [name for r in results for name in r[2]]


STATS_CACHE_VERSION = 1
_STATS_FIELDS = ("mean", "m2", "low", "high")


def _stats_entry(train, kind: str, rows: np.ndarray):
    """(cache entry, key) of these statistics, or (None, None) when the data has no cheap identity."""
    identity = data_key(train)
    if identity is None:
        return None, None
    import hashlib

    from runtime.data.cache import cache_entry

    sample = hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()[:24]
    key = {"data": identity, "kind": kind, "sample": sample, "sampled": len(rows),
           "files": rows_fingerprint(train, rows), "version": STATS_CACHE_VERSION}
    return cache_entry("/", "stats", key), key


def _load_stats(entry, key, kind: str) -> ChunkedStats | None:
    if entry is None or not entry.valid(key):
        return None
    try:
        with np.load(entry.folder / "stats.npz", allow_pickle=False) as data:
            stats = ChunkedStats(kind)
            stats.mean, stats.m2, stats.low, stats.high = (data[name] for name in _STATS_FIELDS)
            stats.count = int(data["count"])
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry: computed again (and written anew)
    stats.cached = True
    return stats


def _save_stats(entry, key, stats: ChunkedStats) -> None:
    if entry is None:
        return
    try:
        entry.prepare()
        np.savez(entry.folder / "stats.npz", count=np.int64(stats.count),
                 **{name: getattr(stats, name) for name in _STATS_FIELDS})
        entry.seal(key)
    except OSError:
        pass  # a read-only or full cache: computed again next time, the run goes on


def choose_scaling(train, kind: str, recipe: str, normalize: bool,
                   pixel_range: tuple[float, float] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean, std) to apply to every split, or (None, None) to leave the inputs as they are.

    train: the training inputs, in memory (read whole, as always) or streamed (read in chunks).
    """
    if kind == "tokens":
        return None, None
    ndim = len(train.shape)
    sample_ndim = ndim - 1
    axes = _reduce_axes(kind, ndim)
    features = train.shape[[a for a in range(ndim) if a not in axes][0]]
    target = (-1.0, 1.0) if recipe == "gan" else (0.0, 1.0)
    fixed = pixel_range is not None and (recipe in ("gan", "autoencoder") or not normalize)
    streamed = None
    if not fixed and not in_memory(train) and (recipe == "gan" or normalize):
        streamed = streamed_stats(train, kind)
    if fixed:
        low, high = (np.full(features, bound) for bound in pixel_range)
    elif recipe == "gan":
        low, high = (train.min(axis=axes), train.max(axis=axes)) if streamed is None else \
            (streamed.low, streamed.high)
    else:
        low = high = None
    if low is not None:
        mean, std = _range_stats(low, high, target)
        return _as_sample(mean, kind, sample_ndim), _as_sample(std, kind, sample_ndim)
    if normalize:
        if streamed is None:
            return standardise_stats(train, kind)
        std = np.where(streamed.std() < _TINY, 1.0, streamed.std())
        return _as_sample(streamed.mean, kind, sample_ndim), _as_sample(std, kind, sample_ndim)
    return None, None


def apply_scaling(inputs, mean: np.ndarray | None, std: np.ndarray | None):
    """Scaled inputs: computed now for an in-memory array, at read time (per batch) for streamed ones."""
    if mean is None:
        return inputs
    if not in_memory(inputs):
        return ScaledStore(inputs, mean, std)
    return ((inputs - mean) / std).astype(np.float32)


class ScaledStore(SampleStore):
    """Rows of a streamed input scaled as they are read: x' = (x - mean) / std, float32."""

    def __init__(self, base, mean: np.ndarray, std: np.ndarray):
        self.base, self.mean, self.std = base, mean, std
        self.shape = tuple(base.shape)
        self.dtype = np.dtype(np.float32)

    def read(self, index: np.ndarray) -> np.ndarray:
        return ((np.asarray(self.base[index], dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def subset(self, index: np.ndarray) -> SampleStore:
        from runtime.data.store import take_rows

        return ScaledStore(take_rows(self.base, index), self.mean, self.std)

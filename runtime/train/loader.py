"""Streamed splits: batches read (and decoded) by `torch.utils.data.DataLoader` workers.

The in-memory path (runtime/train/device.py `DeviceSplit`) indexes tensors
with slices of the epoch's permutation. A streamed split keeps exactly that
order: the trainer hands `feed` the same permutation, the first batch to run
(mid-epoch after --resume) and the process's shard rule, and a batch sampler
yields those very index arrays, so a streamed run takes the same batches,
and with the same data reaches the same losses, as the in-memory one.

- The dataset is map-style over whole batches: the DataLoader's sampler
  yields one int64 index array per batch (batch_size=None), and a worker
  reads it with one call (a memmap reads forwards through the file, an image
  store decodes the files), so there is no per-sample collation in Python.
- Workers: `default_workers` (min(4, CPUs - 1), none for tiny splits or one
  CPU), or TrainOptions.workers / `deepwire train --workers N` /
  DEEPWIRE_DATA_WORKERS. They persist across epochs; each gets a seed
  derived from the project's seed, the epoch and the process's rank
  (numpy's and Python's generators too), so anything random in a worker is
  reproducible and resumable.
- pinned memory on CUDA and a copy with non_blocking; 4 batches prefetched
  per worker.
- Rows a store could not decode (a corrupt image) are dropped from their
  batch, inputs and targets together; the trainer reports them
  (`skipped`, a count and the first names).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from runtime.data.base import Split
from runtime.data.rows import read_checked

WORKERS_ENV = "DEEPWIRE_DATA_WORKERS"
TINY_ROWS = 2048  # below this a split is read in the training process: workers cost more than they save
PREFETCH = 4  # batches per worker read ahead


def default_workers(rows: int) -> int:
    """DataLoader workers for a split of `rows` samples, unless the settings say."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            return max(0, int(text))
        except ValueError:
            pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if rows < TINY_ROWS or cpus < 2:
        return 0
    return min(4, cpus - 1)


class _Batches(Dataset):
    """Map-style dataset whose items are whole batches: `self[index_array]` -> (x, y, bad names)."""

    def __init__(self, inputs, targets):
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: np.ndarray):
        x, bad, names = read_checked(self.inputs, index)
        y = None if self.targets is None else np.asarray(read_checked(self.targets, index)[0])
        if bad is not None and bad.any():
            keep = ~bad
            x = x[keep]
            y = None if y is None else y[keep]
        x = torch.from_numpy(np.ascontiguousarray(x))
        y = None if y is None else torch.from_numpy(np.ascontiguousarray(y))
        return x, y, names


class _Plan(Sampler):
    """The batch sampler: iterates whatever plan was set last (the main process does; workers read)."""

    def __init__(self):
        self.plan = []  # a list of index arrays or a _BatchPlan

    def __iter__(self):
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


class _BatchPlan:
    """The index arrays of batches `batches` of `order`, made as the DataLoader asks for them.

    A list of them all would hold one small array per batch: at 1.2M samples in batches of 64,
    18,750 arrays and 11 MB (measured), twice the order itself, for the whole epoch."""

    def __init__(self, order: torch.Tensor, batches: range, global_batch: int, shard):
        self.order, self.batches, self.global_batch, self.shard = order, batches, global_batch, shard

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        size = self.global_batch
        for b in self.batches:
            yield self.shard(self.order[b * size:(b + 1) * size]).numpy().astype(np.int64)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32  # the DataLoader's base seed + worker id
    np.random.seed(seed)
    random.seed(seed)


class LazyRows:
    """The inputs (or targets) of a streamed split where code asks for a few rows: `rows[:8]`, `rows[i]`."""

    def __init__(self, array):
        self.array = array
        self.shape = torch.Size(array.shape)
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, slice):  # rows[:8]: those rows only, not an arange of every row sliced
            key = np.arange(*key.indices(len(self.array)), dtype=np.int64)
        index = np.asarray(key, dtype=np.int64)
        rows = read_checked(self.array, index.reshape(-1))[0]
        rows = torch.from_numpy(np.ascontiguousarray(rows))
        return rows[0] if index.ndim == 0 else rows

    def cpu(self) -> torch.Tensor:
        """Every row as one tensor (evaluation pictures of a validation split; never the training loop)."""
        return self[:]

    def _reduce(self, fn) -> torch.Tensor:
        chunk, out = 4096, None
        for start in range(0, len(self.array), chunk):
            value = fn(self[start:start + chunk])
            out = value if out is None else fn(torch.stack([out, value]))
        return out

    def min(self) -> torch.Tensor:
        return self._reduce(torch.min)

    def max(self) -> torch.Tensor:
        return self._reduce(torch.max)


class StreamSplit:
    """One streamed split: the `DeviceSplit` interface, batches from a DataLoader."""

    staged = True  # batches come from host memory, not from tensors already on the device

    def __init__(self, split: Split, device: torch.device, workers: int | None = None, seed: int = 0):
        self.split, self.device, self.seed = split, device, seed
        self.workers = default_workers(len(split)) if workers is None else max(0, int(workers))
        self.inputs = LazyRows(split.inputs)
        self.targets = LazyRows(split.targets) if split.targets is not None else None
        self.rank = 0
        self.skipped: list[str] = []  # files dropped from batches so far (names, in order met)
        self.skipped_count = 0
        self._loader: DataLoader | None = None
        self._plan = _Plan()

    def __len__(self) -> int:
        return len(self.split)

    def index_device(self) -> torch.device:
        return torch.device("cpu")

    def loader(self) -> DataLoader:
        if self._loader is None:
            cuda = self.device.type == "cuda"
            extra = {"prefetch_factor": PREFETCH, "persistent_workers": True} if self.workers else {}
            self._loader = DataLoader(
                _Batches(self.split.inputs, self.split.targets), sampler=self._plan, batch_size=None,
                num_workers=self.workers, pin_memory=cuda, worker_init_fn=_seed_worker,
                generator=torch.Generator(), **extra)
        return self._loader

    def _run(self, plan, epoch: int):
        """Iterate the DataLoader over `plan` (index arrays), moving each batch to the device."""
        self._plan.plan = plan
        loader = self.loader()
        loader.generator.manual_seed((self.seed * 1_000_003 + epoch * 7919 + self.rank) % 2**63)
        for x, y, names in loader:
            if names:
                self.skipped_count += len(names)
                self.skipped.extend(n for n in names if n not in self.skipped)
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True) if y is not None else None
            yield x, y

    def feed(self, order: torch.Tensor, batches: range, global_batch: int, shard, epoch: int = 0):
        """This process's shard of batches `batches` of `order`: the batches the in-memory path takes."""
        return self._run(_BatchPlan(order.cpu(), batches, global_batch, shard), epoch)

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Rows `index`, read in this process (a few rows; batches go through `feed`)."""
        x, y, _names = _Batches(self.split.inputs, self.split.targets)[index.cpu().numpy().astype(np.int64)]
        return x.to(self.device), (y.to(self.device) if y is not None else None)

    def batches(self, batch_size: int):
        """Consecutive batches in order (evaluation), read ahead by the workers."""
        plan = [np.arange(start, min(start + batch_size, len(self)), dtype=np.int64)
                for start in range(0, len(self), batch_size)]
        return self._run(plan, -1)

    def close(self) -> None:
        """Stop the worker processes (they persist across epochs otherwise)."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None) if loader is not None else None
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()

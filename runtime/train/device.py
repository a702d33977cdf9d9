"""Where training runs and how data gets there.

- `pick_device`: the best device present (CUDA, then Apple MPS, then CPU)
  unless the settings name one.
- `Precision`: mixed precision on CUDA (bfloat16 where the GPU has it, else
  float16 with a gradient scaler); plain float32 elsewhere.
- `DeviceSplit`: one data split as tensors moved to the device once. The
  bundled data sets are small and live in memory, so batches are taken by
  indexing a shuffled permutation: far cheaper than a DataLoader, which
  would collate every sample in Python. A split too big for the GPU stays in
  pinned CPU memory and each batch is copied asynchronously.
- `StreamSplit`: a split whose inputs are streamed (a memory-mapped array or
  a `SampleStore` that decodes files, see runtime/data/store.py). Batches
  come from a `torch.utils.data.DataLoader` whose batch sampler yields exactly
  the batches the in-memory path would take (the epoch's permutation from
  the resumed batch on, this process's shard of each), read and decoded in
  worker processes (runtime/train/loader.py).
`place_split` picks between them.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from runtime.data.base import Split
from runtime.data.store import in_memory
from runtime.train.errors import SetupError

# use at most this share of free GPU memory for keeping the data there
_GPU_DATA_SHARE = 0.25


def pick_device(choice: str = "auto") -> torch.device:
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if choice == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if choice == "cuda" and not cuda:
        raise SetupError("device 'cuda' was asked for but this machine has no usable CUDA GPU "
                         "(or PyTorch was installed without CUDA); use --device auto or cpu")
    if choice == "mps" and not mps:
        raise SetupError("device 'mps' was asked for but Apple's Metal backend is not available here; "
                         "use --device auto or cpu")
    if choice not in ("cpu", "cuda", "mps"):
        raise SetupError(f"unknown device '{choice}'; expected auto, cpu, cuda or mps")
    return torch.device(choice)


class Precision:
    """Autocast context and gradient scaler for one device."""

    def __init__(self, device: torch.device, mixed: bool):
        from runtime.train.accelerate import mixed_precision_dtype

        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.dtype = mixed_precision_dtype(device.type, mixed, bf16)
        self.enabled = self.dtype is not None
        self.device_type = device.type

    def new_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler per optimizer for float16 (bfloat16 has float32's range and needs none)."""
        from runtime.train.accelerate import needs_grad_scaler

        if needs_grad_scaler(self.dtype):
            return torch.amp.GradScaler("cuda")
        return None

    def autocast(self):
        if not self.enabled:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def describe(self) -> str:
        return "float32" if not self.enabled else str(self.dtype).replace("torch.", "") + " mixed"


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    array = np.ascontiguousarray(array)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if not array.flags.writeable:  # e.g. memory-mapped: torch wants memory it may own
        array = array.copy()
    return torch.from_numpy(array)


class DeviceSplit:
    """Inputs and targets of one split, ready for fast batch indexing on `device`."""

    def __init__(self, split: Split, device: torch.device):
        self.device = device
        inputs = _as_tensor(split.inputs)
        targets = _as_tensor(split.targets) if split.targets is not None else None
        size = inputs.nbytes + (targets.nbytes if targets is not None else 0)
        on_device = device.type == "cpu" or self._fits(device, size)
        self.staged = not on_device  # batches are copied from pinned host memory
        if on_device:
            self.inputs = inputs.to(device)
            self.targets = targets.to(device) if targets is not None else None
        else:
            self.inputs = inputs.pin_memory() if device.type == "cuda" else inputs
            self.targets = (targets.pin_memory() if device.type == "cuda" else targets) \
                if targets is not None else None

    @staticmethod
    def _fits(device: torch.device, size: int) -> bool:
        if device.type != "cuda":
            return True
        free, _total = torch.cuda.mem_get_info(device)
        return size < free * _GPU_DATA_SHARE

    def __len__(self) -> int:
        return len(self.inputs)

    def index_device(self) -> torch.device:
        """Where permutations must live to index the tensors."""
        return self.inputs.device

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.inputs[index]
        y = self.targets[index] if self.targets is not None else None
        if self.staged:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True) if y is not None else None
        return x, y

    def batches(self, batch_size: int):
        """Consecutive batches in order (evaluation)."""
        for start in range(0, len(self), batch_size):
            index = torch.arange(start, min(start + batch_size, len(self)), device=self.index_device())
            yield self.take(index)


    def feed(self, order: torch.Tensor, batches: range, global_batch: int, shard):
        """The training batches of one epoch: this process's shard of `order`'s batches `batches`."""
        for batch in batches:
            yield self.take(shard(order[batch * global_batch:(batch + 1) * global_batch]))

    def close(self) -> None:
        pass


def is_streamed(split: Split) -> bool:
    return not in_memory(split.inputs) or (split.targets is not None and not in_memory(split.targets))


def place_split(split: Split | None, device: torch.device, workers: int | None = None):
    """A split ready for training on `device`: in memory (DeviceSplit) or streamed (StreamSplit)."""
    if split is None or not len(split):
        return None
    if is_streamed(split):
        from runtime.train.loader import StreamSplit

        return StreamSplit(split, device, workers)
    return DeviceSplit(split, device)

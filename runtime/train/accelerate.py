"""Making a step faster on the hardware present: precision, memory layout, compilation, input pipeline.

Each choice is a small pure function of what the machine offers, so the
rules are tested on any machine (CUDA-only paths included) by passing the
facts in:

- `mixed_precision_dtype`: bfloat16 where the GPU has it (same range as
  float32, no gradient scaler needed), else float16 with a scaler; float32
  off CUDA or when turned off.
- `wants_channels_last`: convolutional networks on CUDA keep activations as
  NHWC, the layout tensor cores read fastest.
- `threads_per_process`: the machine's CPU cores shared out among the
  training processes started on it. There are no DataLoader workers: every
  data source loads into memory, so a batch is one indexing operation on a
  tensor (on the GPU when the split fits, see runtime/train/device.py),
  which worker processes would only slow down with copies between them.
- `CompiledOrEager`: a `torch.compile`d network that falls back to the plain
  one, with a warning naming the network and the error, when compilation
  fails (compilation happens on the first call, so the failure shows there).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn


def mixed_precision_dtype(device_type: str, wanted: bool, bf16_supported: bool) -> torch.dtype | None:
    """The autocast dtype for training, or None for plain float32."""
    if not wanted or device_type != "cuda":
        return None
    return torch.bfloat16 if bf16_supported else torch.float16


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """float16 has a narrow range: small gradients vanish unless the loss is scaled up first."""
    return dtype == torch.float16


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


def wants_channels_last(device_type: str, model: nn.Module) -> bool:
    """Channels-last memory layout pays on CUDA for 2-D convolutions (tensor cores read NHWC)."""
    return device_type == "cuda" and has_convolutions(model)


def threads_per_process(processes: int, cpu_count: int | None = None) -> int:
    """CPU threads for each of `processes` training processes on one machine: its cores shared out."""
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cores // max(1, processes))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _is_compiler_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("torch._dynamo", "torch._inductor", "torch.fx"))


class CompiledOrEager(nn.Module):
    """Calls the compiled network; if compiling fails, warns once and calls the plain network from then on.

    Any error on the first call switches to the plain network (which raises the
    same error again if the fault is in the model itself, not the compiler);
    later, only errors raised by the compiler stack do (a recompilation for a
    new batch shape can fail too).
    """

    def __init__(self, eager: nn.Module, name: str, warn: Callable[[str], None],
                 compile_fn: Callable[[nn.Module], nn.Module] = torch.compile):
        super().__init__()
        self.eager = eager
        self.name = name
        self._warn = warn
        self._compiled = compile_fn(eager)
        self.calls = 0
        self.failed: str | None = None  # the compiler's error, once it failed

    def forward(self, *args, **kwargs):
        if self.failed is None:
            try:
                out = self._compiled(*args, **kwargs)
                self.calls += 1
                return out
            except Exception as exc:  # noqa: BLE001 - filtered just below
                if self.calls and not _is_compiler_error(exc):
                    raise
                self.failed = first_line(exc)
                self._warn(f"torch.compile failed for network '{self.name}' ({self.failed}); training it "
                           "without compilation, which gives the same results, only slower per step")
        return self.eager(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.eager, name)

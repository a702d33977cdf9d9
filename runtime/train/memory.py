"""How much device memory training will take, before it starts, and how much it took.

The estimate adds up what a training step keeps alive at its peak:

    weights      every parameter and buffer
    gradients    one per trainable parameter (two under DistributedDataParallel,
                 which averages them in buckets of its own)
    optimizer    Adam/AdamW: two running averages per trainable parameter;
                 SGD with momentum: one; RMSprop: one, two with momentum
    activations  the tensors autograd saves in forward for backward, at the
                 batch size, counted by running the networks on two tiny
                 batches under `torch.autograd.graph.saved_tensors_hooks`
                 (parameters themselves not counted again) and extrapolating
                 linearly (saved activations grow with the batch)
    transient    what lives only while the step's loss is computed: its copy
                 of the network's output (e.g. log-probabilities) and that
                 copy's gradient
    data         the training split when it is kept on the GPU

The networks' own state (batch-norm statistics, random generators) is put
back afterwards, so measuring changes nothing about the run.

`peak_bytes(device)` is the measured peak (CUDA's allocator statistics) or
None where PyTorch has no such counter (CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

PARTS = ("weights", "gradients", "optimizer", "activations", "transient", "data")
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1}


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def weight_bytes(model: nn.Module) -> int:
    return tensor_bytes(model.parameters()) + tensor_bytes(model.buffers())


def gradient_bytes(model: nn.Module) -> int:
    return tensor_bytes(p for p in model.parameters() if p.requires_grad)


def optimizer_state_count(optimizer: str, momentum: float) -> int:
    """Tensors the size of the parameters that the optimizer keeps per parameter."""
    count = OPTIMIZER_STATES.get(optimizer, 2)
    if optimizer == "sgd" and momentum == 0:
        count = 0
    if optimizer == "rmsprop" and momentum > 0:
        count += 1
    return count


def optimizer_bytes(model: nn.Module, optimizer: str, momentum: float) -> int:
    return optimizer_state_count(optimizer, momentum) * gradient_bytes(model)


def saved_activation_bytes(run: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for backward while `run()` computes (each storage once)."""
    return _saved(run, exclude)[0]


def _saved(run: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> tuple[int, int]:
    """(saved bytes, output bytes) of `run()`."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: set[int] = set()
    total = 0

    def pack(tensor: torch.Tensor):
        nonlocal total
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in skip and key not in seen:
            seen.add(key)
            total += storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = run()
    outputs = out if isinstance(out, (tuple, list)) else [out]
    return total, tensor_bytes(t for t in outputs if isinstance(t, torch.Tensor))


def _example_inputs(input_types: list[str], input_shapes: list, batch: int, device: torch.device,
                    sample: torch.Tensor | None) -> list[torch.Tensor]:
    inputs = []
    for kind, shape in zip(input_types, input_shapes):
        if sample is not None and kind != "NoiseInput":
            reps = -(-batch // len(sample))
            inputs.append(sample.repeat(reps, *([1] * (sample.dim() - 1)))[:batch].to(device))
        elif kind == "TokenInput":
            inputs.append(torch.zeros((batch, *shape), dtype=torch.long, device=device))
        else:
            inputs.append(torch.randn((batch, *shape), device=device))
    return inputs


def activation_bytes(model: nn.Module, input_types: list[str], input_shapes: list, batch_size: int,
                     device: torch.device, autocast=None, sample: torch.Tensor | None = None) -> int:
    """Saved-for-backward bytes of one training forward at `batch_size`, from two small batches."""
    return activation_profile(model, input_types, input_shapes, batch_size, device, autocast, sample)[0]


def activation_profile(model: nn.Module, input_types: list[str], input_shapes: list, batch_size: int,
                       device: torch.device, autocast=None,
                       sample: torch.Tensor | None = None) -> tuple[int, int]:
    """(saved activations, transient bytes) of one training step at `batch_size` (see the docstring)."""
    small = (2, 4)  # batch norm refuses a batch of one
    measured = []
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            for batch in small:
                inputs = _example_inputs(input_types, input_shapes, batch, device, sample)

                def forward(inputs=inputs):
                    with autocast() if autocast else torch.enable_grad():
                        return model(*inputs)

                measured.append(_saved(forward, exclude=list(model.parameters())))
    finally:  # even when a trial batch failed, the network is left as it was
        with torch.no_grad():
            for name, value in model.named_buffers():
                value.copy_(buffers[name])
        model.train(was_training)

    def at_batch_size(first: int, second: int) -> int:
        """Linear in the batch: what grows with it, plus what does not (e.g. attention masks)."""
        per_sample = max(0, second - first) / (small[1] - small[0])
        return int(max(0, first - per_sample * small[0]) + per_sample * batch_size)

    saved, output = (at_batch_size(a, b) for a, b in zip(*measured))
    return saved, 2 * output


def estimate(models: dict[str, nn.Module], activations: dict[str, int], optimizer: str, momentum: float,
             data_bytes: int = 0, gradient_copies: int = 1, transient: int = 0) -> dict[str, int]:
    """Bytes per part (see the module docstring) and their total."""
    parts = {
        "weights": sum(weight_bytes(m) for m in models.values()),
        "gradients": gradient_copies * sum(gradient_bytes(m) for m in models.values()),
        "optimizer": sum(optimizer_bytes(m, optimizer, momentum) for m in models.values()),
        "activations": sum(activations.values()),
        "transient": transient,
        "data": data_bytes,
    }
    parts["total"] = sum(parts.values())
    return parts


def profiled_peak_bytes(run: Callable[[], object]) -> int:
    """Most CPU tensor memory allocated at once while `run()` executes, beyond what existed before.

    From torch.profiler's memory events (every allocation and free, in
    order): the CPU counterpart of CUDA's max_memory_allocated, used to check
    the estimate on machines without a GPU.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def peak_bytes(device: torch.device) -> int | None:
    """Most memory the run's tensors took on the device, where PyTorch measures it."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


def current_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    return None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def format_bytes(size: float | None) -> str:
    if size is None:
        return "not measured"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"

"""Weight memory: refuse a network whose parameters cannot fit this machine, before torch allocates any.

A Linear of 10^7 x 10^7 passes shape inference and then fails inside torch's
constructor (or allocates until the machine swaps). Analysis therefore sizes
each block's weights (its declaration's parameter count, 4 bytes each as
float32) and makes it an error on the block when they exceed half of this
machine's memory: training needs several times the weights (gradients,
optimizer state), so such a network could never train here. The whole
network's total is checked too, and so is each block's output for the
smallest batch any command runs (2 samples): a 65536 x 65536 image input has
few weights but 17 GB of values per sample.

The machine's memory is read from /proc/meminfo (or os.sysconf) without
importing torch; DEEPWIRE_MEMORY_BYTES overrides it (tests, or a machine whose
figure is misleading).
"""

from __future__ import annotations

import os
from functools import lru_cache

from graph.diagnostics import ERROR, Diagnostic
from graph.infer import Inference, block_label
from graph.model import Network
from graph.sharing import counts_weights, tied_counts
from graph.spec import Registry

MEMORY_ENV = "DEEPWIRE_MEMORY_BYTES"
BYTES_PER_WEIGHT = 4  # float32
SHARE = 0.5  # of the machine's memory the weights alone may take


def machine_memory() -> int:
    """Bytes of memory this machine has (the override, /proc/meminfo, sysconf, or 16 GB if unknown)."""
    text = os.environ.get(MEMORY_ENV)
    if text:
        try:
            return max(int(float(text)), 1)
        except ValueError:
            pass
    return _system_memory()


@lru_cache(maxsize=1)
def _system_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16 * 10**9


def weight_limit() -> int:
    return int(machine_memory() * SHARE)


def human_bytes(n: float) -> str:
    """'812 bytes', '4.2 MB', '40.0 GB', '4e+08 TB' (powers of 1000)."""
    if n < 1000:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if n < 1e6 else f"{n:.3g} {unit}"
    return f"{n:.3g} TB"


def weight_diagnostics(network: Network, registry: Registry, inference: Inference) -> list[Diagnostic]:
    """An error on each block (and on the network) whose weights exceed the limit."""
    limit = weight_limit()
    diags: list[Diagnostic] = []
    total = 0
    for bid, block in network.blocks.items():
        count = block_weights(network, registry, inference, bid)
        if not count:
            continue
        total += count
        size = count * BYTES_PER_WEIGHT
        if size > limit:
            spec = registry.get(block.type)
            diags.append(Diagnostic(
                ERROR, "too_large",
                f"{block_label(spec, block)}: {human_bytes(size)} of weights ({count:,} parameters), more "
                f"than half of this machine's {human_bytes(machine_memory())} of memory, so it cannot be "
                "built or trained here; make it smaller", bid, network=network.name))
    diags += _activation_diagnostics(network, registry, inference, limit)
    if not diags and total * BYTES_PER_WEIGHT > limit:
        diags.append(Diagnostic(
            ERROR, "too_large",
            f"network '{network.name}': {human_bytes(total * BYTES_PER_WEIGHT)} of weights ({total:,} "
            f"parameters), more than half of this machine's {human_bytes(machine_memory())} of memory, so "
            "it cannot be built or trained here; make its largest blocks smaller", network=network.name))
    return diags


def block_weights(network: Network, registry: Registry, inference: Inference, bid: str) -> int:
    """Parameters of one enabled layer whose shapes are known (0 otherwise, or when its rule fails)."""
    block = network.blocks[bid]
    shape = inference.shapes.get(bid)
    if shape is None or not block.enabled or block.type not in registry:
        return 0
    spec = registry.get(block.type)
    if spec.role != "layer" or bid not in inference.params:
        return 0
    if not counts_weights(network, bid):  # another use of a module: its weights count once, at its holder
        return 0
    try:
        count = max(int(spec.count(inference.params[bid], inference.inputs.get(bid, {}), shape)), 0)
    except Exception:  # noqa: BLE001 - a count rule failing must not stop analysis; shapes report it
        return 0
    return max(count - tied_counts(network, registry, inference).get(bid, 0), 0)  # a tied tensor counts once


# export, preview and the first training step run the network on a batch of at least this many samples
SMALLEST_BATCH = 2


def _activation_diagnostics(network: Network, registry: Registry, inference: Inference,
                            limit: int) -> list[Diagnostic]:
    """An error on the first block whose output for the smallest batch cannot fit (a 65536 x 65536
    image input: 17 GB a sample); weights are not the only thing that can exhaust memory."""
    for bid, block in network.blocks.items():
        shape = inference.shapes.get(bid)
        if shape is None or not block.enabled:
            continue
        elements = 1
        for dim in shape:
            if isinstance(dim, int) and dim > 0:
                elements *= dim
        size = elements * BYTES_PER_WEIGHT * SMALLEST_BATCH
        if size > limit:
            spec = registry.get(block.type) if block.type in registry else None
            return [Diagnostic(
                ERROR, "too_large",
                f"{block_label(spec, block)}: its output {tuple(shape)} takes {human_bytes(size)} for a "
                f"batch of {SMALLEST_BATCH}, more than half of this machine's "
                f"{human_bytes(machine_memory())} of memory, so the network cannot run here; make it smaller",
                bid, network=network.name)]
    return []

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
from collections.abc import Iterable
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
    tally = WeightTally()
    tally.update(network, registry, inference)
    return tally.diagnostics(network, registry)


class WeightTally:
    """Each block's weight count and output size, kept across edits: after one, only the blocks it
    reached are counted again (`update(..., blocks)`), so a big network's memory check stays cheap."""

    def __init__(self):
        self.counts: dict[str, int] = {}  # blocks with weights -> parameters
        self.outputs: dict[str, tuple[int, tuple]] = {}  # enabled, known shape -> (bytes of output, shape)
        self.total = 0
        self._limit: int | None = None  # the limit `big` and `huge` were found with
        self._big: set[str] = set()  # blocks whose weights exceed it
        self._huge: set[str] = set()  # blocks whose output exceeds it

    def update(self, network: Network, registry: Registry, inference: Inference,
               blocks: Iterable[str] | None = None) -> None:
        """Count `blocks` again (None: every block, forgetting the rest)."""
        if blocks is None:
            self.counts.clear()
            self.outputs.clear()
            self.total, self._limit = 0, None
            blocks = network.blocks
        limit = self._limit
        for bid in blocks:
            self.total -= self.counts.pop(bid, 0)
            self.outputs.pop(bid, None)
            self._big.discard(bid)
            self._huge.discard(bid)
            if bid not in network.blocks:
                continue
            count = block_weights(network, registry, inference, bid)
            if count:
                self.counts[bid] = count
                self.total += count
                if limit is not None and count * BYTES_PER_WEIGHT > limit:
                    self._big.add(bid)
            shape = inference.shapes.get(bid)
            size = _output_bytes(network.blocks[bid], shape)
            if size:
                self.outputs[bid] = (size, tuple(shape))
                if limit is not None and size > limit:
                    self._huge.add(bid)

    def diagnostics(self, network: Network, registry: Registry) -> list[Diagnostic]:
        limit = weight_limit()
        if limit != self._limit:  # the first time, or the limit moved (DEEPWIRE_MEMORY_BYTES in tests)
            self._limit = limit
            self._big = {bid for bid, count in self.counts.items() if count * BYTES_PER_WEIGHT > limit}
            self._huge = {bid for bid, (size, _shape) in self.outputs.items() if size > limit}
        diags: list[Diagnostic] = []
        order = {bid: i for i, bid in enumerate(network.blocks)} if self._big or self._huge else {}
        for bid in sorted(self._big, key=order.__getitem__):
            block, count = network.blocks[bid], self.counts[bid]
            spec = registry.get(block.type)
            diags.append(Diagnostic(
                ERROR, "too_large",
                f"{block_label(spec, block)}: {human_bytes(count * BYTES_PER_WEIGHT)} of weights "
                f"({count:,} parameters), more than half of this machine's {human_bytes(machine_memory())} "
                "of memory, so it cannot be built or trained here; make it smaller", bid,
                network=network.name))
        if self._huge:  # the first block (in canvas order) whose output cannot fit
            bid = min(self._huge, key=order.__getitem__)
            block, (size, shape) = network.blocks[bid], self.outputs[bid]
            spec = registry.get(block.type) if block.type in registry else None
            diags.append(Diagnostic(
                ERROR, "too_large",
                f"{block_label(spec, block)}: its output {shape} takes {human_bytes(size)} "
                f"for a batch of {SMALLEST_BATCH}, more than half of this machine's "
                f"{human_bytes(machine_memory())} of memory, so the network cannot run here; make it smaller",
                bid, network=network.name))
        total = self.total
        if not diags and total * BYTES_PER_WEIGHT > limit:
            diags.append(Diagnostic(
                ERROR, "too_large",
                f"network '{network.name}': {human_bytes(total * BYTES_PER_WEIGHT)} of weights ({total:,} "
                f"parameters), more than half of this machine's {human_bytes(machine_memory())} of memory, "
                "so it cannot be built or trained here; make its largest blocks smaller",
                network=network.name))
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


def _output_bytes(block, shape) -> int:
    """Bytes of an enabled block's output for the smallest batch (0 when its shape is unknown): a
    65536 x 65536 image input takes 17 GB a sample; weights are not all that can exhaust memory."""
    if shape is None or not block.enabled:
        return 0
    elements = 1
    for dim in shape:
        if isinstance(dim, int) and dim > 0:
            elements *= dim
    return elements * BYTES_PER_WEIGHT * SMALLEST_BATCH

"""Grows a DeepWire Network block by block while an importer walks a foreign graph.

Shared by the torch.fx and ONNX importers: it gives blocks stable ids and
unique readable names, wires inputs to ports, keeps each block's weights
(the state_dict its compiled submodule will load), records the Unsupported
blocks as problems, and lays the finished graph out left to right, in groups
named after the modules its blocks came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graph.layout import layered_layout
from graph.model import Block, Edge, Network
from graph.spec import Registry
from runtime.importing.module_groups import module_groups


@dataclass
class Problem:
    """One operation that became an Unsupported block (or a block whose settings do not fit)."""

    block: str
    name: str
    operation: str
    detail: str

    def __str__(self) -> str:
        why = f"cannot be expressed exactly: {self.detail}" if self.detail else "has no DeepWire block"
        return f"{self.operation} (block '{self.name}') {why}"


@dataclass
class ImportedNetwork:
    network: Network
    weights: dict[str, dict[str, Any]] = field(default_factory=dict)  # block id -> submodule state_dict
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scopes: dict[str, str] = field(default_factory=dict)  # block id -> module path it came from ("" none)
    flat_sizes: dict[str, int] = field(default_factory=dict)  # an instance block -> the blocks it replaced
    shapes: dict[str, tuple] = field(default_factory=dict)  # block id -> its output shape (for definitions)


Head = tuple[str, dict[str, Any]]
MAX_WIRED = 16  # the Unsupported block's input limit


def head_for(heads: list[Head] | Head | None, index: int) -> Head:
    """The head of output `index`: one head for every output, a list in output order, or a plain Output."""
    if isinstance(heads, tuple):
        return heads
    if heads and index < len(heads):
        return heads[index]
    return ("Output", {})


def block_name(text: str, fallback: str = "block") -> str:
    """A readable block name from a module path or node name: "layer1.0.conv1" -> "layer1_0_conv1"."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_")
    return name or fallback


class NetworkBuilder:
    def __init__(self, registry: Registry, name: str = "model"):
        self.registry = registry
        self.result = ImportedNetwork(Network(name))
        self.net = self.result.network
        self.scope = ""  # the module path of the operation being converted; each new block records it

    def add(self, type_id: str, name: str, params: dict[str, Any] | None = None,
            sources: list[str] | None = None, weights: dict[str, Any] | None = None) -> str:
        """A new block fed by `sources` (block ids, one per input port in order); returns its id."""
        spec = self.registry.get(type_id)
        params = dict(params or {})
        defaults = spec.defaults()
        kept = {k: v for k, v in params.items()
                if k not in defaults or defaults[k] != v or k == spec.variadic}
        spec.check_params(kept)  # a mapping bug must not write a project that fails to load
        bid = self.net.new_block_id()
        self.net.add_block(Block(bid, type_id, self.net.unique_name(block_name(name)), kept))
        self.result.scopes[bid] = self.scope
        ports = spec.input_ports(kept)
        for port, src in zip(ports, sources or []):
            self.net.connect(Edge(src, bid, port.name))
        if weights is not None:
            self.result.weights[bid] = weights
        return bid

    def extend(self, bid: str, source: str) -> None:
        """One more input for a variadic block (a chain a + b + c becomes one Add of 3)."""
        block = self.net.blocks[bid]
        spec = self.registry.get(block.type)
        count = int(block.params.get(spec.variadic, spec.defaults()[spec.variadic])) + 1
        self.net.set_param(bid, spec.variadic, count)
        self.net.connect(Edge(source, bid, f"in{count}"))

    def unsupported(self, operation: str, name: str, sources: list[str], detail: str = "",
                    shape: tuple[int, ...] | None = None) -> str:
        if len(sources) > MAX_WIRED:  # the block takes 16 wires; the rest are named in the detail
            detail = (detail + "; " if detail else "") + \
                f"it reads {len(sources)} tensors, of which the first {MAX_WIRED} are wired"
        wired = max(1, min(len(sources), MAX_WIRED))
        params: dict[str, Any] = {"operation": operation[:200], "inputs": wired}
        if detail:
            params["detail"] = detail[:400]
        if shape is not None and len(shape) <= 8 and all(s >= 0 for s in shape):
            params["shape"] = tuple(int(s) for s in shape)
        bid = self.add("Unsupported", name, params, sources[:MAX_WIRED])
        self.result.problems.append(Problem(bid, self.net.blocks[bid].name, operation, detail))
        return bid

    def layout(self) -> None:
        for bid, position in layered_layout(self.net).items():
            self.net.move_block(bid, position)

    def group_by_modules(self) -> None:
        """Canvas groups after the modules the blocks came from (runtime/importing/module_groups.py)."""
        inputs = {bid for bid, b in self.net.blocks.items() if self.registry.get(b.type).role == "input"}
        self.net.set_groups(module_groups(self.net, self.result.scopes, inputs))

"""Where a model's values stop being finite: the first block whose output holds NaN or infinity.

When the in-app model itself gives NaN or infinite outputs, comparing an
exported file with it proves nothing (NaN equals nothing, not even NaN), and
the user needs to know which block to look at instead. Blocks are run one at
a time in topological order, each as a copy of the network cut after it
(runtime/preview.py's `truncated_network`: hooks on submodules would miss
the blocks the generated forward computes as plain expressions), with the
model's own weights; the first block whose output is not finite is named,
and so are its weights when they are themselves NaN or infinite (a damaged
checkpoint, a diverged training run).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from graph.compiler import CompiledNetwork, compile_network
from graph.definitions import registry_for
from graph.model import Project
from graph.spec import Registry
from graph.walk import order
from runtime.build import load_source


@dataclass
class NonFinite:
    network: str
    what: str  # "NaN (not a number)" or "infinite"
    block: str | None = None  # the first block producing it (its name), None if none was found
    block_type: str | None = None
    weights: list[str] | None = None  # that block's non-finite weight tensors, e.g. ["weight"]

    def message(self) -> str:
        head = (f"network '{self.network}' gives {self.what} outputs on a random input batch, "
                "so the exported files cannot be checked against it")
        if self.block is None:
            return head + "; no single block could be blamed (look for NaN or infinite weights)"
        text = f"{head}: the first block whose output is not finite is '{self.block}' ({self.block_type})"
        if self.weights:
            return (text + f"; its weights ({', '.join(self.weights)}) hold NaN or infinite values: "
                    "the checkpoint is damaged or training diverged (retrain it, e.g. with a lower "
                    "learning rate)")
        return (text + "; check what it computes from its input and weights (a log or square root of "
                "negative numbers, a division by zero, values too large for float32)")


def all_finite(values) -> bool:
    tensors = values if isinstance(values, (tuple, list)) else (values,)
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def _kind(values) -> str:
    tensors = values if isinstance(values, (tuple, list)) else (values,)
    nan = any(bool(torch.isnan(t).any()) for t in tensors if t.is_floating_point())
    return "NaN (not a number)" if nan else "infinite"


def _bad_weights(module: nn.Module) -> list[str]:
    return [name for name, t in module.state_dict().items()
            if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def find_nonfinite(project: Project, registry: Registry, network: str, model: nn.Module,
                   info: CompiledNetwork, inputs: tuple[torch.Tensor, ...], outputs) -> NonFinite:
    """The first block of `network` whose output on `inputs` is not finite (model in eval mode)."""
    from runtime.preview import copy_weights, truncated_network

    net = project.network(network)
    found = NonFinite(network, _kind(outputs))
    registry = registry_for(net, registry)  # an instance of a definition is a block type too
    for bid in order(net, stable=True).blocks:
        block = net.blocks[bid]
        role = registry.get(block.type).role
        if role in ("input", "head") or not block.enabled:
            continue  # they pass a value on without computing anything
        cut_net, _ = truncated_network(net, bid, registry)
        cut_compiled = compile_network(cut_net, registry, name="Probe")
        cut_info = cut_compiled.network()
        cut = getattr(load_source(cut_compiled.source, "deepwire_probe"), cut_info.class_name)()
        copy_weights(model, info.module_names, cut, cut_info.module_names, info.shared)
        cut.eval()
        feed = [inputs[info.input_blocks.index(b)] for b in cut_info.input_blocks]
        with torch.no_grad():
            value = cut(*feed)
        if not all_finite(value):
            found.block, found.block_type, found.what = block.name, block.type, _kind(value)
            if bid in info.module_names:
                attr = info.module_names[bid]
                found.weights = [f"{attr}.{name}" for name in _bad_weights(model.get_submodule(attr))] or None
            return found
    return found

"""Per-block gradient and activation statistics, so the canvas can show where learning stalls.

A block's parameters are found by the first part of their name: the
generated class names each block's submodule (`self.conv1`), and
`CompiledNetwork.module_names` maps block id -> that attribute. Gradient
norms are taken right after backward (before the optimizer step) on the
steps the trainer picks (every `stats_every` steps); activation statistics
come from forward hooks that exist only during those steps, so the other
steps pay nothing. All numbers stay on the device until `event()` reads
them back with a single transfer.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from runtime.train.events import BlockStats


class BlockStatsCollector:
    """Statistics of one network's blocks, keyed by block id."""

    def __init__(self, network: str, model: nn.Module, module_names: dict[str, str]):
        self.network = network
        self.model = model
        block_of_attr = {attr: block for block, attr in module_names.items()}
        # (an instance inside an nn.Sequential has a dotted path: layer1.0)
        self.modules = {block: _submodule(model, attr) for block, attr in module_names.items()
                        if isinstance(_submodule(model, attr), nn.Module)}
        self.params: list[nn.Parameter] = []
        block_ids: list[str] = []
        for name, param in model.named_parameters():
            block = block_of_attr.get(name.split(".", 1)[0])
            if block is not None and param.requires_grad:
                self.params.append(param)
                block_ids.append(block)
        self.blocks = list(dict.fromkeys(block_ids))
        position = {b: i for i, b in enumerate(self.blocks)}
        device = self.params[0].device if self.params else torch.device("cpu")
        self.index = torch.tensor([position[b] for b in block_ids], dtype=torch.long, device=device)
        self._grad: torch.Tensor | None = None
        self._weight: torch.Tensor | None = None
        self._activations: dict[str, torch.Tensor] = {}

    def capture_gradients(self) -> None:
        """Call after backward (gradients unscaled): per-block L2 norms of gradients and weights."""
        if not self.params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        self._grad = self._per_block(torch._foreach_norm(grads))
        self._weight = self._per_block(torch._foreach_norm([p.detach() for p in self.params]))

    def _per_block(self, norms: list[torch.Tensor]) -> torch.Tensor:
        squares = torch.stack(norms).float().square()
        total = torch.zeros(len(self.blocks), device=squares.device).index_add_(0, self.index, squares)
        return total.sqrt()

    @contextmanager
    def watch_activations(self):
        """Record mean, spread and share of exact zeros of each block's output during one forward."""
        handles = [module.register_forward_hook(self._hook(block)) for block, module in self.modules.items()]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, block: str):
        def hook(module, inputs, output):
            if isinstance(output, (tuple, list)):  # LSTM returns (output, state)
                output = output[0]
            if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() < 2:
                return
            with torch.no_grad():
                out = output.detach().float()
                self._activations[block] = torch.stack([out.mean(), out.std(), (out == 0).float().mean()])
        return hook

    def event(self, step: int) -> BlockStats | None:
        """Plain numbers of what was captured since the last call, or None when nothing was."""
        if self._grad is None and not self._activations:
            return None
        pieces = []
        if self._grad is not None:
            pieces += [self._grad, self._weight]
        act_blocks = list(self._activations)
        if act_blocks:
            pieces.append(torch.stack([self._activations[b] for b in act_blocks]).flatten())
        values = torch.cat([p.flatten() for p in pieces]).tolist()  # the one device -> host transfer
        grad_norm: dict[str, float] = {}
        weight_norm: dict[str, float] = {}
        if self._grad is not None:
            n = len(self.blocks)
            grad_norm = dict(zip(self.blocks, values[:n]))
            weight_norm = dict(zip(self.blocks, values[n:2 * n]))
            values = values[2 * n:]
        activation = {b: {"mean": values[3 * i], "std": values[3 * i + 1], "zeros": values[3 * i + 2]}
                      for i, b in enumerate(act_blocks)}
        self._grad = self._weight = None
        self._activations = {}
        return BlockStats(step=step, network=self.network, grad_norm=grad_norm, weight_norm=weight_norm,
                          activation=activation)


def _submodule(model: nn.Module, path: str) -> nn.Module | None:
    """The submodule at a (possibly dotted) attribute path, or None when there is none."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None

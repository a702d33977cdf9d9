"""Functional calls on the model's own weights -> the block of the layer they spell out.

`F.layer_norm(x, (d,), self.ln.weight, self.ln.bias)`, `F.linear(x, self.w)`,
`F.conv2d(x, self.conv.weight, ...)`, `F.batch_norm(x, self.running_mean, ...)`
(timm's BatchNormAct2d), `F.embedding(ids, self.table)`: in a traced graph the
weights are get_attr nodes, and in a torch.export capture (export_capture.py)
every layer looks like this. `map_weighted(node, ctx, read)` builds the torch
layer the call is equal to (nn.LayerNorm with that eps, nn.Linear with those
weights, ...) and maps that with the module rules (fx_modules), so the same
checks apply and the block's weights are that layer's state_dict. It returns
None when the call reads no stored tensor (then the plain function rules
apply), and raises NoBlockError when the call has no equal layer. The block's
only input is the call's data argument: the weights travel with the block.
Two stored operands are matched too: a factor per feature or channel (x * gamma,
a LayerScale) and a learned table of positions added to a sequence (x + pos_embed).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn
from torch.fx import Node

from runtime.importing.fx_modules import map_module
from runtime.importing.mapped import Mapped, NoBlockError

# a node -> the tensor it holds when that is stored in the model (a get_attr, or computed from stored
# tensors alone: self.gamma.reshape(1, -1, 1, 1)), else None
Read = Callable[[Node], "torch.Tensor | None"]


def _arg(node: Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _stored(value, read: Read) -> torch.Tensor | None:
    """The tensor a stored argument holds; None for no argument; NoBlockError for a computed one."""
    if value is None:
        return None
    tensor = read(value) if isinstance(value, Node) else None
    if tensor is not None:
        return tensor.detach()
    raise NoBlockError("its weights are computed in forward() rather than stored in the model")


def _load(module: nn.Module, **tensors) -> nn.Module:
    with torch.no_grad():
        for name, tensor in tensors.items():
            if tensor is not None:
                getattr(module, name).copy_(tensor)
    return module


def _linear(node, read):
    weight, bias = _stored(_arg(node, 1, "weight"), read), _stored(_arg(node, 2, "bias"), read)
    if weight is None or weight.dim() != 2:
        raise NoBlockError("a weight that is not a (out, in) matrix")
    out, inp = weight.shape
    return _load(nn.Linear(inp, out, bias=bias is not None), weight=weight, bias=bias)


def _conv(cls, transposed: bool = False):
    def rule(node, read):
        weight, bias = _stored(_arg(node, 1, "weight"), read), _stored(_arg(node, 2, "bias"), read)
        if weight is None:
            raise NoBlockError("no weight")
        stride, padding = _arg(node, 3, "stride", 1), _arg(node, 4, "padding", 0)
        if transposed:
            output_padding = _arg(node, 5, "output_padding", 0)
            groups, dilation = _arg(node, 6, "groups", 1), _arg(node, 7, "dilation", 1)
            channels = weight.shape[1] * groups
            module = cls(weight.shape[0], channels, tuple(weight.shape[2:]), stride, padding, output_padding,
                         groups, bias is not None, dilation)
        else:
            dilation, groups = _arg(node, 5, "dilation", 1), _arg(node, 6, "groups", 1)
            module = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride, padding,
                         dilation, groups, bias is not None)
        return _load(module, weight=weight, bias=bias)
    return rule


def _batch_norm(node, read):
    mean, var = _stored(_arg(node, 1, "running_mean"), read), _stored(_arg(node, 2, "running_var"), read)
    weight, bias = _stored(_arg(node, 3, "weight"), read), _stored(_arg(node, 4, "bias"), read)
    if mean is None or var is None:
        raise NoBlockError("batch statistics at evaluation (no running mean and variance)")
    if (weight is None) != (bias is None):
        raise NoBlockError("a weight without a bias, or a bias without a weight")
    momentum, eps = _arg(node, 6, "momentum", 0.1), _arg(node, 7, "eps", 1e-5)
    rank = len(node.meta["tensor_meta"].shape) if "tensor_meta" in node.meta else 4
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}.get(rank)
    if cls is None:
        raise NoBlockError(f"a batch norm over {rank - 1} axes")
    module = cls(mean.shape[0], eps=eps, momentum=momentum, affine=weight is not None)
    module = _load(module, running_mean=mean, running_var=var, weight=weight, bias=bias)
    counted = _batches_tracked(_arg(node, 1, "running_mean"), read)
    if counted is not None:
        module.num_batches_tracked.copy_(counted)
    return module


def _batches_tracked(mean: Node, read: Read) -> torch.Tensor | None:
    """The num_batches_tracked beside a running_mean buffer (its module's), when there is one."""
    if mean.op != "get_attr":
        return None
    owner, _, _ = str(mean.target).rpartition(".")
    root = mean.graph.owning_module
    try:
        return root.get_buffer(f"{owner}.num_batches_tracked" if owner else "num_batches_tracked")
    except AttributeError:
        return None


def _layer_norm(node, read):
    shape = _arg(node, 1, "normalized_shape")
    weight, bias = _stored(_arg(node, 2, "weight"), read), _stored(_arg(node, 3, "bias"), read)
    eps = _arg(node, 4, "eps", 1e-5)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    module = nn.LayerNorm(shape, eps=eps, elementwise_affine=weight is not None, bias=bias is not None)
    return _load(module, weight=weight, bias=bias)


def _group_norm(node, read):
    groups = _arg(node, 1, "num_groups")
    weight, bias = _stored(_arg(node, 2, "weight"), read), _stored(_arg(node, 3, "bias"), read)
    eps = _arg(node, 4, "eps", 1e-5)
    if weight is None or bias is None:
        raise NoBlockError("a group norm without weight and bias")
    return _load(nn.GroupNorm(groups, weight.shape[0], eps=eps), weight=weight, bias=bias)


def _embedding(node, read):
    weight = _stored(_arg(node, 1, "weight"), read)
    if weight is None or weight.dim() != 2:
        raise NoBlockError("a table that is not (vocabulary, dim)")
    options = {k: _arg(node, i, k) for i, k in enumerate(("padding_idx", "max_norm"), start=2)}
    options = {k: v for k, v in options.items() if v is not None}
    module = nn.Embedding(weight.shape[0], weight.shape[1], **options)
    return _load(module, weight=weight)


RULES = {
    F.linear: _linear, torch._C._nn.linear: _linear,
    F.conv1d: _conv(nn.Conv1d), F.conv2d: _conv(nn.Conv2d), torch.conv1d: _conv(nn.Conv1d),
    torch.conv2d: _conv(nn.Conv2d), F.conv_transpose2d: _conv(nn.ConvTranspose2d, transposed=True),
    F.batch_norm: _batch_norm, F.layer_norm: _layer_norm, F.group_norm: _group_norm,
    F.embedding: _embedding,
}
DATA_ARGUMENT = {F.embedding: 0}  # which argument carries the data (the first, unless named here)


def _operands(node: Node, read: Read) -> tuple[Node, torch.Tensor] | None:
    """(computed value, stored tensor) of x * self.scale / self.pos + x, either order; None otherwise."""
    if len(node.args) != 2 or node.kwargs or not all(isinstance(a, Node) for a in node.args):
        return None
    a, b = node.args
    stored_a, stored_b = read(a), read(b)
    if stored_b is not None and stored_a is None:
        return a, stored_b.detach()
    if stored_a is not None and stored_b is None:
        return b, stored_a.detach()
    return None


def _scaled(node: Node, ctx, read: Read) -> Mapped:
    """x * gamma, one learned factor per feature (last axis) or per channel: a LayerScale block.
    gamma may be reshaped in forward() first (timm's x.mul(self.gamma.reshape(1, -1, 1, 1)))."""
    data, gamma = _operands(node, read)
    shape = ctx.shape(data)
    if not shape:
        raise NoBlockError("a stored factor on a value of unknown shape")
    sizes = tuple(gamma.shape)
    if len(sizes) == len(shape) + 1 and sizes[0] == 1:
        sizes = sizes[1:]  # (1, C, 1, 1) and (1, 1, D) name the batch axis too
    channels = (shape[0], *(1,) * (len(shape) - 1))
    if sizes in ((shape[-1],), (1,) * (len(shape) - 1) + (shape[-1],)):
        params, target = {}, (shape[-1],)
    elif len(shape) >= 2 and sizes == channels:
        params, target = {"axis": "channels"}, channels
    else:
        raise NoBlockError(f"a stored factor of shape {tuple(gamma.shape)}: not one per feature or channel "
                           f"of {tuple(shape)}")
    return Mapped("LayerScale", params, {"gamma": gamma.clone().reshape(target)}, inputs=[data])


def _positions(node: Node, ctx, read: Read) -> Mapped:
    """x + self.pos_embedding, a learned (1, T, D) table on a (B, T, D) sequence: a learned
    PositionalEncoding of max_length T."""
    data, table = _operands(node, read)
    shape = ctx.full_shape(data)
    if shape is None or len(shape) != 3 or tuple(table.shape) not in ((1, *shape[1:]), tuple(shape[1:])):
        raise NoBlockError("a stored tensor added that is not a (1, T, D) table of positions")
    steps = shape[1]
    return Mapped("PositionalEncoding", {"kind": "learned", "max_length": steps},
                  {"table": table.reshape(steps, shape[2]).clone()}, inputs=[data])


def _as_block(module: nn.Module, ctx, data: Node) -> Mapped:
    mapped = map_module(module, ctx.shape(data))
    mapped.inputs = [data]
    return mapped


OPERAND_RULES = {operator.mul: _scaled, "mul": _scaled, operator.add: _positions, "add": _positions}


def reads_stored(node: Node, read: Read) -> bool:
    """Whether any argument of the call is a tensor stored in the model."""
    return any(isinstance(a, Node) and read(a) is not None for a in (*node.args, *node.kwargs.values()))


def map_weighted(node: Node, ctx, read: Read) -> Mapped | None:
    """The block a weighted functional call equals; None when the call reads no stored tensor."""
    if node.op in ("call_function", "call_method") and node.target in OPERAND_RULES \
            and _operands(node, read) is not None:
        return OPERAND_RULES[node.target](node, ctx, read)
    rule = RULES.get(node.target) if node.op == "call_function" else None
    if rule is None or not reads_stored(node, read):
        return None
    data = node.args[DATA_ARGUMENT.get(node.target, 0)] if node.args else node.kwargs.get("input")
    if not isinstance(data, Node) or read(data) is not None:
        raise NoBlockError("its data argument is a stored tensor, not a value computed from the inputs")
    return _as_block(rule(node, read), ctx, data)

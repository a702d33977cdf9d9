"""torch functions and Tensor methods -> DeepWire blocks, for the torch.fx importer.

`map_call(node, ctx)` handles a call_function or call_method node: torch.relu,
F.relu and x.relu() all become a ReLU block; x.view(x.size(0), -1) and
torch.flatten(x, 1) become Flatten; a + b becomes Add. It returns a Mapped,
IDENTITY (the value passes through unchanged, e.g. x.contiguous()), a
GlobalPool marker (resolved by the importer, which looks at what follows),
or raises NoBlockError saying why this call has no block. Shapes come from the
traced example (`ctx.shape(node)`, without the batch), so reshapes are
judged by what they really did, not by how they were spelled.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch.fx import Node

from runtime.importing.mapped import Mapped, NoBlockError, dropout_type, single

IDENTITY = object()  # the call returns its input unchanged


@dataclass
class GlobalPool:
    """An adaptive pooling to size 1 (kind "GlobalAvgPool"/"GlobalMaxPool"); keeps_dims: the result is
    (B, C, 1, 1) rather than (B, C), so the importer adds a Reshape unless a flatten follows."""

    kind: str
    source: Node
    keeps_dims: bool
    name: str = ""  # the pooling call's own name, for the block


def _arg(node: Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _tensor_arg(node: Node) -> Node:
    first = node.args[0] if node.args else node.kwargs.get("input")
    if not isinstance(first, Node):
        raise NoBlockError("its first argument is not a tensor of the model")
    return first


# --- element-wise activations ---------------------------------------------------------------

_PLAIN = {
    "ReLU": ({torch.relu, torch.relu_, F.relu, F.relu_}, {"relu", "relu_"}),
    "Sigmoid": ({torch.sigmoid, F.sigmoid}, {"sigmoid"}),
    "Tanh": ({torch.tanh, F.tanh}, {"tanh"}),
    "SiLU": ({F.silu}, set()),
    "ReLU6": ({F.relu6}, set()),
    "Hardswish": ({F.hardswish}, set()),
    "Hardsigmoid": ({F.hardsigmoid}, set()),
    "Mish": ({F.mish}, set()),
}


def _hardtanh(node, ctx):
    """F.hardtanh(x, 0, 6) is ReLU6 (torch's ReLU6 is that very call); other bounds have no block."""
    low, high = _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)
    if (low, high) != (0, 6):
        raise NoBlockError(f"bounds ({low}, {high}); DeepWire's ReLU6 clips to (0, 6)")
    return Mapped("ReLU6")


def _clamp(node, ctx):
    """x.clamp(0, 6) is ReLU6, x.clamp(min=0) ReLU: the same values, written another way."""
    low, high = _arg(node, 1, "min"), _arg(node, 2, "max")
    if isinstance(low, Node) or isinstance(high, Node):
        raise NoBlockError("bounds that are tensors")
    if low == 0 and high == 6:
        return Mapped("ReLU6")
    if low == 0 and high is None:
        return Mapped("ReLU")
    raise NoBlockError(f"bounds ({low}, {high}); only (0, 6) and (0, none) have blocks (ReLU6, ReLU)")


def _leaky_relu(node, ctx):
    return Mapped("LeakyReLU", {"negative_slope": float(_arg(node, 1, "negative_slope", 0.01))})


def _elu(node, ctx):
    return Mapped("ELU", {"alpha": float(_arg(node, 1, "alpha", 1.0))})


def _gelu(node, ctx):
    approximate = _arg(node, 1, "approximate", "none")
    return Mapped("GELU", {} if approximate == "none" else {"approximate": approximate})


def _softmax(type_id):
    def rule(node, ctx):
        dim = _arg(node, 1, "dim")
        if not isinstance(dim, int):
            raise NoBlockError("an implicit or non-constant dim")
        if dim == 0:
            raise NoBlockError("dim 0, the batch axis")
        if node.kwargs.get("dtype") is not None or (len(node.args) > 2 and node.args[2] is not None):
            raise NoBlockError("a dtype argument")
        return Mapped(type_id, {"dim": dim})
    return rule


def _dropout(type_id):
    def rule(node, ctx):
        # training=False is what F.dropout(x, training=self.training) reads when traced in eval
        # mode, so the dropout is kept: identity at evaluation, as written, and active in training
        source = _arg(node, 0, "input")
        shape = ctx.shape(source) if isinstance(source, Node) else None
        return Mapped(dropout_type(type_id, shape), {"p": float(_arg(node, 1, "p", 0.5))})
    return rule


# --- shape changes --------------------------------------------------------------------------

def _reshaped(node, ctx):
    """Flatten or Reshape judged by the shapes before and after (the batch must stay first)."""
    before, after = ctx.full_shape(_tensor_arg(node)), ctx.full_shape(node)
    if before is None or after is None or not after or before[0] != after[0]:
        raise NoBlockError("it changes the batch axis (DeepWire keeps the batch first and whole)")
    out = tuple(after[1:])
    if len(out) == 1:
        return Mapped("Flatten")
    if not 1 <= len(out) <= 4:
        raise NoBlockError(f"a shape of {len(out)} axes after the batch (Reshape takes 1 to 4)")
    return Mapped("Reshape", {"shape": out})


def _flatten(node, ctx):
    start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
    if start == 0:
        raise NoBlockError("flattening the batch axis into the samples (start_dim 0)")
    if start == 1 and end == -1:
        return Mapped("Flatten")
    return _reshaped(node, ctx)


def _dims(node) -> list[int]:
    dims = list(node.args[1:]) if node.op == "call_method" else [_arg(node, 1, "dims")]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = list(dims[0])
    if not all(isinstance(d, int) for d in dims):
        raise NoBlockError("axes that are not constant")
    return dims


def _permute(node, ctx):
    dims = _dims(node)
    rank = len(dims)
    dims = [d % rank for d in dims]
    if dims[0] != 0:
        raise NoBlockError("it moves the batch axis")
    if rank - 1 > 4:
        raise NoBlockError("more than 4 axes after the batch")
    return Mapped("Permute", {"dims": tuple(dims[1:])})


def _transpose(node, ctx):
    full = ctx.full_shape(node)
    if full is None:
        raise NoBlockError("its input shape is unknown")
    rank = len(full)
    a, b = _arg(node, 1, "dim0"), _arg(node, 2, "dim1")
    if not isinstance(a, int) or not isinstance(b, int):
        raise NoBlockError("axes that are not constant")
    a, b = a % rank, b % rank
    if 0 in (a, b):
        raise NoBlockError("it moves the batch axis")
    dims = list(range(rank))
    dims[a], dims[b] = dims[b], dims[a]
    return Mapped("Permute", {"dims": tuple(dims[1:])})


def _axis_param(dim: int, rank: int) -> int:
    """A torch dim of a (B, ...) tensor of `rank` axes as a block's axis (1..rank-1, or -1 for the last)."""
    dim %= rank
    if dim == 0:
        raise NoBlockError("it cuts along the batch axis")
    return -1 if dim == rank - 1 else dim


def _slice_params(axis: int, start, stop, step, size: int) -> dict[str, Any]:
    start, stop, step = slice(start, stop, step).indices(size)
    if step < 1:
        raise NoBlockError("a negative step (reversing)")
    params: dict[str, Any] = {"axis": axis, "start": start}
    if stop < size:
        params["end"] = stop
    if step != 1:
        params["step"] = step
    return params


def _pieces(node: Node, ctx) -> tuple[Node, int, list[tuple[int, int]]] | None:
    """For torch.chunk/split/tensor_split/unbind: (input, dim, [(start, length) of each piece])."""
    if node.op == "call_method":
        name = node.target
    else:
        name = getattr(node.target, "__name__", "")
    if name not in ("chunk", "split", "tensor_split", "unbind", "split_with_sizes"):
        return None
    source = _tensor_arg(node)
    full = ctx.full_shape(source)
    metas = node.meta.get("tensor_meta")
    if full is None or not isinstance(metas, (tuple, list)):
        return None
    dim = _arg(node, 1, "dim", 0) if name == "unbind" else _arg(node, 2, "dim", 0)
    if not isinstance(dim, int):
        return None
    dim %= len(full)
    if name == "unbind":
        return source, dim, [(i, 0) for i in range(full[dim])]
    lengths = [int(m.shape[dim]) for m in metas]
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    return source, dim, list(zip(starts, lengths))


def _getitem(node, ctx):
    """A piece of torch.chunk/split/unbind, or x[:, 0] / x[..., 2:5] / x[:, None]: Slice, Select, Reshape."""
    source, index = node.args
    if not isinstance(source, Node):
        raise NoBlockError("indexing what is not a tensor of the model")
    pieces = _pieces(source, ctx)
    if pieces is not None and isinstance(index, int):
        tensor, dim, spans = pieces
        full = ctx.full_shape(tensor)
        axis = _axis_param(dim, len(full))
        start, length = spans[index]
        if length == 0:  # unbind: the entry, its axis dropped
            return Mapped("Select", {"axis": axis, "index": start}, inputs=[tensor])
        return Mapped("Slice", _slice_params(axis, start, start + length, 1, full[dim]), inputs=[tensor])
    full, out = ctx.full_shape(source), ctx.full_shape(node)
    if full is None or out is None:
        raise NoBlockError("indexing a value that is not one tensor")
    if len(out) < 2:
        raise NoBlockError("it leaves a single number per sample (DeepWire keeps at least one axis)")
    items = list(index) if isinstance(index, tuple) else [index]
    plain = (int, slice, type(None), type(Ellipsis))
    if any(isinstance(i, (Node, bool)) or not isinstance(i, plain) for i in items):
        raise NoBlockError("indexing with a tensor or a list (DeepWire slices by constant positions)")
    if items.count(Ellipsis) > 1:
        raise NoBlockError("more than one '...'")
    if Ellipsis in items:  # '...' stands for as many whole axes as the other items leave
        at = items.index(Ellipsis)
        named = len([i for i in items if i is not None and i is not Ellipsis])
        items[at:at + 1] = [slice(None)] * (len(full) - named)
    steps: list[Mapped] = []
    dim = 0  # the axis of the input each item stands for
    removed = 0  # axes dropped by integer items so far: later items sit that much further left
    for item in items:
        if item is None:
            continue
        whole = isinstance(item, slice) and item == slice(None)
        if dim == 0 and not whole:
            raise NoBlockError("it picks samples from the batch")
        if isinstance(item, int):
            steps.append(Mapped("Select", {"axis": dim - removed, "index": item}))
            removed += 1
        elif not whole:
            for part in (item.start, item.stop, item.step):
                if part is not None and not isinstance(part, int):
                    raise NoBlockError("slice bounds that are not constant")
            steps.append(Mapped("Slice", _slice_params(dim - removed, item.start, item.stop, item.step,
                                                       full[dim])))
        dim += 1
    if None in items:  # x[:, None]: new axes of size 1, a Reshape to the traced result
        if not 1 <= len(out) - 1 <= 4:
            raise NoBlockError("new axes giving more than 4 axes after the batch")
        steps.append(Mapped("Flatten") if len(out) == 2 else Mapped("Reshape", {"shape": tuple(out[1:])}))
    if not steps:
        return IDENTITY
    return steps[0] if len(steps) == 1 else steps


def _pieces_call(node, ctx):
    """torch.chunk and friends: nothing of its own; each piece taken with [i] becomes a Slice."""
    if _pieces(node, ctx) is None:
        raise NoBlockError("pieces of sizes that are not known")
    return IDENTITY


def _select(node, ctx):
    full = ctx.full_shape(_tensor_arg(node))
    dim, index = _arg(node, 1, "dim"), _arg(node, 2, "index")
    if full is None or not isinstance(dim, int) or not isinstance(index, int):
        raise NoBlockError("an axis or index that is not constant")
    return Mapped("Select", {"axis": _axis_param(dim, len(full)), "index": index})


def _narrow(node, ctx):
    full = ctx.full_shape(_tensor_arg(node))
    dim, start, length = _arg(node, 1, "dim"), _arg(node, 2, "start"), _arg(node, 3, "length")
    if full is None or not all(isinstance(v, int) for v in (dim, start, length)):
        raise NoBlockError("an axis, start or length that is not constant")
    start %= full[dim % len(full)]
    return Mapped("Slice", _slice_params(_axis_param(dim, len(full)), start, start + length, 1,
                                         full[dim % len(full)]))


# --- merges ---------------------------------------------------------------------------------

def _broadcasts_per_sample(a, b, out) -> bool:
    """a ⊙ b broadcasts the way the Add/Multiply blocks do: both keep the batch, sizes equal or 1."""
    if a is None or b is None or out is None or len(a) != len(b) or not a or a[0] != b[0]:
        return False
    return all(x == y or 1 in (x, y) for x, y in zip(a[1:], b[1:])) and tuple(out) == tuple(
        max(x, y) for x, y in zip(a, b))


def _learned_scale(node: Node, operands: list, ctx) -> Mapped | None:
    """x * self.gamma, with gamma a parameter of one scale per feature or channel: a LayerScale block."""
    stored = [o for o in operands if isinstance(o, Node) and o.op == "get_attr"]
    if len(stored) != 1 or len(operands) != 2:
        return None
    gamma_node = stored[0]
    x = operands[1] if operands[0] is gamma_node else operands[0]
    shape = ctx.shape(x) if isinstance(x, Node) and x.op != "get_attr" else None
    root = node.graph.owning_module
    if not shape or root is None:
        return None
    try:
        gamma = root.get_parameter(str(gamma_node.target))
    except AttributeError:  # a buffer, or not a tensor: not learned, so not a LayerScale
        return None
    sizes = tuple(gamma.shape)
    if len(sizes) == len(shape) + 1 and sizes[0] == 1:
        sizes = sizes[1:]  # (1, C, 1, 1) and (1, 1, D) name the batch axis too
    channels = (shape[0], *(1,) * (len(shape) - 1))
    if sizes in ((shape[-1],), (1,) * (len(shape) - 1) + (shape[-1],)) and len(shape) >= 1:
        axis, target = "last", (shape[-1],)
    elif len(shape) >= 2 and sizes == channels:
        axis, target = "channels", channels
    else:
        return None
    params = {} if axis == "last" else {"axis": "channels"}
    return Mapped("LayerScale", params, {"gamma": gamma.detach().clone().reshape(target)}, inputs=[x])


def _merge(type_id, what):
    def rule(node, ctx):
        operands = list(node.args[:2])
        if node.kwargs.get("alpha", 1) != 1:
            raise NoBlockError("an alpha factor")
        if type_id == "Multiply":
            scale = _learned_scale(node, operands, ctx)
            if scale is not None:
                return scale
        if not all(isinstance(x, Node) and ctx.is_tensor(x) for x in operands):
            raise NoBlockError(f"{what} a number rather than another tensor of the same shape")
        shapes = [ctx.full_shape(x) for x in operands]
        if shapes[0] != shapes[1] and not _broadcasts_per_sample(shapes[0], shapes[1], ctx.full_shape(node)):
            raise NoBlockError(f"{what} tensors of shapes {shapes[0]} and {shapes[1]}, which do not "
                               "broadcast sample by sample (as many axes, the same batch, sizes equal or 1)")
        return Mapped(type_id, {"inputs": 2}, inputs=operands)
    return rule


def _cat(node, ctx):
    tensors = _arg(node, 0, "tensors")
    dim = _arg(node, 1, "dim", 0)
    if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Node) for t in tensors):
        raise NoBlockError("a list of tensors that is not fixed")
    if len(tensors) == 1:  # DenseNet's torch.cat([x], 1): the tensor itself
        return IDENTITY
    if not tensors:
        raise NoBlockError("no input")
    full = ctx.full_shape(node)
    rank = len(full) - 1
    axis = dim % (rank + 1)
    if axis == 0:
        raise NoBlockError("joining along the batch axis")
    auto = 1 if rank == 3 else rank
    params = {"inputs": len(tensors)}
    if axis != auto:
        params["axis"] = axis
    return Mapped("Concatenate", params, inputs=list(tensors))  # over 16: a chain, made by the walk


# --- pooling --------------------------------------------------------------------------------

def fixed_adaptive(kind: str, before, after) -> Any:
    """An adaptive pooling to a size other than 1, on the one input size a DeepWire network has.

    Returns IDENTITY when it keeps the size (VGG's 7×7 pooling of a 7×7 map), or a plain pooling
    with kernel = stride = in/out when the input divides evenly: then torch's adaptive windows are
    exactly those. An output a whole multiple k of the input (VGG's 7×7 of a small image's 1×1
    map) is an Upsample by k, nearest: each of torch's windows is then the one input pixel
    floor(i / k). Otherwise NoBlockError.
    """
    if before is None or after is None or len(before) not in (3, 4):
        raise NoBlockError("an adaptive pooling of unknown size")
    sizes, targets = before[2:], after[2:]
    if tuple(sizes) == tuple(targets):
        return IDENTITY
    growth = {t // s for s, t in zip(sizes, targets) if s and t % s == 0 and t > s}
    if len(sizes) == 2 and len(growth) == 1 and \
            all(s and t % s == 0 and t > s for s, t in zip(sizes, targets)):
        return Mapped("Upsample", {"scale_factor": growth.pop(), "mode": "nearest"})
    factors = {s // t for s, t in zip(sizes, targets) if t and s % t == 0}
    if len(factors) != 1 or any(t == 0 or s % t for s, t in zip(sizes, targets)):
        raise NoBlockError(f"output size {tuple(targets)} from {tuple(sizes)}, which is not a whole "
                           "multiple (DeepWire pools with one window size)")
    dims = len(sizes)
    return Mapped(f"{'Avg' if kind == 'GlobalAvgPool' else 'Max'}Pool{dims}d", {"kernel_size": factors.pop()})


def _adaptive(kind):
    def rule(node, ctx):
        size = _arg(node, 1, "output_size")
        sizes = size if isinstance(size, (tuple, list)) else (size,)
        if all(s == 1 for s in sizes):
            return GlobalPool(kind, _tensor_arg(node), keeps_dims=True, name=node.name)
        return fixed_adaptive(kind, ctx.full_shape(_tensor_arg(node)), ctx.full_shape(node))
    return rule


def _reduce(kind):
    """x.mean((2, 3)) over every axis after the channels is a global pooling."""
    def rule(node, ctx):
        full = ctx.full_shape(_tensor_arg(node))
        dims = _arg(node, 1, "dim")
        if full is None or dims is None:
            raise NoBlockError("a reduction over the whole tensor")
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        rank = len(full)
        spatial = sorted(d % rank for d in dims)
        keep = bool(_arg(node, 2, "keepdim", False))
        if rank == 3 and spatial == [1] and not keep:
            # over the steps of a sequence (B, T, D): steps to the last axis, then a global pooling
            return [Mapped("Permute", {"dims": (2, 1)}), Mapped(kind)]
        if rank not in (3, 4) or spatial != list(range(2, rank)):
            raise NoBlockError("a reduction over other axes than all the positions of (B, C, ...)")
        return GlobalPool(kind, _tensor_arg(node), keeps_dims=keep, name=node.name)
    return rule


def _pool(type_id, kind):
    def rule(node, ctx):
        kernel = single(_arg(node, 1, "kernel_size"), "kernel_size")
        stride = _arg(node, 2, "stride")
        stride = kernel if stride in (None, [], ()) else single(stride, "stride")
        padding = single(_arg(node, 3, "padding", 0), "padding")
        params: dict[str, Any] = {"kernel_size": kernel, "padding": padding}
        if stride != kernel:
            params["stride"] = stride
        if kind == "max":
            if single(_arg(node, 4, "dilation", 1), "dilation") != 1:
                raise NoBlockError("dilation other than 1")
            if _arg(node, 6, "return_indices", False):
                raise NoBlockError("return_indices=True")
            if _arg(node, 5, "ceil_mode", False):
                params["ceil_mode"] = True
        else:
            if _arg(node, 4, "ceil_mode", False) or not _arg(node, 5, "count_include_pad", True):
                raise NoBlockError("ceil_mode or count_include_pad=False")
            if _arg(node, 6, "divisor_override") is not None:
                raise NoBlockError("divisor_override")
        return Mapped(type_id, params)
    return rule


def _interpolate(node, ctx):
    """F.interpolate(x, scale_factor=2) -> Upsample, for a whole factor and nearest/(bi)linear modes."""
    if _arg(node, 1, "size") is not None:
        raise NoBlockError("a fixed output size (DeepWire scales by a factor)")
    scale = single(_arg(node, 2, "scale_factor"), "scale_factor")
    mode = _arg(node, 3, "mode", "nearest")
    if mode not in ("nearest", "bilinear", "linear") or _arg(node, 4, "align_corners"):
        raise NoBlockError(f"mode '{mode}' with align_corners={_arg(node, 4, 'align_corners')}")
    return Mapped("Upsample", {"scale_factor": scale, "mode": mode})


def _pad(node, ctx):
    """F.pad(x, (l, r[, t, b]), mode) of a (B, C, L) or (B, C, H, W) tensor -> Pad."""
    from runtime.importing.fx_modules import pad_params

    sides = _arg(node, 1, "pad")
    full = ctx.full_shape(_tensor_arg(node))
    if not isinstance(sides, (tuple, list)) or not all(isinstance(s, int) for s in sides):
        raise NoBlockError("padding sizes that are not constant")
    if full is None or len(full) not in (3, 4) or len(sides) > 2 * (len(full) - 2):
        raise NoBlockError("padding other axes than the positions of (B, C, L) or (B, C, H, W)")
    sides = tuple(sides) + (0,) * (2 * (len(full) - 2) - len(sides))
    return Mapped("Pad", pad_params(sides, _arg(node, 2, "mode", "constant"), _arg(node, 3, "value") or 0.0))


def _sdpa(node, ctx):
    """F.scaled_dot_product_attention(q, k, v, ...) without a mask -> ScaledDotProductAttention."""
    q, k, v = (_arg(node, i, name) for i, name in enumerate(("query", "key", "value")))
    if not all(isinstance(t, Node) and ctx.is_tensor(t) for t in (q, k, v)):
        raise NoBlockError("queries, keys or values that are not tensors of the model")
    if _arg(node, 3, "attn_mask") is not None:
        raise NoBlockError("an attention mask (DeepWire's block takes causal=True or no mask)")
    if node.kwargs.get("enable_gqa"):
        raise NoBlockError("enable_gqa (grouped-query attention)")
    dropout, causal, scale = _arg(node, 4, "dropout_p", 0.0), _arg(node, 5, "is_causal", False), \
        node.kwargs.get("scale")
    if not isinstance(dropout, (int, float)) or not isinstance(causal, bool) or \
            not (scale is None or isinstance(scale, (int, float))):
        raise NoBlockError("dropout, causal or scale settings that are not constant")
    params: dict[str, Any] = {}
    if causal:
        params["causal"] = True
    if dropout:
        params["dropout"] = float(dropout)
    if scale is not None:
        if not 0 < scale <= 1000:
            raise NoBlockError(f"scale {scale} (DeepWire takes above 0 up to 1000)")
        params["scale"] = float(scale)
    return Mapped("ScaledDotProductAttention", params, inputs=[q, k, v])


def _identity(node, ctx):
    return IDENTITY


FUNCTION_RULES: dict[Any, Any] = {
    F.leaky_relu: _leaky_relu, F.elu: _elu, F.gelu: _gelu, F.hardtanh: _hardtanh,
    torch.clamp: _clamp, torch.clip: _clamp,
    torch.softmax: _softmax("Softmax"), F.softmax: _softmax("Softmax"),
    torch.log_softmax: _softmax("LogSoftmax"), F.log_softmax: _softmax("LogSoftmax"),
    F.dropout: _dropout("Dropout"), F.dropout2d: _dropout("Dropout2d"),
    torch.flatten: _flatten, torch.reshape: _reshaped, torch.permute: _permute, torch.transpose: _transpose,
    operator.add: _merge("Add", "adds"), operator.iadd: _merge("Add", "adds"),
    torch.add: _merge("Add", "adds"),
    operator.mul: _merge("Multiply", "multiplies by"), operator.imul: _merge("Multiply", "multiplies by"),
    torch.mul: _merge("Multiply", "multiplies by"),
    torch.cat: _cat, torch.concat: _cat,
    F.adaptive_avg_pool1d: _adaptive("GlobalAvgPool"), F.adaptive_avg_pool2d: _adaptive("GlobalAvgPool"),
    F.adaptive_max_pool1d: _adaptive("GlobalMaxPool"), F.adaptive_max_pool2d: _adaptive("GlobalMaxPool"),
    torch.mean: _reduce("GlobalAvgPool"), torch.amax: _reduce("GlobalMaxPool"),
    operator.getitem: _getitem, torch.select: _select, torch.narrow: _narrow,
    torch.chunk: _pieces_call, torch.split: _pieces_call, torch.tensor_split: _pieces_call,
    torch.unbind: _pieces_call, torch.squeeze: _reshaped, torch.unsqueeze: _reshaped,
    F.scaled_dot_product_attention: _sdpa,
    F.interpolate: _interpolate, F.pad: _pad, F.pixel_shuffle: lambda node, ctx: Mapped(
        "PixelShuffle", {"upscale_factor": int(_arg(node, 1, "upscale_factor"))}),
    F.max_pool1d: _pool("MaxPool1d", "max"), F.max_pool2d: _pool("MaxPool2d", "max"),
    F.avg_pool1d: _pool("AvgPool1d", "avg"), F.avg_pool2d: _pool("AvgPool2d", "avg"),
}

METHOD_RULES: dict[str, Any] = {
    "leaky_relu": _leaky_relu, "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "flatten": _flatten, "view": _reshaped, "reshape": _reshaped, "permute": _permute,
    "transpose": _transpose, "add": _merge("Add", "adds"), "mul": _merge("Multiply", "multiplies by"),
    "mul_": _merge("Multiply", "multiplies by"), "add_": _merge("Add", "adds"),
    "mean": _reduce("GlobalAvgPool"), "amax": _reduce("GlobalMaxPool"),
    "contiguous": _identity, "clamp": _clamp, "clip": _clamp,
    "chunk": _pieces_call, "split": _pieces_call, "tensor_split": _pieces_call, "unbind": _pieces_call,
    "select": _select, "narrow": _narrow, "squeeze": _reshaped, "unsqueeze": _reshaped,
}

for _type_id, (_functions, _methods) in _PLAIN.items():
    for _function in _functions:
        FUNCTION_RULES[_function] = (lambda t: lambda node, ctx: Mapped(t))(_type_id)
    for _method in _methods:
        METHOD_RULES[_method] = (lambda t: lambda node, ctx: Mapped(t))(_type_id)


def call_label(node: Node) -> str:
    """How messages name a call: "torch.fft.fft", "operator.sub", "Tensor.cumsum"."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or str(target)
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch") or module == "":
        real = getattr(target, "__name__", name)
        # torch.fft.rfft is torch._C._fft.fft_rfft underneath: name it the way users write it
        for space in ("fft", "linalg", "special", "nn"):
            if module.startswith((f"torch.{space}", f"torch._C._{space}")):
                return f"torch.{space}.{real.removeprefix(space + '_')}"
        return f"torch.{real}"
    return f"{module}.{name}"


def index_label(index: Any) -> str:
    """x[...] as written: (slice(None), -1) -> "[:, -1]"."""
    def one(item):
        if isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop, item.step))
            return text.rstrip(":") or ":" if item.step is None else text
        if item is Ellipsis:
            return "..."
        if item is None:
            return "None"
        return str(item) if not isinstance(item, Node) else "tensor"
    items = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join(one(i) for i in items) + "]"


def map_call(node: Node, ctx) -> Any:
    """The block for one call_function / call_method node; NoBlockError when DeepWire has none."""
    if node.op == "call_method":
        rule = METHOD_RULES.get(node.target)
    else:
        rule = FUNCTION_RULES.get(node.target)
    if rule is None:
        raise NoBlockError("")
    return rule(node, ctx)

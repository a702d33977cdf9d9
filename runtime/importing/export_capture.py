"""The fallback capture for code torch.fx cannot trace: torch.export, turned back into torch-level calls.

torch.fx traces with proxies, so Python that asks a tensor a question fails:
`if x.is_cuda`, `len(x)`, `assert x.dim() == 4`, branches on sizes. torch.export
runs the code on example values instead and records the ATen operators that
ran. `capture(model, example, names)` does that and rewrites the result into
the graph the fx importer reads: one placeholder per forward() argument (named
as in the signature), the model's parameters and buffers as get_attr nodes of
the model itself (`layer1.0.conv1.weight`), and each ATen operator as the torch
function it came from (aten.conv2d -> F.conv2d, aten.batch_norm -> F.batch_norm
with its arguments reordered, aten.view -> torch.reshape, ...), named after the
module that called it. ATen operators with no entry here stay as they are and
become Unsupported blocks named after them. Code whose graph depends on tensor
values (`if x.sum() > 0`) cannot be captured either: CaptureError then names the
line of the model's source that stopped it.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import operator
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn

aten = torch.ops.aten


class CaptureError(RuntimeError):
    """torch.export could not capture the model either; str() gives the reason and the model's line."""


def _padded(args, defaults: tuple) -> list:
    """args with the operator's defaults after the ones given (aten drops trailing defaults)."""
    return list(args[:len(defaults)]) + list(defaults[len(args):])


def _same(function):
    """An ATen operator whose arguments are the torch function's, in the same order."""
    return lambda args, kwargs: (function, args, kwargs)


def _batch_norm(args, kwargs):
    x, weight, bias, mean, var, training, momentum, eps = _padded(args, (None,) * 5 + (False, 0.1, 1e-5))
    return F.batch_norm, (x, mean, var, weight, bias, training, momentum, eps), {}


def _layer_norm(args, kwargs):
    x, shape, weight, bias, eps = _padded(args, (None, None, None, None, 1e-5))
    return F.layer_norm, (x, shape, weight, bias, eps), {}


def _group_norm(args, kwargs):
    x, groups, weight, bias, eps = _padded(args, (None, None, None, None, 1e-5))
    return F.group_norm, (x, groups, weight, bias, eps), {}


def _embedding(args, kwargs):
    weight, indices = args[:2]
    padding = args[2] if len(args) > 2 else -1
    return F.embedding, (indices, weight), ({} if padding == -1 else {"padding_idx": padding})


def _add(args, kwargs):
    if kwargs.get("alpha", 1) != 1:
        return torch.add, args, kwargs
    return operator.add, args, {}


def _slice(args, kwargs):
    x, dim, start, end, step = _padded(args, (None, 0, None, None, 1))
    end = None if end is not None and end >= 2 ** 62 else end
    index = (slice(None),) * dim + (slice(start or None, end, None if step == 1 else step),)
    return operator.getitem, (x, index), {}


def _select(args, kwargs):
    x, dim, position = args[:3]
    return operator.getitem, (x, (slice(None),) * dim + (position,)), {}


def _softmax(args, kwargs):
    return torch.softmax, tuple(args[:2]), {}


def _dropout(args, kwargs):
    x, p, train = _padded(args, (None, 0.5, False))
    return F.dropout, (x, p, train), {}


def _convolution(args, kwargs):
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args[:9]
    rank = weight.meta["val"].dim() - 2 if isinstance(weight, fx.Node) and "val" in weight.meta else 2
    if transposed:
        return getattr(F, f"conv_transpose{rank}d"), (x, weight, bias, stride, padding, output_padding,
                                                       groups, dilation), {}
    return getattr(F, f"conv{rank}d"), (x, weight, bias, stride, padding, dilation, groups), {}


def _table() -> dict[Any, Any]:
    same = {
        aten.conv1d.default: F.conv1d, aten.conv2d.default: F.conv2d,
        aten.conv_transpose1d.default: F.conv_transpose1d, aten.conv_transpose2d.input: F.conv_transpose2d,
        aten.linear.default: F.linear,
        aten.relu.default: torch.relu, aten.relu_.default: torch.relu, aten.gelu.default: F.gelu,
        aten.silu.default: F.silu, aten.silu_.default: F.silu, aten.sigmoid.default: torch.sigmoid,
        aten.tanh.default: torch.tanh, aten.hardtanh.default: F.hardtanh, aten.hardtanh_.default: F.hardtanh,
        aten.hardswish.default: F.hardswish, aten.hardswish_.default: F.hardswish,
        aten.hardsigmoid.default: F.hardsigmoid, aten.hardsigmoid_.default: F.hardsigmoid,
        aten.leaky_relu.default: F.leaky_relu, aten.leaky_relu_.default: F.leaky_relu,
        aten.elu.default: F.elu, aten.mish.default: F.mish,
        aten.mul.Tensor: operator.mul, aten.mul_.Tensor: operator.mul, aten.sub.Tensor: operator.sub,
        aten.div.Tensor: operator.truediv, aten.neg.default: operator.neg,
        aten.view.default: torch.reshape, aten.reshape.default: torch.reshape,
        aten._unsafe_view.default: torch.reshape,
        aten.flatten.using_ints: torch.flatten, aten.permute.default: torch.permute,
        aten.transpose.int: torch.transpose, aten.t.default: torch.t,
        aten.unsqueeze.default: torch.unsqueeze, aten.squeeze.dim: torch.squeeze,
        aten.squeeze.dims: torch.squeeze, aten.expand.default: torch.Tensor.expand,
        aten.mean.dim: torch.mean, aten.amax.default: torch.amax,
        aten.adaptive_avg_pool1d.default: F.adaptive_avg_pool1d,
        aten.adaptive_avg_pool2d.default: F.adaptive_avg_pool2d,
        aten.max_pool1d.default: F.max_pool1d, aten.max_pool2d.default: F.max_pool2d,
        aten.avg_pool1d.default: F.avg_pool1d, aten.avg_pool2d.default: F.avg_pool2d,
        aten.cat.default: torch.cat, aten.matmul.default: torch.matmul, aten.bmm.default: torch.bmm,
        aten.chunk.default: torch.chunk, aten.split.Tensor: torch.split,
        aten.scaled_dot_product_attention.default: F.scaled_dot_product_attention,
        aten.pixel_shuffle.default: F.pixel_shuffle, aten.upsample_nearest2d.vec: None,
        aten.log_softmax.int: torch.log_softmax,
    }
    table: dict[Any, Any] = {op: _same(fn) for op, fn in same.items() if fn is not None}
    table.update({
        aten.batch_norm.default: _batch_norm, aten.layer_norm.default: _layer_norm,
        aten.group_norm.default: _group_norm, aten.embedding.default: _embedding,
        aten.add.Tensor: _add, aten.add_.Tensor: _add, aten.slice.Tensor: _slice, aten.select.int: _select,
        aten.softmax.int: _softmax, aten._softmax.default: _softmax, aten.dropout.default: _dropout,
        aten.convolution.default: _convolution,
    })
    return table


TRANSLATE = _table()
# operators that hand their input on unchanged (at evaluation): the node is replaced by its input
PASS_THROUGH = {aten.contiguous.default, aten.clone.default, aten.alias.default, aten.detach.default,
                aten.lift_fresh_copy.default, aten.dropout_.default, aten.feature_dropout.default}


def capture(model: nn.Module, example: list[torch.Tensor], names: list[str]) -> fx.GraphModule:
    """model.forward(*example) as an fx graph of torch-level calls rooted at `model` (see the docstring)."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    # torch logs what it cannot follow on its own handlers (not sys.stderr): the error says it once
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.export.export(model, tuple(example), strict=False)
    except Exception as err:  # export raises many kinds for code it cannot follow
        raise CaptureError(_reason(err, model)) from None
    finally:
        logging.disable(logging.NOTSET)
        for module, training in modes.items():
            module.training = training
    return _rewrite(program, model, names)


def _rewrite(program, model: nn.Module, names: list[str]) -> fx.GraphModule:
    from torch.export.graph_signature import InputKind, OutputKind

    signature = program.graph_signature
    kinds = {spec.arg.name: spec for spec in signature.input_specs}
    users = iter(names)
    graph = fx.Graph()
    env: dict[fx.Node, Any] = {}
    for node in program.graph.nodes:
        if node.op == "placeholder":
            spec = kinds[node.name]
            if spec.kind == InputKind.USER_INPUT:
                env[node] = graph.placeholder(next(users))
            else:  # a parameter, buffer or constant of the model: read from the model itself
                env[node] = graph.get_attr(spec.target)
        elif node.op == "output":
            outputs = [o for o, spec in zip(node.args[0], signature.output_specs)
                       if spec.kind == OutputKind.USER_OUTPUT]
            values = [env[o] if isinstance(o, fx.Node) else o for o in outputs]
            graph.output(values[0] if len(values) == 1 else tuple(values))
        elif node.op == "call_function":
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            if node.target in PASS_THROUGH and args and isinstance(args[0], fx.Node):
                env[node] = args[0]
                continue
            target = node.target
            rule = TRANSLATE.get(target)
            if rule is not None:
                target, args, kwargs = rule(args, kwargs)
            env[node] = graph.create_node("call_function", target, tuple(args), dict(kwargs),
                                          name=_name(node))
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.eliminate_dead_code()
    return fx.GraphModule(model, graph, type(model).__name__)


def _name(node: fx.Node) -> str:
    """The block name: the module that made the call (layer1.0.conv1), else the operator's name."""
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        path = list(stack.values())[-1][0]
        path = path.removeprefix("L['self'].").replace("L__self___", "")
        if path:
            return path.replace(".", "_")
    return node.name


def _reason(err: Exception, model: nn.Module) -> str:
    """The first line of the error and the line of the model's code it came from."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    first = first.split(" (unhinted")[0].split(". ")[0][:200]  # torch's first sentence
    line = user_line(err, model)
    return f"{first}{f' ({line})' if line else ''}"


def user_line(err: BaseException, model: nn.Module) -> str:
    """'model.py line 12: if x.sum() > 0:' - the deepest frame in the model's own code, if any."""
    files = set()
    for cls in type(model).__mro__:
        if cls.__module__.startswith("torch."):
            continue
        with contextlib.suppress(TypeError, OSError):
            files.add(str(Path(inspect.getsourcefile(cls)).resolve()))
    found = None
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        for frame in traceback.extract_tb(err.__traceback__):
            with contextlib.suppress(OSError):
                if str(Path(frame.filename).resolve()) in files:
                    found = frame
        err = err.__cause__ or err.__context__
    if found is None:
        return ""
    return f"{Path(found.filename).name} line {found.lineno}: {(found.line or '').strip()}"

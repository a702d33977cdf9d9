"""Import a PyTorch nn.Module as a DeepWire network, from its torch.fx graph.

`import_module(model, inputs, heads, registry)` gets the module's graph
(fx_trace: torch.fx, or a torch.export capture where fx cannot follow the
code), runs it once on an example batch to learn every value's shape, then
walks the graph in order and turns each call into a block (fx_modules,
fx_functions, and fx_weighted for functional calls on the model's weights).
A few patterns span several calls and are matched here: which output of an
LSTM/GRU/RNN is used (its sequence, or its last state via h_n[-1] or
out[:, -1]), an adaptive pooling to 1 followed by a flatten (one Global
pool block), and chains a + b + c (one Add). What has no block becomes an
Unsupported block in place, named after the operation: never dropped.
A learned (1, 1, D) token expanded over the batch and put in front of a
sequence by torch.cat is one Class token block (ViT). A batch_first=False
LSTM/GRU/RNN behind x.transpose(0, 1) is the same layer batch-first on x
(its output swapped back, or out[-1], read as usual).
Values the output does not depend on are left out.
A module called again is another use of its first call's block (Block.shares: one module, its
weights once), and one Parameter held by several modules a tie (Network.ties), so the parameter
count stays the original's.
"""

from __future__ import annotations

import contextlib
import io
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx import Node
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

from graph.model import Definitions
from graph.sharing import PARAM_PATH
from graph.spec import Registry
from runtime.importing.fx_functions import (
    IDENTITY,
    GlobalPool,
    call_label,
    fixed_adaptive,
    index_label,
    map_call,
)
from runtime.importing.fx_modules import (
    ADAPTIVE,
    IDENTITY_MODULES,
    RECURRENT,
    attention_weights,
    encoder_layer,
    is_global_pool,
    map_module,
    module_label,
    recurrent_params,
)
from runtime.importing.fx_trace import (  # noqa: F401 - InputSpec, ModelImportError: this module's API
    TRACE_BATCH,
    InputSpec,
    ModelImportError,
    _placeholders,
    _read,
    capture_graph,
    choose_input_types,
    example_inputs,
)
from runtime.importing.fx_weighted import map_weighted
from runtime.importing.mapped import Mapped, NoBlockError
from runtime.importing.module_classes import make_definitions
from runtime.importing.module_groups import module_groups
from runtime.importing.network_builder import Head, ImportedNetwork, NetworkBuilder, head_for

STORED = "a tensor stored in the model and used directly in forward()"
MAX_INPUTS = 16  # the most inputs a variadic block (Concatenate, Add, Unsupported) takes


@dataclass
class _Recurrent:
    """An LSTM/GRU/RNN call on the way to one of its outputs; stage says which value a node holds."""

    node: Node  # the module call
    type_id: str
    params: dict[str, Any]
    weights: dict[str, Any]
    stage: str  # call, state, h, h2 (last two h of a bidirectional), h2t, seq, last; tseq: (T, B, H)
    source: Node | None = None  # the (B, T, F) sequence it reads (a time-first layer: before the swap)

    @property
    def reads(self) -> Node:
        return self.source if self.source is not None else self.node.args[0]


@dataclass
class _TimeFirst:
    """x.transpose(0, 1) of a (B, T, F) sequence, waiting for the batch_first=False LSTM/GRU/RNN that
    reads it: that layer becomes a plain (batch-first) block reading x, and the swap disappears."""

    node: Node
    source: Node


@dataclass
class _Stored:
    """A parameter or buffer of the model (get_attr), or a value computed from them alone
    (self.gamma.reshape(1, -1, 1, 1)), waiting for the call that uses it."""

    node: Node
    tensor: torch.Tensor


@dataclass
class _Token:
    """self.cls_token.expand(B, -1, -1): a learned (1, 1, D) token repeated for every sample, waiting for
    the torch.cat that puts it in front of a sequence (one Class token block)."""

    node: Node
    tensor: torch.Tensor
    name: str


@dataclass
class _Attention:
    """An nn.MultiheadAttention call whose first output (the attended values) becomes one block."""

    type_id: str
    params: dict[str, Any]
    weights: dict[str, Any]
    inputs: list[Node]


class _Context:
    """Shapes of traced values, for the mapping rules."""

    def full_shape(self, node: Node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta") if isinstance(node, Node) else None
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    def shape(self, node: Node) -> tuple[int, ...] | None:
        full = self.full_shape(node)
        return full[1:] if full else None

    def is_tensor(self, node: Node) -> bool:
        return self.full_shape(node) is not None


class FxConverter:
    def __init__(self, gm: fx.GraphModule, inputs: list[InputSpec], heads: list[Head] | Head | None,
                 registry: Registry, name: str = "model"):
        self.gm, self.inputs, self.heads = gm, inputs, heads
        self.build = NetworkBuilder(registry, name)
        self.ctx = _Context()
        self.value: dict[Node, Any] = {}  # node -> block id, _Recurrent or GlobalPool
        self.made: dict[tuple, str] = {}  # materialised pending values -> block id
        self.first_input: str | None = None
        self.module_block: dict[str, str] = {}  # module path -> the block its first call became
        self.uses: dict[str, int] = {}  # module path -> how many calls of it have become blocks
        self.shared_targets: set[str] = set()  # modules called more than once, their uses sharing one block

    # --- values ---
    def need(self, node: Node) -> str:
        """The block whose output is this node's value, creating it for a pending pattern."""
        value = self.value.get(node)
        if isinstance(value, str):
            return value
        if isinstance(value, _Recurrent):
            return self._recurrent_block(node, value)
        if isinstance(value, GlobalPool):
            return self._pool_block(value, flat=not value.keeps_dims, node=node)
        if isinstance(value, _Stored):
            return self._unsupported(node, STORED)
        if isinstance(value, _TimeFirst):
            return self._unsupported(node, "it moves the batch axis")
        if isinstance(value, _Token):
            return self._unsupported(node, STORED + ", repeated over the batch (a Class token block is this "
                                     "followed by torch.cat in front of a sequence)")
        # a value no rule produced (e.g. a tuple): stand in for it so the wire is not lost
        bid = self._unsupported(node, STORED if node.op == "get_attr" else
                                "an intermediate value DeepWire cannot pass along")
        return bid

    def sources(self, node: Node, args: list[Node] | None = None) -> list[str]:
        if args is None:  # every tensor argument but the model's own weights (they stay in the model)
            args = [a for a in _flatten_args(node) if (a in self.value or self.ctx.is_tensor(a))
                    and not isinstance(self.value.get(a), _Stored)]
        return [self.need(a) for a in args]

    def _recurrent_block(self, node: Node, rec: _Recurrent) -> str:
        if rec.stage not in ("seq", "last"):
            return self._unsupported(node, f"this value of {rec.type_id} '{rec.node.target}' (DeepWire's "
                                     f"{rec.type_id} gives its output sequence or its last hidden state)",
                                     args=[rec.reads])
        output = "sequence" if rec.stage == "seq" else "last"
        key = ("rnn", rec.node, output)
        if key not in self.made:
            params = dict(rec.params, output=output)
            first = output == "sequence" or ("rnn", rec.node, "sequence") not in self.made
            name = str(rec.node.target) if first else f"{rec.node.target}_last"
            source = self.need(rec.reads)
            user, self.build.scope = self.build.scope, module_path(rec.node)  # made when first used:
            self.made[key] = self.build.add(rec.type_id, name, params, [source], dict(rec.weights))
            self.build.scope = user  # in its own module's group, not its user's
        return self.made[key]

    def _pool_block(self, pool: GlobalPool, flat: bool, node: Node) -> str:
        key = ("pool", pool.source, pool.kind)
        if key not in self.made:
            name = pool.name or (node.target if node.op == "call_module" else node.name)
            self.made[key] = self.build.add(pool.kind, str(name), {}, [self.need(pool.source)])
        bid = self.made[key]
        if flat:
            return bid
        # (B, C) back to (B, C, 1, 1): what the adaptive pooling itself returned
        keep = ("pool_keep", pool.source, pool.kind)
        if keep not in self.made:
            shape = self.ctx.shape(node)
            self.made[keep] = self.build.add("Reshape", f"{node.name}_keepdims", {"shape": tuple(shape)},
                                             [bid])
        return self.made[keep]

    def _unsupported(self, node: Node, detail: str, operation: str | None = None,
                     args: list[Node] | None = None) -> str:
        sources = self.sources(node, args)
        stored = [str(a.target) for a in _flatten_args(node) if isinstance(self.value.get(a), _Stored)]
        if stored and args is None:  # the weights stay in the model; the message names them
            detail = (detail + "; " if detail else "") + f"{STORED} ({', '.join(stored)[:100]})"
        if not sources and self.first_input is not None:
            sources = [self.first_input]
            detail = (detail + "; " if detail else "") + \
                "it reads no tensor of the model (the wire from the input only places it)"
        bid = self.build.unsupported(operation or self._label(node), self._name(node), sources, detail,
                                     self.ctx.shape(node))
        self.value[node] = bid
        return bid

    def _label(self, node: Node) -> str:
        if node.op == "call_module":
            return module_label(self.gm.get_submodule(node.target))
        if node.op == "get_attr":
            return f"parameter or buffer '{node.target}'"
        if node.target is operator.getitem:
            return f"indexing x{index_label(node.args[1])}"
        return call_label(node)

    def _name(self, node: Node) -> str:
        return str(node.target) if node.op == "call_module" else node.name

    # --- the walk ---
    def convert(self) -> ImportedNetwork:
        graph = self.gm.graph
        output = next(n for n in graph.nodes if n.op == "output")
        live = _ancestors(output)
        specs = {s.name: s for s in self.inputs}
        for node in graph.nodes:
            if node.op == "placeholder":
                spec = specs.get(str(node.target))
                if spec is None:
                    continue  # an optional argument traced at its default
                bid = self.build.add(spec.type, spec.name, spec.params)
                self.value[node] = bid
                self.first_input = self.first_input or bid
            elif node not in live:
                continue
            elif node.op == "output":
                self.build.scope = ""
                self._heads(node)
            else:
                self.build.scope = module_path(node)
                self._visit(node)
        self._note_shared_modules(live)
        self._tie_parameters()
        self.build.layout()
        self.build.group_by_modules()
        return self.build.result

    def _note_shared_modules(self, live: set[Node]) -> None:
        """A module with weights called more than once becomes one block per call, each with a copy."""
        calls: dict[str, int] = {}
        for node in self.gm.graph.nodes:
            if node.op != "call_module" or node not in live:
                continue
            if next(self.gm.get_submodule(node.target).parameters(), None) is not None:
                calls[node.target] = calls.get(node.target, 0) + 1
        for target, count in calls.items():
            if count > 1 and target not in self.shared_targets:
                self.build.result.notes.append(
                    f"module '{target}' is used {count} times: each use became its own block with a copy of "
                    "its weights, so fine-tuning trains the copies separately")

    def _tie_parameters(self) -> None:
        """One Parameter held by several modules (a GPT's head weight is its token embedding): tied
        parameters of their blocks, so the tensor stays one and is counted once."""
        holders: dict[int, list[tuple[str, torch.Tensor]]] = {}
        for name, param in self.gm.named_parameters(remove_duplicate=False):
            holders.setdefault(id(param), []).append((name, param))
        ties: dict[str, str] = {}
        for places in holders.values():
            found = []
            for name, param in places:
                target, _, key = name.rpartition(".")
                bid = self.module_block.get(target)
                weight = self.build.result.weights.get(bid, {}).get(key) if bid is not None else None
                # the block's weight of that name is this very parameter's value (not a renamed one)
                if isinstance(weight, torch.Tensor) and weight.shape == param.shape and \
                        torch.equal(weight, param.detach()) and PARAM_PATH.match(key):
                    found.append(f"{bid}.{key}")
            for key in found[1:]:
                ties[key] = found[0]
        if ties:
            self.build.net.set_ties(ties)

    def _visit(self, node: Node) -> None:
        if node.op == "get_attr":
            # left to its users (need() makes the Unsupported block only for one no rule takes):
            # F.linear(x, self.w) becomes a Linear, x * self.gamma a LayerScale holding gamma
            if self.ctx.is_tensor(node):
                self.value[node] = _Stored(node, _read(self.gm, str(node.target)))
            return
        if node.op == "call_module":
            self._visit_module(node)
            return
        if node.target is operator.getitem and self._visit_getitem(node):
            return
        source = node.args[0] if node.args and isinstance(node.args[0], Node) else None
        pending = self.value.get(source) if source is not None else None
        if isinstance(pending, _Recurrent) and pending.stage == "h2" and node.op == "call_method" \
                and node.target == "transpose" and tuple(node.args[1:]) == (0, 1):
            self.value[node] = _Recurrent(**{**pending.__dict__, "stage": "h2t"})
            return
        if source is not None and _swaps_batch_and_time(node, self.ctx):
            if isinstance(pending, _Recurrent) and pending.stage == "tseq":
                self.value[node] = _Recurrent(**{**pending.__dict__, "stage": "seq"})  # back to (B, T, H)
                return
            if not isinstance(pending, (_Stored, _TimeFirst)):
                self.value[node] = _TimeFirst(node, source)
                return
        if not self.ctx.is_tensor(node) and not _holds_tensors(node):
            return  # sizes, shapes and other plain values: read by the calls that use them
        if isinstance(pending, _Stored) and node.op == "call_method" and node.target == "expand":
            token = _token(pending, node, self.ctx)
            if token is not None:
                self.value[node] = token
                return
        if node.target in (torch.cat, torch.concat) and self._class_token(node):
            return
        folded = self._fold(node)
        if folded is not None:
            self.value[node] = _Stored(node, folded)
            return
        try:
            mapped = map_weighted(node, self.ctx, self._stored)
            mapped = map_call(node, self.ctx) if mapped is None else mapped
        except NoBlockError as why:
            self._unsupported(node, str(why))
            return
        if mapped is IDENTITY:
            if source is None and node.args and isinstance(node.args[0], (list, tuple)):
                source = node.args[0][0]  # torch.cat([x]): x itself
            self.value[node] = self.value.get(source) if source in self.value else self.need(source)
            return
        if isinstance(mapped, GlobalPool):
            self.value[node] = mapped
            return
        if isinstance(mapped, list):  # one call, several blocks in a chain
            bid = self.need(source)
            for i, step in enumerate(mapped):
                bid = self.build.add(step.type, node.name if i == len(mapped) - 1 else f"{node.name}_{i + 1}",
                                     step.params, [bid], step.weights)
            self.value[node] = bid
            return
        if mapped.type == "Flatten" and source is not None:
            if isinstance(pending, GlobalPool):
                self.value[node] = self._pool_block(pending, flat=True, node=node)
                return
            if isinstance(pending, _Recurrent) and pending.stage == "h2t" and node.target == "flatten":
                self.value[node] = _Recurrent(**{**pending.__dict__, "stage": "last"})
                return
        self._place(node, mapped)

    def _class_token(self, node: Node) -> bool:
        """torch.cat([token.expand(B, -1, -1), x], dim=1) on a (B, T, D) x: one Class token block."""
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if not isinstance(tensors, (list, tuple)) or len(tensors) != 2 or not isinstance(dim, int):
            return False
        token, x = (self.value.get(t) for t in tensors)
        shape = self.ctx.full_shape(tensors[1])
        if not isinstance(token, _Token) or isinstance(x, (_Token, _Stored)) or shape is None \
                or len(shape) != 3 or dim % 3 != 1 or shape[2] != token.tensor.shape[-1]:
            return False
        self.value[node] = self.build.add("ClassToken", token.name, {}, [self.need(tensors[1])],
                                          {"token": token.tensor.detach().clone().reshape(1, 1, -1)})
        return True

    def _stored(self, node: Node) -> torch.Tensor | None:
        value = self.value.get(node)
        return value.tensor if isinstance(value, _Stored) else None

    def _fold(self, node: Node) -> torch.Tensor | None:
        """The value of a call on stored tensors alone (no input reaches it), computed once."""
        args = _flatten_args(node)
        if not args or not all(isinstance(self.value.get(a), _Stored) for a in args):
            return None
        values = fx.node.map_arg((node.args, node.kwargs), lambda n: self.value[n].tensor)
        try:
            with torch.no_grad():
                if node.op == "call_method":
                    result = getattr(values[0][0], node.target)(*values[0][1:], **values[1])
                else:
                    result = node.target(*values[0], **values[1])
        except Exception:  # noqa: BLE001 - not foldable: the call stays, as a block or Unsupported
            return None
        return result if isinstance(result, torch.Tensor) else None

    def _place(self, node: Node, mapped: Mapped, name: str | None = None) -> None:
        args = mapped.inputs
        if mapped.type in ("Add", "Multiply") and args:
            first = args[0]
            bid = self.value.get(first)
            block = self.build.net.blocks.get(bid) if isinstance(bid, str) else None
            if block is not None and block.type == mapped.type and len(first.users) == 1 \
                    and first.op != "placeholder" and int(block.params.get("inputs", 2)) < MAX_INPUTS \
                    and not self.build.net.edges_from(bid):
                self.build.extend(bid, self.need(args[1]))
                self.value[node] = bid
                return
        sources = self.sources(node, args)
        name = name or self._name(node)
        if mapped.type == "Concatenate" and len(sources) > MAX_INPUTS:
            # joining the first 16, then that and up to 15 more, ... gives exactly the one cat
            bid = self.build.add("Concatenate", f"{name}_1", dict(mapped.params, inputs=MAX_INPUTS),
                                 sources[:MAX_INPUTS])
            rest, part = sources[MAX_INPUTS:], 2
            while rest:
                chunk, rest = rest[:MAX_INPUTS - 1], rest[MAX_INPUTS - 1:]
                params = dict(mapped.params, inputs=1 + len(chunk))
                bid = self.build.add("Concatenate", name if not rest else f"{name}_{part}", params,
                                     [bid, *chunk])
                part += 1
            self.value[node] = bid
            return
        self.value[node] = self.build.add(mapped.type, name, mapped.params, sources, mapped.weights)

    def _visit_module(self, node: Node) -> None:
        module = self.gm.get_submodule(node.target)
        if isinstance(module, IDENTITY_MODULES):
            self.value[node] = self.need(node.args[0])
            return
        if type(module) in RECURRENT:
            try:
                params = recurrent_params(module)
            except NoBlockError as why:
                self._unsupported(node, str(why))
                return
            if len([a for a in node.args if a is not None]) > 1 or node.kwargs:
                self._unsupported(node, "a starting state passed in (DeepWire starts from zeros)")
                return
            swapped = self.value.get(node.args[0])
            if not module.batch_first and not isinstance(swapped, _TimeFirst):
                self._unsupported(node, "batch_first=False on a sequence not swapped from (B, T, F) by "
                                  "x.transpose(0, 1) (DeepWire sequences are (B, T, F))")
                return
            weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
            # time-first: the same layer with batch_first=True reading the sequence before the swap
            source = None if module.batch_first else swapped.source
            self.value[node] = _Recurrent(node, RECURRENT[type(module)], params, weights, "call", source)
            return
        if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerEncoder, nn.MultiheadAttention)):
            try:
                self._transformer(node, module)
            except NoBlockError as why:
                self._unsupported(node, str(why))
            return
        kind = is_global_pool(module)
        if kind is not None:
            self.value[node] = GlobalPool(kind, node.args[0], keeps_dims=True, name=str(node.target))
            return
        if type(module) in ADAPTIVE and not getattr(module, "return_indices", False):
            try:
                mapped = fixed_adaptive(ADAPTIVE[type(module)], self.ctx.full_shape(node.args[0]),
                                        self.ctx.full_shape(node))
            except NoBlockError as why:
                self._unsupported(node, str(why))
                return
            if mapped is IDENTITY:
                self.value[node] = self.need(node.args[0])
            else:
                self._place(node, mapped)
            return
        try:
            mapped = map_module(module, self.ctx.shape(node.args[0]) if node.args else None)
        except NoBlockError as why:
            self._unsupported(node, str(why))
            return
        first = self.module_block.get(str(node.target))
        if first is not None and mapped.weights:
            # the same module called again: another use of the first call's block, sharing its weights
            uses = self.uses[str(node.target)] = self.uses.get(str(node.target), 1) + 1
            self._place(node, Mapped(mapped.type, mapped.params, None, mapped.inputs),
                        name=f"{node.target}_use{uses}")
            bid = self.value.get(node)
            block = self.build.net.blocks.get(bid) if isinstance(bid, str) else None
            owner = self.build.net.blocks[first]
            if block is not None and block.type == owner.type and block.params == owner.params:
                self.build.net.set_shares(bid, first)
                self.shared_targets.add(str(node.target))
            elif bid is not None:
                self.build.result.weights[bid] = mapped.weights  # not the same block: its own copy
            return
        self._place(node, mapped)
        bid = self.value.get(node)
        if mapped.weights and isinstance(bid, str) and bid in self.build.result.weights:
            self.module_block[str(node.target)] = bid

    def _transformer(self, node: Node, module: nn.Module) -> None:
        """torch's encoder layers (one block each, plus a final LayerNorm) and multi-head attention."""
        extra = [a for a in node.args[1:] if a is not None] + [k for k, v in node.kwargs.items()
                                                             if v not in (None, False)]
        if isinstance(module, nn.MultiheadAttention):
            query, key, value = (list(node.args) + [None, None])[:3]
            if [a for a in node.args[3:] if a is not None] or any(
                    v is not None and k != "need_weights" for k, v in node.kwargs.items()):
                raise NoBlockError("a mask or other option passed to the attention call")
            weights = attention_weights(module)
            heads, dropout = module.num_heads, float(module.dropout)
            if query is key is value:
                block = _Attention("SelfAttention", {"heads": heads, "dropout": dropout}, weights, [query])
            elif key is value and isinstance(key, Node):
                block = _Attention("CrossAttention", {"heads": heads, "dropout": dropout}, weights,
                                   [query, key])
            else:
                raise NoBlockError("different keys and values (DeepWire attends to one context)")
            self.value[node] = block
            return
        if extra:
            raise NoBlockError("a mask or other option passed to the layer")
        layers = [module] if isinstance(module, nn.TransformerEncoderLayer) else list(module.layers)
        source = self.need(node.args[0])
        for i, layer in enumerate(layers):
            params, weights = encoder_layer(layer)
            name = str(node.target) if len(layers) == 1 else f"{node.target}.layers.{i}"
            source = self.build.add("TransformerEncoderBlock", name, params, [source], weights)
        norm = getattr(module, "norm", None)
        if norm is not None:
            mapped = map_module(norm, None)
            source = self.build.add(mapped.type, f"{node.target}.norm", mapped.params, [source],
                                    mapped.weights)
        self.value[node] = source

    def _visit_getitem(self, node: Node) -> bool:
        """LSTM/GRU/RNN and attention outputs picked apart by indexing; True when recognised."""
        source, index = node.args
        attention = self.value.get(source)
        if isinstance(attention, _Attention) and index == 0:
            params = {k: v for k, v in attention.params.items() if not (k == "dropout" and v == 0.0)}
            self.value[node] = self.build.add(attention.type_id, str(source.target), params,
                                              [self.need(a) for a in attention.inputs], attention.weights)
            return True
        rec = self.value.get(source)
        if not isinstance(rec, _Recurrent):
            return False
        bidirectional = bool(rec.params.get("bidirectional"))
        layers = int(rec.params.get("num_layers", 1)) * (2 if bidirectional else 1)
        stage = None
        if rec.stage == "call" and index == 0:
            stage = "seq" if rec.source is None else "tseq"
        elif rec.stage == "call" and index == 1:
            stage = "state" if rec.type_id == "LSTM" else "h"
        elif rec.stage == "state" and index == 0:
            stage = "h"
        elif rec.stage == "h" and not bidirectional and index in (-1, layers - 1):
            stage = "last"
        elif rec.stage == "h" and bidirectional and index in (slice(-2, None), slice(layers - 2, layers),
                                                              slice(layers - 2, None)):
            stage = "h2"
        elif rec.stage == "seq" and not bidirectional and _is_last_step(index):
            stage = "last"
        elif rec.stage == "tseq" and not bidirectional and index in (-1, (-1,), (-1, slice(None)),
                                                                     (-1, slice(None), slice(None))):
            stage = "last"  # out[-1] of a (T, B, H) output: the last step, the top layer's h_n
        if stage is None:
            return False
        self.value[node] = _Recurrent(**{**rec.__dict__, "stage": stage})
        return True

    def _heads(self, node: Node) -> None:
        returned = node.args[0]
        values = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        if not values or not all(isinstance(v, Node) for v in values):
            raise ModelImportError("forward() must return a tensor or a tuple of tensors; it returns "
                                f"{type(returned).__name__}")
        for i, value in enumerate(values):
            type_id, params = head_for(self.heads, i)
            params = dict(params)
            shape = self.ctx.shape(value) or ()
            if type_id == "ClassificationHead" and len(shape) == 3:
                # cross-entropy over (B, classes, H, W) scores: a class per pixel, as torch reads it
                type_id, params = "SegmentationHead", {"classes": shape[0]}
            elif type_id == "ClassificationHead" and shape:
                params["classes"] = shape[-1]
            name = "output" if len(values) == 1 else f"output_{i + 1}"
            self.build.add(type_id, name, params, [self.need(value)])


def _is_last_step(index) -> bool:
    """out[:, -1] or out[:, -1, :]: the last time step of a (B, T, H) sequence."""
    if not isinstance(index, tuple) or len(index) not in (2, 3):
        return False
    whole = slice(None, None, None)
    return index[0] == whole and index[1] == -1 and (len(index) == 2 or index[2] == whole)


def module_path(node: Node) -> str:
    """The module an operation belongs to: "layer1.0.conv1" for that call, "layer1.0" for the residual
    add in that block's forward(), "" for the model's own forward() (or a capture that keeps none)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1]
    path = path[0] if isinstance(path, tuple) else path
    return path if isinstance(path, str) and path.replace(".", "").replace("_", "").isalnum() else ""


def _token(stored: _Stored, node: Node, ctx: _Context) -> _Token | None:
    """A (1, 1, D) stored tensor expanded to (B, 1, D), as a class token is; None otherwise."""
    full = ctx.full_shape(node)
    if tuple(stored.tensor.shape) != (1, 1, stored.tensor.shape[-1]) or full is None or len(full) != 3 \
            or tuple(full[1:]) != (1, stored.tensor.shape[-1]):
        return None
    target = stored.node.target if stored.node.op == "get_attr" else stored.node.name
    return _Token(node, stored.tensor, str(target))


def _swaps_batch_and_time(node: Node, ctx: _Context) -> bool:
    """x.transpose(0, 1), torch.transpose(x, 0, 1), x.swapaxes(0, 1) or x.permute(1, 0, 2) of a (B, T, F)
    sequence: what feeds a batch_first=False recurrent layer (and turns its output back)."""
    full = ctx.full_shape(node)
    if full is None or len(full) != 3:
        return False
    args = list(node.args[1:])
    if node.target in ("transpose", "swapaxes", torch.transpose, torch.swapaxes):
        axes = sorted(a % 3 for a in args if isinstance(a, int))
        return len(args) == 2 and not node.kwargs and axes == [0, 1]
    if node.target in ("permute", torch.permute):
        dims = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        return not node.kwargs and [d % 3 if isinstance(d, int) else d for d in dims] == [1, 0, 2]
    return False


def _flatten_args(node: Node) -> list[Node]:
    found: list[Node] = []

    def visit(value):
        if isinstance(value, Node):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    visit(node.args)
    visit(node.kwargs)
    return list(dict.fromkeys(found))


def _holds_tensors(node: Node) -> bool:
    meta = node.meta.get("tensor_meta")
    return isinstance(meta, (tuple, list)) and any(isinstance(m, (TensorMetadata, tuple, list)) for m in meta)


def _ancestors(output: Node) -> set[Node]:
    seen: set[Node] = set()
    stack = [output]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.all_input_nodes)
    return seen


def import_module(model: nn.Module, inputs: list[InputSpec], heads: list[Head] | Head | None,
                  registry: Registry, name: str = "model",
                  definitions: Definitions | None = None) -> tuple[ImportedNetwork, fx.GraphModule]:
    """Trace `model` and convert it; the GraphModule comes back for checking outputs.

    definitions: where the model's module classes become block definitions (module_classes.py);
    None: every call stays a plain block."""
    gm = capture_graph(model, inputs)
    by_name = {s.name: s for s in inputs}
    # arguments fixed at their defaults (concrete_args) stay placeholders, with that default
    fixed = {name for name, node in _placeholders(gm).items() if name not in by_name and node.args}
    placeholders = [name for name in _placeholders(gm) if name not in fixed]
    unknown = [p for p in placeholders if p not in by_name]
    if unknown:
        raise ModelImportError(f"forward() takes {', '.join(placeholders)} but no shape was given for "
                            f"{', '.join(unknown)}: use --input-shape NAME=SIZES for each")
    inputs = [by_name[p] for p in placeholders]
    choose_input_types(gm, inputs)
    gm.eval()  # running it once for shapes must not move batch-norm statistics
    try:
        # ShapeProp prints the traceback of a failing call itself: the message below says it in a line
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(*example_inputs(inputs))
    except Exception as err:  # the user's model refused the example batch
        err = err.__cause__ or err  # ShapeProp's own wrapper names the node, not the reason
        shapes = ", ".join(f"{s.name} (B, {', '.join(map(str, s.shape))})" for s in inputs)
        raise ModelImportError(f"running {type(model).__name__} on an example batch of {shapes} failed: "
                            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}; "
                            "check --input-shape") from None
    converted = FxConverter(gm, inputs, heads, registry, name).convert()
    if definitions is not None:
        leaves = {str(n.target) for n in gm.graph.nodes if n.op == "call_module"}
        converted.notes += make_definitions(converted, model, leaves, registry, definitions)
        net = converted.network
        starts = {bid for bid, b in net.blocks.items()
                  if b.type in registry and registry.get(b.type).role == "input"}
        net.set_groups(module_groups(net, converted.scopes, starts))
    return converted, gm

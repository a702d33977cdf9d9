"""Shared modules and tied parameters: one set of weights used in more than one place.

A block whose `shares` names another block is another use of that block's
module (a siamese net's encoder applied to both inputs): it has no module of
its own, its settings are the owner's, and the compiler makes its forward
line call the owner's submodule. A network's `ties` map "block.param" to
"block.param": the first is made the very tensor of the second (a GPT's
output layer reading its token embedding), by an assignment after both
submodules are built.

Here: the checks (`sharing_diagnostics`), which block holds the weights a
group of uses runs (`holder`), and how many parameters a tie saves
(`tied_counts`). Tied shapes are found by building the two submodules on
torch's meta device (no memory), torch imported only when a network has ties.
"""

from __future__ import annotations

import ast
import math
import re
from functools import lru_cache

from graph.diagnostics import ERROR, WARNING, Diagnostic
from graph.infer import Inference, block_label
from graph.model import Network
from graph.spec import Registry

PARAM_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def holder(network: Network, block_id: str) -> str | None:
    """The use of a module that builds it: the first enabled one (the owner unless it is disabled);
    None when every use is disabled."""
    return next((bid for bid in network.uses_of(block_id) if network.blocks[bid].enabled), None)


def counts_weights(network: Network, block_id: str) -> bool:
    """Whether this block's weights count (a shared module counts once, at its holder)."""
    if len(network.uses_of(block_id)) == 1:  # (no scan at all while the network shares nothing)
        return True
    return holder(network, block_id) == block_id


def split_key(network: Network, key: str) -> tuple[str, str] | None:
    """"b3.weight" -> ("b3", "weight"); None when no block of the network starts it."""
    if not isinstance(key, str):
        return None
    found = [bid for bid in network.blocks if key.startswith(bid + ".")]
    if not found:
        return None
    bid = max(found, key=len)
    return bid, key[len(bid) + 1:]


def _emission(network: Network, registry: Registry, inference: Inference, bid: str):
    block = network.blocks[bid]
    if block.type not in registry or bid not in inference.params or inference.shapes.get(bid) is None:
        return None
    spec = registry.get(block.type)
    try:
        return spec.emit(inference.params[bid], inference.inputs.get(bid, {}), inference.shapes[bid])
    except Exception:  # noqa: BLE001 - an emit rule failing is reported by the shape checks
        return None


_UNCHECKED = "unchecked"  # a module of DeepWire's helper classes: its shapes are checked when it is built


@lru_cache(maxsize=256)
def _parameter_shape(expr: str, helpers: tuple[str, ...], path: str) -> tuple[int, ...] | None | str:
    """The shape of parameter `path` of the module `expr` builds (on the meta device); None when it has
    no such parameter; _UNCHECKED for helper classes; a message when the module cannot be built here.

    `expr` is a block declaration's constructor call (`nn.Linear(64, 97, bias=False)`): it is read as a
    syntax tree whose calls resolve only to torch.nn names and whose arguments are literals, so no text
    is ever evaluated as code here (runtime/build.py is the one place that runs generated code).
    """
    if helpers:
        return _UNCHECKED
    import torch
    from torch import nn

    try:
        with torch.device("meta"):
            module = _construct(ast.parse(expr, mode="eval").body, nn)
    except Exception as err:  # noqa: BLE001 - e.g. a backbone reading a file: said in the message
        return f"its module cannot be built to check ({type(err).__name__})"
    try:
        value = module.get_parameter(path)
    except (AttributeError, TypeError):
        return None
    return tuple(value.shape)


def _construct(node: ast.expr, nn):
    """A module from a constructor call whose callee is nn.<Name> and whose arguments are literals or
    such calls (nn.Sequential(nn.Linear(...), ...)); anything else raises ValueError."""
    if isinstance(node, ast.Call):
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "nn"
                and isinstance(getattr(nn, func.attr, None), type)):
            raise ValueError(f"not a torch.nn constructor: {ast.unparse(func)}")
        args = [_construct(a, nn) for a in node.args]
        kwargs = {k.arg: _construct(k.value, nn) for k in node.keywords if k.arg is not None}
        return getattr(nn, func.attr)(*args, **kwargs)
    return ast.literal_eval(node)


def _tie_side(network: Network, registry: Registry, inference: Inference, key: str,
              where: str) -> tuple[str, str, tuple[int, ...] | None] | Diagnostic:
    parts = split_key(network, key)
    net = network.name
    if parts is None:
        return Diagnostic(ERROR, "tie", f"{where}: {key!r} names no block of network '{net}' (write it as "
                          "BLOCK_ID.PARAMETER, e.g. b3.weight); remove the tie or correct it", network=net)
    bid, path = parts
    block = network.blocks[bid]
    spec = registry.get(block.type) if block.type in registry else None
    label = block_label(spec, block)
    if not PARAM_PATH.match(path):
        return Diagnostic(ERROR, "tie", f"{where}: {path!r} is not a parameter name of {label}", bid,
                          network=net)
    if block.shares is not None:
        return Diagnostic(ERROR, "tie", f"{where}: {label} uses another block's module; tie the parameter "
                          "of the block that holds it", bid, network=net)
    if not block.enabled:
        return Diagnostic(ERROR, "tie", f"{where}: {label} is disabled, so it has no {path} to tie; enable "
                          "it or remove the tie", bid, network=net)
    if spec is not None and "definition" in spec.tags:
        return bid, path, None  # an instance's parameters (conv1.weight) are checked when it is built
    emission = _emission(network, registry, inference, bid)
    if emission is None:
        return bid, path, None  # its shape is unknown: the shape checks report why
    if emission.module is None:
        return Diagnostic(ERROR, "tie", f"{where}: {label} has no weights, so it has no {path} to tie", bid,
                          network=net)
    shape = _parameter_shape(emission.module, tuple(emission.helpers), path)
    if shape == _UNCHECKED:
        return bid, path, None
    if isinstance(shape, str):
        return Diagnostic(ERROR, "tie", f"{where}: {label}: {shape}", bid, network=net)
    if shape is None:
        return Diagnostic(ERROR, "tie", f"{where}: {label} has no parameter {path!r}; correct the name or "
                          "remove the tie", bid, network=net)
    return bid, path, shape


def _ties(network: Network, registry: Registry, inference: Inference) -> tuple[list[Diagnostic], dict]:
    diags: list[Diagnostic] = []
    good: dict[str, int] = {}  # tied target block -> parameters it does not own
    targets = set(network.ties)
    for key, source in network.ties.items():
        where = f"tied parameter {key!r} -> {source!r}"
        sides = [_tie_side(network, registry, inference, k, where) for k in (key, source)]
        bad = [s for s in sides if isinstance(s, Diagnostic)]
        if bad:
            diags.extend(bad)
            continue
        (tb, tp, tshape), (sb, sp, sshape) = sides
        if source in targets:
            diags.append(Diagnostic(ERROR, "tie", f"{where}: {source!r} is itself tied to "
                                    f"{network.ties[source]!r}; tie {key!r} to that directly", tb,
                                    network=network.name))
            continue
        if tb == sb:
            diags.append(Diagnostic(ERROR, "tie", f"{where}: a block cannot be tied to itself", tb,
                                    network=network.name))
            continue
        if tshape is not None and sshape is not None and tshape != sshape:
            tl = block_label(registry.get(network.blocks[tb].type), network.blocks[tb])
            sl = block_label(registry.get(network.blocks[sb].type), network.blocks[sb])
            diags.append(Diagnostic(ERROR, "tie", f"{tl}'s {tp} {tshape} cannot be tied to {sl}'s {sp} "
                                    f"{sshape}: their shapes differ; change one block's settings or remove "
                                    "the tie", tb, network=network.name))
            continue
        if tshape is not None:
            good[tb] = good.get(tb, 0) + math.prod(tshape)
        tblock, sblock = network.blocks[tb], network.blocks[sb]
        if tblock.frozen != sblock.frozen:
            frozen, other = (tblock, sblock) if tblock.frozen else (sblock, tblock)
            diags.append(Diagnostic(WARNING, "tie", f"{block_label(registry.get(frozen.type), frozen)} is "
                                    f"frozen and {block_label(registry.get(other.type), other)} is not, but "
                                    f"their tied {tp} is one tensor: it stays fixed for both; freeze or "
                                    "unfreeze both", tb, network=network.name))
    return diags, good


def tied_counts(network: Network, registry: Registry, inference: Inference) -> dict[str, int]:
    """Block id -> parameters it holds only as another block's tensor (counted there, not here)."""
    if not network.ties:
        return {}
    return _ties(network, registry, inference)[1]


def sharing_diagnostics(network: Network, registry: Registry, inference: Inference) -> list[Diagnostic]:
    """Errors for uses of a missing or different module, and for ties that cannot hold."""
    diags: list[Diagnostic] = []
    net = network.name
    for bid, block in network.blocks.items() if network.shares_modules else ():
        if block.shares is None:
            continue
        spec = registry.get(block.type) if block.type in registry else None
        label = block_label(spec, block)
        owner = network.blocks.get(block.shares)
        if owner is None:
            diags.append(Diagnostic(ERROR, "shares", f"{label} uses the module of block {block.shares!r}, "
                                    f"which is not in network '{net}': make it independent (inspector) or "
                                    "delete it", bid, network=net))
            continue
        owner_label = block_label(registry.get(owner.type) if owner.type in registry else None, owner)
        if owner.id == bid or owner.shares is not None:
            diags.append(Diagnostic(ERROR, "shares", f"{label} uses the module of {owner_label}, which uses "
                                    "another block's module itself; point it at the block that holds it",
                                    bid, network=net))
        elif owner.type != block.type:
            diags.append(Diagnostic(ERROR, "shares", f"{label} uses the module of {owner_label}, a different "
                                    "kind of block; make it independent", bid, network=net))
        elif owner.params != block.params:
            diags.append(Diagnostic(ERROR, "shares", f"{label} uses the module of {owner_label} but its "
                                    "settings differ; make it independent or give it the same settings",
                                    bid, network=net))
        else:
            mine = _emission(network, registry, inference, bid)
            theirs = _emission(network, registry, inference, owner.id)
            if mine is not None and theirs is not None and mine.module != theirs.module:
                from graph.shapes import format_shape

                diags.append(Diagnostic(
                    ERROR, "shares", f"{label} uses the module of {owner_label}, but receives "
                    f"{_inputs_text(inference, bid, format_shape)} where it receives "
                    f"{_inputs_text(inference, owner.id, format_shape)}, which needs a different layer "
                    f"({mine.module} vs {theirs.module}); feed both the same shape or make it independent",
                    bid, network=net))
    if network.ties:
        diags += _ties(network, registry, inference)[0]
    return diags


def _inputs_text(inference: Inference, bid: str, fmt) -> str:
    ins = inference.inputs.get(bid, {})
    return ", ".join(fmt(shape) for shape in ins.values()) or "nothing"

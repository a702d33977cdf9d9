"""Edits of block definitions, each returned as an `Edit` that can be reverted and re-applied.

An edit of a definition changes its body once, so every instance changes
with it; `Edit.revert()` undoes it for all of them in one step, which is what
the studio's undo commands call. Each edit is a journal of model method calls
(add_block, remove_block, connect, disconnect, set_params, set_groups,
Definition.set_exposed, Definitions.add), so reverting is replaying their inverses backwards.

`detach(network, block_id)` turns one instance into an ordinary copy of its
body (a group of plain blocks, named after the instance), which no longer
follows the definition.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from graph.definitions import (
    PORT_INPUT,
    PORT_OUTPUT,
    DefinitionError,
    bound_body,
    cycle_message,
    find_cycle,
)
from graph.model import Block, Definition, Definitions, Edge, ExposedParam, Group, Network


@dataclass
class Edit:
    """What one edit did, as steps on networks and definitions; revert() and apply() replay them."""

    title: str
    steps: list[tuple] = field(default_factory=list)  # (kind, target, *values)

    def revert(self) -> None:
        for step in reversed(self.steps):
            _run(step, backwards=True)

    def apply(self) -> None:
        for step in self.steps:
            _run(step, backwards=False)


def _run(step: tuple, backwards: bool) -> None:
    kind, target = step[0], step[1]
    if kind == "block":  # (kind, network, block, index): added when forwards
        _, net, block, index = step
        if backwards:
            net.remove_block(block.id)
        else:
            net.add_block(copy.deepcopy(block), index)
    elif kind == "unblock":  # removed when forwards
        _, net, block, index = step
        if backwards:
            net.add_block(copy.deepcopy(block), index)
        else:
            net.remove_block(block.id)
    elif kind == "wire":
        _, net, edge, index = step
        if backwards:
            net.disconnect(edge)
        else:
            net.connect(edge, index)
    elif kind == "unwire":
        _, net, edge, index = step
        if backwards:
            net.connect(edge, index)
        else:
            net.disconnect(edge)
    elif kind == "params":
        _, net, block_id, old, new = step
        net.set_params(block_id, dict(old if backwards else new))
    elif kind == "groups":
        _, net, old, new = step
        net.set_groups(list(old if backwards else new))
    elif kind == "define":  # (kind, library, definition, index): added when forwards
        _, library, definition, index = step
        if backwards:
            library.remove(definition.name)
        else:
            library.add(definition, index)
    elif kind == "exposed":
        _, definition, old, new = step
        definition.set_exposed(list(old if backwards else new))
    else:  # pragma: no cover - a step kind this module never writes
        raise ValueError(f"unknown edit step {kind!r} for {target!r}")


class _Journal:
    def __init__(self, title: str):
        self.edit = Edit(title)

    def add_block(self, net: Network, block: Block, index: int | None = None) -> None:
        net.add_block(block, index)
        self.edit.steps.append(("block", net, copy.deepcopy(block), net.index_of(block.id)))

    def remove_block(self, net: Network, block_id: str) -> None:
        index = net.index_of(block_id)
        block = net.remove_block(block_id)
        self.edit.steps.append(("unblock", net, copy.deepcopy(block), index))

    def connect(self, net: Network, edge: Edge) -> None:
        net.connect(edge)
        self.edit.steps.append(("wire", net, edge, net.edges.index(edge)))

    def disconnect(self, net: Network, edge: Edge) -> None:
        index = net.disconnect(edge)
        self.edit.steps.append(("unwire", net, edge, index))

    def set_params(self, net: Network, block_id: str, params: dict[str, Any]) -> None:
        old = dict(net.block(block_id).params)
        net.set_params(block_id, params)
        self.edit.steps.append(("params", net, block_id, old, dict(params)))

    def set_groups(self, net: Network, groups: list[Group]) -> None:
        old = list(net.groups)
        net.set_groups(groups)
        self.edit.steps.append(("groups", net, old, list(groups)))

    def define(self, library: Definitions, definition: Definition) -> None:
        library.add(definition)
        self.edit.steps.append(("define", library, definition, library.names().index(definition.name)))

    def set_exposed(self, definition: Definition, params: list[ExposedParam]) -> None:
        old = [copy.deepcopy(p) for p in definition.params]
        definition.set_exposed(params)
        self.edit.steps.append(("exposed", definition, old, [copy.deepcopy(p) for p in params]))


# ---------------------------------------------------------------- editing a definition


def set_inner_param(library: Definitions, name: str, block_id: str, param: str, value: Any) -> Edit:
    """Set one setting of an inner block of definition `name`: every instance follows."""
    definition = library.get(name)
    block = definition.body.block(block_id)
    journal = _Journal(f"Set {param} of {block.name} in {name}")
    journal.set_params(definition.body, block_id, {**block.params, param: value})
    return journal.edit


def set_exposed_default(library: Definitions, name: str, param: str, value: Any) -> Edit:
    """Change the default value of an exposed parameter (instances that set none get it)."""
    definition = library.get(name)
    definition.param(param)
    journal = _Journal(f"Set the default of {param} in {name}")
    journal.set_exposed(definition, [ExposedParam(p.name, value if p.name == param else p.default, p.binds)
                                     for p in definition.params])
    return journal.edit


def add_inner_block(library: Definitions, name: str, block: Block, wires: list[Edge] = ()) -> Edit:
    """Add a block (and wires to and from it) to the body of `name`; refuses an instance that would make
    a definition contain itself."""
    definition = library.get(name)
    if block.type in library:
        cycle = find_cycle(library, extra=(name, block.type))
        if cycle:
            raise DefinitionError(f"cannot put an instance of {block.type} into {name}: "
                                  + cycle_message(cycle))
    journal = _Journal(f"Add {block.name} to {name}")
    journal.add_block(definition.body, block)
    for edge in wires:
        journal.connect(definition.body, edge)
    return journal.edit


def remove_inner_block(library: Definitions, name: str, block_id: str) -> Edit:
    """Remove an inner block with its wires; exposed parameters stop binding its settings."""
    definition = library.get(name)
    body = definition.body
    block = body.block(block_id)
    journal = _Journal(f"Remove {block.name} from {name}")
    for edge in body.edges_of(block_id):
        journal.disconnect(body, edge)
    if any(block_id in g.blocks for g in body.groups):
        journal.set_groups(body, [Group(g.id, g.name, tuple(b for b in g.blocks if b != block_id),
                                        g.collapsed) for g in body.groups])
    kept = [ExposedParam(p.name, p.default, tuple(b for b in p.binds if b.partition(".")[0] != block_id))
            for p in definition.params]
    if kept != definition.params:
        journal.set_exposed(definition, kept)
    journal.remove_block(body, block_id)
    return journal.edit


# ---------------------------------------------------------------- detaching an instance


def detach(network: Network, block_id: str) -> Edit:
    """Replace an instance by a plain copy of its definition's body (with its values bound), kept together
    as a group named after the instance; the copy no longer follows the definition."""
    library = network.library
    instance = network.block(block_id)
    if not library or instance.type not in library:
        raise DefinitionError(f"block {instance.name!r} is not an instance of a definition")
    definition = library.get(instance.type)
    values = {p.name: p.default for p in definition.params} | dict(instance.params)
    body = bound_body(definition, values, {})
    journal = _Journal(f"Detach {instance.name}")
    into = {e.dst_port: e for e in network.edges_into(block_id)}
    out = [e for e in network.edges_from(block_id)]
    for edge in list(into.values()) + out:
        journal.disconnect(network, edge)
    index = network.index_of(block_id)
    journal.remove_block(network, block_id)
    ids: dict[str, str] = {}
    x0, y0 = instance.position
    for offset, (bid, inner) in enumerate(b for b in body.blocks.items() if b[1].type not in
                                          (PORT_INPUT, PORT_OUTPUT)):
        new_id = f"{block_id}_{bid}"
        while new_id in network.blocks:
            new_id += "_"
        ids[bid] = new_id
        copied = Block(new_id, inner.type, f"{instance.name}.{inner.name}", dict(inner.params),
                       (x0 + inner.position[0], y0 + inner.position[1]), inner.enabled, instance.frozen
                       or inner.frozen, ids.get(inner.shares) if inner.shares else None)
        journal.add_block(network, copied, index + offset)
    ports = {bid: b.name for bid, b in body.blocks.items() if b.type == PORT_INPUT}

    def sources(bid: str) -> list[tuple[str, str]]:
        """(block, port) the value of inner block `bid` comes from in the network."""
        if bid in ports:
            edge = into.get(ports[bid])
            return [] if edge is None else [(edge.src, edge.src_port)]
        return [(ids[bid], "out")]

    for edge in body.edges:
        dst = body.blocks[edge.dst]
        for src, src_port in sources(edge.src):
            if dst.type == PORT_OUTPUT:
                for consumer in out:
                    journal.connect(network, Edge(src, consumer.dst, consumer.dst_port, src_port))
            elif edge.dst in ids:
                journal.connect(network, Edge(src, ids[edge.dst], edge.dst_port, src_port))
    members = tuple(ids.values())
    groups = [Group(g.id, g.name, tuple(m for b in g.blocks for m in (members if b == block_id else (b,))),
                    g.collapsed) for g in network.groups]
    group_id = f"g_{block_id}"
    while any(g.id == group_id for g in groups):
        group_id += "_"
    groups.append(Group(group_id, instance.name, members))
    journal.set_groups(network, groups)
    owner = next((d for d in library if d.body is network), None)
    if owner is not None:  # detached inside another definition: its parameters now set the copies
        inner = {p.name: p.binds for p in definition.params}

        def rebound(bind: str) -> tuple[str, ...]:
            bid, _, param = bind.partition(".")
            if bid != block_id:
                return (bind,)
            return tuple(f"{ids[b]}.{rest}" for b, _, rest in (x.partition(".") for x in inner.get(param, ()))
                         if b in ids)

        params = [ExposedParam(p.name, p.default, tuple(x for b in p.binds for x in rebound(b)))
                  for p in owner.params]
        if params != owner.params:
            journal.set_exposed(owner, params)
    return journal.edit


def flattened(network: Network) -> Network:
    """A copy of the network with every instance (at every depth) detached into plain blocks: the same
    computation with no definitions (what an import of the exported code gives today)."""
    flat = network.copy()
    while True:
        library = flat.library
        instance = next((bid for bid, b in flat.blocks.items() if library and b.type in library), None)
        if instance is None:
            return flat
        detach(flat, instance)

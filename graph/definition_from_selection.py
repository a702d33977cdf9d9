"""Make a block definition from blocks of a network, replaced by one instance wired the same way.

`make_definition(network, block_ids, name, registry, shapes)` returns an `Edit`
(graph.definition_edits) that adds the definition to the project and swaps the
blocks for an instance, so the studio undoes it as one step. Each value that
enters the chosen blocks from outside becomes a PortInput (one per source,
however many blocks read it); the one value used outside becomes the
PortOutput. Made inside another definition's body, the settings that body's
parameters set (ResidualBlock's `channels` -> conv1.channels) become
parameters of the new definition, which the outer one then sets on the
instance, so nothing stops following it. `selection_problem` says in words why some blocks cannot become a
definition (nothing chosen, a data input or a head among them, two values
used outside, weights shared with blocks left outside), or "" when they can.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping

from graph.definition_edits import Edit, _Journal
from graph.definitions import PORT_INPUT, PORT_OUTPUT, PORT_TYPES
from graph.model import Block, Definition, Edge, ExposedParam, Group, Network
from graph.pycode import to_class_name, to_identifier
from graph.spec import Registry

PORT_GAP = 240.0  # how far the port cards sit left and right of the blocks (one card and a wire)


class _Plan:
    """What the chosen blocks become: their order, the outside values they read and the one they give."""

    def __init__(self, network: Network, block_ids: list[str]):
        chosen = set(block_ids)
        self.ids = [bid for bid in network.blocks if bid in chosen]  # network order: forward() order
        self.sources: list[tuple[str, str]] = []  # (block, port) outside feeding the chosen, first use first
        self.outgoing: list[Edge] = []  # wires from a chosen block to a block left outside
        for bid in self.ids:
            for edge in network.edges_into(bid):
                if edge.src not in chosen and (edge.src, edge.src_port) not in self.sources:
                    self.sources.append((edge.src, edge.src_port))
            self.outgoing += [e for e in network.edges_from(bid) if e.dst not in chosen]
        given = list(dict.fromkeys((e.src, e.src_port) for e in self.outgoing))
        if not given:  # used nowhere outside: the chosen blocks' one end, if they have one
            ends = [bid for bid in self.ids if not network.edges_from(bid)]
            given = [(ends[0], "out")] if len(ends) == 1 else []
            self.ends = ends
        else:
            self.ends = []
        self.given = given


def selection_problem(network: Network, block_ids: list[str], registry: Registry) -> str:
    """Why these blocks cannot become one definition ("" when they can)."""
    if not block_ids:
        return "Select the blocks to make a definition of."
    for bid in block_ids:
        if bid not in network.blocks:
            return f"There is no block {bid!r} here any more."
    chosen = set(block_ids)
    for bid in block_ids:
        block = network.blocks[bid]
        if block.type in PORT_TYPES:
            return (f"'{block.name}' is a port of this definition; select only the blocks between the "
                    "ports.")
        spec = registry.get(block.type) if block.type in registry else None
        if spec is None:
            return f"'{block.name}' has an unknown block type ({block.type})."
        if spec.role == "input":
            return (f"'{block.name}' is a data input: a definition receives its values through its ports; "
                    "leave the input out of the selection.")
        if spec.role == "head":
            return (f"'{block.name}' is an output head (it computes the loss); a definition gives a value "
                    "instead: leave the head out of the selection.")
        owner = network.owner_of(bid)
        if any(use not in chosen for use in network.uses_of(bid)) or owner not in chosen:
            return (f"'{block.name}' shares its weights with blocks outside the selection; select every "
                    "use of that module, or make it independent first.")
    if any(key.partition(".")[0] in chosen or value.partition(".")[0] in chosen
           for key, value in network.ties.items()):
        return "Some of these blocks have tied parameters; untie them first."
    plan = _Plan(network, block_ids)
    if not plan.sources:
        return "Nothing enters these blocks from outside: a definition needs an input wired into it."
    if len(plan.given) > 1:
        names = ", ".join(f"'{network.blocks[b].name}'" for b, _ in plan.given)
        return (f"Blocks outside use values of {names}: a definition gives one value. Select blocks whose "
                "result leaves through one block.")
    if not plan.given:
        names = ", ".join(f"'{network.blocks[b].name}'" for b in plan.ends) or "none of them"
        return (f"These blocks end in {names}: a definition gives one value, so the selection must end in "
                "one block.")
    return ""


def name_problem(name: str, registry: Registry, taken: list[str]) -> str:
    """Why a definition cannot be called `name` ("" when it can)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return (f"'{name}' is not a name a definition can have: use letters, digits and _, not starting with "
                "a digit (e.g. ResidualBlock).")
    if name in taken:
        return f"The project already has a definition named {name}."
    if name in registry.base or name in PORT_TYPES:
        return f"{name} is already a block type; choose another name."
    return ""


def suggested_name(network: Network, block_ids: list[str], taken: list[str], registry: Registry) -> str:
    """A CamelCase name from the first chosen block's type ("Conv2d" -> "Conv2dBlock"), made unique."""
    first = next((network.blocks[b] for b in network.blocks if b in set(block_ids)), None)
    stem = to_class_name(first.type if first is not None else "Block", "Block")
    stem = stem if stem.endswith("Block") else stem + "Block"
    name, n = stem, 2
    while name_problem(name, registry, taken):
        name, n = f"{stem}{n}", n + 1
    return name


def make_definition(network: Network, block_ids: list[str], name: str, registry: Registry,
                    shapes: Mapping[str, tuple] | None = None) -> tuple[Edit, str]:
    """The blocks become definition `name` (added to the network's library) and one instance of it takes
    their place; returns the edit and the instance's id. `shapes` (block id -> shape without the batch,
    from an analysis) gives each input port its example shape. Raises ValueError when it cannot be."""
    library = network.library
    if library is None:
        raise ValueError("this network belongs to no project, so it cannot hold definitions")
    problem = selection_problem(network, block_ids, registry) or name_problem(name, registry, library.names())
    if problem:
        raise ValueError(problem)
    shapes = shapes or {}
    plan = _Plan(network, block_ids)
    chosen = set(plan.ids)
    blocks = [network.blocks[bid] for bid in plan.ids]
    left = min(b.position[0] for b in blocks)
    top = min(b.position[1] for b in blocks)
    right = max(b.position[0] for b in blocks)
    ids_taken = set(plan.ids)

    def fresh(stem: str) -> str:
        bid, n = stem, 2
        while bid in ids_taken:
            bid, n = f"{stem}{n}", n + 1
        ids_taken.add(bid)
        return bid

    body = Network(name)
    port_of: dict[tuple[str, str], str] = {}  # outside (block, port) -> the PortInput block's id
    for i, source in enumerate(plan.sources):
        port_name = "x" if len(plan.sources) == 1 else f"x{i + 1}"
        bid = fresh(port_name)
        shape = shapes.get(source[0])
        known = shape is not None and all(isinstance(n, int) and n >= 1 for n in shape) and len(shape) <= 8
        params = {"shape": tuple(shape)} if known else {}
        body.add_block(Block(bid, PORT_INPUT, port_name, params, (-PORT_GAP, 160.0 * i)))
        port_of[source] = bid
    for block in blocks:
        body.add_block(Block(block.id, block.type, block.name, dict(block.params),
                             (block.position[0] - left, block.position[1] - top), block.enabled,
                             block.frozen, block.shares))
    out_src, out_port = plan.given[0]
    out_id = fresh("out")
    body.add_block(Block(out_id, PORT_OUTPUT, "out", {}, (right - left + PORT_GAP, 0.0)))
    for bid in plan.ids:
        for edge in network.edges_into(bid):
            src = edge.src if edge.src in chosen else port_of[(edge.src, edge.src_port)]
            body.connect(Edge(src, bid, edge.dst_port, edge.src_port if edge.src in chosen else "out"))
    body.connect(Edge(out_src, out_id, "x", out_port))
    body.set_groups([Group(g.id, g.name, g.blocks, g.collapsed) for g in network.groups
                     if g.blocks and set(g.blocks) <= chosen])
    owner = next((d for d in library if d.body is network), None)  # made inside another definition
    passed = []  # the owner's parameters that set chosen blocks: the new definition's, set by the owner
    for exposed in owner.params if owner is not None else ():
        inside = tuple(b for b in exposed.binds if b.partition(".")[0] in chosen)
        if inside:
            passed.append(ExposedParam(exposed.name, exposed.default, inside))
    definition = Definition(name, body, passed, description=f"Made from {len(blocks)} blocks of "
                                                             f"{network.name}.")

    journal = _Journal(f"Make definition {name}")
    journal.define(library, definition)
    wires = dict.fromkeys([e for bid in plan.ids for e in network.edges_into(bid)] + plan.outgoing)
    for edge in wires:  # every wire into, among and out of the chosen blocks
        journal.disconnect(network, edge)
    index = min(network.index_of(bid) for bid in plan.ids)
    for bid in plan.ids:
        journal.remove_block(network, bid)
    instance_id = network.new_block_id()
    instance = Block(instance_id, name, network.unique_name(to_identifier(_snake(name))),
                     {p.name: p.default for p in passed}, (left, top))
    journal.add_block(network, instance, index)
    for source, port in port_of.items():
        journal.connect(network, Edge(source[0], instance_id, body.blocks[port].name, source[1]))
    for edge in plan.outgoing:
        journal.connect(network, Edge(instance_id, edge.dst, edge.dst_port))
    groups = [Group(g.id, g.name, tuple(b for b in g.blocks if b not in chosen), g.collapsed)
              for g in network.groups if not (g.blocks and set(g.blocks) <= chosen)]
    journal.set_groups(network, [g for g in groups if g.blocks])
    if passed:
        journal.set_exposed(owner, [ExposedParam(p.name, p.default, tuple(
            b for b in p.binds if b.partition(".")[0] not in chosen) + (
            (f"{instance_id}.{p.name}",) if any(q.name == p.name for q in passed) else ()))
            for p in owner.params])
    return journal.edit, instance_id


def _snake(name: str) -> str:
    """ResidualBlock -> residual_block (the instance's name)."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))

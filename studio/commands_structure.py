"""Compound edits built from the basic commands, each one undo step.

Inserting a block into a wire (the quick fix), adding a pasted fragment and
regrouping are compositions of the commands in studio/commands.py inside a
`Macro`, so undo walks back through exactly the same model methods. The
group helpers here are pure: they compute the new list of groups that a
`SetGroups` command then applies.
"""

from __future__ import annotations

from dataclasses import replace

from graph.model import Block, Edge, Group, ModelError, Network
from studio.commands import AddBlock, Connect, Disconnect, Macro, SetGroups


def insert_on_edge(network: Network, edge: Edge, block: Block, in_port: str) -> Macro:
    """Disconnect `edge`, add `block` just before the wire's target, wire src -> block -> dst.

    The wire into the old target takes the removed wire's place in the wire
    list, so the rest of the network reads as before.
    """
    if edge not in network.edges:
        raise ModelError(f"no wire {edge}")
    edge_index = network.edges.index(edge)
    block_index = network.index_of(edge.dst)  # just before the target keeps the canvas order readable
    macro = Macro(f"Insert {block.name}")
    macro.add(Disconnect(network, edge))
    macro.add(AddBlock(network, block, block_index))
    macro.add(Connect(network, Edge(block.id, edge.dst, edge.dst_port), edge_index))
    macro.add(Connect(network, Edge(edge.src, block.id, in_port, edge.src_port)))
    return macro


def add_fragment(network: Network, blocks: list[Block], edges: list[Edge], groups: list[Group],
                 text: str) -> Macro:
    """Add blocks, their wires and their groups (a paste or a duplicate) as one step."""
    macro = Macro(text)
    for block in blocks:
        macro.add(AddBlock(network, block))
    for edge in edges:
        macro.add(Connect(network, edge))
    if groups:
        macro.add(SetGroups(network, list(network.groups) + list(groups), text))
    return macro


# --- pure group arithmetic: a block belongs to at most one group ---

def new_group_id(groups: list[Group]) -> str:
    taken = {g.id for g in groups}
    n = len(groups) + 1
    while f"g{n}" in taken:
        n += 1
    return f"g{n}"


def find_group(groups: list[Group], group_id: str) -> Group:
    for group in groups:
        if group.id == group_id:
            return group
    raise ModelError(f"no group with id {group_id!r}")


def grouped(groups: list[Group], group: Group) -> list[Group]:
    """`groups` plus `group`, taking its blocks out of the groups they were in (emptied ones go)."""
    members = set(group.blocks)
    kept = []
    for old in groups:
        rest = tuple(b for b in old.blocks if b not in members)
        if rest:
            kept.append(old if rest == old.blocks else replace(old, blocks=rest))
    return kept + [group]


def changed_group(groups: list[Group], group_id: str, **changes) -> list[Group]:
    """`groups` with one group's fields replaced (name=..., collapsed=...)."""
    find_group(groups, group_id)
    return [replace(g, **changes) if g.id == group_id else g for g in groups]


def without_group(groups: list[Group], group_id: str) -> list[Group]:
    find_group(groups, group_id)
    return [g for g in groups if g.id != group_id]

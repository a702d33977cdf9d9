"""Compound edits built from the basic commands, each one undo step.

Inserting a block into a wire (the quick fix; it makes room for the new
card by moving the blocks after it), adding a pasted fragment and
regrouping are compositions of the commands in studio/commands.py inside a
`Macro`, so undo walks back through exactly the same model methods. The
group helpers here are pure: they compute the new list of groups that a
`SetGroups` command then applies.
"""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from graph.model import Block, Edge, Group, ModelError, Network
from graph.walk import to_digraph
from studio.commands import AddBlock, Connect, Disconnect, Macro, MoveBlocks, SetGroups

Point = tuple[float, float]


# room a card takes on the canvas (studio/canvas/style.py: 180 wide, up to ~100 tall), with a gap
CARD_BOX = (180.0 + 20.0, 100.0 + 20.0)
COLUMN = 240.0  # graph/layout.py's column spacing: how far the blocks after an insertion move over


def place_insert(network: Network, edge: Edge) -> tuple[Point, dict[str, tuple[Point, Point]]]:
    """Where a block inserted into `edge` goes, and the moves that make room for it.

    Midway between the wire's ends when that spot is free; otherwise the new
    block takes the target's place and the target and every block after it
    move one column right, so no card covers another and the wires, which
    follow their blocks, stay readable.
    """
    (x1, y1), (x2, y2) = network.block(edge.src).position, network.block(edge.dst).position
    middle = ((x1 + x2) / 2, (y1 + y2) / 2)
    if _free(network, middle, set()):
        return middle, {}
    after = nx.descendants(to_digraph(network), edge.dst) | {edge.dst}
    moves = {bid: (network.blocks[bid].position,
                   (network.blocks[bid].position[0] + COLUMN, network.blocks[bid].position[1]))
             for bid in after}
    spot = (x2, y2)
    while not _free(network, spot, after):  # a block not downstream sits there: go below it
        spot = (spot[0], spot[1] + CARD_BOX[1])
    return spot, moves


def _free(network: Network, at: Point, ignore: set[str]) -> bool:
    w, h = CARD_BOX
    return all(abs(b.position[0] - at[0]) >= w or abs(b.position[1] - at[1]) >= h
               for bid, b in network.blocks.items() if bid not in ignore)


def insert_on_edge(network: Network, edge: Edge, block: Block, in_port: str,
                   moves: dict[str, tuple[Point, Point]] | None = None) -> Macro:
    """Disconnect `edge`, add `block` just before the wire's target, wire src -> block -> dst
    (after `moves`, which make room for it: see place_insert).

    The wire into the old target takes the removed wire's place in the wire
    list, so the rest of the network reads as before.
    """
    if edge not in network.edges:
        raise ModelError(f"no wire {edge}")
    edge_index = network.edges.index(edge)
    block_index = network.index_of(edge.dst)  # just before the target keeps the canvas order readable
    macro = Macro(f"Insert {block.name}")
    if moves:
        macro.add(MoveBlocks(network, moves))
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

"""The one topological walker over a network.

Shape inference, validation and code generation are different visitors over
this walk (the Keras functional-graph approach). Graph algorithms come from
networkx: topological order, strongly connected components (cycles) and
reachability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from graph.model import Block, Edge, Network


@dataclass(frozen=True)
class Order:
    """Blocks in topological order, plus the blocks that sit on or after a cycle."""

    blocks: list[str]
    cycles: list[list[str]]  # each a set of block ids forming a loop
    blocked: frozenset[str]  # on a cycle or downstream of one: never visited


def to_digraph(network: Network) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(network.blocks)
    graph.add_edges_from((e.src, e.dst) for e in network.edges)
    return graph


def _sorted(graph: nx.DiGraph, network: Network, stable: bool) -> list[str]:
    if not stable:
        return list(nx.topological_sort(graph))
    # ties broken by canvas insertion order, so generated code follows the user's layout
    rank = {bid: i for i, bid in enumerate(network.blocks)}
    return list(nx.lexicographical_topological_sort(graph, key=rank.__getitem__))


def order(network: Network, graph: nx.DiGraph | None = None, stable: bool = False) -> Order:
    """Topological order; blocks in loops (and after them) are left out and reported.

    stable=True breaks ties by block insertion order (slower; the compiler uses
    it so the same project always gives the same code).
    """
    graph = graph if graph is not None else to_digraph(network)
    try:
        return Order(_sorted(graph, network, stable), [], frozenset())
    except nx.NetworkXUnfeasible:
        pass
    cycles = [sorted(c, key=list(network.blocks).index) for c in nx.strongly_connected_components(graph)
              if len(c) > 1 or graph.has_edge(next(iter(c)), next(iter(c)))]
    blocked: set[str] = set()
    for cycle in cycles:
        for bid in cycle:
            blocked.add(bid)
            blocked.update(nx.descendants(graph, bid))
    rest = graph.subgraph(n for n in graph if n not in blocked)
    return Order(_sorted(rest, network, stable), cycles, frozenset(blocked))


Visit = Callable[[Block, dict[str, Any], dict[str, Edge]], Any]


def walk(network: Network, visit: Visit, walk_order: Order | None = None) -> dict[str, Any]:
    """Call `visit(block, inputs, wires)` for each block in topological order.

    `inputs` maps each connected input port to the value the visitor returned
    for the block wired into it; `wires` maps the same ports to their Edge.
    Returns block id -> visitor result.
    """
    walk_order = walk_order or order(network)
    results: dict[str, Any] = {}
    for block_id in walk_order.blocks:
        wires = network.wires_into(block_id)
        inputs = {port: results.get(e.src) for port, e in wires.items()}
        results[block_id] = visit(network.blocks[block_id], inputs, wires)
    return results

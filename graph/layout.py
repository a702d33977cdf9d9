"""Automatic layout: blocks in columns, left to right, in the order data flows.

A layered (Sugiyama-style) layout, small enough to read:

1. Loops are broken for layout only: a depth-first search from the blocks
   nothing feeds drops the wires that point back into the current path, so
   blocks on a loop come after the blocks leading into it.
2. Each block's column is its topological generation in what is left
   (`networkx.topological_generations`): inputs in column 0, and every block
   to the right of all the blocks that feed it.
3. Blocks within a column are ordered to reduce crossing wires: a few
   sweeps ordering each column by the mean row of its neighbours in earlier
   (then later) columns, keeping the ordering with the fewest crossings.
4. Unconnected parts are laid out separately and stacked top to bottom.
5. A part wider than `max_width` wraps, like a line of text: its columns
   continue in a new band below, starting again at the left, so a long
   chain fits a window at a zoom where the cards can be read.
6. A run the canvas shows folded (graph/folding.py) takes one place, its
   first block's: the layout is of what the person sees. Its hidden blocks
   go below everything else, in chain order, wrapped as a band is, so that
   expanding the run later shows them where no other card is.

Pure Python: the studio turns the result into one undo step of moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx

from graph.model import Network

Point = tuple[float, float]
SWEEPS = 4  # down, up, down, up: more rarely helps on networks people draw


def layered_layout(network: Network, block_ids: Iterable[str] | None = None,
                   spacing: tuple[float, float] = (240.0, 140.0),
                   max_width: float | None = None,
                   folded: Iterable[Sequence[str]] = ()) -> dict[str, Point]:
    """New positions {block id: (x, y)} for the given blocks (all when None).

    Only wires among the chosen blocks count. The result is anchored at the
    chosen blocks' current top-left corner, so laying out a selection tidies
    it where it is. With `max_width`, no block's x lies more than that to
    the right of the anchor (at least one column per band). Unknown ids
    raise graph.model.ModelError. `folded`: runs (block ids in chain order) laid out as one card each.
    """
    chosen = list(network.blocks) if block_ids is None else _in_canvas_order(network, block_ids)
    if not chosen:
        return {}
    every = set(chosen)
    runs = [run for run in folded if len(run) > 1 and every.issuperset(run)]
    stand_in = {bid: run[0] for run in runs for bid in run[1:]}
    if stand_in:
        chosen = [bid for bid in chosen if bid not in stand_in]
    graph = nx.DiGraph()
    graph.add_nodes_from(chosen)
    members = set(chosen)
    ends = ((stand_in.get(e.src, e.src), stand_in.get(e.dst, e.dst)) for e in network.edges)
    graph.add_edges_from((a, b) for a, b in ends if a in members and b in members and a != b)
    rank = {bid: i for i, bid in enumerate(chosen)}

    left = min(network.blocks[b].position[0] for b in chosen)
    top = min(network.blocks[b].position[1] for b in chosen)
    dx, dy = float(spacing[0]), float(spacing[1])
    positions: dict[str, Point] = {}
    per_band = None if max_width is None else max(1, int(max_width // dx) + 1)
    for component in _components(graph, rank):
        columns = _ordered_columns(graph.subgraph(component), rank)
        bands = [columns] if per_band is None or len(columns) <= per_band else \
            [columns[i:i + per_band] for i in range(0, len(columns), per_band)]
        for band in bands:
            tallest = max(len(column) for column in band)
            for col, column in enumerate(band):
                shift = (tallest - len(column)) * dy / 2  # centre short columns on the tall ones
                for row, bid in enumerate(column):
                    positions[bid] = (left + col * dx, top + shift + row * dy)
            top += tallest * dy
    for run in runs:  # the hidden blocks of folded runs: a band of their own each, below the rest
        hidden = run[1:]
        per_row = per_band or len(hidden)
        for i, bid in enumerate(hidden):
            positions[bid] = (left + (i % per_row) * dx, top + (i // per_row) * dy)
        top += -(-len(hidden) // per_row) * dy
    return positions


def _in_canvas_order(network: Network, block_ids: Iterable[str]) -> list[str]:
    wanted = set(block_ids)
    for bid in wanted:
        network.block(bid)  # raises ModelError naming an unknown id
    return [bid for bid in network.blocks if bid in wanted]


def _components(graph: nx.DiGraph, rank: dict[str, int]) -> list[list[str]]:
    """Weakly connected parts, each in canvas order, ordered by their first block."""
    parts = [sorted(part, key=rank.__getitem__) for part in nx.weakly_connected_components(graph)]
    return sorted(parts, key=lambda part: rank[part[0]])


def _without_back_edges(graph: nx.DiGraph, rank: dict[str, int]) -> nx.DiGraph:
    """The graph minus the wires that close a loop, found by an iterative depth-first search.

    Starting from the blocks nothing feeds (in canvas order) keeps the
    blocks leading into a loop before it. Iterative, so a 1,000-block chain
    does not hit Python's recursion limit.
    """
    acyclic = nx.DiGraph()
    acyclic.add_nodes_from(graph)
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    sources = [n for n in graph if graph.in_degree(n) == 0]
    starts = sorted(sources, key=rank.__getitem__) + sorted(graph, key=rank.__getitem__)
    for start in starts:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(sorted(graph.successors(start), key=rank.__getitem__)))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                continue  # a back edge: it closes a loop, leave it out
            else:
                acyclic.add_edge(node, child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(sorted(graph.successors(child), key=rank.__getitem__))))
    return acyclic


def _ordered_columns(graph: nx.DiGraph, rank: dict[str, int]) -> list[list[str]]:
    acyclic = _without_back_edges(graph, rank)
    columns = [sorted(gen, key=rank.__getitem__) for gen in nx.topological_generations(acyclic)]
    if len(columns) < 2:
        return columns
    best, best_crossings = [list(c) for c in columns], _crossings(acyclic, columns)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(columns)) if downward else range(len(columns) - 2, -1, -1)
        row = _rows(columns)
        for i in indices:
            neighbours = acyclic.predecessors if downward else acyclic.successors
            keys = {}
            for bid in columns[i]:
                near = [row[n] for n in neighbours(bid)]
                # a block with no neighbour on that side keeps its place
                keys[bid] = sum(near) / len(near) if near else float(row[bid])
            columns[i] = sorted(columns[i], key=keys.__getitem__)  # stable: ties keep their order
            row.update((bid, r) for r, bid in enumerate(columns[i]))
        crossings = _crossings(acyclic, columns)
        if crossings < best_crossings:
            best, best_crossings = [list(c) for c in columns], crossings
        if best_crossings == 0:
            break
    return best


def _rows(columns: list[list[str]]) -> dict[str, int]:
    return {bid: row for column in columns for row, bid in enumerate(column)}


def _crossings(graph: nx.DiGraph, columns: list[list[str]]) -> int:
    """Wire crossings between neighbouring columns (wires that skip columns are not counted)."""
    row = _rows(columns)
    column_of = {bid: i for i, column in enumerate(columns) for bid in column}
    total = 0
    for i in range(len(columns) - 1):
        pairs = sorted((row[u], row[v]) for u in columns[i] for v in graph.successors(u)
                       if column_of[v] == i + 1)
        # two wires cross when their ends are in opposite orders
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                if pairs[a][0] < pairs[b][0] and pairs[a][1] > pairs[b][1]:
                    total += 1
    return total

"""Validation: shape inference plus the structural checks, as diagnostics.

`analyse` is what the editor calls after every edit and what `deepwire check`
prints: cycles, unconnected inputs, shape mismatches, bad parameters,
blocks no input reaches, blocks that feed no output, a missing input or
output head, duplicate names, files a block needs (pretrained weights) that
are missing or unreadable, and weights too large for this machine (graph/memory.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from graph.definitions import registry_for
from graph.diagnostics import ERROR, WARNING, Diagnostic, has_errors, set_params_fix
from graph.infer import Inference, ShapeCache, block_label, infer, infer_changed
from graph.memory import WeightTally
from graph.model import Change, Network, Project
from graph.sharing import sharing_diagnostics
from graph.spec import BlockSpec, Registry
from graph.walk import Order, order, to_digraph


@dataclass
class Analysis:
    """Shapes and problems of one network."""

    network: Network
    inference: Inference
    diagnostics: list[Diagnostic]
    # blocks whose shape or problems may differ from the analysis before it through the same cache;
    # None: any block (the first analysis, or after blocks or wires came or went)
    changed: frozenset[str] | None = None
    serial: int = 0  # counts the analyses through one cache: `changed` is relative to serial - 1

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    @property
    def shapes(self):
        return self.inference.shapes


@dataclass(frozen=True)
class _Structure:
    """What depends only on which blocks and wires exist (not on params or names)."""

    order: Order
    specs: dict[str, BlockSpec | None]  # None: unknown type
    inputs: list[str]
    heads: list[str]
    reached: frozenset[str]  # reachable from some input block
    feeding: frozenset[str]  # leads to some head
    rank: dict[str, int]  # block id -> place in the topological order
    reads_files: tuple[str, ...]  # blocks whose type reads files (pretrained weights)


def _structure(network: Network, registry: Registry, graph: nx.DiGraph) -> _Structure:
    walk_order = order(network, graph)
    specs = {bid: registry.get(b.type) if b.type in registry else None for bid, b in network.blocks.items()}
    inputs = [bid for bid, spec in specs.items() if spec is not None and spec.role == "input"]
    heads = [bid for bid, spec in specs.items() if spec is not None and spec.role == "head"]
    reached: set[str] = set(inputs)
    for bid in inputs:
        reached |= nx.descendants(graph, bid)
    feeding: set[str] = set(heads)
    for bid in heads:
        feeding |= nx.ancestors(graph, bid)
    rank = {bid: i for i, bid in enumerate(walk_order.blocks)}
    reads_files = tuple(bid for bid, spec in specs.items() if spec is not None and spec.files is not None)
    return _Structure(walk_order, specs, inputs, heads, frozenset(reached), frozenset(feeding), rank,
                      reads_files)


# edits that change one block's settings, name or switches: re-analysis starts at that block
_BLOCK_EDITS = frozenset({"param_changed", "block_renamed", "block_enabled", "block_shares", "block_frozen"})
_NO_EFFECT = frozenset({"block_moved", "group_changed"})  # where a card sits changes no shape or problem


@dataclass
class AnalysisCache:
    """Keep one per open network: re-analysis after an edit then only redoes what changed.

    The networkx graph is patched with the wires and blocks that came or went
    instead of being rebuilt; structure-derived data is recomputed only when
    blocks or wires changed; shape inference skips blocks whose inputs and
    settings are as before. A cache that follows edits (its owner passes each
    change of the network to `note`) does less still: after edits of block
    settings, names or switches only, inference starts at the edited blocks
    and goes on only where shapes changed, and the other checks reuse what
    those edits cannot affect.
    """

    shapes: ShapeCache = field(default_factory=ShapeCache)
    _key: tuple | None = None
    _structure: _Structure | None = None
    _graph: nx.DiGraph | None = None
    _pairs: Counter = field(default_factory=Counter)  # (src, dst) -> number of wires
    # True: the owner passes every change of the network to note(), so re-analysis may start at the
    # edited blocks (the studio's Document does). False: each analysis visits every block again.
    follows_edits: bool = False
    _edited: set[str] = field(default_factory=set)  # blocks edited since the last analysis
    _everything: bool = True  # an edit whose reach is not one block's: analyse it all
    _renamed: bool = False
    _switched: bool = False  # a block was enabled or disabled
    _last: Analysis | None = None
    _serial: int = 0
    _stamp: object = None  # the registry's stamp of the project's definitions at the last analysis
    _structural: list[Diagnostic] = field(default_factory=list)
    _tokens: list[Diagnostic] = field(default_factory=list)
    _weights: WeightTally = field(default_factory=WeightTally)

    def note(self, change: Change) -> None:
        """Tell a cache that follows edits about one change of its network (its owner's listener)."""
        if change.kind in _BLOCK_EDITS and change.block is not None:
            self._edited.add(change.block)
            self._renamed |= change.kind == "block_renamed"
            self._switched |= change.kind == "block_enabled"
        elif change.kind not in _NO_EFFECT:
            self._everything = True

    def invalidate(self) -> None:
        """Forget what edits reached: the next analysis visits every block (e.g. a block type the
        network uses changed, which no change event of the network tells)."""
        self._everything = True
        self.shapes = ShapeCache()

    def _take_edits(self, network: Network) -> set[str] | None:
        """The blocks edited since the last analysis, or None when it must all be analysed again."""
        edited, everything = self._edited, self._everything
        self._edited, self._everything = set(), False
        if everything or not self.follows_edits or self._last is None or self._last.network is not network:
            return None
        return edited

    def _sync_graph(self, network: Network) -> nx.DiGraph:
        if self._graph is None or self._key is None or self._key[0] != id(network):
            self._graph, self._pairs = to_digraph(network), Counter((e.src, e.dst) for e in network.edges)
            return self._graph
        graph = self._graph
        gone = [n for n in graph if n not in network.blocks]
        graph.remove_nodes_from(gone)
        graph.add_nodes_from(bid for bid in network.blocks if bid not in graph)
        pairs = Counter((e.src, e.dst) for e in network.edges)
        graph.remove_edges_from(p for p in self._pairs if p not in pairs and graph.has_edge(*p))
        graph.add_edges_from(p for p in pairs if p not in self._pairs or not graph.has_edge(*p))
        self._pairs = pairs
        return graph

    def structure(self, network: Network, registry: Registry) -> _Structure:
        key = (id(network), network.structure_revision, id(registry))
        if self._key != key or self._structure is None:
            graph = self._sync_graph(network)
            self._structure = _structure(network, registry, graph)
            self._key = key
        return self._structure


# Token ids are integers: blocks that only move values keep them so, every other block computes
# with floats and fails on them at run time, so ids must reach an Embedding (tag "token_ids") first.
_MOVES_VALUES = frozenset({"Flatten", "Reshape", "Permute"})


def _token_ids(network: Network, structure: _Structure) -> list[Diagnostic]:
    """Errors where token ids reach a block that computes, floats reach an Embedding, or ids outgrow it."""
    diags: list[Diagnostic] = []
    vocab: dict[str, int] = {}  # blocks whose output is token ids -> how many different ids they hold
    for bid in structure.order.blocks:
        spec, block = structure.specs[bid], network.blocks[bid]
        if spec is None:
            continue
        sources = [e.src for e in network.edges_into(bid)]
        if spec.role == "input":
            if spec.type_id == "TokenInput":
                vocab[bid] = _whole(block.params.get("vocab_size"))
            continue
        from_ids = [s for s in sources if s in vocab]
        label = block_label(spec, block)
        if "token_ids" in spec.tags and block.enabled:
            size = _whole(block.params.get("vocab_size"))
            needed = max((vocab[s] for s in from_ids), default=0)
            if sources and not from_ids:
                diags.append(Diagnostic(ERROR, "token_ids", f"{label} looks up token ids, but receives float "
                                        "values: feed it from a Token ids input", bid, network=network.name))
            elif 0 < size < needed:
                diags.append(Diagnostic(ERROR, "token_ids", f"{label} has vocab_size {size}, but its input "
                                        f"holds ids up to {needed - 1}: set vocab_size to at least {needed}",
                                        bid, param="vocab_size", network=network.name,
                                        fix=set_params_fix(bid, {"vocab_size": needed})))
            continue
        if not from_ids:
            continue
        if spec.type_id == "Output":  # hands its input out as it is, with no loss to compute on it
            continue
        if (spec.type_id in _MOVES_VALUES or not block.enabled) and len(from_ids) == len(sources):
            vocab[bid] = max(vocab[s] for s in from_ids)
            continue
        names = ", ".join(f"'{network.blocks[s].name}'" for s in from_ids)
        diags.append(Diagnostic(ERROR, "token_ids", f"{label} receives integer token ids from {names}; "
                                "put an Embedding before it (it turns each id into a vector)",
                                bid, network=network.name))
    return diags


def _whole(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _structural(network: Network, registry: Registry, structure: _Structure) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    net = network.name
    specs = structure.specs

    for cycle in structure.order.cycles:
        names = " -> ".join(network.blocks[b].name for b in cycle)
        for bid in cycle:
            diags.append(Diagnostic(
                ERROR, "cycle",
                f"{block_label(specs[bid], network.blocks[bid])} is part of a loop ({names}); "
                "networks must flow one way: remove one of the wires", bid, network=net))

    inputs, heads = structure.inputs, structure.heads
    if network.blocks and not inputs:
        diags.append(Diagnostic(ERROR, "no_input",
                                f"network '{net}' has no input block; add one from the Inputs category",
                                network=net))
    if network.blocks and not heads:
        diags.append(Diagnostic(ERROR, "no_head",
                                f"network '{net}' has no output head; end it with an output block "
                                "(e.g. Classification head) so it knows what to return and learn",
                                network=net))
    if not network.blocks:
        diags.append(Diagnostic(ERROR, "empty", f"network '{net}' is empty; drag blocks from the palette",
                                network=net))

    reached, feeding = structure.reached, structure.feeding
    for bid, block in network.blocks.items():
        spec = specs[bid]
        if spec is None:
            continue
        if bid not in reached and spec.role != "input" and inputs:
            diags.append(Diagnostic(WARNING, "unreachable",
                                    f"{block_label(spec, block)} is not connected to any input block",
                                    bid, network=net))
        elif bid not in feeding and heads:
            diags.append(Diagnostic(WARNING, "unused",
                                    f"{block_label(spec, block)} does not lead to any output head, "
                                    "so it has no effect; wire it on or delete it", bid, network=net))

    seen: dict[str, str] = {}
    for bid, block in network.blocks.items():
        if block.name in seen:
            diags.append(Diagnostic(WARNING, "duplicate_name",
                                    f"two blocks are named '{block.name}'; rename one so code, "
                                    "plots and messages can tell them apart", bid, network=net))
        else:
            seen[block.name] = bid
    return diags


def _files(network: Network, structure: _Structure, base_dir: Path | None) -> list[Diagnostic]:
    """Files blocks read when the model is built (a backbone's pretrained weights) that are not there.

    Looked at on every analysis, never cached: the file may appear or vanish between edits.
    """
    diags = []
    for bid in structure.reads_files:
        block, spec = network.blocks[bid], structure.specs[bid]
        if not block.enabled:
            continue
        for param, problem in spec.files(block.params, base_dir):
            diags.append(Diagnostic(ERROR, "file", f"{block_label(spec, block)}: {problem}", bid,
                                    param=param, network=network.name))
    return diags


def analyse(network: Network, registry: Registry, cache: AnalysisCache | None = None,
            base_dir: Path | None = None) -> Analysis:
    """Shapes and diagnostics of a network; pass the same cache after each edit for speed.

    base_dir: the project file's folder, where relative file paths in block parameters start
    (None: the current folder, as the built model looks them up).
    """
    cache = cache or AnalysisCache()
    registry = registry_for(network, registry)  # the project's definitions are block types too
    known = cache._structure
    structure = cache.structure(network, registry)
    edited = cache._take_edits(network)
    if structure is not known:  # blocks, wires or the registry changed: nothing carries over
        edited = None
    if registry.stamp != cache._stamp:  # a definition changed: every instance of it may have
        edited, cache._stamp = None, registry.stamp
    renamed, switched = cache._renamed, cache._switched
    cache._renamed = cache._switched = False
    if edited is None:
        inference = infer(network, registry, cache.shapes, structure.order)
        cache._structural = _structural(network, registry, structure)
        cache._tokens = _token_ids(network, structure)
        cache._weights.update(network, registry, inference)
        changed = None
    else:
        inference, visited = infer_changed(network, registry, cache.shapes, cache._last.inference, edited,
                                           structure.rank)
        if renamed:  # messages name blocks, and two blocks may now share a name
            cache._structural = _structural(network, registry, structure)
        if renamed or switched or any(_may_carry_ids(structure.specs.get(bid)) for bid in edited):
            cache._tokens = _token_ids(network, structure)
        cache._weights.update(network, registry, inference, visited)
        changed = frozenset(visited)
    diagnostics = cache._structural + cache._tokens + _files(network, structure, base_dir)
    diagnostics += inference.diagnostics
    diagnostics += sharing_diagnostics(network, registry, inference)
    diagnostics += cache._weights.diagnostics(network, registry)  # before torch allocates any of it
    rank = {bid: i for i, bid in enumerate(network.blocks)} if len(diagnostics) > 1 else {}
    # errors first, then in canvas order, so lists read top to bottom
    diagnostics.sort(key=lambda d: (d.severity != ERROR, rank.get(d.block, -1)))
    cache._serial += 1
    cache._last = Analysis(network, inference, diagnostics, changed, cache._serial)
    return cache._last


def _may_carry_ids(spec: BlockSpec | None) -> bool:
    """Whether editing a block of this type's settings can change the token-id checks (they read only
    the structure, names, switches and the vocab sizes of token inputs and Embeddings: _token_ids)."""
    return spec is None or spec.type_id == "TokenInput" or "token_ids" in spec.tags


def analyse_project(project: Project, registry: Registry,
                    base_dir: Path | None = None) -> dict[str, Analysis]:
    """One analysis per network, keyed by network name."""
    return {net.name: analyse(net, registry, base_dir=base_dir) for net in project.networks}


def analyse_definition(definition, registry: Registry, cache: AnalysisCache | None = None,
                       inputs: dict | None = None) -> Analysis:
    """A block definition's body on its own (what its canvas tab shows): its exposed parameters at their
    defaults, its input ports at the shapes in `inputs` (port name -> shape: what an instance receives),
    the ports `inputs` leaves out at their example shapes (each PortInput's `shape`)."""
    from graph.definitions import bound_body

    body = bound_body(definition, {p.name: p.default for p in definition.params}, inputs or {})
    return analyse(body, registry, cache)

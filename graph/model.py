"""The editable model: projects, networks, blocks and edges, block definitions, with change events.

Pure Python (no Qt). The studio's undo commands call the mutating methods of
`Network`; views subscribe to its change events and redraw. A method emits
an event only when it really changed something. Derived data (shapes,
diagnostics) is never stored here.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph.training_config import DataSpec, TrainingConfig


@dataclass(frozen=True)
class Edge:
    """A wire from a block's output to an input port of another block."""

    src: str
    dst: str
    dst_port: str
    src_port: str = "out"

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"


@dataclass
class Block:
    """One placed block: its id is stable for its whole life, its name is the user's label."""

    id: str
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    enabled: bool = True
    frozen: bool = False  # transfer learning: its weights stay fixed while training
    # another use of block `shares`: no module of its own, it calls that block's (a siamese encoder);
    # its params and frozen state are kept equal to the owner's by Network
    shares: str | None = None


@dataclass
class Group:
    """A named, collapsible set of blocks (a view grouping; it changes no computation)."""

    id: str
    name: str
    blocks: tuple[str, ...]
    collapsed: bool = False


@dataclass(frozen=True)
class Change:
    """A change event. kind: block_added, block_removed, edge_added, edge_removed,
    param_changed, block_moved, block_renamed, block_enabled, block_frozen, group_changed,
    network_renamed, block_shares (which module a block uses), ties_changed (tied parameters),
    definition_params (on a definition's body: its exposed parameters changed)."""

    kind: str
    block: str | None = None
    edge: Edge | None = None
    name: str | None = None


Listener = Callable[[Change], None]


class ModelError(ValueError):
    """A mutation that would break the model's invariants (unknown id, duplicate wire)."""


class Network:
    """A graph of blocks. Blocks keep insertion order, which orders forward() arguments."""

    def __init__(self, name: str = "model", blocks: list[Block] | None = None,
                 edges: list[Edge] | None = None, groups: list[Group] | None = None,
                 ties: dict[str, str] | None = None):
        self.name = name
        # tied parameters: "block_id.param" -> "block_id.param" whose tensor it is (a GPT's head weight
        # is its token embedding's); the compiler assigns one to the other after building both
        self.ties: dict[str, str] = dict(ties or {})
        self._sharers = 0  # blocks with `shares` set: when none, a setting concerns one block only
        self.blocks: dict[str, Block] = {}
        self.edges: list[Edge] = []  # read-only outside this class: change it through the methods
        # indexes kept in step with `edges`, so wiring a big network is not quadratic
        self._edge_set: set[Edge] = set()
        self._into: dict[str, dict[str, Edge]] = {}  # block id -> input port -> wire
        self._out: dict[str, list[Edge]] = {}
        self.groups: list[Group] = list(groups or [])
        self._listeners: list[Listener] = []
        self.revision = 0  # bumped on every change; lets caches know they are stale
        self.structure_revision = 0  # bumped only when blocks or wires come or go
        # the project's block definitions (graph.definitions), which instance blocks name by type;
        # set by Project, not part of equality; None: a network on its own, with no definitions
        self.library: Definitions | None = None
        for block in blocks or []:
            self.add_block(block)
        for edge in edges or []:
            self.connect(edge)

    # --- equality is structural, so load(save(p)) == p can be checked ---
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (self.name == other.name and list(self.blocks.values()) == list(other.blocks.values())
                and self.edges == other.edges and self.groups == other.groups and self.ties == other.ties)

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self.blocks)} blocks, {len(self.edges)} edges)"

    # --- events ---
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, change: Change) -> None:
        self.revision += 1
        if change.kind in _STRUCTURAL:
            self.structure_revision += 1
        for listener in list(self._listeners):
            listener(change)

    # --- queries ---
    @property
    def shares_modules(self) -> bool:
        """Whether any block is another use of a block's module (Block.shares)."""
        return self._sharers > 0

    def block(self, block_id: str) -> Block:
        try:
            return self.blocks[block_id]
        except KeyError:
            raise ModelError(f"no block with id {block_id!r} in network {self.name!r}") from None

    def edges_into(self, block_id: str) -> list[Edge]:
        return list(self._into.get(block_id, {}).values())

    def edges_from(self, block_id: str) -> list[Edge]:
        return list(self._out.get(block_id, ()))

    def edges_of(self, block_id: str) -> list[Edge]:
        return self.edges_into(block_id) + [e for e in self.edges_from(block_id) if e.dst != block_id]

    def wires_into(self, block_id: str) -> dict[str, Edge]:
        """Input port -> wire, for one block (a read-only view: do not modify)."""
        return self._into.get(block_id, _NO_WIRES)

    def wire_into(self, block_id: str, port: str) -> Edge | None:
        """The wire feeding one input port, if any."""
        return self._into.get(block_id, {}).get(port)

    def owner_of(self, block_id: str) -> str:
        """The block whose module this one runs: its `shares` target, or itself."""
        shares = self.block(block_id).shares
        return shares if shares is not None and shares in self.blocks else block_id

    def uses_of(self, block_id: str) -> list[str]:
        """Every block running the same module as this one (the owner first), in canvas order."""
        if not self._sharers:
            return [block_id]
        owner = self.owner_of(block_id)
        return [owner] + [bid for bid, b in self.blocks.items() if b.shares == owner and bid != owner]

    def new_block_id(self, prefix: str = "b") -> str:
        n = len(self.blocks) + 1
        while f"{prefix}{n}" in self.blocks:
            n += 1
        return f"{prefix}{n}"

    def unique_name(self, wanted: str) -> str:
        names = {b.name for b in self.blocks.values()}
        if wanted not in names:
            return wanted
        n = 2
        while f"{wanted}{n}" in names:
            n += 1
        return f"{wanted}{n}"

    # --- mutations (the only way anything changes) ---
    def add_block(self, block: Block, index: int | None = None) -> None:
        if block.id in self.blocks:
            raise ModelError(f"block id {block.id!r} already exists")
        if index is None or index >= len(self.blocks):
            self.blocks[block.id] = block
        else:  # re-insert at its old place, so undo restores forward() argument order
            items = list(self.blocks.items())
            items.insert(index, (block.id, block))
            self.blocks = dict(items)
        self._sharers += block.shares is not None
        self._emit(Change("block_added", block=block.id))

    def remove_block(self, block_id: str) -> Block:
        """Remove a block that has no wires left (commands remove its wires first)."""
        block = self.block(block_id)
        if self.edges_of(block_id):
            raise ModelError(f"block {block.name!r} still has wires; disconnect them first")
        sharers = [b.name for b in self.blocks.values() if b.shares == block_id and b.id != block_id]
        if sharers:
            raise ModelError(f"block {block.name!r} holds the module that {', '.join(map(repr, sharers))} "
                             "also use; make them independent (or hand them the module) first")
        del self.blocks[block_id]
        self._sharers -= block.shares is not None
        self._emit(Change("block_removed", block=block_id))
        return block

    def index_of(self, block_id: str) -> int:
        return list(self.blocks).index(block_id)

    def connect(self, edge: Edge, index: int | None = None) -> None:
        self.block(edge.src)
        self.block(edge.dst)
        if edge in self._edge_set:
            raise ModelError(f"wire {edge} already exists")
        if self.wire_into(edge.dst, edge.dst_port) is not None:
            raise ModelError(f"input {edge.dst}.{edge.dst_port} is already connected")
        if index is None:
            self.edges.append(edge)
        else:
            self.edges.insert(index, edge)
        self._edge_set.add(edge)
        self._into.setdefault(edge.dst, {})[edge.dst_port] = edge
        self._out.setdefault(edge.src, []).append(edge)
        self._emit(Change("edge_added", edge=edge))

    def disconnect(self, edge: Edge) -> int:
        """Remove a wire; returns its index so undo can put it back in place."""
        if edge not in self._edge_set:
            raise ModelError(f"no wire {edge}")
        index = self.edges.index(edge)
        del self.edges[index]
        self._edge_set.discard(edge)
        del self._into[edge.dst][edge.dst_port]
        self._out[edge.src].remove(edge)
        self._emit(Change("edge_removed", edge=edge))
        return index

    def set_param(self, block_id: str, name: str, value: Any) -> None:
        """Set one setting; every other use of the same module gets it too (one module, one setting)."""
        self.block(block_id)
        for bid in self.uses_of(block_id):
            block = self.blocks[bid]
            if block.params.get(name, _MISSING) == value and type(block.params.get(name)) is type(value):
                continue
            block.params[name] = value
            self._emit(Change("param_changed", block=bid, name=name))

    def set_params(self, block_id: str, params: dict[str, Any]) -> None:
        self.block(block_id)
        for bid in self.uses_of(block_id):
            block = self.blocks[bid]
            if block.params == params:
                continue
            block.params = dict(params)
            self._emit(Change("param_changed", block=bid))

    def set_shares(self, block_id: str, owner: str | None) -> None:
        """Make a block another use of `owner`'s module (it takes the owner's settings), or its own (None)."""
        block = self.block(block_id)
        if owner is not None:
            other = self.block(owner)
            if owner == block_id or other.shares is not None:
                raise ModelError(f"block {block.name!r} can only use the module of a block that has its own")
            if other.type != block.type:
                raise ModelError(f"block {block.name!r} ({block.type}) cannot use the module of "
                                 f"{other.name!r} ({other.type}): they are different kinds of block")
            if any(b.shares == block_id for b in self.blocks.values()):
                raise ModelError(f"other blocks use the module of {block.name!r}; "
                                 "hand it to one of them first")
        if block.shares == owner:
            return
        self._sharers += (owner is not None) - (block.shares is not None)
        block.shares = owner
        if owner is not None:
            block.params = dict(self.blocks[owner].params)
            block.frozen = self.blocks[owner].frozen
        self._emit(Change("block_shares", block=block_id))

    def set_ties(self, ties: dict[str, str]) -> None:
        """Replace the tied parameters ("block.param" -> "block.param" whose tensor it uses)."""
        if ties == self.ties:
            return
        self.ties = dict(ties)
        self._emit(Change("ties_changed"))

    def move_block(self, block_id: str, position: tuple[float, float]) -> None:
        block = self.block(block_id)
        position = (float(position[0]), float(position[1]))
        if block.position == position:
            return
        block.position = position
        self._emit(Change("block_moved", block=block_id))

    def rename_block(self, block_id: str, name: str) -> None:
        block = self.block(block_id)
        if block.name == name:
            return
        block.name = name
        self._emit(Change("block_renamed", block=block_id))

    def set_enabled(self, block_id: str, enabled: bool) -> None:
        block = self.block(block_id)
        if block.enabled == enabled:
            return
        block.enabled = enabled
        self._emit(Change("block_enabled", block=block_id))

    def set_frozen(self, block_id: str, frozen: bool) -> None:
        """Freeze or unfreeze a block's weights, with every other use of the same module."""
        self.block(block_id)
        for bid in self.uses_of(block_id):
            block = self.blocks[bid]
            if block.frozen == frozen:
                continue
            block.frozen = frozen
            self._emit(Change("block_frozen", block=bid))

    def set_groups(self, groups: list[Group]) -> None:
        if groups == self.groups:
            return
        self.groups = list(groups)
        self._emit(Change("group_changed"))

    def rename(self, name: str) -> None:
        if name == self.name:
            return
        self.name = name
        self._emit(Change("network_renamed", name=name))

    def copy(self) -> Network:
        """A deep copy without listeners (it still reads the same definitions)."""
        net = Network(self.name, [copy.deepcopy(b) for b in self.blocks.values()],
                      list(self.edges), [copy.deepcopy(g) for g in self.groups], dict(self.ties))
        net.library = self.library
        return net


_MISSING = object()
_NO_WIRES: dict[str, Edge] = {}
_STRUCTURAL = frozenset({"block_added", "block_removed", "edge_added", "edge_removed"})


@dataclass
class ExposedParam:
    """A parameter of a definition, set per instance: `binds` names the inner settings it sets,
    each "inner_block_id.param" (e.g. `channels` -> ("conv1.channels", "conv2.channels"))."""

    name: str
    default: Any
    binds: tuple[str, ...]


@dataclass(frozen=True)
class LibraryRef:
    """Where a project's definition came from: the user library's ("My blocks") entry and its version."""

    name: str
    version: int


class Definition:
    """A block definition: a sub-network used as one block any number of times (like an nn.Module).

    `body` is an ordinary Network whose inputs are PortInput blocks and whose outputs are PortOutput
    blocks (graph.definitions); each port is named by its block's name, in body order. An instance is
    a block whose type is the definition's name and whose params are the exposed parameters' values.
    Editing the body (through its Network methods) or the parameters (through these methods) changes
    every instance at once.
    """

    def __init__(self, name: str, body: Network, params: list[ExposedParam] | None = None,
                 version: int = 1, description: str = "", origin: LibraryRef | None = None):
        self.name = name
        self.body = body
        self.params: list[ExposedParam] = list(params or [])
        self.version = version
        self.description = description
        self.origin = origin  # the library entry it was copied from (graph.library), None: the project's own
        self.revision = 0  # bumped when its parameters change (the body has its own revision)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Definition):
            return NotImplemented
        return (self.name, self.body, self.params, self.version, self.description, self.origin) == (
            other.name, other.body, other.params, other.version, other.description, other.origin)

    def __repr__(self) -> str:
        return f"Definition({self.name!r}, {len(self.body.blocks)} blocks, {len(self.params)} params)"

    def param(self, name: str) -> ExposedParam:
        for p in self.params:
            if p.name == name:
                return p
        raise ModelError(f"definition {self.name!r} has no parameter {name!r}")

    def set_exposed(self, params: list[ExposedParam]) -> None:
        """Replace the exposed parameters (an undo step restores the old list)."""
        if params == self.params:
            return
        self.params = [copy.deepcopy(p) for p in params]
        self.revision += 1
        self.body._emit(Change("definition_params", name=self.name))  # the body's listeners hear it

    def copy(self) -> Definition:
        return Definition(self.name, self.body.copy(), [copy.deepcopy(p) for p in self.params],
                          self.version, self.description, self.origin)


class Definitions:
    """The definitions of a project, by name, in the order they were made."""

    def __init__(self, items: list[Definition] | None = None):
        self._items: dict[str, Definition] = {}
        self.revision = 0
        for item in items or []:
            self.add(item)

    def __iter__(self):
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Definitions):
            return NotImplemented
        return list(self._items.values()) == list(other._items.values())

    def __repr__(self) -> str:
        return f"Definitions({list(self._items)})"

    def get(self, name: str) -> Definition:
        try:
            return self._items[name]
        except KeyError:
            raise ModelError(f"the project has no definition {name!r}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def add(self, definition: Definition, index: int | None = None) -> None:
        if definition.name in self._items:
            raise ModelError(f"a definition named {definition.name!r} already exists")
        items = list(self._items.items())
        items.insert(len(items) if index is None else index, (definition.name, definition))
        self._items = dict(items)
        definition.body.library = self
        self.revision += 1

    def remove(self, name: str) -> tuple[Definition, int]:
        """Remove a definition; returns it and its index so undo can put it back."""
        definition = self.get(name)
        index = list(self._items).index(name)
        del self._items[name]
        self.revision += 1
        return definition, index

    def stamp(self) -> tuple:
        """Changes whenever any definition's body or parameters change (caches key on it)."""
        return (self.revision, *((d.name, id(d), d.revision, d.body.revision) for d in self._items.values()))

    def copy(self) -> Definitions:
        return Definitions([d.copy() for d in self._items.values()])


def new_project_id() -> str:
    """A fresh project id: 32 hex digits, random, so no two projects ever share one."""
    return uuid.uuid4().hex


@dataclass
class Project:
    """A whole project: one or more networks plus how to train them.

    `id` says which project a run belongs to (runs record it in their
    snapshot). It is made when the project is created and stays with it
    through renames, moves and Save As; a file from before ids has "" until
    it is first saved (graph.project_io.save_project gives it one). It is
    plain data, never part of the generated code, and not part of equality:
    two projects with the same content are equal whatever their ids.
    """

    name: str = "Untitled"
    networks: list[Network] = field(default_factory=lambda: [Network()])
    data: DataSpec = field(default_factory=DataSpec)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    seed: int = 0
    description: str = ""
    # the Experiments panel's sweep: {"space": [...], "trials": 20, "sampler": "tpe", ...}; see runtime/sweep
    experiment: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_project_id, compare=False)
    # block definitions (sub-networks used as blocks); every network of the project reads them
    definitions: Definitions = field(default_factory=Definitions)

    def __post_init__(self) -> None:
        # a network that reads other definitions already (compile_network's one-network project) keeps them
        self.link(only_unlinked=True)

    def link(self, only_unlinked: bool = False) -> None:
        """Point every network (and definition body) at this project's definitions; call it after
        adding a network to `networks` by hand."""
        for net in self.networks:
            if not (only_unlinked and net.library is not None):
                net.library = self.definitions
        for definition in self.definitions:
            definition.body.library = self.definitions
    # where the model is meant to run: graph.deploy target or preset names, e.g. ["onnx17", "int8"]
    deploy_targets: list[str] = field(default_factory=list)

    def network(self, name: str | None = None) -> Network:
        """The named network, or the first one when no name is given."""
        if name is None:
            return self.networks[0]
        for net in self.networks:
            if net.name == name:
                return net
        raise ModelError(f"project {self.name!r} has no network {name!r}")

    def copy(self) -> Project:
        project = Project(self.name, [n.copy() for n in self.networks], copy.deepcopy(self.data),
                          copy.deepcopy(self.training), self.seed, self.description,
                          copy.deepcopy(self.experiment), self.id, self.definitions.copy(),
                          list(self.deploy_targets))
        project.link()
        return project

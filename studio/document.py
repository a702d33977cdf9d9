"""The open project in the studio: model, undo stack, analysis, file state.

`Document` is the one editing controller the views talk to. Every change
goes through a command on its QUndoStack (see studio/commands.py). After
each step it re-analyses the changed network (shapes + diagnostics, with an
incremental cache) and emits `analysisChanged`; views subscribe to the
networks' own change events (`networkChanged`) to redraw items.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.model import Block, Change, Edge, Network, Project
from graph.pycode import to_identifier
from graph.spec import Registry, ShapeError
from graph.validate import Analysis, AnalysisCache, analyse
from graph.walk import to_digraph
from studio import commands

Point = tuple[float, float]


class Document(QObject):
    networkChanged = Signal(str, object)  # network name, graph.model.Change
    analysisChanged = Signal(str)  # network name: new shapes/diagnostics are ready
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None
    projectReplaced = Signal()  # a different project was loaded: rebuild every view

    def __init__(self, registry: Registry, project: Project | None = None, path: Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.registry = registry
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.undo_stack.indexChanged.connect(self._after_step)
        self._caches: dict[int, AnalysisCache] = {}
        self._analyses: dict[str, Analysis] = {}
        self._dirty: set[str] = set()
        self._subscriptions: list[tuple[Network, object]] = []
        self.project = Project()
        self.path: Path | None = None
        self.replace_project(project or Project(), path)

    # --- project lifetime ---
    def replace_project(self, project: Project, path: Path | None = None) -> None:
        """Show another project (new/open): clears history, re-analyses everything."""
        for net, listener in self._subscriptions:
            net.unsubscribe(listener)
        self._subscriptions = []
        self.project, self.path = project, path
        self.undo_stack.clear()
        self._caches.clear()
        for net in project.networks:
            listener = self._make_listener(net)
            net.subscribe(listener)
            self._subscriptions.append((net, listener))
        self._analyses = {net.name: self._analyse(net) for net in project.networks}
        self.projectReplaced.emit()
        self.pathChanged.emit(path)
        self.modifiedChanged.emit(False)

    def _make_listener(self, net: Network):
        def listener(change: Change) -> None:
            self._dirty.add(net.name)
            self.networkChanged.emit(net.name, change)
        return listener

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: Path) -> None:
        self.path = Path(path)
        self.undo_stack.setClean()
        self.pathChanged.emit(self.path)

    # --- analysis ---
    def _analyse(self, net: Network) -> Analysis:
        cache = self._caches.setdefault(id(net), AnalysisCache())
        return analyse(net, self.registry, cache)

    def _after_step(self, _index: int) -> None:
        for name in sorted(self._dirty):
            net = self.network(name)
            self._analyses[name] = self._analyse(net)
            self.analysisChanged.emit(name)
        self._dirty.clear()

    def analysis(self, network: str | None = None) -> Analysis:
        return self._analyses[self.network(network).name]

    def network(self, name: str | None = None) -> Network:
        return self.project.network(name)

    # --- queries the views use to refuse bad edits before they happen ---
    def can_connect(self, network: str, edge: Edge) -> tuple[bool, str]:
        """Whether a wire may be drawn, and if not, why (shown as a tooltip)."""
        net = self.network(network)
        if edge.src == edge.dst:
            return False, "A block cannot feed itself."
        src, dst = net.block(edge.src), net.block(edge.dst)
        src_spec = self.registry.get(src.type) if src.type in self.registry else None
        dst_spec = self.registry.get(dst.type) if dst.type in self.registry else None
        if src_spec is not None and not src_spec.has_output:
            return False, f"'{src.name}' is an output head: it has no output to wire from."
        if dst_spec is not None:
            analysis = self.analysis(network)
            params = analysis.inference.params.get(dst.id, dst.params)
            ports = {p.name: p for p in dst_spec.input_ports(params)}
            if edge.dst_port not in ports:
                return False, f"'{dst.name}' has no input '{edge.dst_port}'."
            refusal = self._shape_refusal(dst_spec, params, edge, analysis)
            if refusal:
                return False, refusal
        if any(e.dst == edge.dst and e.dst_port == edge.dst_port for e in net.edges):
            return False, (f"Input '{edge.dst_port}' of '{dst.name}' is already connected; "
                           "remove that wire first.")
        if nx.has_path(to_digraph(net), edge.dst, edge.src):
            return False, f"This wire would make a loop: '{dst.name}' already feeds '{src.name}'."
        return True, ""

    def _shape_refusal(self, spec, params, edge: Edge, analysis: Analysis) -> str:
        """Why a wire can never work (a rank no block could repair), or "" to allow it.

        A mismatch that has an obvious repair (Linear after an image: insert
        Flatten) is allowed, so the problem and its quick fix show on the canvas.
        """
        shape = analysis.shapes.get(edge.src)
        ports = spec.input_ports(params)
        if shape is None:
            return ""
        ins = {e.dst_port: analysis.shapes.get(e.src) for e in analysis.network.edges_into(edge.dst)}
        ins[edge.dst_port] = shape
        if any(ins.get(p.name) is None for p in ports):
            return ""  # other inputs unknown yet: judge once they are wired
        try:
            spec.infer(params, ins)
        except ShapeError as err:
            if err.port == edge.dst_port and err.fix is None and err.param is None:
                return f"{spec.title} {err}"
        return ""

    # --- edits: each is one undo step ---
    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)

    def add_block(self, network: str, type_id: str, position: tuple[float, float] = (0.0, 0.0),
                  params: dict | None = None, name: str | None = None) -> str:
        net = self.network(network)
        spec = self.registry.get(type_id)
        block = Block(net.new_block_id(), spec.type_id,
                      net.unique_name(name or _default_name(spec.type_id)),
                      {**spec.defaults(), **(params or {})}, (float(position[0]), float(position[1])))
        self.push(commands.AddBlock(net, block))
        return block.id

    def connect(self, network: str, edge: Edge) -> tuple[bool, str]:
        ok, why = self.can_connect(network, edge)
        if ok:
            self.push(commands.Connect(self.network(network), edge))
        return ok, why

    def disconnect(self, network: str, edge: Edge) -> None:
        self.push(commands.Disconnect(self.network(network), edge))

    def remove_blocks(self, network: str, block_ids: list[str]) -> None:
        if block_ids:
            self.push(commands.remove_blocks(self.network(network), block_ids))

    def move_blocks(self, network: str, moves: dict[str, tuple[Point, Point]]) -> None:
        """One undo step for a whole drag: block id -> (old position, new position)."""
        moves = {bid: (old, new) for bid, (old, new) in moves.items() if old != new}
        if moves:
            self.push(commands.MoveBlocks(self.network(network), moves))

    def set_param(self, network: str, block_id: str, name: str, value) -> None:
        """Callers validate first (Param.check); the inspector refuses bad values in the field."""
        self.push(commands.SetParam(self.network(network), block_id, name, value))

    def rename_block(self, network: str, block_id: str, name: str) -> None:
        self.push(commands.RenameBlock(self.network(network), block_id, name))

    def set_enabled(self, network: str, block_ids: list[str], enabled: bool) -> None:
        self.push(commands.SetEnabled(self.network(network), block_ids, enabled))


def _default_name(type_id: str) -> str:
    """Conv2d -> conv2d, ClassificationHead -> classification_head (made unique by the network)."""
    return to_identifier(type_id)

"""NetworkScene: the graphics scene of one network, kept in step with the Document.

The scene never changes the model. It listens to `Document.networkChanged`
(one model Change at a time) and `Document.analysisChanged`, and updates
only the items concerned: a block added gets a card, a wire removed loses
its item, a parameter edit redraws one card, a new analysis re-colours only
the cards and wires whose shape or problems differ from before. So an edit
on a 1,000-block network redraws in well under a frame.

User gestures end in Document calls (see interaction.py for the mouse side
and menus.py for the context menus): a drag of blocks is one `move_blocks`
on release, a wire drawn port to port is one `connect`.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QGraphicsScene

from graph.bulk import without_gc_pauses
from graph.diagnostics import ERROR, Diagnostic
from graph.model import Block, Change, Edge, Network
from graph.shapes import compact_shape
from studio.canvas import labels
from studio.canvas.block_item import BlockItem, CardContent, CardStatus, apply_cache_mode
from studio.canvas.fold_item import FoldItem
from studio.canvas.group_item import GroupItem
from studio.canvas.interaction import SceneInteraction
from studio.canvas.scene_folds import SceneFolds
from studio.canvas.scene_groups import SceneGroups
from studio.canvas.style import TEXT_LOD, Theme, system_theme
from studio.canvas.wire_item import WireItem

WORLD = 100_000.0  # the scene is a large fixed square, so panning is never stopped by its edge


class NetworkScene(SceneFolds, SceneGroups, SceneInteraction, QGraphicsScene):
    """Cards, wires and groups of one network of `doc.project`."""

    # scene pos, and the wire end to connect the new block to: (block, port, is_output) or None
    quickAddRequested = Signal(QPointF, object)
    wireRefused = Signal(str)  # why a dropped wire was not made
    problemMenuRequested = Signal(str, object)  # block id, screen QPoint
    renameRequested = Signal(str)  # block id: the view opens an inline editor
    blockActivated = Signal(str)  # double-click on a card
    blockSelectionChanged = Signal(list)

    def __init__(self, doc, network: str | None = None, theme: Theme | None = None, parent=None):
        QGraphicsScene.__init__(self, parent)
        self.doc = doc
        self.net: Network = doc.network(network)
        self.theme = theme or system_theme()
        self.blocks: dict[str, BlockItem] = {}
        self.wires: dict[Edge, WireItem] = {}
        self.groups: dict[str, GroupItem] = {}
        self._wires_of: dict[str, set[Edge]] = {}
        self._group_of: dict[str, str] = {}  # block id -> id of its group
        self._diag_keys: dict[str, tuple] = {}  # block id -> (shape, diagnostics) last drawn
        self._bad_inputs: set[tuple[str, str]] = set()
        self._applied: tuple[Network | None, int] = (None, -1)  # the analysis last drawn (network, serial)
        self._speaking: set[str] = set()  # blocks that had problems in it
        self._stale: set[str] = set()  # cards to draw again with the next analysis, whatever it visited
        self._exposed_seen: tuple = ()  # a definition body's exposed parameters its cards show
        self.show_wire_shapes = False
        self.gradient_norms: dict[str, float] = {}  # block id -> gradient norm shown (show_gradient_flow)
        self.text_visible = True  # level of detail, set from the view's zoom (set_zoom)
        self.cache_mode = "device"
        self._items_rect: QRectF | None = None
        self.setSceneRect(QRectF(-WORLD / 2, -WORLD / 2, WORLD, WORLD))
        self.setBackgroundBrush(QBrush(self.theme.color("background")))
        SceneInteraction.__init__(self)
        self._init_folds()
        self._detached = False
        doc.networkChanged.connect(self._on_network_changed)
        doc.analysisChanged.connect(self._on_analysis_changed)
        doc.projectReplaced.connect(self._on_project_replaced)
        self.selectionChanged.connect(self._on_selection_changed)
        self.rebuild()

    def detach(self) -> None:
        """Stop following the document: the canvas is closing (another project was opened)."""
        if self._detached:
            return
        self._detached = True
        self.doc.networkChanged.disconnect(self._on_network_changed)
        self.doc.analysisChanged.disconnect(self._on_analysis_changed)
        self.doc.projectReplaced.disconnect(self._on_project_replaced)

    # --- identity ---
    @property
    def network_name(self) -> str:
        return self.net.name

    def _mine(self, name: str) -> bool:
        try:
            return self.doc.network(name) is self.net
        except ValueError:  # ModelError: no such network (any more)
            return False

    # --- building ---
    def rebuild(self) -> None:
        """Make every item afresh (only on construction or when the project is replaced)."""
        self._items_rect = None
        self.clearSelection()
        for item in [*self.blocks.values(), *self.wires.values(), *self.groups.values(),
                     *self.folds.values()]:
            self.removeItem(item)
        self.blocks, self.wires, self.groups = {}, {}, {}
        self._init_folds()
        self._wires_of, self._group_of, self._diag_keys, self._bad_inputs = {}, {}, {}, set()
        self._applied, self._speaking = (None, -1), set()  # the next analysis is drawn card by card
        self._exposed_seen = self._exposed_key()  # the cards made now show these
        with without_gc_pauses():  # tens of thousands of items for a big network (graph/bulk.py)
            for block in self.net.blocks.values():
                self._add_block(block)
            for edge in self.net.edges:
                self._add_wire(edge)
            if self.net.groups:
                self._sync_groups()
            self._folds_stale()
            self._sync_folds()
            self._apply_analysis()

    def _content(self, block: Block) -> CardContent:
        registry = self.doc.registry
        spec = registry.get(block.type) if block.type in registry else None
        if spec is None:
            return CardContent(block.name, block.type, "", "unknown block type", ("x",), True, block.enabled,
                               block.frozen)
        bound = self.bindings(block.id)
        # inside a definition the analysis sets a bound setting to its exposed parameter's default
        params = {**spec.defaults(), **block.params, **{k: v[1] for k, v in bound.items()}}
        try:
            ports = tuple(p.name for p in spec.input_ports(params))
        except (TypeError, ValueError):  # a broken count parameter: show the declared ports
            ports = tuple(p.name for p in spec.input_ports(None))
        summary = labels.summary_text(spec, params, {k: v[0] for k, v in bound.items()})
        owner = self.net.blocks.get(block.shares) if block.shares is not None else None
        if owner is not None:  # another use of a module: the card says whose
            summary = f"uses {owner.name}" + (f" · {summary}" if summary else "")
        return CardContent(block.name, spec.title, spec.category, summary,
                           ports, spec.has_output, block.enabled, block.frozen)

    def _definition(self):
        """The definition whose body this scene shows (None on a network's canvas)."""
        return next((d for d in self.doc.project.definitions if d.body is self.net), None)

    def bindings(self, block_id: str) -> dict[str, tuple[str, object]]:
        """Setting -> (exposed parameter, its default) for the settings of `block_id` that its
        definition sets per instance (empty outside a definition's body)."""
        definition = self._definition()
        found: dict[str, tuple[str, object]] = {}
        for exposed in definition.params if definition is not None else ():
            for bind in exposed.binds:
                owner, _, setting = bind.partition(".")
                if owner == block_id:
                    found[setting] = (exposed.name, exposed.default)
        return found

    def _exposed_key(self) -> tuple:
        definition = self._definition()
        return tuple((p.name, repr(p.default), p.binds) for p in definition.params) if definition else ()

    def _refresh_bound(self) -> None:
        """The exposed parameters changed (a default, a binding): redraw the cards they name."""
        now = self._exposed_key()
        if now == self._exposed_seen:
            return
        touched = {bind.partition(".")[0] for params in (now, self._exposed_seen)
                   for _name, _default, binds in params for bind in binds}
        self._exposed_seen = now
        for bid in touched:
            self._refresh_block(bid)

    def _add_block(self, block: Block) -> BlockItem:
        item = BlockItem(block.id, self._content(block), self.theme)
        apply_cache_mode(item, self.cache_mode)
        item.setPos(*block.position)
        self.addItem(item)
        self.blocks[block.id] = item
        return item

    def _add_wire(self, edge: Edge) -> WireItem:
        item = WireItem(edge, self.theme)
        self.addItem(item)
        self.wires[edge] = item
        for bid in (edge.src, edge.dst):
            self._wires_of.setdefault(bid, set()).add(edge)
        self._place_wire(item)
        self._mark_ports(edge)
        # the next analysis re-colours only wires whose port changed state, so start from the current one
        item.set_problem((edge.dst, edge.dst_port) in self._bad_inputs)
        return item

    def _remove_wire(self, edge: Edge) -> None:
        item = self.wires.pop(edge, None)
        if item is None:
            return
        self.removeItem(item)
        for bid in (edge.src, edge.dst):
            self._wires_of.get(bid, set()).discard(edge)
        self.forget_wire(item)
        self._mark_ports(edge)

    def _mark_ports(self, edge: Edge) -> None:
        """Filled ports show what is wired; recomputed for the two ends of one edge."""
        if self._fold_of:
            for bid in {edge.src, edge.dst}:
                fold = self.fold_of(bid)
                if fold is not None:
                    self._mark_fold_ports(fold)
        src, dst = self.blocks.get(edge.src), self.blocks.get(edge.dst)
        if src is not None and src.output is not None:
            src.output.set_flags(any(e.src == edge.src for e in self._wires_of.get(edge.src, ())),
                                 src.output.problem, self.theme)
        if dst is not None and edge.dst_port in dst.inputs:
            port = dst.inputs[edge.dst_port]
            port.set_flags(any(e.dst == edge.dst and e.dst_port == edge.dst_port
                               for e in self._wires_of.get(edge.dst, ())), port.problem, self.theme)

    # --- geometry that follows moves ---
    def _anchor(self, block_id: str, port: str | None) -> QPointF | None:
        """Where a wire end sits: on the port, or on a collapsed group's card."""
        group = self.groups.get(self._group_of.get(block_id, ""))
        if group is not None and group.collapsed:
            return group.output_anchor() if port is None else group.input_anchor()
        fold = self.folds.get(self._fold_of.get(block_id, "")) if self._fold_of else None
        if fold is not None:
            return fold.output_anchor() if port is None else fold.input_anchor(port)
        item = self.blocks.get(block_id)
        if item is None:
            return None
        return item.output_anchor() if port is None else item.input_anchor(port)

    def _place_wire(self, item: WireItem) -> None:
        edge = item.edge
        g_src, g_dst = self._group_of.get(edge.src), self._group_of.get(edge.dst)
        inside = g_src is not None and g_src == g_dst and self.groups.get(g_src) is not None \
            and self.groups[g_src].collapsed
        if not inside and self._fold_of:  # a wire between two instances of one folded run
            f_src = self._fold_of.get(edge.src)
            inside = f_src is not None and f_src == self._fold_of.get(edge.dst)
        item.setVisible(not inside)
        p1, p2 = self._anchor(edge.src, None), self._anchor(edge.dst, edge.dst_port)
        if p1 is not None and p2 is not None and not inside:
            item.set_ends(p1, p2)

    def block_item_moved(self, item: BlockItem) -> None:
        """A card moved (drag, undo, layout): its wires and its group follow."""
        if isinstance(item, FoldItem):
            self.fold_item_moved(item)
            return
        self._items_rect = None
        for edge in self._wires_of.get(item.block_id, ()):
            self._place_wire(self.wires[edge])
        group = self.groups.get(self._group_of.get(item.block_id, ""))
        if group is not None and not group.collapsed:
            self._fit_group(group)

    # --- model events ---
    def _on_network_changed(self, name: str, change: Change) -> None:
        if not self._mine(name):
            return
        kind, bid = change.kind, change.block
        self._folds_follow(kind)
        if kind not in ("edge_added", "edge_removed", "block_renamed"):
            self._items_rect = None
        if kind == "block_added":
            self._add_block(self.net.block(bid))
            if self._group_of:
                self._sync_groups()
        elif kind == "block_removed":
            item = self.blocks.pop(bid, None)
            if item is not None:
                item.setSelected(False)
                self.removeItem(item)
            self._wires_of.pop(bid, None)
            self._diag_keys.pop(bid, None)
        elif kind == "edge_added":
            self._add_wire(change.edge)
        elif kind == "edge_removed":
            self._remove_wire(change.edge)
        elif kind == "block_moved":
            item = self.blocks.get(bid)
            if item is not None:
                item.setPos(*self.net.block(bid).position)
                self.block_item_moved(item)
                group = self.groups.get(self._group_of.get(bid, ""))
                if group is not None and group.collapsed:
                    self._fit_group(group)
                    self.group_item_moved(group)
                self._fold_moved_in_model(bid)
        elif kind in ("param_changed", "block_renamed", "block_enabled", "block_frozen", "block_shares"):
            self._refresh_block(bid)
            if kind == "block_renamed":  # the cards of other uses of its module name it
                for other in self.net.uses_of(bid)[1:] if self.net.blocks[bid].shares is None else ():
                    self._refresh_block(other)
        elif kind == "group_changed":
            self._sync_groups()

    def _refresh_block(self, bid: str) -> None:
        item = self.blocks.get(bid)
        if item is None:
            return
        if item.set_content(self._content(self.net.block(bid))):
            apply_cache_mode(item, self.cache_mode)  # the card's height changed: so does its cache
            for edge in self._wires_of.get(bid, ()):
                self._place_wire(self.wires[edge])
                self._mark_ports(edge)
        self._diag_keys.pop(bid, None)  # the tooltip names the block: redo it with the next analysis
        self._stale.add(bid)

    def _on_analysis_changed(self, name: str) -> None:
        if self._mine(name):
            self._apply_analysis()

    def _on_project_replaced(self) -> None:
        """Show the new project's network of the same name; none left: show nothing, not a stale picture."""
        if not any(net is self.net for net in self.doc.project.networks):
            same = [net for net in self.doc.project.networks if net.name == self.net.name]
            self.net = same[0] if same else Network(self.net.name)
        self.rebuild()

    # --- analysis -> items ---
    def _apply_analysis(self) -> None:
        self._refresh_bound()
        if self._folds_stale():  # once per undo step, after all its changes (scene_folds.py)
            self._sync_folds()
        try:
            analysis = self.doc.analysis(self.net.name)
        except (KeyError, ValueError):
            return
        if analysis.network is not self.net:
            return
        per_block: dict[str, list[Diagnostic]] = {}
        bad_inputs: set[tuple[str, str]] = set()
        for d in analysis.diagnostics:
            if d.block is not None:
                per_block.setdefault(d.block, []).append(d)
                if d.port is not None and d.is_error:
                    bad_inputs.add((d.block, d.port))
        shapes = analysis.shapes
        # after an edit, only the blocks the analysis visited, and those with problems now or before,
        # can look different: a 10,000-card network is not walked card by card on every keystroke
        follows = (analysis.changed is not None and analysis.serial == self._applied[1] + 1
                   and self._applied[0] is analysis.network)
        looked_at = None
        if follows:
            looked_at = analysis.changed | per_block.keys() | self._speaking | self._stale
            items = ((bid, self.blocks[bid]) for bid in looked_at if bid in self.blocks)
        else:
            items = self.blocks.items()
        self._applied = (analysis.network, analysis.serial)
        self._speaking, self._stale = set(per_block), set()
        for bid, item in items:
            diags = per_block.get(bid, ())
            shape = shapes.get(bid)
            key = (shape, tuple(diags))
            if self._diag_keys.get(bid) == key:
                continue  # unchanged: the card keeps its cached picture
            self._diag_keys[bid] = key
            item.set_status(self._status(self.net.block(bid), shape, diags))
        self._fold_statuses(looked_at)
        self._group_severities()
        changed = bad_inputs ^ self._bad_inputs
        self._bad_inputs = bad_inputs
        for bid, port in changed:
            for edge in self._wires_of.get(bid, ()):
                if edge.dst == bid and edge.dst_port == port:
                    self.wires[edge].set_problem((bid, port) in bad_inputs)
        if self.show_wire_shapes:
            wires = (self.wires.items() if not follows else
                     ((e, self.wires[e]) for bid in analysis.changed for e in self._wires_of.get(bid, ())
                      if e.src == bid and e in self.wires))
            for edge, wire in wires:
                wire.set_label(compact_shape(shapes.get(edge.src)))

    def _status(self, block: Block, shape, diags) -> CardStatus:
        text = compact_shape(shape)
        # the deploy lint's warnings get their own badge (studio/canvas/badges.py), not the "!" one
        deploy = [d for d in diags if d.code == "deploy"]
        diags = [d for d in diags if d.code != "deploy"]
        severity = None
        if diags:
            severity = ERROR if any(d.is_error for d in diags) else "warning"
        return CardStatus(
            shape=text, severity=severity,
            problem_text="\n".join(labels.problem_lines(diags)) if diags else "",
            fixes=tuple(d.fix for d in diags if d.fix is not None),
            bad_ports=frozenset(d.port for d in diags if d.port is not None and d.is_error),
            deploy_text="\n".join(d.message for d in deploy))

    def diagnostics_of(self, block_id: str) -> list[Diagnostic]:
        return [d for d in self.doc.analysis(self.net.name).diagnostics if d.block == block_id]

    # --- display settings ---
    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackgroundBrush(QBrush(theme.color("background")))
        for item in [*self.blocks.values(), *self.folds.values()]:
            item.set_theme(theme)
        for wire in self.wires.values():
            wire.apply_theme(theme)
        for group in self.groups.values():
            group.theme = theme
            group.update()
        self.update()

    def set_wire_shapes(self, shown: bool) -> None:
        """Write each wire's shape at its middle (off by default: the card shows it too)."""
        self.show_wire_shapes = shown
        shapes = self.doc.analysis(self.net.name).shapes
        for edge, wire in self.wires.items():
            wire.set_label(compact_shape(shapes.get(edge.src)) if shown else None)
            if wire.label is not None:
                wire.label.setVisible(self.text_visible)

    # --- gradient flow (studio/canvas/heat.py) ---
    def show_gradient_flow(self, norms: dict[str, float]) -> None:
        """Colour each card by its gradient norm; blocks not named (no weights) show no colour."""
        self.gradient_norms = dict(norms)
        for bid, item in self.blocks.items():
            item.set_gradient(self.gradient_norms.get(bid))
        for fold in self.folds.values():
            self._fold_gradient(fold)

    def clear_gradient_flow(self) -> None:
        self.gradient_norms = {}
        for item in [*self.blocks.values(), *self.folds.values()]:
            item.set_gradient(None)

    def set_zoom(self, zoom: float, settled: bool = True) -> None:
        """Level of detail for the view's zoom: text or grey bars, and how cards are cached.

        At rest (settled) a card is cached at screen resolution: panning copies
        a bitmap and text is sharp. While the user is zooming (settled=False)
        the card is cached once at its own size and the view scales that
        picture, so a zoom step needs no Python painting; the view settles a
        moment after the last step. Below TEXT_LOD the text gives way to grey
        bars. Items are touched only when the mode changes.
        """
        text = zoom >= TEXT_LOD
        if settled:
            mode = "device"
        else:
            mode = "item" if text else "item_small"
        if (text, mode) == (self.text_visible, self.cache_mode):
            return
        self.text_visible, self.cache_mode = text, mode
        for item in [*self.blocks.values(), *self.folds.values()]:
            apply_cache_mode(item, mode)
            item.update()
        for wire in self.wires.values():
            if wire.label is not None:
                wire.label.setVisible(text)

    # --- selection ---
    def selected_block_ids(self) -> list[str]:
        ids = {item.block_id for item in self.selectedItems() if isinstance(item, BlockItem)}
        for item in self.selectedItems():
            if isinstance(item, GroupItem):
                ids.update(b for b in item.group.blocks if b in self.blocks)
            elif isinstance(item, FoldItem):  # a fold stands for its instances: delete, copy act on them
                ids.update(b for b in item.run.blocks if b in self.blocks)
        return [bid for bid in self.net.blocks if bid in ids]  # model order, stable for callers

    def _on_selection_changed(self) -> None:
        self.blockSelectionChanged.emit(self.selected_block_ids())

    def items_rect(self) -> QRectF:
        """Bounding rect of every visible card and group; kept until the next change."""
        if self._items_rect is None:
            rect = QRectF()
            for item in [*self.blocks.values(), *self.groups.values(), *self.folds.values()]:
                if item.isVisible():
                    rect = rect.united(item.sceneBoundingRect())
            self._items_rect = rect
        return QRectF(self._items_rect)

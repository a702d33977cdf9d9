"""What the mouse does on the canvas, as a mixin of NetworkScene.

- Press on a port (or near one on a card's edge) and drag: a wire follows
  the cursor (wiring.WireDrag lights up the ports that would take it).
  Release on a port: `Document.connect`, or a tooltip saying why not.
  Release on a card: its first input that accepts. Release on empty
  canvas: the quick-add menu, and the chosen block gets wired.
- Drag cards: Qt moves them, we snap them to the grid; release makes one
  `Document.move_blocks` step for the whole drag.
- Click a wire: select it (Delete removes it). Double-click a card:
  `blockActivated`. Right-click: the context menus of menus.py.

Every change goes through a Document method; nothing here edits the model.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGraphicsItem, QToolTip

from graph.model import Edge
from studio.canvas.block_item import BlockItem
from studio.canvas.fold_item import FoldItem
from studio.canvas.group_item import GroupItem
from studio.canvas.port_item import PortItem
from studio.canvas.style import PORT_PICK, snap
from studio.canvas.wire_item import WireItem
from studio.canvas.wiring import WireDrag


def optional(doc, name: str):
    """A Document method that may not exist in this version (None then), so the canvas degrades."""
    return getattr(doc, name, None)


class SceneInteraction:
    def __init__(self):
        self.drag: WireDrag | None = None
        self.selected_wires: set[Edge] = set()
        self.last_refusal = ""  # why the last dropped wire was refused (also shown as a tooltip)
        self._moving = False
        self._dragged: list[QGraphicsItem] = []  # cards (and collapsed groups) a press may move

    # --- hit testing ---
    def item_at(self, pos: QPointF) -> QGraphicsItem | None:
        return self.itemAt(pos, QTransform())

    def port_near(self, pos: QPointF, item: QGraphicsItem | None = None) -> PortItem | None:
        """The port under `pos`, or the nearest one within PORT_PICK on the card under it."""
        item = item if item is not None else self.item_at(pos)
        if isinstance(item, PortItem):
            return item
        if isinstance(item, BlockItem):
            best, best_d = None, PORT_PICK
            for port in item.ports():
                d = (port.scenePos() - pos).manhattanLength()
                if d < best_d:
                    best, best_d = port, d
            return best
        return None

    # --- mouse ---
    def mousePressEvent(self, event):
        pos = event.scenePos()
        item = self.item_at(pos)
        if event.button() == Qt.MouseButton.LeftButton:
            port = self.port_near(pos, item)
            if port is not None and port.isVisible():
                self._select_wire(None)
                self.drag = WireDrag(self, port)
                self.drag.move(pos)
                event.accept()
                return
            if isinstance(item, WireItem):
                if not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    self.clearSelection()
                self._select_wire(item.edge, add=bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
                event.accept()
                return
            self._select_wire(None)
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._moving = True
            self._dragged = [i for i in self.selectedItems() if isinstance(i, BlockItem | GroupItem)]

    def mouseMoveEvent(self, event):
        if self.drag is not None:
            self.drag.move(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._moving and event.buttons() & Qt.MouseButton.LeftButton:
            self._follow_drag()

    def _follow_drag(self) -> None:
        """Qt moved the selected cards: snap them to the grid and bring their wires along."""
        for item in self._dragged:
            pos = item.pos()
            snapped = QPointF(snap(pos.x()), snap(pos.y()))
            if snapped != pos:
                item.setPos(snapped)
            if isinstance(item, BlockItem):
                self.block_item_moved(item)
            else:
                self.group_item_moved(item)

    def mouseReleaseEvent(self, event):
        if self.drag is not None and event.button() == Qt.MouseButton.LeftButton:
            drag, self.drag = self.drag, None
            self._finish_wire(drag, event.scenePos(), event.screenPos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if self._moving and event.button() == Qt.MouseButton.LeftButton:
            self._moving = False
            self.commit_moves()

    def mouseDoubleClickEvent(self, event):
        item = self.item_at(event.scenePos())
        if isinstance(item, BlockItem):
            self.blockActivated.emit(item.block_id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def helpEvent(self, event):
        from studio.canvas.tooltips import tooltip_for
        text = tooltip_for(self, self.item_at(event.scenePos()))
        if text:
            QToolTip.showText(event.screenPos(), text, event.widget())
        else:
            QToolTip.hideText()
        event.setAccepted(bool(text))

    def contextMenuEvent(self, event):
        from studio.canvas import menus  # menus import widgets; keep them out of the scene's import time
        item = self.item_at(event.scenePos())
        if isinstance(item, PortItem):
            item = item.parentItem()
        if isinstance(item, BlockItem) and not item.isSelected():
            self.clearSelection()
            item.setSelected(True)
        menu = menus.menu_for(self, item, event.scenePos())
        if menu is not None and not menu.isEmpty():
            menu.exec(event.screenPos())
        event.accept()

    # --- moves ---
    def commit_moves(self) -> None:
        """One Document.move_blocks for everything the drag moved (positions already snapped)."""
        self._dragged = []
        moves = {}
        for item in self.selectedItems():
            if isinstance(item, FoldItem):  # every instance moves with the folded card
                moves.update(self.fold_moves(item))
            elif isinstance(item, BlockItem):
                old = self.net.block(item.block_id).position
                new = (item.pos().x(), item.pos().y())
                if new != old:
                    moves[item.block_id] = (old, new)
            elif isinstance(item, GroupItem) and item.collapsed:
                members = [b for b in item.group.blocks if b in self.net.blocks]
                if not members:
                    continue
                x0 = min(self.net.blocks[b].position[0] for b in members)
                y0 = min(self.net.blocks[b].position[1] for b in members)
                dx, dy = item.pos().x() - x0, item.pos().y() - y0
                for b in members:
                    old = self.net.blocks[b].position
                    moves[b] = (old, (old[0] + dx, old[1] + dy))
        if moves:
            self.doc.move_blocks(self.network_name, moves)

    # --- wires ---
    def _select_wire(self, edge: Edge | None, add: bool = False) -> None:
        keep = set(self.selected_wires) if add else set()
        if edge is not None:
            keep.add(edge)
        for old in self.selected_wires - keep:
            if old in self.wires:
                self.wires[old].set_selected(False)
        for new in keep:
            self.wires[new].set_selected(True)
        self.selected_wires = keep

    def select_wire(self, edge: Edge) -> None:
        self.clearSelection()
        self._select_wire(edge)

    def forget_wire(self, item: WireItem) -> None:
        self.selected_wires.discard(item.edge)
        if self.drag is not None:
            self.drag.forget(item)

    def _finish_wire(self, drag: WireDrag, pos: QPointF, screen_pos) -> None:
        if drag.port.block_id not in self.blocks:  # its block went away mid-drag (an undo shortcut)
            drag.end()
            return
        target = drag.target_at(pos)
        drag.end()  # first: the temporary curve is under the cursor
        item = self.item_at(pos)
        if target is None and isinstance(item, BlockItem) and item.block_id != drag.port.block_id:
            target = drag.best_port_on(item)  # a drop on a card: its first port that takes the wire
        if target is not None:
            edge = drag.edge_to(target)
            ok, why = self.doc.can_connect(self.network_name, edge)
            if ok:
                self.doc.connect(self.network_name, edge)
                self.last_refusal = ""
            else:
                self.refuse(why, screen_pos)
            return
        if item is None:
            self.quickAddRequested.emit(pos, drag.port.key)

    def refuse(self, why: str, screen_pos=None) -> None:
        self.last_refusal = why
        if screen_pos is not None:
            QToolTip.showText(screen_pos, why)
        self.wireRefused.emit(why)

    def connect_new_block(self, block_id: str, pending: tuple[str, str, bool]) -> None:
        """After quick-add from a dropped wire: wire the new block to the port the drag started at."""
        src_block, port, is_output = pending
        registry = self.doc.registry
        block = self.net.block(block_id)
        spec = registry.get(block.type)
        if is_output:
            ports = spec.input_ports({**spec.defaults(), **block.params})
            if not ports:
                return
            edge = Edge(src_block, block_id, ports[0].name)
        else:
            if not spec.has_output:
                return
            edge = Edge(block_id, src_block, port)
        ok, why = self.doc.connect(self.network_name, edge)
        if not ok:
            self.refuse(why)

    # --- edits the menus and keys ask for ---
    def delete_selection(self) -> None:
        """Delete the selected blocks (with their wires) and wires, as one undo step."""
        from studio import commands
        ids = self.selected_block_ids()
        edges = [e for e in self.selected_wires if e.src not in ids and e.dst not in ids and e in self.wires]
        if not ids and not edges:
            return
        if not edges:
            self.doc.remove_blocks(self.network_name, ids)
            return
        if not ids and len(edges) == 1:
            self.doc.disconnect(self.network_name, edges[0])
            return
        macro = commands.Macro("Delete")
        for edge in edges:
            macro.add(commands.Disconnect(self.net, edge))
        if ids:
            macro.add(commands.remove_blocks(self.net, ids))
        self.doc.push(macro)

    def apply_fix(self, fix) -> None:
        apply = optional(self.doc, "apply_fix")
        if apply is not None:
            apply(self.network_name, fix)

    def toggle_group(self, group_id: str) -> None:
        setter = optional(self.doc, "set_group_collapsed")
        group = self.groups.get(group_id)
        if setter is not None and group is not None:
            setter(self.network_name, group_id, not group.collapsed)

    def problem_menu_requested(self, block_id: str, screen_pos) -> None:
        self.problemMenuRequested.emit(block_id, screen_pos)

    def snapped(self, pos: QPointF) -> tuple[float, float]:
        return snap(pos.x()), snap(pos.y())

"""NetworkView: the canvas widget the main window shows, one per network.

It owns a NetworkScene and adds what needs a widget: keyboard shortcuts,
drops from the palette (mime.BLOCK_MIME), the quick-add popup, the inline
rename field, the minimap, and the selection API the rest of the window
uses (`selectedBlockIds`, `blockSelectionChanged`, `selectBlock`,
`centerOnBlock`, `fitAll`). Navigation (zoom, pan, gestures) is in
navigation.py.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QKeySequence, QPainter, QPixmapCache
from PySide6.QtWidgets import QGraphicsView, QLineEdit

from studio.canvas import fold_copy
from studio.canvas.grid import DotGrid
from studio.canvas.interaction import optional
from studio.canvas.mime import block_type_of, library_name_of
from studio.canvas.minimap import Minimap
from studio.canvas.navigation import FIT_MARGIN, READABLE_ZOOM, ViewNavigation
from studio.canvas.quick_add import QuickAddPopup
from studio.canvas.scene import NetworkScene
from studio.canvas.style import CARD_WIDTH, TEXT_LOD, Theme, snap

PIXMAP_CACHE_KB = 160 * 1024  # a card cached at 1x is about 64 KB


class NetworkView(ViewNavigation, QGraphicsView):
    blockSelectionChanged = Signal(list)  # block ids, in network order
    blockActivated = Signal(str)  # a card was double-clicked (the inspector may want to focus)
    zoomChanged = Signal(float)
    wireRefused = Signal(str)  # the reason a wire (or a dropped block) was refused, for the status bar
    definitionRequested = Signal(str)  # "Edit definition" on an instance's card: open that definition's tab

    def __init__(self, doc, network: str | None = None, theme: Theme | None = None, parent=None):
        QGraphicsView.__init__(self, parent)
        self.doc = doc
        self.network_scene = NetworkScene(doc, network, theme, self)
        self.setScene(self.network_scene)
        # no SmoothPixmapTransform: card pictures are scaled only during a zoom gesture, where
        # smooth scaling would cost more than the frame, and at rest they are drawn 1:1
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)  # item caches live there: room for 1,000+ cards
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._grid = DotGrid()
        self._init_navigation()
        self.quick_add: QuickAddPopup | None = None
        self._quick_add_at: tuple[QPointF, tuple | None] | None = None
        self.rename_editor: QLineEdit | None = None
        self.minimap = Minimap(self)
        scene = self.network_scene
        scene.blockSelectionChanged.connect(self.blockSelectionChanged)
        scene.blockActivated.connect(self.blockActivated)
        scene.wireRefused.connect(self.wireRefused)
        scene.quickAddRequested.connect(self.openQuickAdd)
        scene.renameRequested.connect(self.startRename)
        scene.problemMenuRequested.connect(self._problem_menu)

    @property
    def network_name(self) -> str:
        return self.network_scene.network_name

    def detach(self) -> None:
        """Disconnect everything of this canvas from the document before it is deleted: a
        replaced canvas must not hear (and fail on) the next project's edits."""
        self._settle.stop()
        self.minimap.detach()
        self.network_scene.detach()

    # --- selection API for the window ---
    def selectedBlockIds(self) -> list[str]:
        return self.network_scene.selected_block_ids()

    def selectBlock(self, block_id: str) -> None:
        scene = self.network_scene
        scene.clearSelection()
        item = scene.blocks.get(block_id)
        if item is None:
            return
        group = scene.groups.get(scene._group_of.get(block_id, ""))
        fold = scene.fold_of(block_id)  # a folded instance: its fold's card
        shown = group if group is not None and group.collapsed else fold if fold is not None else item
        shown.setSelected(True)

    def centerOnBlock(self, block_id: str) -> None:
        """Select a block and bring it to the middle of the view, readable (the problems list calls this)."""
        self.selectBlock(block_id)
        item = self.network_scene.blocks.get(block_id)
        if item is None:
            return
        if self.zoom() < TEXT_LOD:
            self.setZoom(1.0)
        target = item if item.isVisible() else self.network_scene.selectedItems()[0]
        self.centerOn(target.sceneBoundingRect().center())
        self._view_moved()

    # --- edits on the selection (the window's Edit menu may call these too) ---
    def deleteSelection(self) -> None:
        self.network_scene.delete_selection()

    def _with_selection(self, name: str, *args) -> object:
        method = optional(self.doc, name)
        ids = self.selectedBlockIds()
        if method is None or not ids:
            return None
        return method(self.network_name, ids, *args)

    def _copy_selection(self, name: str, cut: bool):
        ids = self.selectedBlockIds()
        if optional(self.doc, name) is None or not ids:
            return None
        return fold_copy.copy_blocks(self.network_scene, self.doc, self.network_name, ids, cut)

    def copySelection(self):
        return self._copy_selection("copy_blocks", cut=False)

    def cutSelection(self):
        return self._copy_selection("cut_blocks", cut=True)

    def duplicateSelection(self):
        ids = self.selectedBlockIds()
        if optional(self.doc, "duplicate_blocks") is None or not ids:
            return None
        new = fold_copy.duplicate_blocks(self.network_scene, self.doc, self.network_name, ids)
        self._select_ids(new)
        return new

    def paste(self, text: str | None = None):
        method = optional(self.doc, "paste")
        if method is None:
            return None
        at = self.mapToScene(self.viewport().mapFromGlobal(self.cursor().pos()))
        if not self.viewport().rect().contains(self.mapFromScene(at)):
            at = self.visibleSceneRect().center()
        if text is None:
            from studio.clipboard import clipboard_text
            text = clipboard_text()  # read here too, to know whether it is a copy of folded runs
        new = method(self.network_name, text, at=fold_copy.paste_corner(text, self.network_scene.snapped(at)))
        fold_copy.after_paste(self.network_scene, text, new)
        self._select_ids(new)
        return new

    def groupSelection(self, name: str | None = None):
        from studio.canvas.menus import _group_name
        return self._with_selection("group_blocks", name or _group_name(self.network_scene))

    def arrange(self, selection_only: bool = False) -> None:
        """Auto Layout (of the selection, or all), wrapped to what the view shows at a readable
        zoom; then the view fits the result."""
        layout = optional(self.doc, "auto_layout")
        if layout is None:
            return
        ids = self.selectedBlockIds() if selection_only else None
        folded = [fold.run.blocks for fold in self.network_scene.folds.values()]  # laid out as one card each
        layout(self.network_name, ids or None, max_width=self.readable_width(), folded=folded)
        if not ids:
            self.fitAll()
            return
        rect = QRectF()
        for bid in ids:
            rect = rect.united(self.network_scene.blocks[bid].sceneBoundingRect())
        self.fitRect(rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN), READABLE_ZOOM)

    def readable_width(self) -> float:
        """How wide (scene units, from the first card's left edge to the last card's) a network can
        be and still fit the view at READABLE_ZOOM."""
        return max(CARD_WIDTH, self.viewport().width() / READABLE_ZOOM - 2 * FIT_MARGIN - CARD_WIDTH)

    def setSelectionEnabled(self, enabled: bool) -> None:
        ids = self.selectedBlockIds()
        if ids:
            self.doc.set_enabled(self.network_name, ids, enabled)

    def _select_ids(self, ids) -> None:
        if not ids:
            return
        scene = self.network_scene
        scene.clearSelection()
        for bid in ids:
            item = scene.fold_of(bid) or scene.blocks.get(bid)  # a folded copy: its card
            if item is not None:
                item.setSelected(True)

    # --- quick add ---
    def openQuickAdd(self, scene_pos: QPointF, pending=None) -> None:
        """The searchable block menu at a scene point; `pending` is a wire end to connect the new block to."""
        if self.quick_add is None:
            self.quick_add = QuickAddPopup(self.doc.registry, self)
            self.quick_add.picked.connect(self._quick_add_picked)
        accept = None
        if pending is not None:
            from_output = pending[2]
            accept = (lambda s: bool(s.input_ports(None))) if from_output else (lambda s: s.has_output)
        refusal = optional(self.doc, "add_refusal")
        if refusal is not None and self.doc.project.definitions:  # not a definition inside itself
            fits = accept
            accept = (lambda s: (fits is None or fits(s)) and not refusal(self.network_name, s.type_id))
        self._quick_add_at = (QPointF(scene_pos), pending)
        self.quick_add.open_at(self.mapToGlobal(self.mapFromScene(scene_pos)), accept, self.doc.registry)

    def _quick_add_picked(self, type_id: str) -> None:
        if self._quick_add_at is None:
            return
        pos, pending = self._quick_add_at
        self._quick_add_at = None
        spec = self.doc.registry.get(type_id)
        from studio.canvas.block_item import card_height
        height = card_height(len(spec.input_ports(None)))
        if pending is None:
            x, y = pos.x() - CARD_WIDTH / 2, pos.y() - height / 2
        elif pending[2]:  # from an output: the new card's input lands under the cursor
            x, y = pos.x(), pos.y() - height / 2
        else:
            x, y = pos.x() - CARD_WIDTH, pos.y() - height / 2
        refusal = optional(self.doc, "add_refusal")
        why = refusal(self.network_name, type_id) if refusal is not None else ""
        if why:  # an instance inside its own definition
            self.wireRefused.emit(why)
            return
        stack = self.doc.undo_stack
        stack.beginMacro(f"Add {spec.title}")  # add + wire = one undo step
        try:
            block_id = self.doc.add_block(self.network_name, type_id, (snap(x), snap(y)))
            if pending is not None:
                self.network_scene.connect_new_block(block_id, pending)
        finally:
            stack.endMacro()
        self.selectBlock(block_id)

    # --- inline rename ---
    def startRename(self, block_id: str) -> None:
        item = self.network_scene.blocks.get(block_id)
        if item is None:
            return
        self._end_rename(commit=False)
        rect = self.mapFromScene(item.mapToScene(QRectF(4, 5, CARD_WIDTH - 8, 20))).boundingRect()
        editor = QLineEdit(item.content.name, self.viewport())
        editor.setGeometry(rect.adjusted(0, -2, 0, 4))
        editor.selectAll()
        editor.setProperty("block_id", block_id)
        editor.editingFinished.connect(lambda: self._end_rename(commit=True))
        editor.show()
        editor.setFocus()
        self.rename_editor = editor

    def _end_rename(self, commit: bool) -> None:
        editor, self.rename_editor = self.rename_editor, None
        if editor is None:
            return
        block_id, name = editor.property("block_id"), editor.text().strip()
        editor.hide()
        editor.deleteLater()
        if commit and name and block_id in self.network_scene.blocks \
                and name != self.network_scene.net.block(block_id).name:
            self.doc.rename_block(self.network_name, block_id, name)
        self.setFocus()

    # --- problem badge menu ---
    def _problem_menu(self, block_id: str, screen_pos) -> None:
        from studio.canvas.menus import problem_menu
        menu = problem_menu(self.network_scene, block_id)
        if not menu.isEmpty():
            menu.exec(screen_pos)

    # --- keys ---
    def focusNextPrevChild(self, _next: bool) -> bool:
        return False  # Tab opens the quick-add menu instead of moving the focus

    def keyPressEvent(self, event):
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if key == Qt.Key.Key_Space and not ctrl:
            if not event.isAutoRepeat():
                self._space_down, self._space_panned = True, False
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        actions = {
            QKeySequence.StandardKey.Delete: self.deleteSelection,
            QKeySequence.StandardKey.Copy: self.copySelection,
            QKeySequence.StandardKey.Cut: self.cutSelection,
            QKeySequence.StandardKey.Paste: self.paste,
            QKeySequence.StandardKey.SelectAll: self._select_all,
        }
        for sequence, action in actions.items():
            if event.matches(sequence):
                action()
                event.accept()
                return
        plain = {Qt.Key.Key_Backspace: self.deleteSelection, Qt.Key.Key_F: self.fitAll,
                 Qt.Key.Key_Tab: self._quick_add_at_cursor, Qt.Key.Key_F2: self._rename_selected,
                 Qt.Key.Key_Escape: self._escape}
        with_ctrl = {Qt.Key.Key_D: self.duplicateSelection, Qt.Key.Key_G: self.groupSelection,
                     Qt.Key.Key_L: lambda: self.arrange(bool(self.selectedBlockIds())),
                     Qt.Key.Key_0: lambda: self.setZoom(1.0), Qt.Key.Key_Equal: lambda: self.zoomBy(1.25),
                     Qt.Key.Key_Plus: lambda: self.zoomBy(1.25), Qt.Key.Key_Minus: lambda: self.zoomBy(0.8)}
        action = (with_ctrl if ctrl else plain).get(key)
        if action is not None and not (mods & Qt.KeyboardModifier.AltModifier):
            action()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            if not self._space_panned and self._pan_from is None:
                self._quick_add_at_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def _cursor_scene_pos(self) -> QPointF:
        pos = self.viewport().mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(pos):
            return self.visibleSceneRect().center()
        return self.mapToScene(pos)

    def _quick_add_at_cursor(self) -> None:
        self.openQuickAdd(self._cursor_scene_pos(), None)

    def _rename_selected(self) -> None:
        ids = self.selectedBlockIds()
        if len(ids) == 1:
            self.startRename(ids[0])

    def _select_all(self) -> None:
        scene = self.network_scene
        for item in [*scene.blocks.values(), *scene.folds.values()]:
            if item.isVisible():
                item.setSelected(True)

    def _escape(self) -> None:
        scene = self.network_scene
        if scene.drag is not None:
            scene.drag.end()
            scene.drag = None
        scene.clearSelection()
        scene._select_wire(None)

    # --- mouse: panning first, then the scene ---
    def mousePressEvent(self, event):
        if not self._pan_press(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if not self._pan_move(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if not self._pan_release(event):
            super().mouseReleaseEvent(event)

    # --- drops from the palette ---
    def dragEnterEvent(self, event):
        if block_type_of(event.mimeData()) is not None:
            event.acceptProposedAction()
            return
        super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        if block_type_of(event.mimeData()) is not None:
            event.acceptProposedAction()
            return
        super().dragMoveEvent(event)

    def dropEvent(self, event):
        type_id = block_type_of(event.mimeData())
        if type_id is None or (type_id not in self.doc.registry and library_name_of(type_id) is None):
            super().dropEvent(event)
            return
        self.dropBlock(type_id, self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()

    def dropBlock(self, type_id: str, scene_pos: QPointF) -> str:
        """Add a block centred on a scene point (snapped to the grid); returns its id. A "My blocks" entry
        (library:NAME) is copied into the project with the instance, in the same undo step."""
        from studio.canvas.block_item import card_height
        library_name = library_name_of(type_id)
        if library_name is not None:
            from graph.definitions import input_ports

            entry = self.doc.library_entry(library_name)
            if entry is None:
                self.wireRefused.emit(f"{library_name} is no longer in My blocks")  # the status bar shows it
                return ""
            height = card_height(len(input_ports(entry.definition)))
        else:
            height = card_height(len(self.doc.registry.get(type_id).input_ports(None)))
            refusal = optional(self.doc, "add_refusal")
            why = refusal(self.network_name, type_id) if refusal is not None else ""
            if why:  # an instance inside its own definition
                self.wireRefused.emit(why)
                return ""
        at = (snap(scene_pos.x() - CARD_WIDTH / 2), snap(scene_pos.y() - height / 2))
        if library_name is not None:
            refusal = optional(self.doc, "add_refusal")
            why = refusal(self.network_name, entry.name) if refusal is not None else ""
            if why:  # My blocks' version of the definition this canvas edits
                self.wireRefused.emit(why)
                return ""
            block_id = self.doc.add_library_block(self.network_name, entry, at)
        else:
            block_id = self.doc.add_block(self.network_name, type_id, at)
        self.selectBlock(block_id)
        self.setFocus()
        return block_id

    # --- background and overlays ---
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        self._grid.draw(painter, rect, self.network_scene.theme, self.zoom())

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._view_moved()

    def _view_moved(self) -> None:
        minimap = getattr(self, "minimap", None)
        if minimap is not None:
            minimap.view_changed()

    def setTheme(self, theme: Theme) -> None:
        self.network_scene.set_theme(theme)
        self.resetCachedContent()
        self.minimap.refresh_soon()

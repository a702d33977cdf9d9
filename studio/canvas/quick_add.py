"""The searchable block menu: a small popup with a filter field and the block titles by category.

It opens where a dragged wire was dropped on empty canvas (the chosen block
is then wired to it) and under the cursor on Tab or Space (the block is
added there). Typing filters by title, type id, category and tags, every
word must match ("conv 2" finds Conv 2D); Up/Down move, Enter picks,
Escape closes. Each opening lists the document's block types as they are then
(definitions made or removed since the last opening included).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from graph.spec import BlockSpec, Registry

TYPE_ROLE = Qt.ItemDataRole.UserRole


def offered(spec: BlockSpec) -> bool:
    """Whether the palette offers this type; placeholders (an import's unsupported operation) are
    only ever made by an import, never placed by hand."""
    return "placeholder" not in spec.tags


def matches(spec: BlockSpec, text: str) -> bool:
    haystack = " ".join((spec.title, spec.type_id, spec.category, *spec.tags)).lower()
    return all(word in haystack for word in text.lower().split())


def matching_specs(registry: Registry, text: str,
                   accept: Callable[[BlockSpec], bool] | None = None) -> list[BlockSpec]:
    """Block types the filter text finds, in palette order."""
    return [spec for spec in registry
            if offered(spec) and (accept is None or accept(spec)) and matches(spec, text)]


class QuickAddPopup(QFrame):
    picked = Signal(str)  # block type id

    def __init__(self, registry: Registry, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.registry = registry
        self.accept: Callable[[BlockSpec], bool] | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Search blocks…")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        self.resize(260, 340)
        self.filter.textChanged.connect(self.apply_filter)
        self.filter.returnPressed.connect(self.choose_current)
        self.filter.installEventFilter(self)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self._fill()

    def _fill(self) -> None:
        self.list.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        for category, all_specs in self.registry.categories().items():
            specs = [spec for spec in all_specs if offered(spec)]
            if not specs:
                continue
            header = QListWidgetItem(category)
            header.setFont(bold)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(header)
            for spec in specs:
                item = QListWidgetItem("   " + spec.title)
                item.setData(TYPE_ROLE, spec.type_id)
                item.setToolTip(spec.help)
                self.list.addItem(item)

    def set_registry(self, registry: Registry) -> None:
        """List `registry`'s types. The document hands out one cached registry per set of definitions,
        so a new object means definitions came or went (made from a selection, dropped from My
        blocks, undone): only then is the list rebuilt."""
        if registry is not self.registry:
            self.registry = registry
            self._fill()

    def open_at(self, global_pos: QPoint, accept: Callable[[BlockSpec], bool] | None = None,
                registry: Registry | None = None) -> None:
        """Show at a screen point, empty filter, only block types `accept` allows; `registry` is the
        document's as it is now (the popup outlives definitions made after its first opening)."""
        if registry is not None:
            self.set_registry(registry)
        self.accept = accept
        self.filter.clear()
        self.apply_filter("")
        screen = QGuiApplication.screenAt(global_pos) or QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen is not None else None
        x, y = global_pos.x(), global_pos.y()
        if area is not None:  # keep the whole menu on the screen
            x = max(area.left(), min(x, area.right() - self.width()))
            y = max(area.top(), min(y, area.bottom() - self.height()))
        self.move(QPoint(x, y))
        self.show()
        self.filter.setFocus()

    def apply_filter(self, text: str | None = None) -> None:
        text = self.filter.text() if text is None else text
        header = None
        header_has = False
        first = None
        for row in range(self.list.count()):
            item = self.list.item(row)
            type_id = item.data(TYPE_ROLE)
            if type_id is None:
                if header is not None:
                    header.setHidden(not header_has)
                header, header_has = item, False
                continue
            spec = self.registry.get(type_id)
            shown = (self.accept is None or self.accept(spec)) and matches(spec, text)
            item.setHidden(not shown)
            if shown:
                header_has = True
                first = first or item
        if header is not None:
            header.setHidden(not header_has)
        self.list.setCurrentItem(first)

    def visible_titles(self) -> list[str]:
        return [self.list.item(r).text().strip() for r in range(self.list.count())
                if not self.list.item(r).isHidden() and self.list.item(r).data(TYPE_ROLE) is not None]

    def choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden() and item.data(TYPE_ROLE) is not None:
            self._activated(item)

    def _activated(self, item: QListWidgetItem) -> None:
        type_id = item.data(TYPE_ROLE)
        if type_id is None:
            return
        self.hide()
        self.picked.emit(type_id)

    def _step(self, delta: int) -> None:
        row = self.list.currentRow()
        count = self.list.count()
        r = row + delta
        while 0 <= r < count:
            item = self.list.item(r)
            if not item.isHidden() and item.data(TYPE_ROLE) is not None:
                self.list.setCurrentRow(r)
                return
            r += delta

    def eventFilter(self, watched, event):
        if watched is self.filter and event.type() == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Down:
                self._step(1)
                return True
            if event.key() == Qt.Key.Key_Up:
                self._step(-1)
                return True
            if event.key() == Qt.Key.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(watched, event)

"""The block palette: every block type by category, with type-to-filter search.

Drag a block onto the canvas (mime type `BLOCK_MIME`, payload: the type id)
or double-click it (or press Enter in the search field) to add it at the
centre of the view; the palette only emits `addRequested(type_id)` and the
main window does the adding through the Document. Hovering shows the block's
help. (The Tab/Space quick-add popup belongs to the canvas: studio/canvas/quick_add.py.)
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.spec import BlockSpec, Registry
from studio.canvas.mime import BLOCK_MIME, block_mime
from studio.canvas.quick_add import offered
from studio.canvas.style import CATEGORY_COLORS

TYPE_ROLE = Qt.ItemDataRole.UserRole


def matches(spec: BlockSpec, query: str) -> bool:
    """Every word of the query occurs in the title, type id, category or help (any case)."""
    text = f"{spec.title} {spec.type_id} {spec.category} {spec.help} {' '.join(spec.tags)}".lower()
    return all(word in text for word in query.lower().split())


def tooltip(spec: BlockSpec) -> str:
    return f"<b>{spec.title}</b> <i>({spec.category})</i><br>{spec.help}"


def category_icon(category: str, dark: bool = False) -> QIcon:
    light, dark_color = CATEGORY_COLORS.get(category, ("#868e96", "#ced4da"))
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(dark_color if dark else light))
    painter.drawRoundedRect(1, 1, 10, 10, 3, 3)
    painter.end()
    return QIcon(pixmap)


class _BlockTree(QTreeWidget):
    """A tree whose leaves drag out as BLOCK_MIME with the type id as payload."""

    def mimeTypes(self) -> list[str]:
        return [BLOCK_MIME]

    def mimeData(self, items) -> QMimeData:
        type_ids = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        return block_mime(type_ids[0]) if type_ids else QMimeData()


class Palette(QWidget):
    addRequested = Signal(str)  # type id

    def __init__(self, registry: Registry, parent: QWidget | None = None):
        super().__init__(parent)
        self.registry = registry
        self.search = QLineEdit(placeholderText="Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._add_first)
        self.tree = _BlockTree()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._categories: dict[str, QTreeWidgetItem] = {}
        self._build()
        self.setMinimumWidth(self.preferred_width())  # a narrower dock would cut block titles off

    def _build(self) -> None:
        for category, all_specs in self.registry.categories().items():
            specs = [spec for spec in all_specs if offered(spec)]
            if not specs:
                continue
            top = QTreeWidgetItem([category])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setIcon(0, category_icon(category))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            self._categories[category] = top
            for spec in specs:
                item = QTreeWidgetItem([spec.title])
                item.setData(0, TYPE_ROLE, spec.type_id)
                item.setToolTip(0, tooltip(spec))
                item.setStatusTip(0, spec.help)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
                self._items[spec.type_id] = item
        self.tree.expandAll()

    def preferred_width(self) -> int:
        """Wide enough that no block title is cut off (the dock opens at this width)."""
        tree = self.tree
        longest = max((tree.fontMetrics().horizontalAdvance(item.text(0)) for item in self._items.values()),
                      default=0)
        scroll = tree.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        margins = self.layout().contentsMargins()
        # two indentation steps: the tree's own root decoration, then the category level
        return longest + 2 * tree.indentation() + scroll + 2 * tree.frameWidth() + margins.left() \
            + margins.right() + 12

    def set_dark(self, dark: bool) -> None:
        for category, top in self._categories.items():
            top.setIcon(0, category_icon(category, dark))

    # --- filtering ---
    def set_filter(self, query: str) -> None:
        if self.search.text() != query:
            self.search.setText(query)  # comes back here through textChanged
            return
        for top in self._categories.values():
            shown = 0
            for i in range(top.childCount()):
                child = top.child(i)
                hit = matches(self.registry.get(child.data(0, TYPE_ROLE)), query)
                child.setHidden(not hit)
                shown += hit
            top.setHidden(shown == 0)
            top.setExpanded(True)

    def visible_types(self) -> list[str]:
        """Type ids the filter shows, in palette order."""
        return [tid for tid, item in self._items.items()
                if not item.isHidden() and not item.parent().isHidden()]

    def item(self, type_id: str) -> QTreeWidgetItem:
        return self._items[type_id]

    # --- adding ---
    def add_block(self, type_id: str) -> None:
        """The palette's add action (double-click, Enter): asks for the block at the view centre."""
        self.addRequested.emit(type_id)

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.add_block(type_id)

    def best_match(self) -> str | None:
        """What Enter adds: a block named like the query before one that only mentions it in its help
        ("lstm" adds LSTM, not a block whose help says it takes an LSTM's output)."""
        visible = self.visible_types()
        query = self.search.text().strip().lower()

        def rank(type_id: str) -> int:
            spec = self.registry.get(type_id)
            names = (type_id.lower(), spec.title.lower())
            if query in names:
                return 0
            if any(name.startswith(query) for name in names):
                return 1
            return 2 if any(query in name for name in names) else 3
        return min(visible, key=rank) if visible else None  # min keeps palette order among equals

    def _add_first(self) -> None:
        best = self.best_match()
        if best:
            self.add_block(best)

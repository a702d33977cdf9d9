"""The block palette: every block type by category, with type-to-filter search.

Drag a block onto the canvas (mime type `BLOCK_MIME`, payload: the type id)
or double-click it (or press Enter in the search field) to add it at the
centre of the view; the palette only emits `addRequested(type_id)` and the
main window does the adding through the Document. Hovering shows the block's
help. (The Tab/Space quick-add popup belongs to the canvas: studio/canvas/quick_add.py.)

Two sections come first when they have entries: "This project" (the open
project's block definitions: an entry adds an instance) and "My blocks" (the
user library, graph/library.py: an entry's payload is `library:NAME`, and the
canvas copies the definition into the project with the instance, one undo
step). `set_definitions` refills them; search filters them like the rest.
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
from studio.canvas.mime import BLOCK_MIME, block_mime, library_payload
from studio.canvas.quick_add import offered
from studio.canvas.style import CATEGORY_COLORS

TYPE_ROLE = Qt.ItemDataRole.UserRole
PROJECT_SECTION = "This project"
LIBRARY_SECTION = "My blocks"


def search_text(spec: BlockSpec) -> str:
    return f"{spec.title} {spec.type_id} {spec.category} {spec.help} {' '.join(spec.tags)}".lower()


def matches(spec: BlockSpec, query: str) -> bool:
    """Every word of the query occurs in the title, type id, category or help (any case)."""
    return _matches_text(search_text(spec), query)


def _matches_text(text: str, query: str) -> bool:
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
        self._texts: dict[str, str] = {}  # payload -> what search looks in
        self._titles: dict[str, str] = {}
        self._sections: dict[str, QTreeWidgetItem] = {}  # "This project", "My blocks"
        self._section_items: dict[str, QTreeWidgetItem] = {}
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
                self._texts[spec.type_id] = search_text(spec)
                self._titles[spec.type_id] = spec.title
        self.tree.expandAll()

    # --- the project's definitions and the user library ---
    def set_definitions(self, project: list[BlockSpec], library: list, newer: dict[str, int] | None = None,
                        skipped: list | None = None) -> None:
        """Refill "This project" (instance block types) and "My blocks" (graph.library.Entry list);
        `newer` maps a project definition to the library version it could update to, `skipped` lists
        the library files left out (graph.library.Skipped), shown as a greyed entry saying why."""
        newer = newer or {}
        for top in self._sections.values():
            self.tree.invisibleRootItem().removeChild(top)
        for key in self._section_items:
            self._items.pop(key, None)
            self._texts.pop(key, None)
            self._titles.pop(key, None)
        self._sections, self._section_items = {}, {}
        rows = []
        for spec in project:
            label = spec.title if spec.type_id not in newer else \
                f"{spec.title}  ↑ v{newer[spec.type_id]}"  # short: the dock must not cut it off
            tip = tooltip(spec) + ("" if spec.type_id not in newer else
                                   f"<br><b>My blocks has version {newer[spec.type_id]}</b>: "
                                   "Definitions > Update from My blocks")
            rows.append((PROJECT_SECTION, spec.type_id, label, tip, search_text(spec) + " project",
                         spec.title))
        for entry in library:
            help_text = entry.description or f"Your block {entry.name}, version {entry.version}."
            tip = (f"<b>{entry.name}</b> <i>(My blocks, version {entry.version})</i><br>{help_text}"
                   f"<br>{entry.path}")
            rows.append((LIBRARY_SECTION, library_payload(entry.name), entry.name, tip,
                         f"{entry.name} {help_text} my blocks library definition".lower(), entry.name))
        index = 0
        for section in (PROJECT_SECTION, LIBRARY_SECTION):
            mine = [r for r in rows if r[0] == section]
            bad = skipped or [] if section == LIBRARY_SECTION else []
            if not mine and not bad:
                continue
            top = QTreeWidgetItem([section])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setIcon(0, category_icon("Definitions"))
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.insertTopLevelItem(index, top)
            index += 1
            self._sections[section] = top
            for _, key, label, tip, text, title in mine:
                item = QTreeWidgetItem([label])
                item.setData(0, TYPE_ROLE, key)
                item.setToolTip(0, tip)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
                self._items[key] = self._section_items[key] = item
                self._texts[key], self._titles[key] = text, title
            for problem in bad:  # a damaged file: named, not usable, never a crash
                item = QTreeWidgetItem([f"⚠ {problem.path.name}"])  # the tooltip says why
                item.setToolTip(0, problem.reason)
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                top.addChild(item)
            top.setExpanded(True)
        if self.search.text():
            self.set_filter(self.search.text())

    def section_types(self, section: str) -> list[str]:
        """The payloads a section lists (type ids, library:NAME), in order."""
        top = self._sections.get(section)
        if top is None:
            return []
        return [top.child(i).data(0, TYPE_ROLE) for i in range(top.childCount())
                if top.child(i).data(0, TYPE_ROLE)]

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
        for top in [*self._sections.values(), *self._categories.values()]:
            shown = 0
            for i in range(top.childCount()):
                child = top.child(i)
                key = child.data(0, TYPE_ROLE)
                hit = bool(key) and _matches_text(self._texts[key], query) or (not key and not query)
                child.setHidden(not hit)
                shown += hit
            top.setHidden(shown == 0)
            top.setExpanded(True)

    def visible_types(self) -> list[str]:
        """Type ids the filter shows, in palette order."""
        shown = []
        for top in [*self._sections.values(), *self._categories.values()]:
            if top.isHidden():
                continue
            for i in range(top.childCount()):
                child = top.child(i)
                key = child.data(0, TYPE_ROLE)
                if key and not child.isHidden():
                    shown.append(key)
        return shown

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
            names = (type_id.lower(), self._titles[type_id].lower())
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

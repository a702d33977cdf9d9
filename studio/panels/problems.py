"""The problems list: every diagnostic of every network, errors first.

Clicking a problem emits `blockActivated(network, block_id)`; the main
window then shows that network's tab and selects and centres the block. A
problem that comes from inside an instance (Diagnostic.inside) emits
`innerBlockActivated(definition, inner_block_id)` instead, for the block at
fault in the innermost definition: the window opens that definition's tab.
While a definition's tab is the current tab (`show_definition`), the list
also holds the problems of that definition's body on its own (its tab's
shapes: exposed parameters at their defaults), first and marked
"◇ Name" in the Network column: a definition no network uses yet has no
instance whose problems would say so. Clicking one selects the block in the
tab.

A problem with an obvious repair (insert Flatten) offers it: "Apply fix"
calls `Document.apply_fix`, one undo step like any edit.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.diagnostics import Diagnostic
from studio.document import Document
from studio.network_tabs import DEFINITION_MARK
from studio.panels.summary import problem_text

DIAG_ROLE = Qt.ItemDataRole.UserRole


class ProblemsPanel(QWidget):
    blockActivated = Signal(str, str)  # network, block id
    innerBlockActivated = Signal(str, str)  # definition name, block id in its body
    countChanged = Signal(int, int)  # errors, warnings

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.definition: str | None = None  # the definition whose tab is current (its problems listed)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Problem", "Network"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(False)
        # the message takes the room; the Network column, shown now and then, only what it needs
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.currentItemChanged.connect(lambda *_: self._update_fix_button())
        self.fix_button = QPushButton("Apply fix")
        self.fix_button.setToolTip("Apply the suggested repair of the selected problem (undoable).")
        self.fix_button.clicked.connect(self.apply_fix)
        self.status = QLabel()
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.status, 1)
        top.addWidget(self.fix_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.tree)
        style = self.style()
        self._icons = {"error": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
                       "warning": style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)}
        document.analysisChanged.connect(lambda _name: self.refresh())
        document.projectReplaced.connect(self.refresh)
        self.refresh()

    def show_definition(self, name: str | None) -> None:
        """List the problems of definition `name` too (its tab is current), or of none."""
        if name != self.definition:
            self.definition = name
            self.refresh()

    def _definition_shown(self) -> str | None:
        name = self.definition
        return name if name is not None and self.document.is_definition(name) else None

    def diagnostics(self) -> list[Diagnostic]:
        doc = self.document
        found: list[Diagnostic] = []
        definition = self._definition_shown()
        if definition is not None:  # first: they are what the current tab's cards show
            found += doc.analysis(definition).diagnostics
        for net in doc.project.networks:
            found += doc.analysis(net.name).diagnostics
        return sorted(found, key=lambda d: not d.is_error)  # stable: keeps canvas order within each

    def refresh(self) -> None:
        diagnostics = self.diagnostics()
        definition = self._definition_shown()
        # the Network column when rows may differ there: several networks, or the definition's own rows
        several = len(self.document.project.networks) > 1 or any(
            d.network == definition for d in diagnostics if definition is not None)
        self.tree.clear()
        for d in diagnostics:
            own = definition is not None and d.network == definition  # the definition's own problem
            item = QTreeWidgetItem([d.message, DEFINITION_MARK + definition if own else d.network or ""])
            item.setIcon(0, self._icons["error" if d.is_error else "warning"])
            where = (f"\nIn the definition {definition} (its tab's shapes, its parameters at their "
                     f"defaults)") if own else ""
            item.setToolTip(0, d.message + where + (f"\nQuick fix: {d.fix.title}" if d.fix else ""))
            item.setToolTip(1, f"definition {definition}" if own else f"network {d.network or ''}")
            item.setData(0, DIAG_ROLE, d)
            self.tree.addTopLevelItem(item)
        self.tree.setColumnHidden(1, not several)
        errors = sum(d.is_error for d in diagnostics)
        warnings = len(diagnostics) - errors
        self.status.setText(problem_text(errors, warnings).capitalize())
        self._update_fix_button()
        self.countChanged.emit(errors, warnings)

    def item(self, row: int) -> QTreeWidgetItem:
        return self.tree.topLevelItem(row)

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        d: Diagnostic = item.data(0, DIAG_ROLE)
        where = inner_block(d) if d is not None else None
        if where is not None:
            self.innerBlockActivated.emit(*where)
        elif d is not None and d.block is not None:
            self.blockActivated.emit(d.network or self.document.network().name, d.block)

    def _current(self) -> Diagnostic | None:
        item = self.tree.currentItem()
        return item.data(0, DIAG_ROLE) if item is not None else None

    def _update_fix_button(self) -> None:
        d = self._current()
        self.fix_button.setEnabled(d is not None and d.fix is not None)
        self.fix_button.setText(f"Fix: {d.fix.title}" if d is not None and d.fix else "Apply fix")

    def apply_fix(self) -> None:
        d = self._current()
        if d is not None and d.fix is not None:
            self.document.apply_fix(d.network or self.document.network().name, d.fix)


def inner_block(d: Diagnostic) -> tuple[str, str] | None:
    """(definition, inner block id) where a problem inside an instance is, at the deepest definition
    that names a block; None for a problem of the block itself."""
    path = d.inside
    pairs = [(path[i], path[i + 1]) for i in range(0, len(path) - 1, 2)]
    named = [(definition, bid) for definition, bid in pairs if definition and bid]
    if named:
        return named[-1]
    return (pairs[0][0], "") if pairs and pairs[0][0] else None

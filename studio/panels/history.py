"""The History panel: every step on the undo stack; clicking one jumps there (QUndoView)."""

from __future__ import annotations

from PySide6.QtWidgets import QUndoView, QWidget

from studio.document import Document


def history_view(document: Document, parent: QWidget | None = None) -> QUndoView:
    """A QUndoView of the document's stack; its first row is the project as opened."""
    view = QUndoView(document.undo_stack, parent)
    view.setEmptyLabel("Opened project")
    view.setAlternatingRowColors(True)
    return view

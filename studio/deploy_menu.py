"""File > Deploy Targets: which targets the deploy lint checks (graph/deploy.py).

One checkable entry per target and preset; each click is one undo step
(Document.set_deploy_targets), and the canvas's target badges follow at once.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from graph.deploy import PRESETS, TARGETS
from studio.document import Document


def deploy_targets_menu(parent: QWidget, document: Document) -> QMenu:
    """The submenu; its ticks are read from the project each time it opens."""
    menu = QMenu("Deploy &Targets", parent)
    menu.setToolTipsVisible(True)
    entries: dict[str, QAction] = {}
    for name, text in [*TARGETS.items(),
                       *((p, "preset: " + " + ".join(ts)) for p, ts in PRESETS.items())]:
        action = menu.addAction(f"{name}  —  {text}")
        action.setCheckable(True)
        action.setToolTip(f"Warn (target badge on the card) on every block that {name} cannot take")
        action.toggled.connect(lambda on, n=name: _toggle(document, n, on))
        entries[name] = action
        if name == next(reversed(TARGETS)):
            menu.addSeparator()

    def sync() -> None:
        chosen = set(document.project.deploy_targets)
        for name, action in entries.items():
            action.blockSignals(True)
            action.setChecked(name in chosen)
            action.blockSignals(False)

    menu.aboutToShow.connect(sync)
    menu.entries = entries  # for tests
    sync()
    return menu


def _toggle(document: Document, name: str, on: bool) -> None:
    targets = [t for t in document.project.deploy_targets if t != name]
    if on:
        targets.append(name)
    document.set_deploy_targets(targets)

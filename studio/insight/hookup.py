"""Plugs the insight views into the main window (one call from MainWindow.__init__).

Gradient flow follows the training worker's block_stats events and gets a
View > Gradient Flow toggle; the Preview panel docks on the right, follows
the canvas selection, and offers the trained weights once a run finishes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from studio.insight.gradient import GradientFlow
from studio.insight.preview import PreviewPanel


def install_insight(window) -> None:
    window.gradient_flow = GradientFlow(window.tabs, window.training.worker, window)
    action = window.gradient_flow.action
    action.setShortcut("Ctrl+Shift+G")
    view_menu = next((a.menu() for a in window.menuBar().actions() if a.text() == "&View"), None)
    if view_menu is not None and window.panels_menu is not None:
        view_menu.insertAction(window.panels_menu.menuAction(), action)
    else:
        window.addAction(action)
    # another project's block ids may repeat the old ones ("b2"): never colour them with old norms
    window.document.projectReplaced.connect(lambda *_: window.gradient_flow.clear())

    window.preview = PreviewPanel(window.document, runs_folder=lambda: window.runs.folder)
    window.add_dock("Preview", window.preview, Qt.DockWidgetArea.RightDockWidgetArea, 300)
    window.tabifyDockWidget(window.docks["Data"], window.docks["Preview"])
    window.docks["Inspector"].raise_()
    window.tabs.selectionChanged.connect(window.preview.show_selection)
    window.training.worker.ended.connect(lambda *_: window.preview.refresh_runs())
    window.document.pathChanged.connect(lambda *_: window.preview.refresh_runs())

"""Adds the Experiments panel to the main window and the "vary" switches to the Inspector.

One call from studio/main_window.py keeps that file's edit to two lines:
the dock (tabbed with Training and Runs), the Inspector accessory, opening
the best trial as a new project, and showing trials in the Runs panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from studio.experiments.panel import ExperimentsPanel
from studio.experiments.toggle import block_param_toggle


def install_experiments(window) -> ExperimentsPanel:
    panel = ExperimentsPanel(window.document)
    window.experiments = panel
    window.add_dock("Experiments", panel, Qt.DockWidgetArea.BottomDockWidgetArea, 300)
    window.tabifyDockWidget(window.docks["Runs"], window.docks["Experiments"])
    window.docks["Problems"].raise_()
    inspector = window.inspector
    inspector.param_accessory = lambda network, block_id, param: block_param_toggle(
        window.document, network, block_id, param)
    if inspector.block_id is not None:  # a block already shown gets its switches now
        inspector._build()
        inspector.refresh()
    panel.openProjectRequested.connect(lambda path: window.files.open_path(path, as_copy=True))

    def show_runs(run_dir) -> None:
        window.runs.follow_run(run_dir)
        window.show_panel("Runs")

    panel.showRunsRequested.connect(show_runs)
    panel.message.connect(lambda text, ms: window.statusBar().showMessage(text, ms))
    panel.worker.runningChanged.connect(lambda on: on and window.show_panel("Experiments"))
    return panel

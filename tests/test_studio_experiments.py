"""The Experiments panel: tick parameters in the Inspector, run a real sweep child, read the results.

One window on the digits MLP; the sweep is the real `deepwire sweep --events
jsonl` child process (2 trials of 1 epoch).
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from studio.experiments.toggle import SweepToggle
from tests.studio_support import close_window, make_window, refuse_dialogs


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, "digits_mlp")
    win.experiments.runs_base = tmp_path
    yield win
    win.experiments.worker.wait_stopped()
    close_window(win)


def _toggle(window, name: str) -> SweepToggle:
    toggles = [t for t in window.inspector.findChildren(SweepToggle) if t.param.name == name]
    assert len(toggles) == 1
    return toggles[0]


def test_tick_parameters_run_a_sweep_sort_results_and_open_the_best(window, qtbot, tmp_path):
    doc, panel = window.document, window.experiments
    dropout = next(b for b in doc.network().blocks.values() if b.type == "Dropout")
    window.tabs.select_block("model", dropout.id)
    qtbot.waitUntil(lambda: window.inspector.block_id == dropout.id, timeout=3000)

    # tick "vary" beside the dropout rate: one undo step puts it in the project's space
    toggle = _toggle(window, "p")
    assert not toggle.isChecked()
    toggle.click()
    target = f"block:{dropout.id}.p"
    assert [e["target"] for e in doc.project.experiment["space"]] == [target]
    assert doc.project.experiment["space"][0] | {"target": ""} == {"target": "", "kind": "float", "low": 0.0,
                                                                   "high": 0.5, "log": False}
    assert panel.space_table.rowCount() == 1 and panel.space_table.item(0, 0).text() == f"{dropout.name}.p"
    doc.undo_stack.undo()
    assert doc.project.experiment == {} and not toggle.isChecked() and panel.space_table.rowCount() == 0
    doc.undo_stack.redo()
    assert toggle.isChecked()

    # a training setting from the panel, its values edited in the space table
    panel.add_training_setting("lr")
    assert panel.space_table.rowCount() == 2
    panel.space_table.item(1, 2).setText("0.0005")  # low
    assert doc.project.experiment["space"][1]["low"] == 0.0005
    panel.space_table.item(1, 2).setText("50")  # above the learning rate's bound: refused with the reason
    assert doc.project.experiment["space"][1]["low"] == 0.0005
    assert "lr" in panel.space_error.text() and "'low' is not allowed" in panel.space_error.text()
    panel.trials.setValue(2)
    panel.epochs.setValue(1)
    assert doc.project.experiment["trials"] == 2 and doc.project.experiment["epochs"] == 1

    assert panel.run()
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=90000)
    assert panel.worker.finished_event is not None, panel.status.text()
    assert panel.model.rowCount() == 2
    states = [r["state"] for r in panel.model.rows]
    assert states.count("COMPLETE") >= 1 and panel.best_trial is not None
    assert panel.status.text().startswith("Sweep completed (2 trials")
    results = json.loads((panel.sweep_dir / "results.json").read_text())
    assert results["best"]["trial"] == panel.best_trial
    assert len(panel.curves.items) == states.count("COMPLETE")  # a validation curve per trial
    assert panel.best_trial in panel.curves.items

    # sort the results table by the objective, both ways
    panel.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    first = panel.proxy.index(0, 2).data(Qt.ItemDataRole.UserRole + 1)
    last = panel.proxy.index(panel.proxy.rowCount() - 1, 2).data(Qt.ItemDataRole.UserRole + 1)
    assert first <= last
    panel.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert panel.proxy.index(0, 0).data() == str(panel.best_trial)

    # the best trial opens as a new, untitled project
    doc.undo_stack.setClean()
    assert panel.open_best.isEnabled()
    panel.open_best.click()
    assert doc.project.name.endswith("(best of sweep)") and doc.path is None
    best_values = results["best"]["params"]
    assert doc.project.training.lr == pytest.approx(best_values["training.lr"])
    assert doc.network().blocks[dropout.id].params["p"] == pytest.approx(best_values[target])
    # the trials are run folders the Runs panel lists
    panel.show_runs.click()
    assert window.runs.folder == panel.sweep_dir
    assert {f"trial_{n:04d}" for n in range(2)} <= set(window.runs.runs)


def test_the_bottom_docks_leave_the_palette_its_width(window):
    from PySide6.QtWidgets import QDockWidget

    docks = {dock.windowTitle(): dock for dock in window.findChildren(QDockWidget)}
    # the bottom docks share the width between palette and inspector: none may demand most of it
    assert docks["Experiments"].minimumSizeHint().width() < 700
    assert max(dock.minimumSizeHint().width() for dock in docks.values()
               if window.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea) < 700
    assert docks["Blocks"].width() >= 150

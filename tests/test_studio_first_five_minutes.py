"""The training issue's 'done when', as one scenario: the first five minutes.

`deepwire` opens the bundled digits CNN; the user presses Train, watches the
loss fall and the accuracy rise live, opens the confusion matrix of the run,
clicks a cell to see its samples, and exports runnable code whose outputs
match the trained model. Nothing here is typed in a terminal.

With DEEPWIRE_WALKTHROUGH=DIR set, the test also saves the README's
walkthrough screenshots (training.png, confusion.png, export.png) in DIR.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.runs.export_dialog import ExportDialog
from tests.studio_support import close_window, make_window, refuse_dialogs

CHILD_MS = 180_000
SHOTS = os.environ.get("DEEPWIRE_WALKTHROUGH")


def _shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / name))


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, example="digits_cnn")
    win.resize(1440, 900)
    yield win
    win.training.worker.wait_stopped()
    close_window(win)


@pytest.mark.slow  # the same loop, and more, runs by default in tests/test_studio_first_hour.py
def test_press_train_watch_it_learn_open_the_confusion_matrix_and_export(window, qtbot, tmp_path):
    panel = window.training
    panel.runs_base = tmp_path  # where an untitled project's runs go (normally the user data folder)
    panel.child_env = {"OMP_NUM_THREADS": "1"}
    panel.prewarm_enabled = False
    window.document.set_training({"epochs": 4})  # the example's 15 epochs, shortened for a test

    panel.train_action.trigger()  # the toolbar's Train (also Ctrl+T)
    assert panel.worker.running
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=CHILD_MS)
    assert panel.last_outcome == ("completed", "")

    # the curves grew live: the loss fell and the validation accuracy rose
    series = panel.plots.series
    assert series["val_loss"].n == 4 and series["metric"].n == 4 and series["step_loss"].n > 4
    panel.plots.redraw()
    _, val_loss = panel.plots.curves["val_loss"].getData()
    _, accuracy = panel.plots.curves["metric"].getData()
    assert val_loss[-1] < val_loss[0] and accuracy[-1] > accuracy[0] and accuracy[-1] > 0.9
    assert np.all(np.isfinite(val_loss))
    _shot(window, "training.png")

    # the run shows in the Runs panel; evaluate it and open the confusion matrix
    runs = window.runs
    qtbot.waitUntil(lambda: runs.current_run() is not None, timeout=10_000)
    assert runs.current_run().path == panel.last_run_dir
    runs.evaluate("val")
    qtbot.waitUntil(lambda: bool(runs.evaluation_windows), timeout=CHILD_MS)
    view = runs.evaluation_windows[0]
    result = json.loads((panel.last_run_dir / "evaluation.json").read_text())
    assert sum(map(sum, result["confusion"])) == result["size"]
    mistakes = [c for c in result["cells"] if c["true"] != c["predicted"]]
    if mistakes:  # a perfect run has no off-diagonal cell to click
        cell = mistakes[0]
        item = view.matrix.item(cell["true"], cell["predicted"])
        qtbot.mouseClick(view.matrix.viewport(), Qt.MouseButton.LeftButton,
                         pos=view.matrix.visualItemRect(item).center())
        assert view.samples.count() == len(cell["indices"])
    view.resize(900, 700)
    _shot(view, "confusion.png")

    # File > Export: the run's trained model as plain PyTorch, checked against the app's model
    dialog = ExportDialog(window.document, runs.folder, panel.last_run_dir, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("python"))
    out = tmp_path / "digits_cnn_model.py"
    dialog.output.setText(str(out))
    dialog.export()
    qtbot.waitUntil(lambda: dialog.process is None and bool(dialog.report_text), timeout=CHILD_MS)
    assert "✓" in dialog.report_text and dialog.max_difference < 1e-4, dialog.report_text
    _shot(dialog, "export.png")
    dialog.reject()

    # the exported code runs on its own with the exported weights (here, in the test's process)
    import torch

    spec = importlib.util.spec_from_file_location("exported_digits_cnn", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.DigitsCnn()
    model.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))
    model.eval()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)

"""One-click training in the studio: Train, live curves, Stop, crashes, settings, data, warnings.

Training runs for real, in a child process, on tiny projects (a couple of
epochs of the digits MLP, `--max-seconds` as a guard, one thread). Every
test that starts a child stops it in its clean-up, so none is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from graph.project_io import save_project
from graph.training_config import DataSpec
from runtime.run_names import slug
from studio.training.plots import TrainingPlots, ema
from studio.training.warnings import WarningWatcher
from tests.studio_support import block_id, close_window, make_window, refuse_dialogs

ROOT = Path(__file__).resolve().parent.parent
TRAIN_TIMEOUT_MS = 90_000


def _prepare(window, tmp_path: Path, epochs: int = 2, max_seconds: float = 30) -> None:
    panel = window.training
    panel.runs_base = tmp_path
    panel.extra_args = ("--max-seconds", str(max_seconds), "--threads", "1")
    panel.child_env = {"OMP_NUM_THREADS": "1"}
    panel.prewarm_enabled = False  # test_a_warm_child_takes_the_next_run covers it; others spawn fresh
    window.document.set_training({"epochs": epochs})


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, example="digits_mlp")
    yield win
    win.training.worker.wait_stopped()
    close_window(win)


def _lateness_probe(parent) -> list[float]:
    """A 25 ms timer noting how late each tick fires: the GUI's responsiveness while training."""
    late = [0.0]
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        late.append(1000 * (now - last[0]) - 25)
        last[0] = now

    timer = QTimer(parent)
    timer.timeout.connect(tick)
    timer.start(25)
    return late


def _project_json(window, tmp_path: Path) -> str:
    path = tmp_path / "state.dw.json"
    save_project(window.document.project, path)
    return path.read_text()


def test_train_button_grows_curves_and_writes_a_run(window, qtbot, tmp_path):
    _prepare(window, tmp_path)
    panel = window.training
    late = _lateness_probe(panel)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.worker.running and panel.stop_button.isEnabled() and not panel.train_action.isEnabled()
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=TRAIN_TIMEOUT_MS)
    print(f"worst event-loop lateness while training: {max(late):.0f} ms")
    # generous: on a shared 2-core machine the GUI process itself gets descheduled now and then (a 1 s
    # spike was seen at load 3.8); training in this process would block the loop for the whole run
    assert max(late) < 2000

    assert panel.last_outcome == ("completed", "")
    series = panel.plots.series
    assert series["step_loss"].n > 0 and series["train_loss"].n == 2 and series["val_loss"].n == 2
    assert series["metric"].n == 2 and panel.plots.metric_name == "accuracy"
    panel.plots.redraw()
    x, y = panel.plots.curves["val_loss"].getData()
    assert len(x) == 2 and np.all(np.isfinite(y))
    summary = json.loads((panel.last_run_dir / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["reason"] == "completed"
    assert panel.last_run_dir.parent == tmp_path / "runs" / slug(window.document.project.name)
    assert (panel.last_run_dir / "metrics.jsonl").stat().st_size > 0
    assert panel.device_found.text().startswith("Training on cpu")
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert "Training finished" in window.statusBar().currentMessage()
    window.document.undo_stack.setClean()
    window.files.new_project()  # the message was about that project: a new one starts with a clean bar
    assert window.statusBar().currentMessage() == ""


def test_unsaved_edits_train_too(window, qtbot, tmp_path):
    _prepare(window, tmp_path, epochs=1)
    window.training.editors["batch_size"].spin.setValue(32)  # through the field, as a user types
    assert window.document.project.training.batch_size == 32 and window.document.modified
    assert window.training.train()
    qtbot.waitUntil(lambda: not window.training.worker.running, timeout=TRAIN_TIMEOUT_MS)
    snapshot = json.loads((window.training.last_run_dir / "project.dw.json").read_text())
    assert snapshot["training"]["batch_size"] == 32


def test_stop_ends_the_child_within_a_second(window, qtbot, tmp_path):
    _prepare(window, tmp_path, epochs=500, max_seconds=60)
    panel = window.training
    events = []
    panel.worker.eventReceived.connect(events.append)
    assert panel.train()
    qtbot.waitUntil(lambda: any(e["kind"] == "step" for e in events), timeout=TRAIN_TIMEOUT_MS)
    pressed = time.monotonic()
    finished_at = []
    panel.worker.eventReceived.connect(
        lambda e: e["kind"] == "finished" and finished_at.append(time.monotonic()))
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=5000)
    elapsed = time.monotonic() - pressed
    print(f"stop: finished event after {(finished_at[0] - pressed) * 1000:.0f} ms, "
          f"child gone after {elapsed * 1000:.0f} ms")
    assert finished_at[0] - pressed < 1.0  # the child saw "stop", saved its checkpoint and said so
    assert elapsed < 1.5  # and was gone soon after (ended 0.3 s after its finished event at the latest)
    assert panel.last_outcome[0] == "stopped"
    assert events[-1]["kind"] == "finished" and events[-1]["reason"] == "stopped"


def test_missing_data_file_is_reported_and_the_project_survives(window, qtbot, tmp_path):
    _prepare(window, tmp_path)
    window.document.set_training(data=DataSpec("csv", {"path": str(tmp_path / "missing.csv")}))
    before = _project_json(window, tmp_path)
    window.training.train()
    qtbot.waitUntil(lambda: not window.training.worker.running, timeout=TRAIN_TIMEOUT_MS)
    reason, text = window.training.last_outcome
    assert reason == "failed" and "missing.csv" in text
    items = [window.training.warnings.item(i).text() for i in range(window.training.warnings.count())]
    assert any("missing.csv" in item for item in items) and window.training.warnings.isVisible()
    assert _project_json(window, tmp_path) == before
    assert window.isVisible() and window.training.train_button.isEnabled()


def test_a_killed_child_is_reported_as_a_crash(window, qtbot, tmp_path):
    _prepare(window, tmp_path, epochs=500, max_seconds=60)
    panel = window.training
    before = _project_json(window, tmp_path)
    panel.train()
    qtbot.waitUntil(lambda: panel.events_seen > 0, timeout=TRAIN_TIMEOUT_MS)
    panel.worker.process.kill()  # as the out-of-memory killer would
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=5000)
    reason, text = panel.last_outcome
    assert reason == "crashed" and "killed" in text
    assert "Training crashed" in panel.warnings.item(panel.warnings.count() - 1).text()
    assert _project_json(window, tmp_path) == before
    assert panel.train_button.isEnabled()


def test_a_warm_child_takes_the_next_run(window, qtbot, tmp_path):
    _prepare(window, tmp_path, epochs=1)
    panel = window.training
    panel.prewarm_enabled = True
    window.show_panel("Training")  # the user looks at training: a child starts importing torch
    qtbot.waitUntil(lambda: panel.worker._warm is not None, timeout=5000)
    warm_pid = panel.worker._warm.processId()
    qtbot.wait(3000)  # let it finish its imports, as it would while the user reads the settings
    pressed = time.monotonic()
    assert panel.train()
    assert panel.worker.used_warm and panel.worker.process.processId() == warm_pid
    qtbot.waitUntil(lambda: panel.events_seen > 0, timeout=TRAIN_TIMEOUT_MS)
    print(f"first event {1000 * (time.monotonic() - pressed):.0f} ms after Train (warm child)")
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=TRAIN_TIMEOUT_MS)
    assert panel.last_outcome == ("completed", "")
    assert (panel.last_run_dir / "summary.json").exists()
    qtbot.waitUntil(lambda: panel.worker._warm is not None, timeout=5000)  # ready for the next run
    assert panel.worker._warm.processId() != warm_pid


def test_training_dock_behind_another_tab_starts_no_child(window, qtbot):
    qtbot.wait(300)  # past the panel's deferred check
    assert window.training.visibleRegion().isEmpty() and window.training.worker._warm is None


def test_training_settings_are_undoable_edits(window):
    panel, doc = window.training, window.document
    panel.editors["optimizer"].combo.setCurrentText("sgd")
    panel.editors["seed"].spin.setValue(7)
    assert doc.project.training.optimizer == "sgd" and doc.project.seed == 7
    doc.undo_stack.undo()
    assert doc.project.seed == 0 and panel.editors["seed"].spin.value() == 0
    doc.undo_stack.undo()
    assert doc.project.training.optimizer == "adam"
    assert panel.editors["optimizer"].combo.currentText() == "adam"
    doc.undo_stack.redo()
    assert panel.editors["optimizer"].combo.currentText() == "sgd"


def test_data_panel_previews_digits_and_flags_a_mismatch(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, example="digits_cnn")
    try:
        data = win.data_panel
        win.show_panel("Data")
        qtbot.waitUntil(lambda: data.preview_kind == "images", timeout=10000)
        assert data.shapes_text == "Gives image batches (B, 1, 8, 8) · 10 classes"
        assert not data.images.pixmap().isNull() and data.problem == ""
        data.source.setCurrentIndex(data.source.findData("iris"))
        data._source_picked(data.source.currentIndex())  # what the combo's activation does
        assert win.document.project.data.source == "iris"
        # the iris rows are 4 numbers; the network's image input wants (1, 8, 8)
        assert data.problem.startswith("Input block 'image'") and "(B, 1, 8, 8)" in data.problem
        assert "iris" in data.problem and not data.preview_title.isVisible()
        assert data.problem_label.isVisible()
        # ... and the mismatch is a problem on the input block itself, on the canvas and in the list
        image = block_id(win.document, "image")
        [problem] = [d for d in win.document.analysis().diagnostics if d.code == "data"]
        assert problem.block == image and problem.is_error and problem.message == data.problem
        card = win.tabs.current_view().network_scene.blocks[image]
        assert card.status.severity == "error" and card.badge is not None
        assert any(d.code == "data" for d in win.problems.diagnostics())
        assert win.document.graph_analysis().ok  # the graph itself is fine: its code still compiles
        win.document.undo_stack.undo()
        assert win.document.project.data.source == "digits" and data.problem == ""
        assert not [d for d in win.document.analysis().diagnostics if d.code == "data"]
        assert card.status.severity is None
    finally:
        close_window(win)


def test_warnings_for_overfitting_divergence_and_nan():
    watcher = WarningWatcher()
    said = []
    for epoch, (train, val) in enumerate([(1.0, 0.9), (0.8, 0.8), (0.7, 0.85), (0.6, 0.9), (0.5, 0.95)]):
        said += watcher.check({"kind": "epoch", "metrics": {"loss": train}})
        said += watcher.check({"kind": "validation", "metrics": {"loss": val}})
        if epoch < 4:
            assert not said, epoch
    assert [w.kind for w in said] == ["overfitting"] and "dropout" in said[0].text
    assert watcher.check({"kind": "epoch", "metrics": {"loss": 50.0}})[0].kind == "diverging"
    nan = watcher.check({"kind": "error", "reason": "nan", "message": "loss became NaN",
                         "suggestion": "lower the learning rate"})
    assert nan[0].kind == "nan" and "lower the learning rate" in nan[0].text


def test_plots_stay_fast_over_100k_points(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(900, 500)
    plots.show()
    n = 100_000
    start = time.perf_counter()
    plots.add_steps(np.arange(n, dtype=float), np.random.default_rng(0).random(n))
    plots.redraw()
    plots.grab()  # the paint is where downsampling pays
    first = time.perf_counter() - start
    plots.smooth_slider.setValue(90)
    plots.log_box.setChecked(True)
    start = time.perf_counter()
    plots.redraw()
    plots.grab()
    smoothed = time.perf_counter() - start
    print(f"100k points: append+redraw+paint {first * 1000:.0f} ms, smoothed+log {smoothed * 1000:.0f} ms")
    assert first < 1.0 and smoothed < 2.0
    x, y = plots.curves["step_loss"].getData()
    assert len(x) <= n and np.nanmax(y) <= 1.0
    assert np.allclose(ema(np.array([1.0, 0.0]), 0.5), [1.0, 0.5])
    # live points extend the smoothed curve without recomputing it; the result is the same
    for step in range(n, n + 50):
        plots.add_event({"kind": "step", "step": step, "loss": 0.5, "lr": 1e-3, "samples_per_second": 1.0})
    plots.redraw()
    full = ema(plots.series["step_loss"].data()[1], plots.smoothing)
    assert np.allclose(plots._smoothed, full, equal_nan=True)


def test_training_from_the_window_never_imports_torch_in_the_studio_process(tmp_path):
    code = f"""
import sys
from pathlib import Path
from PySide6.QtCore import QSettings, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from graph.blocks import default_registry
from tests.studio_support import example_document
from studio.main_window import MainWindow
doc = example_document(default_registry(), "digits_mlp")
w = MainWindow(doc, settings=QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat),
               autosave_folder=Path({str(tmp_path / 'rec')!r}))
w.show()
w.training.runs_base = Path({str(tmp_path)!r})
w.training.extra_args = ("--max-seconds", "30", "--threads", "1")
seen = []
loop = QEventLoop()
def seen_event(event):
    seen.append(event["kind"])
    if event["kind"] == "epoch":
        loop.quit()
w.training.worker.eventReceived.connect(seen_event)
QTimer.singleShot(60000, loop.quit)
w.training.train_button.click()
loop.exec()
w.training.worker.wait_stopped()
print("epoch" in seen, "torch" in sys.modules)
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=90,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True False"

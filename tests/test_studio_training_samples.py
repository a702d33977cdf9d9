"""A generative run's samples show live in the Training dock (issue 13, point 9).

The trainer emits a `samples` event after each epoch (sampled text for a
language model, a PNG grid for a GAN or an autoencoder); the Training
panel shows the newest under its curves and keeps the earlier epochs
behind a slider. Fed events here; one real char_transformer epoch (slow).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from graph.examples import example_path
from graph.training_config import DataSpec
from tests.studio_support import close_window, make_window, refuse_dialogs


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), colour, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _samples(epoch: int, text: str | None = None, png: bytes | None = None) -> dict:
    """A samples event as the studio receives it: JSON, a PNG as base64."""
    event = {"kind": "samples", "epoch": epoch, "step": 10 * epoch, "title": f"Sampled, epoch {epoch}",
             "text": text, "png": None, "path": f"/runs/x/samples/epoch_{epoch:03d}"}
    if png is not None:
        event["png"] = {"base64": base64.b64encode(png).decode("ascii")}
    return event


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, example="char_transformer")
    win.training.prewarm_enabled = False
    win.docks["Training"].raise_()
    yield win
    win.training.worker.wait_stopped()
    close_window(win)


def test_text_samples_appear_per_epoch_and_the_slider_goes_back(window, qtbot):
    panel = window.training
    view = panel.samples
    assert not view.isVisible()  # nothing sampled yet: the curves have the room
    panel.worker.eventReceived.emit({"kind": "epoch", "epoch": 1, "step": 10, "metrics": {"loss": 2.0},
                                     "lr": 0.01, "seconds": 1.0, "samples_per_second": 5.0})
    assert not view.isVisible()
    panel.worker.eventReceived.emit(_samples(1, text="def first(): pass"))
    assert view.isVisible() and view.text.isVisible() and not view.image.isVisible()
    assert view.text.toPlainText() == "def first(): pass" and "epoch 1" in view.title.text()
    panel.worker.eventReceived.emit(_samples(2, text="def second(): return 2"))
    assert view.text.toPlainText() == "def second(): return 2"  # follows the newest epoch
    assert view.slider.isVisible() and view.slider.maximum() == 1 and "2 of 2" in view.title.text()
    view.slider.setValue(0)  # the user looks back at epoch 1 ...
    assert view.text.toPlainText() == "def first(): pass" and "1 of 2" in view.title.text()
    panel.worker.eventReceived.emit(_samples(3, text="def third(): ..."))
    assert view.text.toPlainText() == "def first(): pass"  # ... and a new epoch does not yank it away
    assert view.slider.maximum() == 2
    view.slider.setValue(2)
    assert view.text.toPlainText() == "def third(): ..."


def test_image_grid_samples_show_as_a_picture_and_a_new_run_clears_them(window, qtbot):
    panel = window.training
    view = panel.samples
    panel.worker.eventReceived.emit(_samples(1, png=_png(64, 16, (255, 0, 0))))
    assert view.isVisible() and view.image.isVisible() and not view.text.isVisible()
    image = view.image.image
    assert (image.width(), image.height()) == (64, 16) and image.pixelColor(3, 3).red() == 255
    pixmap = view.image.pixmap()
    assert pixmap is not None and not pixmap.isNull() and pixmap.width() == 4 * pixmap.height()
    view.clear()  # what Train does before a new run
    assert not view.isVisible() and view.samples == [] and view.image.image is None


@pytest.mark.slow
def test_a_real_char_transformer_epoch_shows_its_sampled_text(window, qtbot, tmp_path):
    doc = window.document
    doc.set_training(data=DataSpec("pydoc_text", {"max_chars": 4000}), text="Smaller text")
    doc.set_training({"epochs": 1, "batch_size": 32, "sample_length": 40})
    panel = window.training
    panel.runs_base = tmp_path
    panel.extra_args = ("--max-seconds", "60", "--threads", "1")
    panel.child_env = {"OMP_NUM_THREADS": "1"}
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.worker.running, timeout=120_000)
    assert panel.last_outcome is not None and panel.last_outcome[0] == "completed", panel.last_outcome
    shown = panel.samples.shown()
    assert shown is not None and panel.samples.isVisible() and shown["epoch"] == 1
    text = panel.samples.text.toPlainText()
    assert len(text) >= 40 and text == shown["text"]
    saved = Path(shown["path"])
    assert saved.is_file() and saved.read_text() == text  # the same text the run folder keeps


def test_opening_another_project_clears_the_last_runs_curves_and_samples(window, qtbot):
    """The Xvfb session saw the CNN's curves still drawn after opening the GAN (issue 13 point 13)."""
    panel = window.training
    for step in (10, 20):
        panel.worker.eventReceived.emit({"kind": "step", "epoch": 1, "step": step, "loss": 1.0 / step,
                                         "lr": 0.01, "samples_per_second": 100.0, "eta_seconds": 1.0})
    panel.worker.eventReceived.emit(_samples(1, text="def f(): pass"))
    assert panel.plots.series["step_loss"].n == 2 and panel.samples.isVisible()
    panel.plots.redraw()
    box = panel.plots.loss_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: box.viewRange()[0][1] - box.viewRange()[0][0] >= 10, timeout=2000)  # steps 10-20
    window.document.set_training({"epochs": 2})  # an edit: opening asks nothing (dialogs are refused)
    window.document.undo_stack.setClean()
    assert window.files.open_path(example_path("digits_gan"), as_copy=True)
    assert all(series.n == 0 for series in panel.plots.series.values())
    assert not panel.samples.isVisible() and panel.samples.samples == []
    panel.plots.redraw()
    drawn, _ = panel.plots.curves["step_loss"].getData()
    assert drawn is None or len(drawn) == 0
    # and no axis keeps the old run's range (steps 10-20 here)
    qtbot.wait(100)
    for plot in panel.plots.plots():
        (x0, x1), _ = plot.getPlotItem().getViewBox().viewRange()
        assert x1 - x0 < 5, plot.getPlotItem().titleLabel.text


def _a_long_run(panel, lr: float = 0.001) -> None:
    for step in range(10, 250, 10):
        panel.worker.eventReceived.emit({"kind": "step", "epoch": 1, "step": step, "loss": 1.0 / step,
                                         "lr": lr, "samples_per_second": 100.0, "eta_seconds": 1.0})
        if step % 20 == 0:
            panel.worker.eventReceived.emit({"kind": "validation", "epoch": 1, "step": step,
                                             "metrics": {"loss": 0.5, "accuracy": 0.9}})


def test_after_a_long_run_another_project_starts_with_fresh_axes(window, qtbot):
    """Xvfb: after a 240-step run, opening char_transformer showed empty plots on the old run's axes
    (steps 0-240, accuracy 0.85-0.95): auto-range still saw the curves' old points."""
    window.show()
    panel = window.training
    _a_long_run(panel)
    box = panel.plots.metric_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: box.viewRange()[0][1] > 200, timeout=3000)
    assert window.files.open_path(example_path("char_transformer"), as_copy=True)
    qtbot.wait(1500)  # past the live and the slow-curve redraws
    for plot in panel.plots.plots():
        (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
        assert (x0, x1, y0, y1) == (0, 1, 0, 1), plot.getPlotItem().titleLabel.text


def test_a_constant_learning_rate_is_drawn_on_an_axis_that_shows_its_value(window, qtbot):
    """Auto-range centred a flat lr of 0.001 on -0.5 .. 0.5, where it read as 0."""
    window.show()
    panel = window.training
    _a_long_run(panel, lr=0.001)
    box = panel.plots.lr_plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: panel.plots.series["lr"].n == 24 and
                    panel.plots.curves["lr"].getData()[0] is not None and
                    len(panel.plots.curves["lr"].getData()[0]) == 24, timeout=3000)
    _, (y0, y1) = box.viewRange()
    assert (y0, y1) == (0.0, 0.002)


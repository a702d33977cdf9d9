"""Insight on the canvas: gradient-flow colours and their legend, and the Preview panel.

Gradient colours are fed to the scene directly, through the window's
block_stats route, and end to end from a real (tiny, time-capped) training
child. The Preview panel runs `deepwire preview` as a child for the
selected block and draws its feature maps.
"""

from __future__ import annotations

import pytest

from graph.project_io import dumps_project
from studio.canvas.heat import GradientLegend, level, norm_color
from tests.studio_support import block_id, close_window, make_window, process_alive, refuse_dialogs

CHILD_TIMEOUT_MS = 60_000


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry, example="digits_cnn")
    yield win
    win.training.worker.wait_stopped()
    win.preview.shutdown()
    close_window(win)


def _coldness(color) -> float:
    """Hue in degrees: blue ~220, cyan ~190, green ~130, yellow ~45, red ~0 (cold to hot)."""
    hue = color.hsvHueF() * 360
    return hue - 360 if hue > 300 else hue


def _legends(window):
    view = window.tabs.current_view()
    return view.findChildren(GradientLegend)


def test_colour_scale_runs_from_cold_to_hot():
    norms = [1e-9, 1e-6, 1e-4, 1e-2, 1.0, 10.0, 1e2, 1e4]
    coldness = [_coldness(norm_color(n)) for n in norms]
    assert coldness == sorted(coldness, reverse=True)  # every step up is warmer
    assert coldness[0] > 200 and abs(coldness[-1]) < 10  # blue at the bottom, red at the top
    healthy = norm_color(1e-2)
    assert healthy.greenF() > max(healthy.redF(), healthy.blueF())
    assert [level(n) for n in (1e-8, 1e-3, 1e3, 0.0, float("nan"))] == [
        "vanishing", "healthy", "exploding", "no gradient", "not a number"]


def test_scene_colours_named_blocks_only_and_clears(window):
    scene = window.tabs.current_view().network_scene
    doc = window.document
    conv1, conv2, scores, relu1 = (block_id(doc, n) for n in ("conv1", "conv2", "scores", "relu1"))
    scene.show_gradient_flow({conv1: 1e-8, conv2: 1e3, scores: 1e-2})
    overlays = {bid: item.gradient for bid, item in scene.blocks.items() if item.gradient is not None}
    assert set(overlays) == {conv1, conv2, scores}
    assert scene.blocks[relu1].gradient is None  # no weights, no colour
    cold = {bid: _coldness(overlay.color) for bid, overlay in overlays.items()}
    assert cold[conv1] > cold[scores] > cold[conv2]  # tiny norm colder than a healthy one, then a huge one
    assert "vanishing" in overlays[conv1].toolTip() and "1.0e-08" in overlays[conv1].toolTip()
    assert overlays[conv1].scene() is scene and overlays[conv1].isVisible()
    scene.show_gradient_flow({conv2: 1.0})  # a later step may name fewer blocks
    assert scene.blocks[conv1].gradient is None and scene.blocks[conv2].gradient.norm == 1.0
    scene.clear_gradient_flow()
    assert all(item.gradient is None for item in scene.blocks.values())
    assert not [i for i in scene.items() if type(i).__name__ == "GradientOverlay"]


def test_block_stats_event_colours_the_canvas_with_a_legend_and_the_view_toggle(window, tmp_path):
    scene = window.tabs.current_view().network_scene
    conv1, conv2 = block_id(window.document, "conv1"), block_id(window.document, "conv2")
    event = {"kind": "block_stats", "step": 50, "network": "model", "grad_norm": {conv1: 2e-7, conv2: 0.3},
             "weight_norm": {}, "activation": {}}
    window.training.worker.eventReceived.emit(event)
    assert scene.blocks[conv1].gradient is not None and scene.blocks[conv2].gradient is not None
    legends = _legends(window)
    assert len(legends) == 1 and legends[0].isVisible()
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggle = window.gradient_flow.action
    assert toggle in view_menu.actions() and toggle.isChecked()
    toggle.trigger()  # View > Gradient Flow off
    assert scene.blocks[conv1].gradient is None and not legends[0].isVisible()
    toggle.trigger()  # and on again: the last colours come back
    assert scene.blocks[conv1].gradient.norm == pytest.approx(2e-7) and legends[0].isVisible()
    window.grab().save(str(tmp_path / "gradient_flow.png"))
    window.gradient_flow.clear()
    assert scene.blocks[conv2].gradient is None and not legends[0].isVisible()
    window.training.worker.eventReceived.emit(event)
    window.document.replace_project(window.document.project.copy())  # e.g. File > Open of another project
    toggle.trigger()
    toggle.trigger()
    new_scene = window.tabs.current_view().network_scene
    assert all(item.gradient is None for item in new_scene.blocks.values())


def test_training_child_block_stats_colour_the_canvas(window, qtbot, tmp_path):
    window.training.runs_base = tmp_path
    window.training.extra_args = ("--max-seconds", "20", "--threads", "1")
    window.training.child_env = {"OMP_NUM_THREADS": "1"}
    window.document.set_training({"epochs": 1, "stats_every": 2})
    scene = window.tabs.current_view().network_scene
    seen = []
    window.training.worker.eventReceived.connect(lambda e: e["kind"] == "block_stats" and seen.append(e))
    window.training.train_button.click()
    qtbot.waitUntil(lambda: bool(seen) and any(i.gradient is not None for i in scene.blocks.values()),
                    timeout=CHILD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.training.worker.running, timeout=CHILD_TIMEOUT_MS)
    assert window.training.last_outcome[0] == "completed"
    coloured = {bid for bid, item in scene.blocks.items() if item.gradient is not None}
    assert block_id(window.document, "conv1") in coloured
    assert block_id(window.document, "relu1") not in coloured
    assert coloured == set(seen[-1]["grad_norm"])  # the colours of the last step stay after training
    legend = _legends(window)[0]
    assert legend.isVisible()
    view = window.tabs.current_view()
    view.centerOnBlock(block_id(window.document, "scores"))  # scrolling leaves the legend in its corner
    area = view.viewport().geometry()
    assert legend.x() == area.left() + 10 and legend.y() + legend.height() + 10 == area.bottom()

    # after training the Preview panel offers the run's weights, and they change what conv1 outputs
    panel = window.preview
    panel.runs_folder = lambda: tmp_path / "runs"
    panel.refresh_runs()
    assert panel.weights.isEnabled() and panel.weights.itemData(1).endswith("best.pt")
    conv1 = block_id(window.document, "conv1")
    panel.show_selection("model", [conv1])
    qtbot.waitUntil(lambda: panel.data is not None, timeout=CHILD_TIMEOUT_MS)
    random_maps = panel.data["output"]
    panel.weights.setCurrentIndex(1)
    qtbot.waitUntil(lambda: str(panel.data["weights"]).endswith("best.pt"), timeout=CHILD_TIMEOUT_MS)
    assert "trained weights" in panel.status.text() and len(panel.image_items) == 16
    assert panel.data["output"].shape == random_maps.shape and not (panel.data["output"] == random_maps).all()


def test_preview_panel_draws_feature_maps_of_a_selected_conv(window, qtbot):
    panel = window.preview
    conv1 = block_id(window.document, "conv1")
    window.tabs.select_block("model", block_id(window.document, "relu2"), center=False)
    window.tabs.select_block("model", conv1, center=False)  # debounced: only conv1 runs
    qtbot.waitUntil(lambda: panel.data is not None and str(panel.data["block"]) == conv1,
                    timeout=CHILD_TIMEOUT_MS)
    assert panel.data["output"].shape == (4, 32, 8, 8)
    assert len(panel.image_items) == 16
    assert all(item.image.shape == (8, 8) for item in panel.image_items)
    assert "image 32×8×8" in panel.status.text()
    assert not panel.weights.isEnabled()  # no run yet: random weights only
    window.tabs.select_block("model", block_id(window.document, "scores"), center=False)
    qtbot.waitUntil(lambda: str(panel.data["block"]) != conv1, timeout=CHILD_TIMEOUT_MS)
    assert str(panel.data["kind"]) == "vector" and not panel.image_items
    assert "vector 10" in panel.status.text()


def test_preview_panel_reports_an_error_and_offers_trained_weights(window, qtbot, tmp_path):
    panel = window.preview
    run = tmp_path / "runs" / "digits_cnn-1"
    run.mkdir(parents=True)
    (run / "project.dw.json").write_text(dumps_project(window.document.project))  # the project's own run
    (run / "summary.json").write_text("{}")
    (run / "best.pt").write_bytes(b"not a checkpoint")
    panel.runs_folder = lambda: tmp_path / "runs"
    panel.refresh_runs()
    assert panel.weights.isEnabled() and panel.weights.count() == 2
    panel.weights.setCurrentIndex(1)
    panel.show_selection("model", [block_id(window.document, "conv1")])
    qtbot.waitUntil(lambda: "No preview" in panel.status.text(), timeout=CHILD_TIMEOUT_MS)
    assert "best.pt" in panel.status.text() and not panel.image_items


def test_a_preview_panel_deleted_while_its_child_runs_ends_quietly(qtbot, registry):
    from studio.insight.preview import PreviewPanel
    from tests.studio_support import example_document

    doc = example_document(registry, "digits_cnn")
    panel = PreviewPanel(doc)
    panel.show_selection("model", [block_id(doc, "conv1")])
    qtbot.waitUntil(lambda: panel.server is not None and panel.server.processId() > 0, timeout=5000)
    pid = panel.server.processId()
    panel.deleteLater()  # e.g. the window closes; a late callback would raise in the event loop
    qtbot.waitUntil(lambda: not process_alive(pid), timeout=10_000)
    qtbot.wait(200)



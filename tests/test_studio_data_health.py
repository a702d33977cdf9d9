"""The Data panel's health check: the report shown (counts, bars, files, the dry run), progress,
a Cancel that really stops the scan, the block link selecting the block, and no Qt noise."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from graph.project_io import load_project
from graph.training_config import DataSpec
from studio.document import Document
from studio.training.data_health import DataHealth
from tests.studio_support import block_id, no_noise


def _folder(root, counts: dict[str, int], size: int = 8):
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.zeros((size, size), np.uint8)).save(root / name / f"{i}.png")
    return root


def _plain(label) -> str:
    return label.text().replace("\u200b", "")  # the zero-width spaces that let long paths wrap


def _health(qtbot, registry, tmp_path, spec: DataSpec) -> DataHealth:
    from graph.examples import example_path

    project = load_project(example_path("digits_cnn"), registry)
    project.data = spec
    document = Document(registry, project, tmp_path / "p.dw.json")
    health = DataHealth(document)
    qtbot.addWidget(health)
    health.resize(300, 700)
    health.show()
    return health


def _check(qtbot, health: DataHealth) -> None:
    health.start()
    assert health.is_running() and not health.check_button.isEnabled()
    qtbot.waitUntil(lambda: not health.is_running(), timeout=10_000)


def test_the_panel_shows_counts_bars_files_and_the_verdict(qtbot, registry, tmp_path, capfd):
    data = _folder(tmp_path / "pets", {"cats": 9, "dogs": 2})
    (data / "dogs" / "zero.png").write_bytes(b"")
    (data / "dogs" / "readme.txt").write_text("x")
    with no_noise(capfd):
        health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "pets"}))
        _check(qtbot, health)
    assert health.report.class_counts == [9, 2]
    assert health.bars.rows == [("cats", 9), ("dogs", 2)] and health.bars.isVisible()
    assert "Healthy" in health.verdict.text() and "warning" in health.verdict.text()
    assert "<b>11</b> samples (train 9, validation 2, test 0)" in health.summary.text()
    assert "100.0% 8×8 grey (11)" in health.summary.text()
    problems = _plain(health.problems)
    assert "dogs/zero.png" in problems and "dogs/readme.txt" in problems and "4.5 to 1" in problems
    assert not health.running.isVisible() and health.check_button.isEnabled()


def test_the_dry_run_link_selects_the_refusing_block(qtbot, registry, tmp_path):
    _folder(tmp_path / "tiny", {"a": 2, "b": 2}, size=1)
    health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "tiny"}))
    _check(qtbot, health)
    assert "fits (resized)" in _plain(health.dry_run)
    pool = block_id(health.document, "pool")
    assert f"block:model:{pool}" in _plain(health.dry_run)
    with qtbot.waitSignal(health.blockRequested) as signal:
        health._link(f"block:model:{pool}")  # what clicking the link in the label emits
    assert signal.args == ["model", pool]


def test_a_problem_that_stops_training_is_said_in_red(qtbot, registry, tmp_path):
    _folder(tmp_path / "d", {"a": 3, "b": 3})
    (tmp_path / "d" / "empty").mkdir()
    health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "d"}))
    _check(qtbot, health)
    assert "Not ready: 1 problem(s) would stop training" in health.verdict.text()
    assert "class folder 'empty' holds no images" in _plain(health.problems)
    health.document.set_training(data=DataSpec("image_folder", {"path": "elsewhere"}), text="Set data path")
    assert "changed since: check again" in health.verdict.text()


def test_cancel_stops_the_scan_for_real(qtbot, registry, tmp_path, monkeypatch):
    """The scan is held inside reading headers until Cancel was pressed; it must then end as cancelled
    without reading the rest (a blocked reader thread would leave the panel running forever)."""
    from runtime.data.health import images

    _folder(tmp_path / "d", {"a": 300, "b": 300})
    pressed, reads = threading.Event(), []
    real = images._read_header

    def slow_read(*args):
        reads.append(args[1])
        pressed.wait(5)
        return real(*args)

    monkeypatch.setattr(images, "_read_header", slow_read)
    health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "d"}))
    health.start()
    qtbot.waitUntil(lambda: len(reads) > 0, timeout=5000)
    assert health.running.isVisible()
    health.cancel()
    pressed.set()
    qtbot.waitUntil(lambda: not health.is_running(), timeout=5000)
    assert health.report.cancelled and "Cancelled" in health.verdict.text()
    assert len(reads) <= images.PROGRESS_EVERY  # it stopped at the next look, far before 600 files


def test_the_data_panel_holds_the_health_check_and_its_links_select_on_the_canvas(window):
    health = window.data_panel.health
    assert health.check_button.text() == "Check data"
    pool = block_id(window.document, "pool")
    health._link(f"block:model:{pool}")
    assert window.tabs.selected_ids() == [pool]


def test_progress_shows_file_counts_while_scanning(qtbot, registry, tmp_path, monkeypatch):
    from runtime.data.health import images

    _folder(tmp_path / "d", {"a": 400, "b": 400})
    gate, real = threading.Event(), images._read_header
    seen = []

    def gated(*args):
        if len(seen) == 300:
            gate.wait(5)
        seen.append(1)
        return real(*args)

    monkeypatch.setattr(images, "_read_header", gated)
    health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "d"}))
    health.start()
    qtbot.waitUntil(lambda: health.progress.maximum() == 800, timeout=5000)
    assert "of 800" in health.progress.format()
    gate.set()
    qtbot.waitUntil(lambda: not health.is_running(), timeout=10_000)
    assert health.report.samples == 800


def test_another_project_clears_the_report(qtbot, registry, tmp_path):
    from graph.examples import example_path

    _folder(tmp_path / "d", {"a": 3, "b": 3})
    health = _health(qtbot, registry, tmp_path, DataSpec("image_folder", {"path": "d"}))
    _check(qtbot, health)
    assert health.bars.isVisible()
    health.document.replace_project(load_project(example_path("iris_mlp"), registry), None)
    assert health.report is None and not health.bars.isVisible()
    assert "Check data scans" in health.verdict.text()

"""The Runs panel's Try It window: the studio's predictions are the command line's (studio/runs/try_it.py).

Each request runs `deepwire predict` as a child process; the table must show
what runtime/predict.py computes in-process for the same inputs, errors must
name the input, and a dropped file must be predicted like a chosen one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from graph.project_io import load_project
from runtime.predict import open_predictor
from studio.runs.runs_panel import RunsPanel
from studio.runs.try_it import TryItWindow, input_kind_of
from tests.test_export_preprocessing import raw_validation_digits
from tests.test_predict import _blobs, _write_pngs, table_run  # noqa: F401 - table_run is a fixture
from tests.test_train_fixtures import REGISTRY

CHILD_TIMEOUT_MS = 120_000  # a child imports torch and builds the model: seconds on a loaded 2-core box


@pytest.fixture
def pngs(digits_cnn_run, tmp_path) -> list[Path]:
    project = load_project(digits_cnn_run / "project.dw.json", REGISTRY)
    images, labels = raw_validation_digits(project)
    _write_pngs(tmp_path / "pngs", images[:6], labels[:6])
    return sorted((tmp_path / "pngs").iterdir())


def _window(qtbot, run: Path) -> TryItWindow:
    window = TryItWindow(run, input_kind_of(run))
    qtbot.addWidget(window)
    window.show()
    return window


def _rows(window: TryItWindow) -> list[list[str]]:
    tree = window.results
    return [[tree.topLevelItem(i).text(c) for c in range(tree.columnCount())]
            for i in range(tree.topLevelItemCount())]


def test_chosen_images_show_the_classes_the_command_line_computes(digits_cnn_run, pngs, qtbot):
    window = _window(qtbot, digits_cnn_run)
    assert window.input_kind == "image" and "Drop image files" in window.hint.text()
    with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
        assert window.predict_paths([str(p) for p in pngs[:3]]) is None
        assert not window.choose_button.isEnabled()  # busy while the child runs
    expected = open_predictor(digits_cnn_run).predict([str(p) for p in pngs[:3]], top=3)
    rows = _rows(window)
    assert [r[0] for r in rows] == [str(p) for p in pngs[:3]]
    assert [r[1] for r in rows] == [e["class"] for e in expected]
    assert [r[2] for r in rows] == [f"{100 * e['probability']:.1f}%" for e in expected]
    assert window.message.text() == "3 inputs predicted." and window.choose_button.isEnabled()


def test_a_dropped_folder_is_predicted_like_a_chosen_one(digits_cnn_run, pngs, qtbot):
    window = _window(qtbot, digits_cnn_run)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pngs[0].parent))])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    assert QApplication.sendEvent(window, enter) and enter.isAccepted()  # Qt delivers a drop only after this
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
        QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    assert [r[0] for r in _rows(window)] == [str(p) for p in pngs]


def test_an_unreadable_image_is_named_in_red_and_the_old_results_stay(digits_cnn_run, pngs, qtbot,
                                                                      tmp_path):
    window = _window(qtbot, digits_cnn_run)
    with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
        window.predict_paths([str(pngs[0])])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
        window.predict_paths([str(broken)])
    assert "broken.png: cannot be read as an image" in window.message.text()
    assert "c0392b" in window.message.styleSheet()
    assert len(_rows(window)) == 1  # the previous prediction is still there to compare


def test_a_typed_row_goes_through_the_same_reader_as_a_csv_file(table_run, qtbot):  # noqa: F811
    _, run = table_run
    window = _window(qtbot, run)
    assert window.input_kind == "vector"
    x, labels = _blobs(3, seed=11)
    names = ["setosa", "versicolor", "virginica"]
    for row, label in zip(x, labels):
        window.entry.setText(", ".join(f"{v:.3f}" for v in row))
        with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
            window.predict_entry()
        (shown,) = _rows(window)
        assert shown[0].startswith("typed: ") and shown[1] == names[label]
    window.entry.setText("1, 2")
    with qtbot.waitSignal(window.finished, timeout=CHILD_TIMEOUT_MS):
        window.predict_entry()
    message = window.message.text()
    assert "the typed row:1: 2 numbers; this network reads 4 features per row" in message, message
    assert "deepwire-try-" not in message  # the temporary file's path never shows


def test_the_runs_panel_opens_try_it_for_the_selected_run(digits_cnn_run, qtbot, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(digits_cnn_run, root / "Digits-CNN" / digits_cnn_run.name)
    panel = RunsPanel()
    qtbot.addWidget(panel)
    (tmp_path / "empty").mkdir()
    panel.set_folder(tmp_path / "empty")
    assert not panel.buttons["try"].isEnabled()  # no run to try
    panel.set_folder(root)
    panel.select_run(digits_cnn_run.name)
    assert panel.buttons["try"].isEnabled()
    qtbot.mouseClick(panel.buttons["try"], Qt.MouseButton.LeftButton)
    (window,) = panel.evaluation_windows
    assert isinstance(window, TryItWindow) and window.isVisible()
    assert window.run_dir == root / "Digits-CNN" / digits_cnn_run.name
    window.close()
    qtbot.waitUntil(lambda: panel.evaluation_windows == [], timeout=2000)
    panel.shutdown()

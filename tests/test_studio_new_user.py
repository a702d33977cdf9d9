"""The editor issue's 'done when', as one scenario a new user walks through.

From an empty canvas, using only the palette and the mouse (and the
inspector's fields), build the digits CNN: drag blocks from the palette,
wire them port to port, set their parameters, see every shape, make the
classic mistake (Linear straight after a convolution), fix it with the quick
fix, undo and redo everything, save through File > Save As, and get back a
file that loads as the same project and compiles to a model that runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from graph.compiler import compile_project
from graph.project_io import load_project
from tests.studio_support import close_window, make_window, refuse_dialogs

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry)
    win.resize(1400, 900)
    yield win
    close_window(win)


def drop_from_palette(window, type_id: str, where: QPoint) -> str:
    """Drag a palette entry onto the canvas at a viewport point; returns the new block's id."""
    before = set(window.document.network().blocks)
    data = window.palette.tree.mimeData([window.palette.item(type_id)])
    view = window.tabs.current_view()
    enter = QDragEnterEvent(where, Qt.DropAction.CopyAction, data, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(where), Qt.DropAction.CopyAction, data, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), drop)
    (new,) = set(window.document.network().blocks) - before
    return new


def wire(window, src: str, dst: str, port: str = "x") -> None:
    """Press on src's output port, drag, release on dst's input port."""
    view = window.tabs.current_view()
    scene = view.network_scene
    start = view.mapFromScene(scene.blocks[src].output.scenePos())
    end = view.mapFromScene(scene.blocks[dst].inputs[port].scenePos())
    vp = view.viewport()
    QTest.mousePress(vp, LEFT, NONE, start)
    for i in range(1, 5):
        QTest.mouseMove(vp, start + (end - start) * (i / 4))
    QTest.mouseRelease(vp, LEFT, NONE, end)


def set_field(window, qtbot, block: str, name: str, text: str) -> None:
    """Select the block, type into its inspector field and press Enter."""
    window.tabs.current_view().selectBlock(block)
    field = window.inspector.editors[name].field
    line = field.lineEdit() if hasattr(field, "lineEdit") else field
    field.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_a_new_user_builds_fixes_undoes_and_saves_the_digits_cnn(window, qtbot, tmp_path, monkeypatch,
                                                                  registry):
    window.files.new_project()  # File > New: an empty canvas
    doc = window.document
    assert doc.network().blocks == {}
    view = window.tabs.current_view()
    view.setZoom(0.8)
    left = view.viewport().rect().center() - QPoint(520, 0)

    types = ["ImageInput", "Conv2d", "ReLU", "MaxPool2d", "Linear", "ClassificationHead"]
    ids = [drop_from_palette(window, t, left + QPoint(170 * i, 0)) for i, t in enumerate(types)]
    image, conv, relu, pool, linear, head = ids
    assert [doc.network().block(b).type for b in ids] == types

    set_field(window, qtbot, image, "channels", "1")
    set_field(window, qtbot, image, "height", "8")
    set_field(window, qtbot, image, "width", "8")
    set_field(window, qtbot, conv, "channels", "16")
    set_field(window, qtbot, linear, "features", "10")
    for a, b in zip(ids, ids[1:]):
        wire(window, a, b)
    assert len(doc.network().edges) == 5

    # the classic mistake: Linear right after the pooled feature maps
    problems = [d for d in doc.analysis().diagnostics if d.is_error]
    assert [d.block for d in problems] == [linear]
    assert "insert Flatten" in problems[0].message
    card = view.network_scene.blocks[linear]
    assert card.badge is not None and card.fix_chip is not None
    view.centerOnBlock(linear)
    chip = card.fix_chip
    chip_centre = view.mapFromScene(chip.mapToScene(chip.boundingRect().center()))
    QTest.mouseClick(view.viewport(), LEFT, NONE, chip_centre)

    analysis = doc.analysis()
    assert analysis.ok and analysis.diagnostics == []
    flatten = next(b.id for b in doc.network().blocks.values() if b.type == "Flatten")
    shapes = {doc.network().block(b).type: s for b, s in analysis.shapes.items()}
    assert shapes == {
        "ImageInput": (1, 8, 8), "Conv2d": (16, 6, 6), "ReLU": (16, 6, 6), "MaxPool2d": (16, 3, 3),
        "Flatten": (144,), "Linear": (10,), "ClassificationHead": (10,),
    }
    # every card shows its shape
    assert view.network_scene.blocks[flatten].status.shape == "144"
    assert view.network_scene.blocks[conv].status.shape == "16×6×6"

    built = doc.project.copy()
    steps = doc.undo_stack.count()
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    assert doc.network().blocks == {} and doc.network().edges == []
    assert view.network_scene.blocks == {}
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    assert doc.undo_stack.count() == steps
    assert doc.project == built
    assert set(view.network_scene.blocks) == set(built.network().blocks)

    target = tmp_path / "my_cnn.dw.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.files.save_as()
    assert Path(target).exists() and not doc.modified
    assert Path(doc.path) == target and "my_cnn.dw.json" in window.windowTitle()
    reloaded = load_project(target, registry)
    assert reloaded.network() == built.network()
    source = compile_project(reloaded, registry).source
    assert "x = x.flatten(1)" in source and "nn.Linear(144, 10)" in source

"""A studio session prints nothing: no traceback, no Qt warning, however many projects it opens.

Each File > New / Open replaces every canvas; what the old canvases had
connected to the document must go with them (issue 13, point 2: dead
minimaps printed `QTimer already deleted` on every edit).
"""

from __future__ import annotations

import pytest

from graph.examples import example_path
from graph.model import Edge
from tests.studio_support import no_noise

FIVE = ("digits_cnn", "sine_lstm", "digits_gan", "residual_cnn", "iris_mlp")


def _edit(window, qtbot) -> None:
    """A few edits through the document's commands, then undo and redo them."""
    doc = window.document
    net = doc.network()
    first = next(iter(net.blocks.values()), None)
    at = (first.position[0], first.position[1] + 300) if first else (0.0, 0.0)
    new = doc.add_block(net.name, "Dropout", at)
    doc.rename_block(net.name, new, "drop_extra")
    doc.move_blocks(net.name, {new: (net.block(new).position, (0.0, 600.0))})
    if first is not None and doc.can_connect(net.name, Edge(first.id, new, "x"))[0]:
        doc.connect(net.name, Edge(first.id, new, "x"))
    qtbot.wait(300)  # past the minimap's refresh pause
    for _ in range(3):
        doc.undo_stack.undo()
    doc.undo_stack.redo()
    qtbot.wait(300)


def test_opening_five_projects_and_editing_each_prints_nothing(window, qtbot, capfd):
    with no_noise(capfd):
        _edit(window, qtbot)
        for name in FIVE:
            window.document.undo_stack.setClean()
            assert window.files.open_path(example_path(name), as_copy=True)
            qtbot.wait(50)  # deferred deletions of the old canvases happen here
            _edit(window, qtbot)
        window.document.undo_stack.setClean()
        assert window.files.new_project()
        _edit(window, qtbot)
    # the canvases of earlier projects are gone, not just hidden
    assert len(window.tabs.views) == len(window.document.project.networks)


def test_no_noise_fails_on_a_qt_warning_and_on_a_failing_slot(qtbot, capfd):
    from PySide6.QtCore import QObject, QTimer, Signal, qWarning

    class Source(QObject):
        fired = Signal()

    with pytest.raises(AssertionError, match="Qt QtWarningMsg: odd"):
        with no_noise(capfd):
            qWarning("odd")
    source = Source()
    source.fired.connect(lambda: 1 / 0)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        with no_noise(capfd):
            QTimer.singleShot(0, source.fired.emit)
            qtbot.wait(20)

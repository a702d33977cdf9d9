"""The toolbar keeps still while the history changes; History speaks in block names; Ctrl+Y redoes.

Issue 13, point 11: the Undo/Redo buttons took the step's text ("Undo
Connect b2 to b8"), so the toolbar reflowed under the mouse after each
edit, and the texts named block ids, not the names on the cards.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from graph.model import Edge
from tests.studio_support import block_id


def _button_geometries(window) -> list[tuple[str, int, int]]:
    bar = window.findChild(QToolBar, "toolbar_main")
    return [(action.text(), bar.widgetForAction(action).x(), bar.widgetForAction(action).width())
            for action in bar.actions() if not action.isSeparator()]


def test_toolbar_buttons_keep_their_place_and_size_as_the_history_changes(window, qtbot):
    doc, net = window.document, window.document.network()
    before = _button_geometries(window)
    extra = doc.add_block(net.name, "Dropout", (0.0, 900.0), name="a_dropout_with_a_very_long_name")
    qtbot.wait(10)
    assert _button_geometries(window) == before
    doc.undo_stack.undo()
    qtbot.wait(10)
    assert _button_geometries(window) == before  # now Redo has a step, Undo none
    assert extra not in net.blocks
    texts = [text for text, _x, _w in before]
    assert "Undo" in texts and "Redo" in texts


def test_the_step_is_named_in_the_tooltip_and_the_menu(window):
    doc, net = window.document, window.document.network()
    undo_tool, redo_tool = window.actions["undo_tool"], window.actions["redo_tool"]
    assert not undo_tool.isEnabled() and undo_tool.toolTip() == "Nothing to undo"
    extra = doc.add_block(net.name, "Dropout", (0.0, 900.0), name="drop2")
    doc.connect(net.name, Edge(block_id(doc, "relu1"), extra, "x"))
    assert undo_tool.isEnabled() and undo_tool.text() == "Undo"
    assert undo_tool.toolTip() == "Undo Connect relu1 to drop2"
    assert window.actions["undo"].text() == "&Undo Connect relu1 to drop2"  # the Edit menu
    undo_tool.trigger()
    assert redo_tool.isEnabled() and redo_tool.toolTip() == "Redo Connect relu1 to drop2"
    assert undo_tool.toolTip() == "Undo Add drop2"


def test_history_texts_use_block_names_not_ids(window):
    doc, net = window.document, window.document.network()
    stack = doc.undo_stack
    conv1, pool = block_id(doc, "conv1"), block_id(doc, "pool")
    wire = next(e for e in net.edges if e.dst == pool)
    doc.disconnect(net.name, wire)
    assert stack.undoText() == f"Disconnect {net.block(wire.src).name} from pool"
    doc.connect(net.name, wire)
    assert stack.undoText() == f"Connect {net.block(wire.src).name} to pool"
    doc.set_enabled(net.name, [conv1], False)
    assert stack.undoText() == "Disable conv1"
    doc.set_enabled(net.name, [conv1, pool], True)
    assert stack.undoText() == "Enable 2 blocks"
    doc.rename_block(net.name, conv1, "features")
    doc.rename_block(net.name, conv1, "features1")  # merged into one step, and its text follows
    assert stack.undoText() == "Rename conv1 to features1"
    add = doc.add_block(net.name, "Add", (0.0, 900.0))
    doc.connect(net.name, Edge(conv1, add, "in2"))
    assert stack.undoText() == f"Connect features1 to {net.block(add).name}.in2"
    assert all(f" {b} " not in f" {stack.text(i)} " for i in range(stack.count()) for b in net.blocks
               if b != net.block(b).name)  # no id in any line of History


@pytest.mark.parametrize("keys", [("Y", Qt.KeyboardModifier.ControlModifier),
                                  ("Z", Qt.KeyboardModifier.ControlModifier
                                   | Qt.KeyboardModifier.ShiftModifier)])
def test_ctrl_y_and_ctrl_shift_z_redo(window, qtbot, keys):
    doc, net = window.document, window.document.network()
    extra = doc.add_block(net.name, "Dropout", (0.0, 900.0))
    view = window.tabs.current_view()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert extra not in net.blocks
    qtbot.keyClick(view, getattr(Qt.Key, f"Key_{keys[0]}"), keys[1])
    assert extra in net.blocks

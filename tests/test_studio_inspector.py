"""The inspector: editors built from parameter declarations, edits as undo steps, refusals with reasons.

Typing happens through the fields (qtbot key clicks), and every check reads
both the widget (value, reason shown, outline) and the model.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from graph.model import Block, Edge, Network, Project
from studio.document import Document
from studio.inspector import Inspector
from tests.studio_support import block_id, example_document


@pytest.fixture
def doc(registry):
    return example_document(registry)


@pytest.fixture
def inspector(qtbot, doc):
    widget = Inspector(doc)
    qtbot.addWidget(widget)
    widget.resize(340, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _show(inspector, name: str) -> str:
    bid = block_id(inspector.document, name)
    inspector.show_block("model", bid)
    return bid


def _type(qtbot, field, text: str) -> None:
    """Select what the field holds, type over it and press Enter, as a user does."""
    line = field.lineEdit() if hasattr(field, "lineEdit") else field
    field.setFocus()
    line.selectAll()
    if text:
        qtbot.keyClicks(line, text)
    else:
        qtbot.keyClick(line, Qt.Key.Key_Backspace)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_editors_follow_the_declaration(inspector, doc, registry):
    _show(inspector, "conv1")
    spec = registry.get("Conv2d")
    assert list(inspector.editors) == [p.name for p in spec.params]
    assert isinstance(inspector.editors["channels"].field, QSpinBox)
    assert isinstance(inspector.editors["bias"].field, QCheckBox)
    padding = inspector.editors["padding"].field
    assert isinstance(padding, QComboBox) and padding.isEditable()
    assert [padding.itemText(i) for i in range(padding.count())] == ["same", "valid"]
    assert inspector.editors["channels"].field.value() == 32
    assert inspector.title.text() == "Conv 2D"
    assert inspector.help.text() == spec.help
    assert inspector.editors["kernel_size"].field.toolTip() == spec.param("kernel_size").help
    dropout = _show(inspector, "dropout")
    assert isinstance(inspector.editors["p"].field, QDoubleSpinBox)
    p = doc.network().block(dropout).params["p"]
    assert inspector.editors["p"].field.text() == f"{p:g}"


def test_editing_a_parameter_updates_the_model_and_the_shapes(inspector, doc, qtbot):
    conv = _show(inspector, "conv1")
    assert "out: (B, 32, 8, 8)" in inspector.shapes.text()
    _type(qtbot, inspector.editors["channels"].field, "16")
    assert doc.network().block(conv).params["channels"] == 16
    assert doc.analysis().shapes[conv] == (16, 8, 8)
    assert "out: (B, 16, 8, 8)" in inspector.shapes.text()
    assert inspector.count.text() == "Weights: 160 parameters"  # 16 filters of 3x3 on one channel, + bias
    assert doc.undo_stack.count() == 1
    norm = _show(inspector, "norm1")
    assert "in <b>x</b>: (B, 16, 8, 8)" in inspector.shapes.text()
    assert doc.analysis().shapes[norm] == (16, 8, 8)


def test_a_value_past_the_bound_is_refused_in_the_field_with_the_reason(inspector, doc, qtbot):
    conv = _show(inspector, "conv1")
    field = inspector.editors["kernel_size"].field
    _type(qtbot, field, "5000")
    assert inspector.error_text("kernel_size") == "'kernel_size' must be between 1 and 1024; got 5000"
    assert field.property("invalid") is True
    assert field.text() == "5000"  # still there to correct
    assert doc.network().block(conv).params["kernel_size"] == 3
    assert doc.undo_stack.count() == 0
    _type(qtbot, field, "5")
    assert inspector.error_text("kernel_size") == ""
    assert field.property("invalid") is False
    assert doc.network().block(conv).params["kernel_size"] == 5


def test_float_tuple_and_special_values_are_checked_by_the_declaration(inspector, doc, qtbot, registry):
    dropout = _show(inspector, "dropout")
    _type(qtbot, inspector.editors["p"].field, "1.5")
    assert inspector.error_text("p") == "'p' must be between 0 and 1; got 1.5"
    assert doc.network().block(dropout).params["p"] == 0.3
    _type(qtbot, inspector.editors["p"].field, "0.25")
    assert doc.network().block(dropout).params["p"] == 0.25

    conv = _show(inspector, "conv1")
    _type(qtbot, inspector.editors["padding"].field, "wide")
    reason = inspector.error_text("padding")
    assert reason.startswith("'padding' must be a whole number or one of same, valid")
    assert doc.network().block(conv).params["padding"] == 1
    _type(qtbot, inspector.editors["padding"].field, "same")
    assert doc.network().block(conv).params["padding"] == "same"

    net = doc.network()
    doc.add_block("model", "Reshape", (0, 300))
    reshape = list(net.blocks)[-1]
    inspector.show_block("model", reshape)
    assert isinstance(inspector.editors["shape"].field, QLineEdit)
    _type(qtbot, inspector.editors["shape"].field, "4, x")
    assert inspector.error_text("shape") == "'shape' must hold whole numbers; got 'x'"
    _type(qtbot, inspector.editors["shape"].field, "4, -1")
    assert net.block(reshape).params["shape"] == (4, -1)
    assert inspector.error_text("shape") == ""


def test_checkbox_and_rename_are_one_undo_step_each(inspector, doc, qtbot):
    conv = _show(inspector, "conv1")
    inspector.editors["bias"].field.click()
    assert doc.network().block(conv).params["bias"] is False
    _type(qtbot, inspector.name_edit, "first_conv")
    assert doc.network().block(conv).name == "first_conv"
    assert doc.undo_stack.count() == 2
    _type(qtbot, inspector.name_edit, "")
    assert inspector.name_error.text() == "A block needs a name."
    assert doc.network().block(conv).name == "first_conv"


def test_undo_puts_the_old_value_back_in_the_field(inspector, doc, qtbot):
    conv = _show(inspector, "conv1")
    _type(qtbot, inspector.editors["channels"].field, "8")
    assert doc.network().block(conv).params["channels"] == 8
    doc.undo_stack.undo()
    assert inspector.editors["channels"].field.value() == 32
    assert "out: (B, 32, 8, 8)" in inspector.shapes.text()


def test_problems_of_the_block_are_listed_and_deleting_it_clears_the_inspector(qtbot, registry):
    net = Network("model", [Block("b1", "ImageInput", "image", {"channels": 1, "height": 8, "width": 8}),
                            Block("b2", "Linear", "fc", {"features": 10})],
                  [Edge("b1", "b2", "x")])
    doc = Document(registry, Project("p", [net]))
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    inspector.show_block("model", "b2")
    assert inspector.problems.isVisibleTo(inspector)
    assert "Flatten" in inspector.problems.text()
    assert inspector.count.text() == "Weights: unknown until its input shapes are known"
    doc.remove_blocks("model", ["b2"])
    assert inspector.block_id is None
    assert inspector.empty.isVisibleTo(inspector)


def test_several_selected_blocks_say_so(inspector, doc):
    ids = [block_id(doc, "conv1"), block_id(doc, "conv2")]
    inspector.show_selection("model", ids)
    assert inspector.empty.text().startswith("2 blocks selected")
    assert not inspector.details.isVisibleTo(inspector)

"""The deploy lint in the studio: targets through the undo stack, the canvas's target badge.

The badge is checked on the items (created, tooltip, position off every port) and the
File > Deploy Targets menu is clicked, so each change is one undo step.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF

from graph.model import Block, Edge, Network, Project
from studio.canvas import NetworkView
from studio.canvas.style import LIGHT
from studio.deploy_menu import deploy_targets_menu
from studio.document import Document


def project() -> Project:
    net = Network("model")
    net.add_block(Block("seq", "SequenceInput", "seq", {"length": 6, "features": 3}, (0.0, 0.0)))
    net.add_block(Block("rnn", "LSTM", "encoder", {"hidden_size": 8}, (240.0, 0.0)))
    net.add_block(Block("lin", "Linear", "scores", {"features": 2}, (480.0, 0.0)))
    net.add_block(Block("head", "ClassificationHead", "head", {"classes": 2}, (720.0, 0.0)))
    net.connect(Edge("seq", "rnn", "x"))
    net.connect(Edge("rnn", "lin", "x"))
    net.connect(Edge("lin", "head", "x"))
    return Project("lint", [net])


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, project())


@pytest.fixture
def view(qtbot, doc):
    view = NetworkView(doc, "model", LIGHT)
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show()
    qtbot.waitExposed(view)
    view.centerOn(QPointF(420, 60))
    return view


def deploy_warnings(doc):
    return [(d.block, d.code) for d in doc.analysis("model").diagnostics if d.code == "deploy"]


def test_target_change_is_one_undo_step(doc):
    assert deploy_warnings(doc) == []
    doc.set_deploy_targets(["int8"])
    assert doc.project.deploy_targets == ["int8"]
    assert deploy_warnings(doc) == [("rnn", "deploy")]
    assert doc.modified and doc.undo_stack.undoText() == "Change deploy targets"
    doc.undo_stack.undo()
    assert doc.project.deploy_targets == [] and deploy_warnings(doc) == []
    doc.undo_stack.redo()
    assert doc.project.deploy_targets == ["int8"]
    doc.set_deploy_targets(["int8"])  # no change: no step
    assert doc.undo_stack.count() == 1


def test_the_canvas_shows_a_target_badge_that_follows_targets_and_edits(doc, view):
    item = view.scene().blocks["rnn"]
    assert item.deploy_badge is None
    doc.set_deploy_targets(["int8"])
    badge = item.deploy_badge
    assert badge is not None and badge.isVisible()
    assert "int8" in badge.toolTip() and "static INT8 has no kernel" in badge.toolTip()
    assert "--keep-float encoder" in badge.toolTip()
    assert item.badge is None  # the deploy lint is not a problem of the graph: no "!" badge
    assert item.status.severity is None
    assert view.scene().blocks["lin"].deploy_badge is None
    # the badge covers no port
    rect = badge.mapRectToScene(badge.boundingRect())
    for port in item.ports():
        assert not rect.intersects(port.mapRectToScene(port.boundingRect())), port
    doc.set_enabled("model", ["rnn"], False)  # a disabled block passes data through: nothing to deploy
    assert item.deploy_badge is None
    doc.undo_stack.undo()
    assert item.deploy_badge is not None
    doc.undo_stack.undo()  # back to no target
    assert item.deploy_badge is None


def test_the_menu_changes_targets_through_the_undo_stack(qapp, doc, view):
    menu = deploy_targets_menu(None, doc)
    menu.aboutToShow.emit()
    menu.entries["mobile"].trigger()
    assert doc.project.deploy_targets == ["mobile"]
    assert view.scene().blocks["rnn"].deploy_badge is not None
    menu.entries["mobile"].trigger()
    assert doc.project.deploy_targets == []
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    menu.aboutToShow.emit()
    assert menu.entries["mobile"].isChecked() and not menu.entries["int8"].isChecked()


def test_the_badge_follows_a_parameter_that_changes_deployability(qtbot, registry):
    """InstanceNorm2d exports to opset 17 unless it tracks running statistics (derived per mode)."""
    net = Network("model")
    net.add_block(Block("img", "ImageInput", "img", {"channels": 3, "height": 8, "width": 8}, (0.0, 0.0)))
    net.add_block(Block("norm", "InstanceNorm2d", "norm", {}, (240.0, 0.0)))
    net.add_block(Block("out", "Output", "out", {}, (480.0, 0.0)))
    net.connect(Edge("img", "norm", "x"))
    net.connect(Edge("norm", "out", "x"))
    doc = Document(registry, Project("p", [net], deploy_targets=["onnx17"]))
    view = NetworkView(doc, "model", LIGHT)
    qtbot.addWidget(view)
    item = view.scene().blocks["norm"]
    assert item.deploy_badge is None
    doc.set_param("model", "norm", "track_running_stats", True)
    assert item.deploy_badge is not None
    tip = item.deploy_badge.toolTip()
    assert "onnx17" in tip and "instance_norm" in tip and "set track_running_stats to False" in tip
    doc.undo_stack.undo()
    assert item.deploy_badge is None

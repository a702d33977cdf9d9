"""Studio undo commands for block definitions: one step changes every instance, undo restores all."""

import pytest

from graph.definitions import DefinitionError
from graph.memory import block_weights
from graph.model import Block
from studio.commands_definitions import add_definition_block, detach_instance, set_definition_param
from studio.document import Document
from tests.definition_support import resnet_project


def test_one_edit_of_a_definition_is_one_undo_step_for_every_instance(qapp, registry):
    doc = Document(registry, resnet_project())
    before = doc.project.copy()
    shapes = dict(doc.analysis("model").shapes)
    changed = []
    doc.definitionChanged.connect(lambda name, change: changed.append(name))
    counts = {bid: weights(doc, bid) for bid in ("l1_0", "l1_1", "l2_0", "l2_1")}
    # BasicBlock's first convolution gets a bias: every BasicBlock instance gains one weight per channel
    doc.undo_stack.push(set_definition_param(doc.project.definitions, "BasicBlock", "conv1", "bias", True))
    assert doc.undo_stack.count() == 1 and changed == ["BasicBlock"]
    assert doc.undo_stack.undoText() == "Set bias of conv1 in BasicBlock"
    grown = {bid: weights(doc, bid) - counts[bid] for bid in counts}
    assert grown == {"l1_0": 8, "l1_1": 8, "l2_0": 0, "l2_1": 16}  # DownBlock is another definition
    doc.undo_stack.push(set_definition_param(doc.project.definitions, "BasicBlock", "conv1", "padding", 0))
    errors = [d for d in doc.analysis("model").diagnostics if d.is_error]
    assert [d.block for d in errors] == ["l1_0"]  # the first; the instances after it wait for its shape
    assert "inside BasicBlock (instance 'layer1.0')" in errors[0].message
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.project == before
    assert doc.analysis("model").ok and doc.analysis("model").shapes == shapes
    assert {bid: weights(doc, bid) for bid in counts} == counts
    doc.undo_stack.redo()
    assert weights(doc, "l2_1") == counts["l2_1"] + 16


def weights(doc, bid):
    net = doc.network("model")
    return block_weights(net, doc.registry, doc.analysis("model").inference, bid)


def test_detach_is_one_step_and_undo_restores_the_instance(qapp, registry):
    doc = Document(registry, resnet_project())
    before = doc.project.copy()
    doc.undo_stack.push(detach_instance(doc.network("model"), "l1_1"))
    net = doc.network("model")
    assert "l1_1" not in net.blocks and any(g.name == "layer1.1" for g in net.groups)
    assert doc.analysis("model").ok
    doc.undo_stack.undo()
    assert doc.project == before
    doc.undo_stack.redo()
    assert "l1_1" not in doc.network("model").blocks


def test_an_instance_that_would_make_a_cycle_is_refused_before_the_stack(qapp, registry):
    doc = Document(registry, resnet_project())
    with pytest.raises(DefinitionError, match="BasicBlock -> BasicBlock"):
        add_definition_block(doc.project.definitions, "BasicBlock", Block("me", "BasicBlock", "me"))
    assert doc.undo_stack.count() == 0


def test_the_window_shows_an_instance_with_its_exposed_parameters(qtbot, registry):
    from PySide6.QtWidgets import QLabel, QSpinBox

    from graph.examples import example_path
    from graph.project_io import load_project
    from studio.main_window import MainWindow

    path = example_path("residual_cnn")
    doc = Document(registry, load_project(path, registry), path)
    win = MainWindow(doc)
    qtbot.addWidget(win)
    assert "Definitions" not in win.palette.registry.categories()  # the palette is the catalog's
    win.inspector.show_block("model", "b5")
    texts = [w.text() for w in win.inspector.findChildren(QLabel)]
    assert "ResidualBlock" in texts and "Weights: 18,560 parameters" in texts
    assert [w.value() for w in win.inspector.findChildren(QSpinBox)] == [32]


def test_an_exposed_default_and_an_inner_removal_are_one_step_each(qapp, registry):
    from studio.commands_definitions import remove_definition_block, set_definition_default

    project = resnet_project()
    del project.networks[0].blocks["l1_1"].params["channels"]  # this instance takes the default
    doc = Document(registry, project)
    before = doc.project.copy()
    library = doc.project.definitions
    # the default (16 channels) does not fit its 8 input channels; 8 does
    assert [d.block for d in doc.analysis("model").diagnostics if d.is_error] == ["l1_1"]
    doc.undo_stack.push(set_definition_default(library, "BasicBlock", "channels", 8))
    assert doc.analysis("model").ok
    doc.undo_stack.push(remove_definition_block(library, "BasicBlock", "relu"))
    assert "relu" not in library.get("BasicBlock").body.blocks
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert doc.analysis("model").ok and "relu" in library.get("BasicBlock").body.blocks
    doc.undo_stack.undo()
    assert doc.project == before
    assert [d.block for d in doc.analysis("model").diagnostics if d.is_error] == ["l1_1"]


def test_an_instance_copied_and_pasted_is_an_instance_of_the_same_definition(qapp, registry):
    doc = Document(registry, resnet_project())
    text = doc.copy_blocks("model", ["l1_1"])
    added = doc.paste("model", text)
    net = doc.network("model")
    (new,) = [bid for bid in net.blocks if bid not in resnet_project().network().blocks]
    assert net.block(new).type == "BasicBlock" and net.block(new).params == net.block("l1_1").params
    assert doc.undo_stack.count() == 1 and added
    doc.undo_stack.undo()
    assert new not in doc.network("model").blocks

"""Freezing blocks and starting them from a checkpoint in the studio: commands, drawing, inspector, file."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from graph.model import Group
from studio.canvas import NetworkView
from studio.canvas.block_item import LOCK, PAD, BlockItem, CardContent
from studio.canvas.menus import block_menu, group_menu
from studio.canvas.style import BAND, CARD_WIDTH, LIGHT, ROW
from studio.canvas.tooltips import tooltip_for
from studio.canvas.transfer_actions import init_from_checkpoint
from studio.inspector import Inspector
from tests.studio_support import block_id, example_document


@pytest.fixture
def doc(qapp, registry):
    return example_document(registry, "digits_cnn")


@pytest.fixture
def view(qtbot, doc):
    view = NetworkView(doc, "model", LIGHT)
    qtbot.addWidget(view)
    view.resize(900, 400)
    return view


def _action(menu, text):
    return next(a for a in menu.actions() if a.text() == text)


def test_freeze_from_the_block_menu_is_one_undo_step_and_redraws_the_card(view, doc):
    scene = view.scene()
    conv1, conv2 = block_id(doc, "conv1"), block_id(doc, "conv2")
    scene.blocks[conv1].setSelected(True)
    scene.blocks[conv2].setSelected(True)
    _action(block_menu(scene, conv1), "Freeze").trigger()
    net = doc.network()
    assert net.block(conv1).frozen and net.block(conv2).frozen
    assert scene.blocks[conv1].content.frozen and scene.blocks[conv2].content.frozen
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Freeze 2 blocks"
    assert "Frozen: excluded from training" in tooltip_for(scene, scene.blocks[conv1])
    assert _action(block_menu(scene, conv1), "Unfreeze")  # the menu now offers the way back
    doc.undo_stack.undo()
    assert not net.block(conv1).frozen and not scene.blocks[conv1].content.frozen
    assert "Frozen" not in tooltip_for(scene, scene.blocks[conv1])
    doc.undo_stack.redo()
    assert net.block(conv2).frozen and scene.blocks[conv2].content.frozen


def test_a_group_freezes_its_blocks_with_weights_as_a_whole(view, doc):
    net = doc.network()
    members = tuple(block_id(doc, n) for n in ("conv1", "norm1", "relu1"))
    net.set_groups([Group("g1", "features", members)])  # set-up, not an edit under test
    _action(group_menu(view.scene(), "g1"), "Freeze 'features'").trigger()
    assert [net.block(b).frozen for b in members] == [True, True, False]  # a ReLU has nothing to freeze
    assert _action(group_menu(view.scene(), "g1"), "Unfreeze 'features'")
    doc.undo_stack.undo()
    assert not any(net.block(b).frozen for b in members)


def test_initialise_from_checkpoint_is_one_step_that_names_and_freezes_the_blocks(view, doc, tmp_path):
    net = doc.network()
    ids = [block_id(doc, n) for n in ("conv1", "relu1", "conv2")]
    checkpoint = tmp_path / "runs" / "pre" / "best.pt"
    assert init_from_checkpoint(doc, "model", ids, path=str(checkpoint))
    training = doc.project.training
    assert training.init_checkpoint == str(checkpoint) and training.init_blocks == "conv1, relu1, conv2"
    assert not training.freeze_init  # the blocks' own marks say what stays fixed, as the canvas shows
    assert [net.block(b).frozen for b in ids] == [True, False, True]
    assert view.scene().blocks[ids[0]].content.frozen
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Initialise from checkpoint"
    doc.undo_stack.undo()
    assert doc.project.training.init_checkpoint == "" and doc.project.training.freeze_init
    assert not any(net.block(b).frozen for b in ids) and not view.scene().blocks[ids[0]].content.frozen
    doc.undo_stack.redo()
    assert doc.project.training.init_blocks == "conv1, relu1, conv2" and net.block(ids[2]).frozen


def test_a_group_is_initialised_by_its_name(view, doc, tmp_path):
    members = tuple(block_id(doc, n) for n in ("conv1", "norm1"))
    doc.network().set_groups([Group("g1", "features", members)])
    assert init_from_checkpoint(doc, "model", list(members), path=str(tmp_path / "w.pth"), refs=["features"])
    assert doc.project.training.init_blocks == "features"


def test_the_inspector_checkbox_freezes_and_follows_undo(qtbot, doc):
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    conv1 = block_id(doc, "conv1")
    inspector.show_block("model", conv1)
    assert not inspector.frozen.isChecked()
    inspector.frozen.setChecked(True)
    assert doc.network().block(conv1).frozen and doc.undo_stack.undoText() == "Freeze conv1"
    doc.undo_stack.undo()
    assert not inspector.frozen.isChecked()  # redrawn from the model, without a new edit
    assert doc.undo_stack.count() == 1


def test_a_frozen_card_is_drawn_with_a_padlock_and_hatching(qapp):
    content = CardContent("conv1", "Conv 2D", "Convolution", "ch 32", ("x",), True)
    images = {}
    for frozen in (False, True):
        item = BlockItem("b", content._replace(frozen=frozen), LIGHT)
        image = QImage(int(CARD_WIDTH) + 8, int(item.height) + 8, QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.translate(4, 4)
        item.paint(painter, QStyleOptionGraphicsItem())
        painter.end()
        images[frozen] = image
    lock_body = QPointF(4 + CARD_WIDTH - PAD - LOCK / 2, 4 + BAND + 5 + (ROW - LOCK) / 2 + LOCK - 2)
    frozen_blue = QColor(LIGHT.frozen)
    assert images[True].pixelColor(lock_body.toPoint()) == frozen_blue
    assert images[False].pixelColor(lock_body.toPoint()) != frozen_blue

    def hatched(image):  # pixels of the hatch colour in the body, left of the shape pill
        hatch = QColor(LIGHT.frozen_hatch)
        return sum(image.pixelColor(x, y) == hatch for x in range(20, 90) for y in range(30, 45))

    assert hatched(images[True]) > 20 and hatched(images[False]) == 0


def test_frozen_blocks_reach_the_saved_file(doc, tmp_path):
    conv1 = block_id(doc, "conv1")
    doc.set_frozen("model", [conv1], True)
    path = doc.save(tmp_path / "frozen.dw.json")
    blocks = {b["id"]: b for b in json.loads(path.read_text())["networks"][0]["blocks"]}
    assert blocks[conv1]["frozen"] is True
    assert sum("frozen" in b for b in blocks.values()) == 1


def test_the_training_snapshot_keeps_frozen_marks_and_finds_the_checkpoint_beside_the_project(doc, tmp_path):
    from studio.training.worker import snapshot

    (tmp_path / "runs" / "pre").mkdir(parents=True)
    (tmp_path / "runs" / "pre" / "best.pt").write_bytes(b"")
    conv1 = block_id(doc, "conv1")
    doc.init_from_checkpoint("runs/pre", ["conv1"], "model", [conv1])
    (tmp_path / "child").mkdir()
    path = snapshot(doc.project, tmp_path, tmp_path / "child")
    saved = json.loads(path.read_text())
    assert saved["training"]["init_checkpoint"] == str((tmp_path / "runs" / "pre").resolve())
    assert {b["name"]: b.get("frozen", False) for b in saved["networks"][0]["blocks"]}["conv1"] is True

"""The canvas, offscreen: the scene mirrors the Document; mouse, keys and drops edit it through the Document.

Mouse gestures are real QTest events on the view's viewport, so they run
the same code as a person's hand (scene hit tests, wire dragging, Qt's own
item moving). Assertions look at both sides: the model (and its undo stack)
and the items on the scene.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QHelpEvent, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from graph.model import Block, Edge, Network, Project
from studio.canvas import BLOCK_MIME, NetworkView, block_mime, render_thumbnail
from studio.canvas.block_item import BlockItem
from studio.canvas.menus import block_menu, problem_menu
from studio.canvas.port_item import ACCEPT, DIM
from studio.canvas.quick_add import QuickAddPopup, matching_specs
from studio.canvas.style import GRID, LIGHT
from studio.canvas.tooltips import tooltip_for
from studio.document import Document
from tests.studio_support import grid_view

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


def chain_project() -> Project:
    """image -> conv -> relu, plus an unwired Linear and a head; positions on the grid."""
    net = Network("model")
    net.add_block(Block("img", "ImageInput", "image", {"channels": 1, "height": 8, "width": 8}, (0.0, 0.0)))
    conv = {"channels": 4, "kernel_size": 3, "padding": 1}
    net.add_block(Block("conv", "Conv2d", "conv", conv, (240.0, 0.0)))
    net.add_block(Block("relu", "ReLU", "relu", {}, (480.0, 0.0)))
    net.add_block(Block("lin", "Linear", "lin", {"features": 10}, (480.0, 200.0)))
    net.add_block(Block("head", "ClassificationHead", "head", {"classes": 10}, (720.0, 200.0)))
    net.connect(Edge("img", "conv", "x"))
    net.connect(Edge("conv", "relu", "x"))
    return Project("Test", [net])


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, chain_project())


@pytest.fixture
def view(qtbot, doc):
    view = NetworkView(doc, "model", LIGHT)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitExposed(view)
    view.setZoom(1.0)
    view.centerOn(QPointF(420, 120))
    return view


def at(view, point: QPointF) -> QPoint:
    return view.mapFromScene(point)


def drag(view, start: QPointF, end: QPointF, steps: int = 4) -> None:
    """Press at `start`, move in steps, release at `end` (scene coordinates), with the left button."""
    vp = view.viewport()
    QTest.mousePress(vp, LEFT, NONE, at(view, start))
    for i in range(1, steps + 1):
        QTest.mouseMove(vp, at(view, start + (end - start) * (i / steps)))
    QTest.mouseRelease(vp, LEFT, NONE, at(view, end))


def port_pos(view, block_id: str, port: str) -> QPointF:
    item = view.network_scene.blocks[block_id]
    return item.output.scenePos() if port == "out" else item.inputs[port].scenePos()


# --- the scene mirrors the model, incrementally ---

def test_scene_mirrors_the_model_and_keeps_unrelated_items(view, doc):
    scene = view.network_scene
    assert set(scene.blocks) == {"img", "conv", "relu", "lin", "head"}
    assert set(scene.wires) == {Edge("img", "conv", "x"), Edge("conv", "relu", "x")}
    conv_item, wire_item = scene.blocks["conv"], scene.wires[Edge("img", "conv", "x")]
    assert conv_item.pos() == QPointF(240, 0)

    new = doc.add_block("model", "Dropout", (700, 0))
    assert scene.blocks[new].scene() is scene
    ok, why = doc.connect("model", Edge("relu", new, "x"))
    assert ok, why
    assert Edge("relu", new, "x") in scene.wires
    # unrelated edits neither rebuild nor replace existing items
    assert scene.blocks["conv"] is conv_item and scene.wires[Edge("img", "conv", "x")] is wire_item
    assert scene.blocks[new].status.shape == "4×8×8"

    doc.remove_blocks("model", [new])
    assert new not in scene.blocks and Edge("relu", new, "x") not in scene.wires
    assert all(item.scene() is scene for item in scene.blocks.values())
    assert scene.blocks["conv"] is conv_item


def test_parameter_edit_updates_the_card_shape_and_summary(view, doc):
    card = view.network_scene.blocks["conv"]
    assert card.status.shape == "4×8×8"
    assert "ch 4" in card.content.summary
    doc.set_param("model", "conv", "channels", 16)
    assert card.status.shape == "16×8×8"
    assert "ch 16" in card.content.summary
    assert view.network_scene.blocks["relu"].status.shape == "16×8×8"  # downstream too
    doc.undo_stack.undo()
    assert card.status.shape == "4×8×8"


def test_variadic_ports_follow_the_count_parameter_and_wires_reattach(view, doc):
    scene = view.network_scene
    add = doc.add_block("model", "Add", (700, 0))
    assert list(scene.blocks[add].inputs) == ["in1", "in2"]
    doc.connect("model", Edge("relu", add, "in2"))
    doc.set_param("model", add, "inputs", 3)
    card = scene.blocks[add]
    assert list(card.inputs) == ["in1", "in2", "in3"]
    wire = scene.wires[Edge("relu", add, "in2")]
    assert wire.path().pointAtPercent(1.0) == card.inputs["in2"].scenePos()


# --- wiring with the mouse ---

def test_drag_from_port_to_port_connects(view, doc):
    drag(view, port_pos(view, "relu", "out"), port_pos(view, "lin", "x"))
    edge = Edge("relu", "lin", "x")
    assert edge in doc.network().edges
    assert edge in view.network_scene.wires
    assert doc.undo_stack.count() == 1
    # a Linear after an image is allowed (the problem shows, with its quick fix)
    assert view.network_scene.blocks["lin"].status.severity == "error"


def test_drag_from_an_input_back_to_an_output_connects(view, doc):
    drag(view, port_pos(view, "lin", "x"), port_pos(view, "relu", "out"))
    assert Edge("relu", "lin", "x") in doc.network().edges
    assert doc.undo_stack.count() == 1


def test_ports_that_accept_light_up_while_dragging(view, doc):
    vp, scene = view.viewport(), view.network_scene
    start = port_pos(view, "relu", "out")
    QTest.mousePress(vp, LEFT, NONE, at(view, start))
    QTest.mouseMove(vp, at(view, start + QPointF(60, 40)))
    assert scene.drag is not None
    scene.drag.judge_all()
    assert scene.blocks["lin"].inputs["x"].state == ACCEPT
    assert scene.blocks["head"].inputs["x"].state == ACCEPT
    assert scene.blocks["conv"].inputs["x"].state == DIM  # already wired, and would be a loop
    assert scene.drag.wire.scene() is scene  # the temporary curve follows the cursor
    QTest.mouseRelease(vp, LEFT, NONE, at(view, start + QPointF(60, 40)))
    assert scene.drag is None
    assert all(p.state == "normal" for item in scene.blocks.values() for p in item.ports())


def test_a_loop_is_refused_with_a_reason_and_the_model_is_unchanged(view, doc):
    refused = []
    view.wireRefused.connect(refused.append)
    doc.disconnect("model", Edge("img", "conv", "x"))
    before = list(doc.network().edges)
    drag(view, port_pos(view, "relu", "out"), port_pos(view, "conv", "x"))
    assert doc.network().edges == before
    assert doc.undo_stack.count() == 1  # only the disconnect above
    assert "loop" in view.network_scene.last_refusal
    assert refused == [view.network_scene.last_refusal]


def test_dropping_a_wire_on_a_card_uses_its_first_free_input(view, doc):
    card = view.network_scene.blocks["lin"]
    drag(view, port_pos(view, "relu", "out"), card.mapToScene(QPointF(90, 30)))
    assert Edge("relu", "lin", "x") in doc.network().edges


def test_a_rank_that_cannot_match_is_refused(view, doc):
    conv1d = doc.add_block("model", "Conv1d", (720, 0))
    ok, why = doc.can_connect("model", Edge("relu", conv1d, "x"))
    assert not ok  # the Document's verdict (an image into a 1-D convolution); the canvas shows exactly it
    drag(view, port_pos(view, "relu", "out"), port_pos(view, conv1d, "x"))
    assert Edge("relu", conv1d, "x") not in doc.network().edges
    assert view.network_scene.last_refusal == why
    assert doc.undo_stack.count() == 1  # only the add


def test_dropping_a_wire_on_empty_canvas_opens_quick_add_and_wires_the_new_block(view, doc, qtbot):
    start = port_pos(view, "relu", "out")
    end = start + QPointF(160, -120)
    drag(view, start, end)
    popup = view.quick_add
    assert popup is not None and popup.isVisible()
    popup.filter.setText("dropout")
    assert popup.visible_titles()[0] == "Dropout"
    QTest.keyClick(popup.filter, Qt.Key.Key_Return)
    dropout = [b for b in doc.network().blocks.values() if b.type == "Dropout"]
    assert len(dropout) == 1
    assert Edge("relu", dropout[0].id, "x") in doc.network().edges
    assert doc.undo_stack.count() == 1  # add + wire is one step
    x, y = dropout[0].position
    assert x % GRID == 0 and y % GRID == 0
    doc.undo_stack.undo()
    assert dropout[0].id not in view.network_scene.blocks


# --- moving, deleting, undo ---

def test_dragging_a_card_is_one_undo_step_with_snapped_positions(view, doc):
    card = view.network_scene.blocks["lin"]
    grab = card.mapToScene(QPointF(90, 12))  # on the name row, away from the ports
    drag(view, grab, grab + QPointF(53, 27), steps=6)
    x, y = doc.network().block("lin").position
    assert (x, y) == (540.0, 220.0)  # 480+53 -> 540, 200+27 -> 220: the nearest grid points
    assert doc.undo_stack.count() == 1
    assert card.pos() == QPointF(x, y)
    doc.undo_stack.undo()
    assert doc.network().block("lin").position == (480.0, 200.0)
    assert card.pos() == QPointF(480, 200)


def test_moving_a_card_brings_its_wires_along(view, doc):
    wire = view.network_scene.wires[Edge("conv", "relu", "x")]
    doc.move_blocks("model", {"relu": ((480.0, 0.0), (480.0, 100.0))})
    end = wire.path().pointAtPercent(1.0)
    assert end == view.network_scene.blocks["relu"].inputs["x"].scenePos()
    assert end.y() > 100


def test_delete_key_removes_selection_and_undo_restores_wires_and_items(view, doc, qtbot):
    scene = view.network_scene
    old_card = scene.blocks["conv"]
    view.selectBlock("conv")
    assert view.selectedBlockIds() == ["conv"]
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert "conv" not in doc.network().blocks
    assert "conv" not in scene.blocks and old_card.scene() is None
    assert not scene.wires  # both wires of conv went with it
    doc.undo_stack.undo()
    assert set(scene.wires) == {Edge("img", "conv", "x"), Edge("conv", "relu", "x")}
    assert scene.blocks["conv"].pos() == QPointF(240, 0)
    assert scene.blocks["conv"].status.shape == "4×8×8"
    assert doc.network().edges == [Edge("img", "conv", "x"), Edge("conv", "relu", "x")]


def test_clicking_a_wire_selects_it_and_delete_removes_only_it(view, doc):
    scene = view.network_scene
    wire = scene.wires[Edge("conv", "relu", "x")]
    middle = wire.path().pointAtPercent(0.5)
    vp = view.viewport()
    QTest.mouseClick(vp, LEFT, NONE, at(view, middle))
    assert scene.selected_wires == {Edge("conv", "relu", "x")}
    assert wire.selected
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert doc.network().edges == [Edge("img", "conv", "x")]
    assert set(doc.network().blocks) == {"img", "conv", "relu", "lin", "head"}
    assert doc.undo_stack.count() == 1


def test_rubber_band_selects_blocks_and_reports_them(view, doc, qtbot):
    seen = []
    view.blockSelectionChanged.connect(seen.append)
    drag(view, QPointF(200, -60), QPointF(700, 90), steps=8)
    assert view.selectedBlockIds() == ["conv", "relu"]
    assert seen and seen[-1] == ["conv", "relu"]
    assert doc.undo_stack.count() == 0  # selecting edits nothing


# --- problems and quick fixes ---

def test_problem_badge_on_the_right_block_and_quick_fix_inserts_flatten(view, doc):
    scene = view.network_scene
    doc.connect("model", Edge("lin", "head", "x"))
    doc.connect("model", Edge("relu", "lin", "x"))
    lin, relu = scene.blocks["lin"], scene.blocks["relu"]
    assert lin.status.severity == "error" and lin.badge is not None and lin.badge.isVisible()
    assert relu.status.severity is None and relu.badge is None
    assert "Flatten" in lin.badge.toolTip()
    assert "expects" in tooltip_for(scene, lin)
    assert scene.wires[Edge("relu", "lin", "x")].problem  # the diagnostic names the wire's port
    menu = problem_menu(scene, "lin")
    fixes = [a for a in menu.actions() if a.text().startswith("Quick fix")]
    assert [a.text() for a in fixes] == ["Quick fix: Insert Flatten"]
    chip = lin.fix_chip
    assert chip is not None and "Flatten" in chip.label
    # one click on the chip applies the fix
    QTest.mouseClick(view.viewport(), LEFT, NONE, at(view, chip.mapToScene(chip.boundingRect().center())))
    flatten = [b for b in doc.network().blocks.values() if b.type == "Flatten"]
    assert len(flatten) == 1
    assert Edge("relu", flatten[0].id, "x") in doc.network().edges
    assert Edge(flatten[0].id, "lin", "x") in doc.network().edges
    assert lin.status.severity is None and lin.badge is None and lin.fix_chip is None
    assert lin.status.shape == "10"
    assert flatten[0].id in scene.blocks
    assert doc.undo_stack.count() == 3
    doc.undo_stack.undo()  # the fix is one step
    assert lin.status.severity == "error" and lin.fix_chip is not None


def test_unconnected_input_port_is_marked(view, doc):
    port = view.network_scene.blocks["lin"].inputs["x"]
    assert port.problem and not port.connected
    doc.connect("model", Edge("conv", "lin", "x"))
    assert port.connected


def test_disabled_block_is_drawn_dashed_and_enabled_again_from_its_menu(view, doc):
    card = view.network_scene.blocks["relu"]
    view.selectBlock("relu")
    menu = block_menu(view.network_scene, "relu")
    [disable] = [a for a in menu.actions() if a.text() == "Disable"]
    disable.trigger()
    assert not doc.network().block("relu").enabled
    assert not card.content.enabled
    menu = block_menu(view.network_scene, "relu")
    [enable] = [a for a in menu.actions() if a.text() == "Enable"]
    enable.trigger()
    assert card.content.enabled


# --- drops, quick add, navigation ---

def test_palette_drop_adds_a_block_at_the_drop_point(view, doc):
    mime = block_mime("Conv2d")
    assert mime.hasFormat(BLOCK_MIME) and bytes(mime.data(BLOCK_MIME)) == b"Conv2d"
    point = QPointF(300, 300)
    where = QPointF(at(view, point))
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(), QDropEvent(where, Qt.DropAction.CopyAction, mime, LEFT, NONE))
    added = [b for b in doc.network().blocks.values() if b.type == "Conv2d" and b.id != "conv"]
    assert len(added) == 1
    card = view.network_scene.blocks[added[0].id]
    assert card.sceneBoundingRect().contains(point)
    assert view.selectedBlockIds() == [added[0].id]


def test_drop_without_block_data_adds_nothing(view, doc):
    mime = QMimeData()
    mime.setText("Conv2d")
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), drop)
    assert len(doc.network().blocks) == 5


def test_quick_add_filter_finds_convolutions(qapp, registry):
    titles = [s.title for s in matching_specs(registry, "conv")]
    assert "Conv 1D" in titles and "Conv 2D" in titles
    popup = QuickAddPopup(registry)
    popup.open_at(QPoint(10, 10))
    popup.filter.setText("conv")
    shown = popup.visible_titles()
    assert shown[:2] == ["Conv 1D", "Conv 2D"]
    assert "ReLU" not in shown
    popup.filter.setText("conv 2")
    assert popup.visible_titles()[0] == "Conv 2D"
    picked = []
    popup.picked.connect(picked.append)
    popup.choose_current()
    assert picked == ["Conv2d"]


def test_tab_opens_quick_add_and_adds_at_the_cursor(view, doc):
    QTest.mouseMove(view.viewport(), at(view, QPointF(300, 400)))
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.quick_add
    assert popup is not None and popup.isVisible()
    popup.filter.setText("gelu")
    popup.choose_current()
    added = [b for b in doc.network().blocks.values() if b.type == "GELU"]
    assert len(added) == 1 and doc.undo_stack.count() == 1


def text_pixels(view, card: BlockItem) -> int:
    """Pixels in the card's text rows close to the theme's text colour."""
    image = view.viewport().grab().toImage()
    rect = view.mapFromScene(card.mapToScene(card.boundingRect())).boundingRect()
    ink = QColor(LIGHT.text)
    count = 0
    for x in range(max(rect.left(), 0), min(rect.right(), image.width())):
        for y in range(max(rect.top(), 0), min(rect.bottom(), image.height())):
            c = image.pixelColor(x, y)
            if abs(c.red() - ink.red()) + abs(c.green() - ink.green()) + abs(c.blue() - ink.blue()) < 60:
                count += 1
    return count


def test_zoomed_out_cards_show_only_their_names_until_there_is_no_room(view, monkeypatch):
    card = view.network_scene.blocks["conv"]
    view.setZoom(1.0)
    view.centerOn(card)
    assert view.network_scene.text_visible
    near = text_pixels(view, card)
    assert near > 20
    view.setZoom(0.3)
    view.centerOn(card)
    assert not view.network_scene.text_visible
    far = text_pixels(view, card)
    assert 5 < far  # the name, 8 screen pixels tall: a big network stays readable
    drawn = []
    monkeypatch.setattr(BlockItem, "_paint_text", lambda self, painter: drawn.append(self.block_id))
    card.update()
    view.viewport().grab()
    assert drawn == []  # the details (type, settings, shape) are left out
    view.setZoom(0.08)
    view.centerOn(card)
    assert text_pixels(view, card) == 0  # too far for letters: grey bars


def test_wheel_zooms_around_the_cursor_and_f_fits_everything(view, qtbot):
    anchor = QPointF(300, 200)
    under = view.mapToScene(anchor.toPoint())
    view.zoomBy(1.5, anchor)
    assert view.zoom() == pytest.approx(1.5)
    after = view.mapToScene(anchor.toPoint())
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_F)
    visible = view.visibleSceneRect()
    for card in view.network_scene.blocks.values():
        assert visible.contains(card.sceneBoundingRect())


def test_middle_button_drag_pans(view):
    before = view.visibleSceneRect().center()
    vp = view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.MiddleButton, NONE, QPoint(500, 300))
    QTest.mouseMove(vp, QPoint(450, 280))
    QTest.mouseMove(vp, QPoint(400, 260))
    QTest.mouseRelease(vp, Qt.MouseButton.MiddleButton, NONE, QPoint(400, 260))
    after = view.visibleSceneRect().center()
    assert after.x() - before.x() == pytest.approx(100, abs=2)
    assert after.y() - before.y() == pytest.approx(40, abs=2)


def test_center_on_block_selects_and_shows_it(view, doc):
    view.setZoom(0.3)
    view.centerOn(QPointF(-3000, -3000))
    view.centerOnBlock("head")
    assert view.selectedBlockIds() == ["head"]
    assert view.zoom() >= 0.5
    assert view.visibleSceneRect().contains(view.network_scene.blocks["head"].sceneBoundingRect())


# --- groups, thumbnails, theme ---

def test_collapsed_group_is_one_card_and_wires_attach_to_it(view, doc):
    if not hasattr(doc, "group_blocks"):
        pytest.fail("Document.group_blocks is missing")
    scene = view.network_scene
    group_id = doc.group_blocks("model", ["conv", "relu"], "features")
    group = scene.groups[group_id]
    assert not group.collapsed and scene.blocks["conv"].isVisible()
    assert group.sceneBoundingRect().contains(scene.blocks["conv"].sceneBoundingRect())
    scene.toggle_group(group_id)
    assert scene.groups[group_id].collapsed
    assert not scene.blocks["conv"].isVisible() and not scene.blocks["relu"].isVisible()
    wire = scene.wires[Edge("img", "conv", "x")]
    assert wire.path().pointAtPercent(1.0) == scene.groups[group_id].input_anchor()
    assert not scene.wires[Edge("conv", "relu", "x")].isVisible()  # inside the group
    doc.undo_stack.undo()
    assert scene.blocks["conv"].isVisible()


def test_render_thumbnail_without_a_window(qapp, doc):
    image = render_thumbnail(doc.network(), (320, 200), doc.registry, LIGHT)
    assert isinstance(image, QImage) and (image.width(), image.height()) == (320, 200)
    background = QColor(LIGHT.background).rgb()
    drawn = sum(image.pixel(x, y) != background for x in range(0, 320, 4) for y in range(0, 200, 4))
    assert drawn > 100  # cards and wires, not an empty picture
    assert len(doc.network()._listeners) == 1  # only the Document's own: the picture used a copy


def test_dark_theme_repaints_cards(view):
    from studio.canvas.style import DARK
    view.setTheme(DARK)
    image = QImage(200, 100, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    view.network_scene.render(painter, source=view.network_scene.blocks["conv"].sceneBoundingRect())
    painter.end()
    centre = image.pixelColor(100, 50)
    assert centre.lightness() < 100  # a dark card


# --- more navigation and editing ---

def test_space_drag_pans_and_space_alone_opens_quick_add(view, doc):
    vp = view.viewport()
    view.setFocus()
    before = view.visibleSceneRect().center()
    QTest.keyPress(view, Qt.Key.Key_Space)
    QTest.mousePress(vp, LEFT, NONE, QPoint(500, 300))
    QTest.mouseMove(vp, QPoint(440, 300))
    QTest.mouseRelease(vp, LEFT, NONE, QPoint(440, 300))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert view.visibleSceneRect().center().x() - before.x() == pytest.approx(60, abs=2)
    assert doc.undo_stack.count() == 0 and not view.selectedBlockIds()  # panning selects nothing
    assert view.quick_add is None or not view.quick_add.isVisible()
    QTest.keyClick(view, Qt.Key.Key_Space)
    assert view.quick_add is not None and view.quick_add.isVisible()


def test_trackpad_pinch_zooms_around_the_fingers(view):
    from PySide6.QtGui import QNativeGestureEvent, QPointingDevice
    anchor = QPointF(250, 150)
    under = view.mapToScene(anchor.toPoint())
    glob = QPointF(view.viewport().mapToGlobal(anchor.toPoint()))
    device = QPointingDevice.primaryPointingDevice()
    event = QNativeGestureEvent(Qt.NativeGestureType.ZoomNativeGesture, device, 2, anchor, anchor, glob,
                                0.25, QPointF(), 0)
    view.viewportEvent(event)
    assert view.zoom() == pytest.approx(1.25)
    after = view.mapToScene(anchor.toPoint())
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2


def test_rename_in_place(view, doc):
    view.startRename("conv")
    editor = view.rename_editor
    assert editor is not None and editor.text() == "conv"
    editor.setText("features")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert doc.network().block("conv").name == "features"
    assert view.network_scene.blocks["conv"].content.name == "features"
    assert view.rename_editor is None


def test_copy_paste_and_duplicate_keep_internal_wires(view, doc):
    view.selectBlock("conv")
    view.network_scene.blocks["relu"].setSelected(True)
    new = view.duplicateSelection()
    assert len(new) == 2 and all(b in view.network_scene.blocks for b in new)
    assert any(e.src == new[0] and e.dst == new[1] for e in doc.network().edges)
    assert sorted(view.selectedBlockIds()) == sorted(new)
    text = view.copySelection()
    assert text
    pasted = view.paste(text)
    assert len(pasted) == 2 and not set(pasted) & set(new)
    assert any(e.src == pasted[0] and e.dst == pasted[1] for e in doc.network().edges)
    assert len(view.network_scene.blocks) == 9


def test_group_header_double_click_collapses_it(view, doc):
    scene = view.network_scene
    view.selectBlock("conv")
    scene.blocks["relu"].setSelected(True)
    group_id = view.groupSelection("features")
    group = scene.groups[group_id]
    header = group.mapToScene(group.header_rect().center())
    QTest.mouseDClick(view.viewport(), LEFT, NONE, at(view, header))
    assert doc.network().groups[0].collapsed
    assert scene.groups[group_id].collapsed and not scene.blocks["relu"].isVisible()


def test_minimap_shows_for_large_graphs_and_moves_the_view(qtbot, registry):
    view = grid_view(qtbot, registry, 120, 12)
    assert view.minimap.isVisible()
    target = view.minimap._to_widget(QPointF(2000, 1200)).toPoint()
    QTest.mouseClick(view.minimap, LEFT, NONE, target)
    centre = view.visibleSceneRect().center()
    assert abs(centre.x() - 2000) < 40 and abs(centre.y() - 1200) < 40
    view.fitAll(readable=False)  # the whole network, however small (Shift+F)
    assert not view.minimap.isVisible()  # everything fits: no overview needed


def test_replacing_the_project_rebuilds_the_scene(view, doc, registry):
    other = chain_project()
    other.network().remove_block("head")
    doc.replace_project(other)
    scene = view.network_scene
    assert scene.net is other.network()
    assert set(scene.blocks) == {"img", "conv", "relu", "lin"}
    assert scene.blocks["relu"].status.shape == "4×8×8"


def test_clicking_the_badge_asks_for_the_problem_menu(view, doc):
    scene = view.network_scene
    asked = []
    scene.problemMenuRequested.disconnect()  # the view would open a modal menu
    scene.problemMenuRequested.connect(lambda block, _pos: asked.append(block))
    badge = scene.blocks["lin"].badge
    assert badge is not None
    QTest.mouseClick(view.viewport(), LEFT, NONE, at(view, badge.scenePos()))
    assert asked == ["lin"]
    assert doc.undo_stack.count() == 0


def test_shapes_can_be_written_on_the_wires(view, doc):
    scene = view.network_scene
    wire = scene.wires[Edge("img", "conv", "x")]
    assert wire.label is None
    scene.set_wire_shapes(True)
    assert wire.label is not None and wire.label.text() == "1×8×8"
    doc.set_param("model", "img", "channels", 3)
    assert wire.label.text() == "3×8×8"
    view.setZoom(0.3)
    assert not wire.label.isVisible()  # level of detail hides it with the card text
    scene.set_wire_shapes(False)
    assert wire.label is None


def test_hover_tooltips_name_shapes_and_ports(view, doc):
    scene = view.network_scene
    assert "4×8×8" in tooltip_for(scene, scene.blocks["conv"])
    assert tooltip_for(scene, scene.blocks["conv"].inputs["x"]) == "input 'x': receives 1×8×8"
    assert tooltip_for(scene, scene.blocks["lin"].inputs["x"]) == "input 'x': not connected"
    assert tooltip_for(scene, scene.wires[Edge("conv", "relu", "x")]) == "conv → relu.x: 4×8×8"
    # and the view shows them when the pointer rests
    where = at(view, scene.blocks["conv"].mapToScene(QPointF(90, 30)))
    help_event = QHelpEvent(QEvent.Type.ToolTip, where, view.viewport().mapToGlobal(where))
    QApplication.sendEvent(view.viewport(), help_event)
    assert "Conv 2D" in QToolTip.text() and "4×8×8" in QToolTip.text()


def test_dragging_a_collapsed_group_moves_its_blocks_in_one_step(view, doc):
    scene = view.network_scene
    group_id = doc.group_blocks("model", ["conv", "relu"], "features")
    doc.set_group_collapsed("model", group_id, True)
    steps = doc.undo_stack.count()
    card = scene.groups[group_id]
    grab = card.mapToScene(QPointF(90, 30))
    drag(view, grab, grab + QPointF(40, 100), steps=5)
    assert doc.network().block("conv").position == (280.0, 100.0)
    assert doc.network().block("relu").position == (520.0, 100.0)
    assert doc.undo_stack.count() == steps + 1
    assert scene.wires[Edge("img", "conv", "x")].path().pointAtPercent(1.0) == card.input_anchor()


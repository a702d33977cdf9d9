"""Folded runs on the canvas, offscreen: the residual example's ResidualBlock used 12 times in a chain.

The scene is asserted from both sides: the items (one fold card, hidden cards and inner wires,
wire ends on the fold's ports, its badge) and the model (unchanged by folding: no undo step, not
modified). Clicks are real QTest events on the view's viewport.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtTest import QTest

from graph.folding import FOLD_ABOVE
from graph.model import Edge
from studio.canvas import NetworkView
from studio.canvas.fold_item import FoldItem
from studio.canvas.fold_state import FoldChoices
from studio.canvas.menus import block_menu, fold_menu, menu_for, problem_menu
from studio.canvas.style import DARK, LIGHT
from studio.document import Document
from studio.inspector import block_param_count
from tests.fold_support import open_chain_view, residual_chain_project, residual_ids
from tests.studio_support import no_noise

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
IDS = residual_ids(12)
# one ResidualBlock of 32 channels: two 3x3 convolutions without bias and two batch norms
PER_BLOCK = 2 * (32 * 32 * 3 * 3) + 2 * (2 * 32)


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, residual_chain_project(registry, 12))


@pytest.fixture
def view(qtbot, doc):
    return open_chain_view(qtbot, doc)


def only_fold(scene) -> FoldItem:
    assert len(scene.folds) == 1, scene.folds
    return next(iter(scene.folds.values()))


def action(menu, text: str):
    found = [a for a in menu.actions() if a.text() == text]
    assert found, [a.text() for a in menu.actions()]
    return found[0]


def click(view, scene_point: QPointF) -> None:
    QTest.mouseClick(view.viewport(), LEFT, NONE, view.mapFromScene(scene_point))


def test_twelve_instances_open_as_one_card_with_count_shape_and_weights(view, doc, capfd):
    with no_noise(capfd):
        scene = view.network_scene
        assert len(doc.network().blocks) > FOLD_ABOVE  # so the network opens folded
        fold = only_fold(scene)
        assert fold.run.blocks == tuple(IDS) and fold.isVisible()
        assert fold.pos() == QPointF(*doc.network().blocks["r1"].position)  # where the first instance is
        texts = [line[-1] for line in fold._text_layout()]
        assert "ResidualBlock ×12" in texts  # drawn whole, not elided
        analysis = doc.analysis("model")
        spec = doc.registry.get("ResidualBlock")
        total = sum(block_param_count(spec, analysis.inference, bid) for bid in IDS)
        assert total == 12 * PER_BLOCK == 222_720
        assert fold.content.summary.startswith("222.7k params")
        assert fold.status.shape == "32×8×8" == scene.blocks["r12"].status.shape
        assert not any(scene.blocks[bid].isVisible() for bid in IDS)
        assert not any(scene.wires[Edge(a, b, "x")].isVisible() for a, b in zip(IDS, IDS[1:]))
        for zoom in (1.0, 0.3, 0.05):  # painted near, far (its name and count) and as bars, without a warning
            view.setZoom(zoom)
            view.centerOn(fold)
            view.viewport().grab()
        view.setTheme(DARK)
        view.viewport().grab()
        assert fold.theme is DARK


def test_outside_wires_end_on_the_fold_ports_and_follow_a_drag(view, doc, qtbot):
    scene = view.network_scene
    fold = only_fold(scene)
    into, out = scene.wires[Edge("stem_relu", "r1", "x")], scene.wires[Edge("r12", "pool", "x")]
    assert into.isVisible() and out.isVisible()
    assert into.path().pointAtPercent(1.0) == fold.inputs["x"].scenePos()
    assert out.path().pointAtPercent(0.0) == fold.output.scenePos()
    assert fold.inputs["x"].connected and fold.output.connected
    assert (fold.inputs["x"].block_id, fold.output.block_id) == ("r1", "r12")
    before = {bid: doc.network().blocks[bid].position for bid in IDS}
    start = fold.sceneBoundingRect().center() + QPointF(0, -12)
    vp = view.viewport()
    QTest.mousePress(vp, LEFT, NONE, view.mapFromScene(start))
    for i in range(1, 5):
        QTest.mouseMove(vp, view.mapFromScene(start + QPointF(40 * i, 20 * i)))
    QTest.mouseRelease(vp, LEFT, NONE, view.mapFromScene(start + QPointF(160, 80)))
    after = {bid: doc.network().blocks[bid].position for bid in IDS}
    assert doc.undo_stack.count() == 1  # one step moves all twelve, by the same amount
    assert {(a[0] - b[0], a[1] - b[1]) for a, b in zip(after.values(), before.values())} == {(160.0, 80.0)}
    assert into.path().pointAtPercent(1.0) == fold.inputs["x"].scenePos()
    assert out.path().pointAtPercent(0.0) == fold.output.scenePos()
    doc.undo_stack.undo()
    assert fold.pos() == QPointF(*before["r1"])
    assert into.path().pointAtPercent(1.0) == fold.inputs["x"].scenePos()


def test_the_expand_button_shows_twelve_cards_and_the_menu_folds_them_again(view, doc, qtbot, capfd):
    with no_noise(capfd):
        scene = view.network_scene
        fold = only_fold(scene)
        click(view, fold.expand_button.sceneBoundingRect().center())
        qtbot.waitUntil(lambda: not scene.folds)
        assert all(scene.blocks[bid].isVisible() for bid in IDS)
        assert all(scene.wires[Edge(a, b, "x")].isVisible() for a, b in zip(IDS, IDS[1:]))
        wire = scene.wires[Edge("stem_relu", "r1", "x")]
        assert wire.path().pointAtPercent(1.0) == scene.blocks["r1"].inputs["x"].scenePos()
        assert doc.undo_stack.count() == 0 and not doc.modified  # view state only
        menu = block_menu(scene, "r5")
        action(menu, "Fold 12 consecutive ResidualBlock").trigger()
        assert only_fold(scene).content.name == "ResidualBlock ×12"
        assert not scene.blocks["r5"].isVisible()
        action(fold_menu(scene, only_fold(scene)), "Expand (12 ResidualBlock blocks)").trigger()
        assert not scene.folds and doc.undo_stack.count() == 0


def test_a_problem_of_instance_seven_shows_on_the_folds_badge(view, doc):
    scene = view.network_scene
    doc.set_param("model", "r7", "channels", 16)  # its sum adds 32 and 16 channels
    fold = only_fold(scene)  # a setting is no structural change: still one fold
    messages = [d.message for d in scene.diagnostics_of("r7")]
    assert messages and fold.status.severity == "error"
    assert fold.badge is not None and fold.badge.isVisible()
    assert messages[0] in fold.badge.toolTip() and "'res7'" in fold.badge.toolTip()
    assert fold.content.summary.startswith(f"{(6 * PER_BLOCK) / 1000:.1f}k params so far")  # res1-res6
    badge_menu = menu_for(scene, fold.badge, QPointF())
    assert any(a.text().startswith("✖ res7: ") for a in badge_menu.actions())
    assert problem_menu(scene, "r1").actions()[0].text() == badge_menu.actions()[0].text()
    view.centerOnBlock("r7")  # what a click in the Problems panel does: the fold is selected and shown
    assert fold.isSelected() and view.mapToScene(view.viewport().rect()).boundingRect().contains(fold.pos())
    doc.undo_stack.undo()
    assert fold.status.severity is None and fold.badge is None


def test_deleting_a_middle_instance_splits_the_fold_and_undo_joins_it(view, doc):
    scene = view.network_scene
    doc.remove_blocks("model", ["r6"])
    assert sorted(f.content.name for f in scene.folds.values()) == ["ResidualBlock ×5", "ResidualBlock ×6"]
    assert scene.folds["r1"].run.blocks == tuple(IDS[:5]) and scene.folds["r7"].run.blocks == tuple(IDS[6:])
    doc.undo_stack.undo()
    assert only_fold(scene).run.blocks == tuple(IDS)
    assert not any(scene.blocks[bid].isVisible() for bid in IDS)


def test_a_wire_out_of_the_middle_breaks_the_run_there_and_its_removal_refolds(view, doc):
    scene = view.network_scene
    bid = doc.add_block("model", "ReLU", (600.0, 600.0))
    doc.connect("model", Edge("r4", bid, "x"))
    assert sorted(f.run.blocks for f in scene.folds.values()) == [tuple(IDS[:4]), tuple(IDS[4:])]
    side = scene.wires[Edge("r4", bid, "x")]
    assert side.isVisible() and side.path().pointAtPercent(0.0) == scene.folds["r1"].output.scenePos()
    doc.undo_stack.undo()
    assert only_fold(scene).run.blocks == tuple(IDS)


def test_selecting_the_fold_selects_its_instances_and_delete_removes_them(view, doc):
    scene = view.network_scene
    only_fold(scene).setSelected(True)
    assert scene.selected_block_ids() == IDS
    view.deleteSelection()
    assert not set(IDS) & set(doc.network().blocks) and not scene.folds
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert only_fold(scene).run.blocks == tuple(IDS)


def test_a_small_network_opens_with_its_runs_open(qapp, registry):
    doc = Document(registry, residual_chain_project(registry, 3))
    assert len(doc.network().blocks) <= FOLD_ABOVE
    view = NetworkView(doc, "model", LIGHT)
    scene = view.network_scene
    assert not scene.folds and scene.run_of("r2").blocks == ("r1", "r2", "r3")
    assert all(scene.blocks[bid].isVisible() for bid in ("r1", "r2", "r3"))
    scene.set_folded("r2", True)
    assert only_fold(scene).content.name == "ResidualBlock ×3"
    view.deleteLater()


def test_folding_is_remembered_per_project_in_the_settings(qapp, registry, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    project = residual_chain_project(registry, 12)
    doc = Document(registry, project)
    doc._fold_choices = FoldChoices(doc, settings)
    view = NetworkView(doc, "model", LIGHT)
    view.network_scene.set_folded("r3", False)
    view.deleteLater()
    again = Document(registry, project.copy())  # the same project (same id), opened again
    again._fold_choices = FoldChoices(again, settings)
    reopened = NetworkView(again, "model", LIGHT)
    assert not reopened.network_scene.folds  # expanded, although it is big
    other = Document(registry, residual_chain_project(registry, 12))  # another project: the default
    other._fold_choices = FoldChoices(other, settings)
    fresh = NetworkView(other, "model", LIGHT)
    assert len(fresh.network_scene.folds) == 1
    reopened.deleteLater()
    fresh.deleteLater()


def test_a_block_added_after_the_last_instance_joins_the_fold(view, doc):
    scene = view.network_scene
    doc.disconnect("model", Edge("r12", "pool", "x"))
    bid = doc.add_block("model", "ResidualBlock", (0.0, 900.0))
    doc.connect("model", Edge("r12", bid, "x"))
    assert only_fold(scene).content.name == "ResidualBlock ×13"
    assert not scene.blocks[bid].isVisible()
    assert scene.wires[Edge("r12", bid, "x")].isVisible() is False  # inside the fold now


def test_auto_layout_places_a_fold_as_one_card_and_expanding_it_covers_no_card(view, doc, qtbot):
    scene = view.network_scene
    net = doc.network()
    view.arrange()
    assert doc.undo_stack.count() == 1
    seen = ["img", "stem", "stem_norm", "stem_relu", "r1", "pool", "scores", "digit"]  # what the canvas shows
    places = [net.blocks[bid].position for bid in seen]
    left = places[0][0]
    for (x0, y0), (x1, y1) in zip(places, places[1:]):  # one slot after another: no room left for r2-r12
        assert (x1, y1) in ((x0 + 240.0, y0), (left, y0 + 140.0)), places
    fold = only_fold(scene)
    assert fold.pos() == QPointF(*net.blocks["r1"].position)
    assert scene.wires[Edge("r12", "pool", "x")].path().pointAtPercent(0.0) == fold.output.scenePos()
    lowest = max(y for _x, y in places)
    assert all(net.blocks[bid].position[1] > lowest for bid in IDS[1:])  # the hidden ones wait below
    scene.set_folded("r1", False)
    cards = [scene.blocks[bid] for bid in net.blocks]
    assert all(card.isVisible() for card in cards)
    rects = [(card.block_id, card.mapRectToScene(card.shape().boundingRect())) for card in cards]
    overlapping = [(a, b) for i, (a, ra) in enumerate(rects) for b, rb in rects[i + 1:] if ra.intersects(rb)]
    assert overlapping == []

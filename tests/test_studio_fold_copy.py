"""Copying a folded run copies it folded: duplicate or copy and paste a "ResidualBlock ×12" card and
get another "×12" card (and twelve more blocks in the model), not twelve expanded cards."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QCursor

from studio.canvas.menus import fold_menu
from studio.document import Document
from tests.fold_support import open_chain_view, residual_chain_project, residual_ids
from tests.studio_support import no_noise

IDS = residual_ids(12)


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, residual_chain_project(registry, 12))


@pytest.fixture
def view(qtbot, doc):
    return open_chain_view(qtbot, doc)


def select_fold(scene):
    (fold,) = scene.folds.values()
    scene.clearSelection()
    fold.setSelected(True)
    return fold


def assert_copied_folded(scene, doc, new_ids, qtbot) -> None:
    assert len(new_ids) == 12 and len(doc.network().blocks) == 19 + 12
    qtbot.wait(200)  # past the analysis that redraws the scene after the edit
    folds = {fold.run.blocks: fold for fold in scene.folds.values()}
    assert set(folds) == {tuple(IDS), tuple(new_ids)}
    copy = folds[tuple(new_ids)]
    assert copy.isVisible() and copy.content.name.startswith("ResidualBlock ×12")
    assert not any(scene.blocks[bid].isVisible() for bid in new_ids)  # no expanded cards
    assert copy.isSelected()  # the copy is what is selected now, as after any paste


def test_duplicating_a_folded_run_gives_another_folded_card(view, doc, qtbot, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        select_fold(scene)
        new_ids = view.duplicateSelection()
        assert_copied_folded(scene, doc, new_ids, qtbot)
        doc.undo_stack.undo()
        qtbot.wait(200)
        assert len(scene.folds) == 1
        doc.undo_stack.redo()  # the same blocks come back, folded as they were
        qtbot.wait(200)
        assert {fold.run.blocks for fold in scene.folds.values()} == {tuple(IDS), tuple(new_ids)}


def test_copy_and_paste_of_a_folded_run_pastes_it_folded(view, doc, qtbot, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        select_fold(scene)
        text = view.copySelection()
        QCursor.setPos(view.viewport().mapToGlobal(QPoint(300, 400)))
        new_ids = view.paste(text)
        assert_copied_folded(scene, doc, new_ids, qtbot)
        # the card lands under the cursor, not where the top-left of its twelve hidden blocks would
        # put it (960 px to the right, off screen)
        cursor = scene.snapped(view.mapToScene(QPoint(300, 400)))
        assert scene.folds[new_ids[0]].pos() == QPointF(*cursor)


def test_the_fold_cards_menu_duplicates_it_folded(view, doc, qtbot, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        fold = select_fold(scene)
        before = set(doc.network().blocks)
        (duplicate,) = [a for a in fold_menu(scene, fold).actions() if a.text().startswith("Duplicate")]
        duplicate.trigger()
        new_ids = [bid for bid in doc.network().blocks if bid not in before]
        scene.clearSelection()
        scene.folds[new_ids[0]].setSelected(True)  # the menu leaves the selection as it was
        assert_copied_folded(scene, doc, new_ids, qtbot)


def test_an_expanded_run_pastes_expanded(view, doc, qtbot, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        scene.set_folded("r1", False)
        assert not scene.folds
        for bid in IDS:
            scene.blocks[bid].setSelected(True)
        new_ids = view.paste(view.copySelection())
        qtbot.wait(200)
        assert len(new_ids) == 12 and not scene.folds
        assert all(scene.blocks[bid].isVisible() for bid in new_ids)

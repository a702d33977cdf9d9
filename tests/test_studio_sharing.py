"""Studio: shared modules and tied parameters (issue 14, D9), each change one undo step.

The block menu adds another use of a block's module and makes a use independent again; the
inspector says which module a block uses and which parameter is tied to what; deleting the
block that holds a shared module hands it to the next use, so nothing is left dangling.
"""

from __future__ import annotations

import pytest

from graph.model import Project
from studio.canvas import NetworkView
from studio.canvas.menus import block_menu
from studio.canvas.style import LIGHT
from studio.canvas.tooltips import tooltip_for
from studio.commands import SetShares
from studio.document import Document
from studio.inspector import Inspector
from tests.test_sharing import siamese, tied_lm


def _action(menu, text):
    return next(a for a in menu.actions() if a.text() == text)


def _texts(menu):
    return [a.text() for a in menu.actions()]


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, Project(name="twins", networks=[siamese(shared=False), tied_lm()]))


@pytest.fixture
def view(qtbot, doc):
    view = NetworkView(doc, "siamese", LIGHT)
    qtbot.addWidget(view)
    view.resize(900, 400)
    return view


@pytest.fixture
def inspector(qtbot, doc):
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    return inspector


def _shares_errors(doc, network="siamese"):
    return [d.message for d in doc.analysis(network).diagnostics if d.code in ("shares", "tie")]


def test_add_another_use_from_the_block_menu_is_one_undo_step(view, doc):
    net = doc.network("siamese")
    _action(block_menu(view.scene(), "e1"), "Add another use (shared weights)").trigger()
    new = [bid for bid in net.blocks if bid not in siamese().blocks]
    assert len(new) == 1
    block = net.blocks[new[0]]
    assert block.shares == "e1" and block.type == "Linear" and block.params == net.blocks["e1"].params
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Add another use of encoder"
    assert "Make independent" in _texts(block_menu(view.scene(), new[0]))
    assert "Uses the module of encoder" in tooltip_for(view.scene(), view.scene().blocks[new[0]])
    assert "Uses the module" not in tooltip_for(view.scene(), view.scene().blocks["e1"])
    assert view.scene().blocks[new[0]].content.summary.startswith("uses encoder")
    doc.rename_block("siamese", "e1", "shared_encoder")
    assert view.scene().blocks[new[0]].content.summary.startswith("uses shared_encoder")
    doc.undo_stack.undo()
    assert "Make independent" not in _texts(block_menu(view.scene(), "e1"))
    doc.undo_stack.undo()
    assert new[0] not in net.blocks


def test_the_inspector_names_the_module_a_block_uses_and_makes_it_independent(inspector, doc):
    net = doc.network("siamese")
    doc.push(SetShares(net, "e2", "e1"))
    doc.undo_stack.clear()
    inspector.show_block("siamese", "e2")
    assert inspector.sharing_text().startswith("Uses the module of 'encoder'")
    assert "counted at 'encoder'" in inspector.count.text()
    assert inspector.independent.isVisibleTo(inspector)
    inspector.show_block("siamese", "e1")
    assert inspector.sharing_text() == "Its module is also used by 'encoder_right'"
    assert inspector.count.text() == "Weights: 88 parameters"
    assert not inspector.independent.isVisibleTo(inspector)

    inspector.show_block("siamese", "e2")
    inspector.independent.click()
    assert net.blocks["e2"].shares is None and doc.undo_stack.count() == 1
    assert doc.undo_stack.undoText() == "Make encoder_right independent"
    assert inspector.sharing_text() == "" and not inspector.independent.isVisibleTo(inspector)
    doc.undo_stack.undo()
    assert net.blocks["e2"].shares == "e1"
    assert inspector.sharing_text().startswith("Uses the module of 'encoder'")


def test_a_setting_edited_on_one_use_is_the_setting_of_every_use(inspector, doc):
    net = doc.network("siamese")
    net.set_shares("e2", "e1")
    inspector.show_block("siamese", "e2")
    inspector._commit("features", 12)
    assert net.blocks["e1"].params["features"] == 12 == net.blocks["e2"].params["features"]
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert net.blocks["e1"].params["features"] == 8 == net.blocks["e2"].params["features"]
    assert not _shares_errors(doc)


def test_deleting_the_block_holding_a_module_hands_it_to_the_next_use(view, doc):
    net = doc.network("siamese")
    doc.add_shared_use("siamese", "e1")
    third = next(bid for bid in net.blocks if bid not in siamese().blocks)
    net.set_shares("e2", "e1")
    doc.undo_stack.clear()
    doc.remove_blocks("siamese", ["e1"])
    assert "e1" not in net.blocks
    assert net.blocks["e2"].shares is None and net.blocks[third].shares == "e2"
    assert doc.undo_stack.count() == 1 and not _shares_errors(doc)
    doc.undo_stack.undo()
    assert net.blocks["e1"].shares is None
    assert net.blocks["e2"].shares == "e1" and net.blocks[third].shares == "e1"
    assert not _shares_errors(doc)
    # deleting every use at once works too, in one step
    doc.remove_blocks("siamese", ["e1", "e2", third])
    assert not {"e1", "e2", third} & set(net.blocks)
    doc.undo_stack.undo()
    assert net.blocks["e2"].shares == "e1"


def test_the_inspector_shows_a_tie_and_make_independent_unties_it(inspector, view, doc):
    net = doc.network("lm")
    inspector.show_block("lm", "h")
    assert inspector.sharing_text() == \
        "Parameter weight is tied to the weight of 'tokens' (one tensor, trained together)"
    assert inspector.count.text() == \
        "Weights: 0 parameters (800 more are tied to another block's, counted there)"
    inspector.show_block("lm", "emb")
    assert inspector.sharing_text() == "Parameter weight is also the weight of 'head' (tied)"
    inspector.show_block("lm", "h")
    inspector.independent.click()
    assert net.ties == {} and doc.undo_stack.undoText() == "Make head independent"
    assert inspector.count.text() == "Weights: 800 parameters"
    doc.undo_stack.undo()
    assert net.ties == {"h.weight": "emb.weight"}


def test_deleting_a_tied_block_drops_its_tie_in_the_same_step(doc):
    net = doc.network("lm")
    doc.remove_blocks("lm", ["h"])
    assert net.ties == {} and doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert net.ties == {"h.weight": "emb.weight"} and "h" in net.blocks


def test_copying_a_use_without_its_module_pastes_an_independent_block(doc):
    net = doc.network("siamese")
    net.set_shares("e2", "e1")
    alone = doc.paste("siamese", doc.copy_blocks("siamese", ["e2"]))
    both = doc.paste("siamese", doc.copy_blocks("siamese", ["e1", "e2"]))
    assert net.blocks[alone[0]].shares is None
    assert net.blocks[both[0]].shares is None and net.blocks[both[1]].shares == both[0]

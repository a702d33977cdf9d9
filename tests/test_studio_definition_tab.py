"""A block definition edited in its own canvas tab, made from a selection, detached; problems inside it.

The window shows residual_cnn (ResidualBlock used twice, as res1 and res2). A
double-click on an instance's card opens the definition's tab; an edit there
is one undo step that changes both instances and the compiled model.
"""

import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from graph.examples import example_path
from graph.library import Library
from graph.project_io import load_project
from runtime.build import build_models
from studio.canvas.menus import block_menu
from studio.document import Document
from studio.main_window import MainWindow
from tests.studio_support import OFFSCREEN_ONLY, block_id, close_window, no_noise, refuse_dialogs

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
DEF = "ResidualBlock"


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    document = Document(registry, load_project(example_path("residual_cnn"), registry))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(document, settings=settings, autosave=False, block_library=Library(registry, tmp_path))
    win.show()
    qtbot.waitExposed(win)
    yield win
    close_window(win)


def card_point(view, bid: str) -> QPoint:
    """The middle of a card's header, in the view's viewport (where a user double-clicks it)."""
    card = view.network_scene.blocks[bid]
    view.centerOnBlock(bid)
    return view.mapFromScene(card.mapToScene(card.boundingRect().center()))


def open_by_double_click(window, name: str = "res1"):
    view = window.tabs.view_of("model")
    QTest.mouseDClick(view.viewport(), LEFT, NONE, card_point(view, block_id(window.document, name)))
    return window.tabs.current_view()


def outputs(project, registry, seed: int = 0):
    """The model's output on a fixed batch, with every parameter set from a seeded generator in
    parameter order (so two models whose weights map one to one get the same weights)."""
    model = build_models(project, registry)[0]["model"].eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.parameters():  # buffers (batch-norm statistics) keep their start values
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.2)
        x = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(1))
        return model(x), sum(p.numel() for p in model.parameters()), list(model.state_dict())


def test_double_click_opens_the_definition_tab_and_an_edit_there_changes_every_instance(
        window, registry, capfd):
    doc, tabs = window.document, window.tabs
    with no_noise(capfd):
        before_shapes = dict(doc.analysis("model").shapes)
        before_out, before_count, _ = outputs(doc.project, registry)
        view = open_by_double_click(window)
        assert tabs.is_definition_tab(view) and view.network_name == DEF
        index = tabs.indexOf(view)
        assert tabs.tabText(index) == "◇ ResidualBlock" and tabs.tabBar().isVisible()
        assert set(view.network_scene.blocks) == set(doc.project.definitions.get(DEF).body.blocks)
        # shapes at what the first instance receives: (32, 8, 8) everywhere, no problem on any card
        assert view.network_scene.blocks["add"].status.shape == "32×8×8"
        assert doc.analysis(DEF).ok
        # a second double-click focuses the same tab
        tabs.setCurrentIndex(0)
        assert open_by_double_click(window, "res2") is view and tabs.count() == 2

        # an inner setting through the inspector: conv1 gets a bias in both instances, one undo step
        view.selectBlock("conv1")
        assert window.inspector.network == DEF and window.inspector.block_id == "conv1"
        # channels is ResidualBlock's own parameter: each instance sets it, not this field
        inspector = window.inspector
        assert not inspector.editors["channels"].isEnabled() and inspector.editors["bias"].isEnabled()
        assert "channels is set by each instance" in inspector.bound_note.text()
        steps = doc.undo_stack.count()
        window.inspector.editors["bias"].field.setChecked(True)
        assert doc.undo_stack.count() == steps + 1
        _, with_bias, keys = outputs(doc.project, registry)
        assert with_bias == before_count + 2 * 32
        assert "res1.conv1.bias" in keys and "res2.conv1.bias" in keys
        window.code_view.refresh()
        assert "self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)\n" in \
            window.code_view.text()

        # a block wired into the body on the canvas (Document call the canvas makes): both instances
        # now halve their input, so every shape after res1 changes
        edge = next(e for e in doc.network(DEF).edges if e.dst == "out")
        pool = doc.insert_block_on_edge(DEF, edge, "MaxPool2d")
        assert pool in view.network_scene.blocks
        assert view.network_scene.blocks["out"].status.shape == "32×4×4"
        shapes = doc.analysis("model").shapes
        res1, res2 = block_id(doc, "res1"), block_id(doc, "res2")
        assert (before_shapes[res1], before_shapes[res2]) == ((32, 8, 8), (32, 4, 4))
        assert (shapes[res1], shapes[res2]) == ((32, 4, 4), (32, 1, 1))
        window.tabs.view_of("model").network_scene._apply_analysis()
        assert window.tabs.view_of("model").network_scene.blocks[res2].status.shape == "32×1×1"

        doc.undo_stack.undo()
        doc.undo_stack.undo()
        assert pool not in view.network_scene.blocks
        assert dict(doc.analysis("model").shapes) == before_shapes
        after_out, after_count, _ = outputs(doc.project, registry)
        assert after_count == before_count and torch.equal(after_out, before_out)


def test_the_tab_closes_with_its_definition_and_with_the_project(window, registry, capfd):
    doc, tabs = window.document, window.tabs
    with no_noise(capfd):
        view = tabs.open_definition(DEF)
        assert tabs.tabBar().tabButton(tabs.indexOf(view), tabs.tabBar().ButtonPosition.RightSide) \
            is not None
        network_tab = tabs.tabBar().tabButton(0, tabs.tabBar().ButtonPosition.RightSide)
        assert network_tab is None  # network tabs cannot be closed
        # the close button
        tabs.tabCloseRequested.emit(tabs.indexOf(view))
        assert DEF not in tabs.definition_views and tabs.count() == 1 and not tabs.tabBar().isVisible()
        # detaching both instances and undoing the definition's making is not possible here; a
        # definition removed by undo closes its tab: make one, open it, undo
        ids = [block_id(doc, n) for n in ("stem", "stem_norm")]
        instance = doc.make_definition("model", ids, "Stem")
        tabs.open_definition("Stem")
        assert "Stem" in tabs.definition_views
        doc.undo_stack.undo()
        assert "Stem" not in tabs.definition_views and instance not in doc.network("model").blocks
        tabs.open_definition(DEF)
        doc.open(example_path("residual_cnn"), as_copy=True)
        assert tabs.definition_views == {} and tabs.count() == 1


def test_make_definition_from_selection_computes_the_same_and_undoes_exactly(window, registry, capfd,
                                                                             monkeypatch):
    from studio.canvas import definition_actions

    doc = window.document
    with no_noise(capfd):
        before = doc.project.copy()
        out, count, keys = outputs(doc.project, registry)
        view = window.tabs.view_of("model")
        names = ("stem", "stem_norm", "stem_relu", "res1")
        ids = [block_id(doc, n) for n in names]
        for bid in ids:
            view.network_scene.blocks[bid].setSelected(True)
        asked = []
        monkeypatch.setattr(definition_actions, "ask_name",
                            lambda parent, count, suggested: (asked.append((count, suggested)), "Stem")[1])
        menu = block_menu(view.network_scene, ids[0])
        action = next(a for a in menu.actions() if a.text() == "Make definition from selection…")
        action.trigger()
        assert asked == [(4, "Conv2dBlock")]  # the suggested name
        assert doc.undo_stack.undoText() == "Make definition Stem"
        net = doc.network("model")
        instance = next(b for b in net.blocks.values() if b.type == "Stem")
        assert not set(ids) & set(net.blocks)
        assert [(e.src, e.dst) for e in net.edges if instance.id in (e.src, e.dst)] == [
            (block_id(doc, "image"), instance.id), (instance.id, block_id(doc, "pool"))]
        body = doc.project.definitions.get("Stem").body
        assert [b.name for b in body.blocks.values()] == ["x", *names, "out"]
        assert view.selectedBlockIds() == [instance.id]
        assert doc.analysis("model").ok and doc.analysis("Stem").ok
        out2, count2, keys2 = outputs(doc.project, registry)
        assert count2 == count and len(keys2) == len(keys)
        assert torch.allclose(out2, out, atol=1e-6)  # the same weights in the same order: the same model
        doc.undo_stack.undo()
        assert doc.project == before and "Stem" not in doc.project.definitions
        doc.undo_stack.redo()
        assert "Stem" in doc.project.definitions and doc.analysis("model").ok


def test_a_selection_that_cannot_be_a_definition_is_refused_in_the_status_bar(window, capfd):
    doc = window.document
    with no_noise(capfd):
        from studio.definition_menu import make_from_selection

        view = window.tabs.view_of("model")
        steps = doc.undo_stack.count()
        view.network_scene.clearSelection()
        assert make_from_selection(window, "X") is None
        assert "Select the blocks" in window.statusBar().currentMessage()
        for name in ("image", "stem"):
            view.network_scene.blocks[block_id(doc, name)].setSelected(True)
        assert make_from_selection(window, "X") is None
        assert "'image' is a data input" in window.statusBar().currentMessage()
        view.network_scene.clearSelection()
        for name in ("scores", "digit"):
            view.network_scene.blocks[block_id(doc, name)].setSelected(True)
        assert make_from_selection(window, "X") is None
        assert "output head" in window.statusBar().currentMessage()
        view.network_scene.clearSelection()
        view.network_scene.blocks[block_id(doc, "stem")].setSelected(True)
        assert make_from_selection(window, "ResidualBlock") is None
        assert "already has a definition named ResidualBlock" in window.statusBar().currentMessage()
        assert make_from_selection(window, "2fast") is None
        assert "not a name" in window.statusBar().currentMessage()
        assert doc.undo_stack.count() == steps


def test_detach_from_the_card_menu_is_one_step(window, capfd):
    doc = window.document
    with no_noise(capfd):
        before = doc.project.copy()
        view = window.tabs.view_of("model")
        res1 = block_id(doc, "res1")
        menu = block_menu(view.network_scene, res1)
        texts = [a.text() for a in menu.actions()]
        assert "Edit definition 'ResidualBlock'" in texts
        next(a for a in menu.actions() if a.text() == "Detach (copy its blocks)").trigger()
        net = doc.network("model")
        assert res1 not in net.blocks and any(b.name == "res1.conv1" for b in net.blocks.values())
        assert doc.undo_stack.undoText() == "Detach res1" and doc.analysis("model").ok
        assert sum(b.type == DEF for b in net.blocks.values()) == 1
        doc.undo_stack.undo()
        assert doc.project == before
        # "Edit definition" on the card opens the tab
        next(a for a in block_menu(view.network_scene, res1).actions()
             if a.text() == "Edit definition 'ResidualBlock'").trigger()
        assert window.tabs.current_view().network_name == DEF


def test_a_problem_inside_an_instance_opens_the_definition_and_selects_the_inner_block(window, capfd):
    doc = window.document
    with no_noise(capfd):
        doc.set_param(DEF, "conv2", "kernel_size", 5)  # no longer the input's size: Add fails inside
        problems = window.problems
        row = next(i for i in range(problems.tree.topLevelItemCount())
                   if "inside ResidualBlock" in problems.item(i).text(0))
        item = problems.item(row)
        problems.tree.setCurrentItem(item)
        rect = problems.tree.visualItemRect(item)
        QTest.mouseClick(problems.tree.viewport(), LEFT, NONE, rect.center())
        view = window.tabs.current_view()
        assert view.network_name == DEF and view.selectedBlockIds() == ["add"]
        assert window.inspector.block_id == "add"
        # the definition's own canvas shows the problem on the card at fault
        assert view.network_scene.blocks["add"].status.severity == "error"


# a popup on Qt's offscreen platform (the tests' screen) says these; a real screen does not
POPUP_OFFSCREEN = OFFSCREEN_ONLY + ("does not support raise()", "does not support grabbing the keyboard")


def test_an_instance_of_a_definition_cannot_go_into_itself(window, capfd):
    doc = window.document
    with no_noise(capfd, POPUP_OFFSCREEN):
        view = window.tabs.open_definition(DEF)
        steps = doc.undo_stack.count()
        assert view.dropBlock(DEF, view.visibleSceneRect().center()) == ""
        assert "cannot go into ResidualBlock" in window.statusBar().currentMessage()
        assert doc.undo_stack.count() == steps
        # the quick-add menu (Tab) offers the ports, not the definition itself
        view.openQuickAdd(view.visibleSceneRect().center())
        titles = view.quick_add.visible_titles()
        assert "Definition input" in titles and "Definition output" in titles and DEF not in titles
        view.quick_add.hide()
        network = window.tabs.view_of("model")
        network.openQuickAdd(network.visibleSceneRect().center())
        assert DEF in network.quick_add.visible_titles()
        network.quick_add.hide()


def test_a_port_added_to_the_definition_shows_on_every_instance_card(window, capfd):
    doc = window.document
    with no_noise(capfd):
        view = window.tabs.open_definition(DEF)
        port = view.dropBlock("PortInput", view.visibleSceneRect().center())
        doc.rename_block(DEF, port, "skip")
        model = window.tabs.view_of("model").network_scene
        res1, res2 = block_id(doc, "res1"), block_id(doc, "res2")
        assert list(model.blocks[res1].inputs) == ["x", "skip"] == list(model.blocks[res2].inputs)
        doc.undo_stack.undo()
        doc.undo_stack.undo()
        assert list(model.blocks[res1].inputs) == ["x"] == list(model.blocks[res2].inputs)
        assert doc.analysis("model").ok


def test_a_problem_in_a_nested_definition_points_at_the_innermost_block():
    from graph.diagnostics import ERROR, Diagnostic
    from studio.panels.problems import inner_block

    nested = Diagnostic(ERROR, "shape", "inside Stage", "s1", inside=("Stage", "b2", "BasicBlock", "add"))
    assert inner_block(nested) == ("BasicBlock", "add")
    assert inner_block(Diagnostic(ERROR, "shape", "no output", "s1", inside=("Stage", ""))) == ("Stage", "")
    assert inner_block(Diagnostic(ERROR, "shape", "of the block itself", "s1")) is None


def test_a_definition_swapped_for_another_keeps_its_tab_on_the_new_body(window, capfd):
    from studio.commands_definitions import ReplaceDefinition

    doc, tabs = window.document, window.tabs
    with no_noise(capfd):
        old_view = tabs.open_definition(DEF)
        assert "all its 2 instances" in tabs.tabToolTip(tabs.indexOf(old_view))
        newer = doc.project.definitions.get(DEF).copy()
        newer.body.blocks["conv1"].params["bias"] = True
        doc.push(ReplaceDefinition(doc.project.definitions, newer))  # what a library update pushes
        view = tabs.view_of(DEF)
        assert view is not old_view and view.network_scene.net is newer.body
        assert tabs.currentWidget() is view and tabs.tabText(tabs.indexOf(view)) == "◇ ResidualBlock"
        doc.undo_stack.undo()
        assert tabs.view_of(DEF).network_scene.net is doc.project.definitions.get(DEF).body
        assert tabs.count() == 2


def test_renaming_or_removing_a_port_in_the_tab_takes_the_instances_wires_along(window, capfd):
    doc = window.document
    with no_noise(capfd):
        before = doc.project.copy()
        view = window.tabs.open_definition(DEF)
        res1, res2 = block_id(doc, "res1"), block_id(doc, "res2")
        doc.rename_block(DEF, "x", "features")
        net = doc.network("model")
        assert [e.dst_port for e in net.edges if e.dst in (res1, res2)] == ["features", "features"]
        assert doc.analysis("model").ok and doc.undo_stack.undoText() == \
            "Rename the input x of ResidualBlock to features"
        assert list(window.tabs.view_of("model").network_scene.blocks[res1].inputs) == ["features"]
        doc.undo_stack.undo()
        assert doc.project == before
        # removing a block takes its bindings out of the definition's parameters: instances stay usable
        view.selectBlock("conv1")
        view.deleteSelection()
        assert doc.project.definitions.get(DEF).params[0].binds == ("conv2.channels",)
        assert not any("binding" in d.message for d in doc.analysis("model").diagnostics)
        # removing the input port takes the instances' wires into it
        view.selectBlock("x")
        view.deleteSelection()
        assert not any(e.dst in (res1, res2) for e in net.edges)
        doc.undo_stack.undo()
        doc.undo_stack.undo()
        assert doc.project == before and doc.analysis("model").ok

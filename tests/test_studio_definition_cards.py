"""What a definition's tab says about itself: bound settings on its cards, its problems in the list.

The window shows residual_cnn, whose ResidualBlock binds conv1.channels and conv2.channels to its
parameter `channels` (default 32). The body's own stored value of a bound setting is never used:
the tab's shapes are worked out with the parameter's default, so the cards show that value.
"""

import pytest
from PySide6.QtCore import QSettings

from graph.examples import example_path
from graph.library import Library
from graph.model import Definition, Edge
from graph.project_io import load_project
from studio.canvas.tooltips import tooltip_for
from studio.commands_definitions import set_definition_default
from studio.document import Document
from studio.main_window import MainWindow
from tests.studio_support import close_window, no_noise, refuse_dialogs

DEF = "ResidualBlock"


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    project = load_project(example_path("residual_cnn"), registry)
    # a stale value stored in the body (as an older file or a made-from-selection body may have)
    project.definitions.get(DEF).body.blocks["conv1"].params["channels"] = 16
    document = Document(registry, project)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(document, settings=settings, autosave=False, block_library=Library(registry, tmp_path))
    win.show()
    qtbot.waitExposed(win)
    yield win
    close_window(win)


def test_a_bound_setting_shows_the_default_the_tab_uses_and_says_it_is_set_per_instance(window, capfd):
    doc = window.document
    with no_noise(capfd):
        view = window.tabs.open_definition(DEF)
        scene = view.network_scene
        conv1, conv2 = scene.blocks["conv1"], scene.blocks["conv2"]
        # the analysis uses channels = 32 (the default), not the 16 stored in the body
        assert scene.blocks["conv1"].status.shape == "32×8×8"
        assert conv1.content.summary.startswith("ch 32 ← channels")
        assert conv2.content.summary.startswith("ch 32 ← channels")
        assert "16" not in conv1.content.summary
        assert "channels ← <b>channels</b>: set per instance (here at its default 32)" in \
            tooltip_for(scene, conv1)
        assert "←" not in scene.blocks["norm1"].content.summary  # nothing of it is bound
        # a new default (one undo step) shows on the cards; its undo brings the old text back
        doc.undo_stack.push(set_definition_default(doc.project.definitions, DEF, "channels", 48))
        assert scene.blocks["conv2"].status.shape == "48×8×8"
        assert conv1.content.summary.startswith("ch 48 ← channels")
        doc.undo_stack.undo()
        assert conv1.content.summary.startswith("ch 32 ← channels")


@pytest.fixture
def lonely_window(qtbot, tmp_path, registry, monkeypatch):
    """residual_cnn plus a definition no network uses, whose Add has nothing in its second input."""
    refuse_dialogs(monkeypatch)
    project = load_project(example_path("residual_cnn"), registry)
    model = project.definitions.get(DEF)
    body = model.body.copy()
    body.name = "Lonely"
    body.disconnect(next(e for e in body.edges if e.dst == "add" and e.dst_port == "in1"))
    project.definitions.add(Definition("Lonely", body, list(model.params)))
    document = Document(registry, project)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(document, settings=settings, autosave=False, block_library=Library(registry, tmp_path))
    win.show()
    qtbot.waitExposed(win)
    yield win
    close_window(win)


def rows(panel) -> list[tuple[str, str]]:
    return [(panel.item(i).text(0), panel.item(i).text(1)) for i in range(panel.tree.topLevelItemCount())]


def test_the_current_definition_tabs_problems_are_in_the_list_and_a_click_selects_the_block(
        lonely_window, capfd):
    win = lonely_window
    panel, tabs = win.problems, win.tabs
    with no_noise(capfd):
        # the model itself is fine: nothing listed, the Network column hidden (one network)
        assert rows(panel) == [] and panel.tree.isColumnHidden(1)
        view = tabs.open_definition("Lonely")
        assert view.network_scene.blocks["add"].status.severity == "error"
        assert rows(panel) == [("Add 'add': its input 'in1' is not connected; wire a block into it",
                                "◇ Lonely")]
        assert not panel.tree.isColumnHidden(1)
        assert "In the definition Lonely" in panel.item(0).toolTip(0)
        assert panel.status.text() == "1 error"
        # a click selects the block in the tab (from another tab too: it comes back to Lonely's)
        panel._clicked(panel.item(0))
        assert tabs.current_view() is view and view.network_scene.selected_block_ids() == ["add"]
        # another tab current: the definition's problems leave the list
        tabs.setCurrentWidget(tabs.view_of("model"))
        assert rows(panel) == [] and panel.tree.isColumnHidden(1)
        tabs.setCurrentWidget(view)
        assert len(rows(panel)) == 1
        # its problem mended in the tab (one undo step): the list empties; undo brings it back
        assert win.document.connect("Lonely", Edge("x", "add", "in1"))[0]
        assert rows(panel) == []
        win.document.undo_stack.undo()
        assert rows(panel)[0][1] == "◇ Lonely"
        tabs.close_definition("Lonely")
        assert rows(panel) == []
        # a definition tab without problems: nothing to tell apart, so no Network column
        tabs.open_definition(DEF)
        assert rows(panel) == [] and panel.tree.isColumnHidden(1)

"""What a definition's tab says about itself: bound settings on its cards, its problems in the list.

The window shows residual_cnn, whose ResidualBlock binds conv1.channels and conv2.channels to its
parameter `channels` (default 32). The body's own stored value of a bound setting is never used:
the tab's shapes are worked out with the parameter's default, so the cards show that value.
"""

import pytest
from PySide6.QtCore import QSettings

from graph.examples import example_path
from graph.library import Library
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

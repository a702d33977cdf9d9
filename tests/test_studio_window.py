"""The main window: adding blocks from the palette, files, prompts, tabs, shortcuts, launcher.

Offscreen, through the widgets a user touches (palette, menus, shortcuts),
asserting on the model and on what the window shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from graph.examples import example_path, list_examples
from graph.project_io import load_project, save_project
from studio.app import ThemeManager
from studio.canvas.mime import BLOCK_MIME
from tests.studio_support import block_id

ROOT = Path(__file__).resolve().parent.parent


def _types(document) -> list[str]:
    return [b.type for b in document.network().blocks.values()]


def test_double_click_in_palette_adds_the_block_at_the_view_centre_and_selects_it(window, qtbot):
    tree = window.palette.tree
    item = window.palette.item("Dropout")
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    before = len(window.document.network().blocks)
    # an item view acts on a double-click only after a press on the same item, as a real mouse makes
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    net = window.document.network()
    assert len(net.blocks) == before + 1
    new = list(net.blocks.values())[-1]
    assert new.type == "Dropout"
    view = window.tabs.current_view()
    centre = view.visibleSceneRect().center()
    assert abs(new.position[0] + 90 - centre.x()) < 60 and abs(new.position[1] - centre.y()) < 80
    assert view.selectedBlockIds() == [new.id]
    assert window.inspector.block_id == new.id
    assert window.inspector.title.text() == "Dropout"


def test_palette_drag_payload_dropped_on_the_canvas_adds_that_block(window, qtbot):
    item = window.palette.item("GELU")
    data: QMimeData = window.palette.tree.mimeData([item])
    assert bytes(data.data(BLOCK_MIME)).decode() == "GELU"
    view = window.tabs.current_view()
    target = view.viewport().rect().center() + QPoint(40, 120)
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(target, Qt.DropAction.CopyAction, data, buttons, mods)
    QApplication.sendEvent(view.viewport(), enter)  # Qt delivers a drop only to the widget the drag entered
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(target), Qt.DropAction.CopyAction, data, buttons, mods)
    QApplication.sendEvent(view.viewport(), drop)
    added = [b for b in window.document.network().blocks.values() if b.type == "GELU"]
    assert len(added) == 1
    scene_point = view.mapToScene(target)
    assert abs(added[0].position[0] + 90 - scene_point.x()) <= 20


def test_palette_search_filters_and_enter_adds_the_first_match(window, qtbot):
    qtbot.keyClicks(window.palette.search, "lstm")
    shown = window.palette.visible_types()
    assert "LSTM" in shown and "Linear" not in shown and "Conv2d" not in shown
    assert window.palette.best_match() == "LSTM"  # named so, before blocks whose help mentions LSTMs
    qtbot.keyClick(window.palette.search, Qt.Key.Key_Return)
    assert _types(window.document)[-1] == "LSTM"


def test_title_shows_file_name_and_modified_marker_and_undo_redo_shortcuts(window, qtbot, tmp_path):
    assert window.windowTitle() == "Digits CNN — DeepWire"
    window.add_block("ReLU")
    assert window.windowTitle().startswith("• ")
    view = window.tabs.current_view()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert "ReLU" not in _types(window.document)[-1:]
    assert window.windowTitle() == "Digits CNN — DeepWire"
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(view, Qt.Key.Key_Z, ctrl_shift)
    assert _types(window.document)[-1] == "ReLU"
    assert QKeySequence("Ctrl+Shift+Z") in window.actions["redo"].shortcuts()


def test_save_as_then_open_through_the_window(window, qtbot, tmp_path, monkeypatch, registry):
    target = tmp_path / "mine"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.add_block("Tanh")
    window.actions["save"].trigger()  # untitled: Save asks where, and adds the suffix
    saved = tmp_path / "mine.dw.json"
    assert saved.is_file()
    assert window.windowTitle() == "mine.dw.json — DeepWire"
    assert "Tanh" in [b.type for b in load_project(saved, registry).network().blocks.values()]

    other = tmp_path / "other.dw.json"
    save_project(load_project(example_path("iris_mlp"), registry), other)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(other), ""))
    window.actions["open"].trigger()
    assert window.document.path == other
    assert window.windowTitle() == "other.dw.json — DeepWire"
    assert window.document.network().name == load_project(other, registry).network().name
    window.code_view.refresh()
    assert "nn.Linear(4, " in window.code_view.text()  # iris: four measurements in


def test_unsaved_changes_prompt_cancel_keeps_the_window_and_discard_closes(window, qtbot, monkeypatch):
    window.add_block("Sigmoid")
    asked = []

    def answer(button):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not window.close()
    assert window.isVisible() and "Digits CNN" in asked[-1]
    assert not window.files.new_project()  # New asks too; Cancel keeps the project
    assert "Sigmoid" in _types(window.document)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert window.close()
    assert not window.isVisible()
    assert len(asked) == 3


def test_unsaved_changes_prompt_save_writes_the_file_first(window, qtbot, monkeypatch, tmp_path, registry):
    window.add_block("ELU")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "kept.dw.json"), ""))
    assert window.files.new_project()
    kept = load_project(tmp_path / "kept.dw.json", registry).network()
    assert "ELU" in [b.type for b in kept.blocks.values()]
    assert window.document.network().blocks == {}


def test_a_gan_shows_one_tab_per_network(window, qtbot, monkeypatch):
    assert not window.tabs.tabBar().isVisible()
    window.files.open_path(example_path("digits_gan"), as_copy=True)
    tabs = window.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["generator", "discriminator"]
    assert tabs.tabBar().isVisible()
    tabs.setCurrentIndex(1)
    assert tabs.current_network() == "discriminator"
    window.add_block("Dropout")
    assert list(window.document.network("discriminator").blocks.values())[-1].type == "Dropout"
    assert "Dropout" not in [b.type for b in window.document.network("generator").blocks.values()]


def test_new_from_template_opens_the_chosen_example_untitled(window, monkeypatch):
    from studio.panels.start_page import StartDialog

    def choose(dialog):
        assert dialog.page.cards.count() == len(list_examples())
        dialog.chosen = ("example", example_path("sine_lstm"))
        return 1
    monkeypatch.setattr(StartDialog, "exec", choose)
    window.actions["template"].trigger()
    assert window.document.path is None  # Save will ask where, never overwriting the bundled file
    assert window.windowTitle() == "Sine LSTM — DeepWire"
    assert "LSTM" in _types(window.document)


def test_recent_files_menu_lists_saved_projects_and_opens_them(window, qtbot, monkeypatch, tmp_path):
    first, second = tmp_path / "a.dw.json", tmp_path / "b.dw.json"
    for path in (first, second):
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, p=path, **k: (str(p), ""))
        window.files.save_as()
    window.files.fill_recent_menu(window.recent_menu)
    entries = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert entries[:2] == ["&1 b.dw.json", "&2 a.dw.json"]
    window.recent_menu.actions()[1].trigger()
    assert window.document.path == first.resolve() or window.document.path == first


def test_crash_leftover_is_offered_and_recovered_as_unsaved_work(window, monkeypatch, tmp_path, registry):
    folder = tmp_path / "leftovers"
    folder.mkdir()
    project = load_project(example_path("iris_mlp"), registry)
    save_project(project, folder / "iris-deadbeef.dw.json")
    (folder / "iris-deadbeef.note.json").write_text(json.dumps({"original": str(tmp_path / "iris.dw.json")}))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert window.files.offer_recovery(folder)
    assert window.document.modified
    assert window.document.path == tmp_path / "iris.dw.json"
    assert window.windowTitle() == "• iris.dw.json — DeepWire"
    assert not (folder / "iris-deadbeef.dw.json").exists()


def test_theme_follows_the_chosen_mode_for_widgets_and_canvas(window, qtbot):
    theme = ThemeManager(QApplication.instance(), "light")
    theme.changed.connect(window.set_dark)
    theme.set_mode("dark")
    assert QApplication.instance().palette().window().color().lightness() < 80
    assert window.tabs.current_view().network_scene.theme.dark
    theme.set_mode("light")
    assert QApplication.instance().palette().window().color().lightness() > 200
    assert not window.tabs.current_view().network_scene.theme.dark


def test_theme_follows_the_system_when_it_changes(window, monkeypatch):
    import studio.app

    app = QApplication.instance()
    theme = ThemeManager(app, "system")
    theme.changed.connect(window.set_dark)
    monkeypatch.setattr(studio.app, "system_is_dark", lambda _app: True)
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # what the platform sends
    assert theme.dark and window.tabs.current_view().network_scene.theme.dark
    monkeypatch.setattr(studio.app, "system_is_dark", lambda _app: False)
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not theme.dark and app.palette().window().color().lightness() > 200


def test_fit_and_delete_shortcuts_act_on_the_canvas_but_not_in_text_fields(window, qtbot):
    net = window.document.network()
    window.tabs.select_block(net.name, block_id(window.document, "dropout"))
    window.inspector.name_edit.setFocus()
    qtbot.keyClick(window.inspector.name_edit, Qt.Key.Key_Delete)
    assert "dropout" in [b.name for b in net.blocks.values()]  # Delete in a field edits the text
    view = window.tabs.current_view()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert "dropout" not in [b.name for b in net.blocks.values()]


def _run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


def test_deepwire_screenshot_writes_a_png_of_the_requested_size(tmp_path):
    out = tmp_path / "shot.png"
    done = _run("-m", "studio.launcher", "screenshot", "digits_cnn", str(out), "--size", "800x560")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not even the offscreen platform's propagateSizeHints notice
    image = QImage(str(out))
    assert (image.width(), image.height()) == (800, 560)
    colours = {image.pixel(x, y) for x in range(0, 800, 10) for y in range(0, 560, 10)}
    assert len(colours) > 20  # a window with text and cards, not a blank picture


def test_launcher_hands_cli_commands_over_without_importing_qt_or_torch():
    code = ("import sys; from studio.launcher import main; rc = main(['check', 'digits_cnn']); "
            "qt = any(m.startswith('PySide6') for m in sys.modules); "
            "print('QT', qt, 'TORCH', 'torch' in sys.modules, rc)")
    done = _run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "QT False TORCH False 0"


def test_studio_window_paints_without_importing_torch():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DEEPWIRE_EXIT_AFTER_PAINT": "1"}
    done = subprocess.run([sys.executable, "-m", "studio.launcher"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("torch=False")


def test_launcher_refuses_a_missing_project_with_a_message():
    done = _run("-m", "studio.launcher", "no_such_project.dw.json")
    assert done.returncode == 2
    assert "no such project file" in done.stderr


def test_deepwire_screenshot_folds_or_expands_runs_and_leaves_the_project_file_alone(tmp_path):
    from graph.blocks import default_registry
    from graph.project_io import save_project
    from tests.fold_support import transformer_chain_project

    project = tmp_path / "t12.dw.json"
    save_project(transformer_chain_project(default_registry()), project)
    before = project.read_bytes()
    shots = {}
    for folds in ("folded", "expanded"):
        shots[folds] = tmp_path / f"{folds}.png"
        done = _run("-m", "studio.launcher", "screenshot", str(project), str(shots[folds]), "--folds", folds,
                    "--arrange", "--size", "900x700")
        assert done.returncode == 0, done.stderr
        assert (QImage(str(shots[folds])).width(), QImage(str(shots[folds])).height()) == (900, 700)
    assert project.read_bytes() == before  # --arrange moved cards in the picture only
    assert shots["folded"].read_bytes() != shots["expanded"].read_bytes()


def test_a_folded_cards_count_survives_eliding_its_name(qapp):
    from PySide6.QtGui import QFont, QFontMetricsF

    from studio.canvas.block_item import elide_name

    metrics = QFontMetricsF(QFont("DejaVu Sans", 10))
    width = metrics.horizontalAdvance("TransformerLayer ×12") * 0.8
    text = elide_name(metrics, "TransformerLayer ×12", width)
    assert text.endswith(" ×12") and text.startswith("Transf") and "…" in text
    assert metrics.horizontalAdvance(text) <= width
    assert elide_name(metrics, "conv1", 500) == "conv1"
    assert elide_name(metrics, "a very long block name indeed", 60).endswith("…")

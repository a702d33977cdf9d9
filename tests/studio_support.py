"""Helpers shared by the studio window, inspector and panel tests.

Windows are built with a settings file and a recovery folder under the
test's tmp_path, so tests never touch the user's recent files or recovery
folder, and with bundled examples opened untitled (as the studio does).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from graph.examples import example_path
from graph.project_io import load_project
from studio.document import Document
from studio.main_window import MainWindow


def example_document(registry, name: str = "digits_cnn") -> Document:
    return Document(registry, load_project(example_path(name), registry))


def make_window(qtbot, tmp_path: Path, registry, example: str = "digits_cnn",
                show: bool = True) -> MainWindow:
    """A shown main window; close it with `close_window` (not qtbot.addWidget, which would close it
    before the test's own clean-up and so meet the unsaved-changes prompt)."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(example_document(registry, example), settings=settings,
                        autosave_folder=tmp_path / "recovery")
    if show:
        window.show()
        qtbot.waitExposed(window)
    return window


def close_window(window: MainWindow) -> None:
    window.document.undo_stack.setClean()  # changes a test made are not worth a prompt
    window.close()
    window.deleteLater()


def refuse_dialogs(monkeypatch) -> None:
    """A message box nobody expected fails the test instead of waiting for a click forever."""
    def unexpected(*args, **kwargs):
        raise AssertionError(f"unexpected dialog: {args[1:3]}")
    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, unexpected)


def block_id(document: Document, name: str, network: str | None = None) -> str:
    """The id of the block with that name (tests speak in names, as a user does)."""
    net = document.network(network)
    return next(b.id for b in net.blocks.values() if b.name == name)

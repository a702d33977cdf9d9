"""The main window's File menu work: new, open, save, save as, recent files, recovery.

Dialogs live here so main_window.py stays about layout. Every way of
leaving the current project (New, Open, a recent file, an example, Quit)
first asks about unsaved changes: Save, Discard or Cancel. Writing is the
Document's atomic save; a failure leaves the project open and says why.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from graph.atomic import clean_temporaries
from graph.project_io import ProjectFileError
from studio.document import Document
from studio.files import (
    Autosave,
    RecentFiles,
    discard_recovery,
    find_recoverable,
    recover,
    with_project_suffix,
)
from studio.panels.start_page import StartDialog

FILTER = "DeepWire projects (*.dw.json);;All files (*)"
Button = QMessageBox.StandardButton


class FileController(QObject):
    def __init__(self, window: QWidget, document: Document, recent: RecentFiles, autosave: Autosave | None):
        super().__init__(window)
        self.window, self.document, self.recent, self.autosave = window, document, recent, autosave
        self.ending = False  # set by end_session: closing no longer asks about unsaved changes

    # --- leaving the current project ---
    def confirm_discard(self) -> bool:
        """True when the current project may be replaced or closed (saved, discarded, or unchanged)."""
        if not self.document.modified:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"Save the changes to '{self.document.display_name()}' before closing it?\n"
            "Your changes are lost if you don't save them.",
            Button.Save | Button.Discard | Button.Cancel, Button.Save)
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def close(self) -> bool:
        """Closing the window: ask, then stop autosaving and remove this session's recovery file."""
        if self.ending:
            return True  # end_session kept the changes for recovery: nothing to ask
        if not self.confirm_discard():
            return False
        if self.autosave is not None:
            self.autosave.close()
            self.autosave = None
        return True

    def end_session(self) -> None:
        """The session ends without the user (SIGTERM at logout or shutdown): no dialog, which nobody
        would answer; unsaved changes go to the recovery file, kept for the next start to offer."""
        self.ending = True
        if self.autosave is not None:
            self.autosave.keep()
            self.autosave = None

    # --- new / open ---
    def new_project(self) -> bool:
        if not self.confirm_discard():
            return False
        self.document.new_project()
        return True

    def new_from_template(self) -> bool:
        dialog = StartDialog(self.document.registry, self.recent.paths(), self.window)
        if not dialog.exec() or dialog.chosen is None:
            return False
        kind, path = dialog.chosen
        if kind == "blank":
            return self.new_project()
        return self.open_path(path, as_copy=(kind == "example"))

    def open_dialog(self) -> bool:
        start = str(self.start_folder())
        path, _filter = QFileDialog.getOpenFileName(self.window, "Open project", start, FILTER)
        return bool(path) and self.open_path(path)

    def open_path(self, path: str | Path, as_copy: bool = False, ask: bool = True) -> bool:
        """Open a project file (as_copy: untitled, e.g. a bundled example); False if cancelled or broken."""
        if ask and not self.confirm_discard():
            return False
        try:
            self.document.open(path, as_copy=as_copy)
        except (ProjectFileError, OSError) as err:
            QMessageBox.critical(self.window, "Could not open the project", str(err))
            if not Path(path).exists():
                self.recent.remove(path)
            return False
        if not as_copy:
            self.recent.add(path)
            clean_temporaries(Path(path).resolve().parent)  # what saves killed here before left behind
        return True

    # --- save ---
    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._write(self.document.path)

    def start_folder(self) -> Path:
        """Where Open and Save As start: the project's folder; for an untitled project, the folder of
        the last project opened or saved; only then the home folder."""
        if self.document.path is not None:
            return self.document.path.parent
        recent = self.recent.paths()
        return recent[0].parent if recent else Path.home()

    def save_as(self) -> bool:
        name = self.document.path.name if self.document.path is not None \
            else f"{_file_stem(self.document.project.name)}.dw.json"
        start = str(self.start_folder() / name)
        path, _filter = QFileDialog.getSaveFileName(self.window, "Save project as", start, FILTER)
        return bool(path) and self._write(with_project_suffix(path))

    def _write(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except (OSError, ValueError) as err:
            QMessageBox.critical(self.window, "Could not save the project",
                                 f"{path}\n\n{err}\n\nThe project is still open and unchanged.")
            return False
        self.recent.add(path)
        return True

    # --- recent files ---
    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        paths = self.recent.paths()
        for i, path in enumerate(paths):
            action = menu.addAction(f"&{(i + 1) % 10} {path.name}")
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if paths:
            menu.addSeparator()
            menu.addAction("Clear recent files", self.recent.clear)
        else:
            menu.addAction("No recent files").setEnabled(False)

    # --- crash recovery ---
    def offer_recovery(self, folder: Path | None = None) -> bool:
        """After a crash: offer to reopen the newest leftover recovery file. True if recovered."""
        leftovers = find_recoverable(folder)
        if not leftovers:
            return False
        entry = leftovers[0]
        name = entry.original_path.name if entry.original_path else "an unsaved project"
        answer = QMessageBox.question(
            self.window, "Recover unsaved work?",
            f"DeepWire did not close properly last time. Recover the unsaved changes to {name}?",
            Button.Yes | Button.No, Button.Yes)
        if answer != Button.Yes:
            discard_recovery(entry)
            return False
        try:
            recover(entry, self.document, self.autosave)
        except (ProjectFileError, OSError) as err:
            QMessageBox.critical(self.window, "Could not recover the project", str(err))
            return False
        return True


def _file_stem(name: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.strip()).strip("_")
    return stem or "project"

"""Recent files, autosave and crash recovery.

`RecentFiles` is the File > Open Recent list, kept in QSettings: at most ten,
most recent first, files that no longer exist are dropped.

`Autosave` writes the open project to a recovery file every minute while it
has unsaved changes, never touching the user's own file. The recovery file
lives in <app data>/recovery/ beside a small JSON note naming the original
file; it is removed when the project is saved or closed cleanly, so what
remains there after a start is what a crash left behind. Each running
DeepWire holds a lock on its recovery files, so one window never offers to
recover another window's live work. `find_recoverable()` lists the leftovers
and `recover()` reopens one as an unsaved project.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QLockFile, QObject, QSettings, QStandardPaths, QTimer, Signal

from graph.atomic import clean_temporaries, write_text
from graph.project_io import load_project, save_project
from studio.document import Document

SUFFIX = ".dw.json"
NOTE_SUFFIX = ".note.json"
LOCK_SUFFIX = ".lock"
AUTOSAVE_INTERVAL_MS = 60_000


def with_project_suffix(path: str | Path) -> Path:
    """The path a Save dialog's answer means: "model" -> "model.dw.json"."""
    path = Path(path)
    return path if path.name.endswith(SUFFIX) else path.with_name(path.name + SUFFIX)


# ---------------------------------------------------------------- recent files


class RecentFiles(QObject):
    """The recently opened project files, most recent first, in QSettings."""

    changed = Signal()
    KEY = "recent_files"

    def __init__(self, settings: QSettings | None = None, limit: int = 10, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.limit = limit

    def paths(self) -> list[Path]:
        """The list as it stands, without files that have disappeared since (they are forgotten)."""
        stored = self._read()
        present = [p for p in stored if p.is_file()]
        if present != stored:
            self._write(present)
        return present

    def add(self, path: str | Path) -> None:
        path = Path(path).resolve()
        self._write(([path] + [p for p in self._read() if p != path])[: self.limit])

    def remove(self, path: str | Path) -> None:
        path = Path(path).resolve()
        self._write([p for p in self._read() if p != path])

    def clear(self) -> None:
        self._write([])

    def _read(self) -> list[Path]:
        raw = self.settings.value(self.KEY, "[]")
        try:
            # JSON text: QSettings would hand back a one-item list as a bare string
            values = json.loads(raw) if isinstance(raw, str) else []
        except ValueError:
            values = []
        if not isinstance(values, list):
            return []
        return [Path(v) for v in values if isinstance(v, str) and v][: self.limit]

    def _write(self, paths: list[Path]) -> None:
        text = json.dumps([str(p) for p in paths])
        if self.settings.value(self.KEY, "[]") == text:
            return
        self.settings.setValue(self.KEY, text)
        self.settings.sync()
        self.changed.emit()


# ---------------------------------------------------------------- autosave


def recovery_folder() -> Path:
    """<app data>/recovery (the application name set on QApplication picks the folder)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "recovery"


class Recoverable(NamedTuple):
    """A recovery file a crash left behind."""

    recovery_path: Path
    original_path: Path | None  # the project's own file; None if it was never saved
    modified: float  # when it was written (seconds since the epoch)


class Autosave(QObject):
    """Writes the document to a recovery file every `interval_ms` while it has unsaved changes."""

    saved = Signal(object)  # Path of the recovery file just written
    failed = Signal(str)  # why writing it failed (a full disk...), for the status bar

    def __init__(self, document: Document, folder: str | Path | None = None,
                 interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.folder = Path(folder) if folder is not None else recovery_folder()
        self._instance = uuid.uuid4().hex[:8]  # two windows on one file keep separate recovery files
        self._stem: str | None = None  # of the recovery file written for the current path
        self._lock: QLockFile | None = None
        self._written: tuple | None = None  # state last written, to skip identical rewrites
        self._closed = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave_now)
        document.modifiedChanged.connect(self._modified_changed)
        document.pathChanged.connect(self._path_changed)
        document.projectReplaced.connect(self.discard)
        self._modified_changed(document.modified)

    @property
    def recovery_path(self) -> Path:
        """Where the current project's recovery file goes."""
        return self.folder / f"{self._stem_for(self.document.path)}{SUFFIX}"

    def autosave_now(self) -> Path | None:
        """Write the recovery file if the document has changes not yet written; returns its path."""
        doc = self.document
        if self._closed or not doc.modified:
            return None
        state = (id(doc.project), doc.undo_stack.index(), tuple(n.revision for n in doc.project.networks))
        if state == self._written and self.recovery_path.is_file():
            return None
        stem = self._stem_for(doc.path)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if stem != self._stem:
                self.discard()
                self._take_lock(stem)
            path = self.folder / f"{stem}{SUFFIX}"
            save_project(doc.project, path)  # atomic: a crash now leaves the previous recovery file
            original = str(doc.path.resolve()) if doc.path is not None else None
            _write_json(self.folder / f"{stem}{NOTE_SUFFIX}", {"original": original, "written": time.time()})
        except (OSError, ValueError) as err:
            self.failed.emit(f"Autosave failed: {err}")
            return None
        self._written = state
        self.saved.emit(path)
        return path

    def discard(self) -> None:
        """Remove this document's recovery file (after a save, or when its changes are given up)."""
        if self._stem is not None:
            _remove_entry(self.folder, self._stem)
            self._stem = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self._written = None

    def close(self) -> None:
        """A clean close: no more autosaves, and nothing left to recover. Safe to call twice."""
        self.timer.stop()
        self.discard()
        self._stop()

    def keep(self) -> Path | None:
        """The session ends without a close (SIGTERM at logout or shutdown): write the unsaved changes
        now and stop; the recovery file stays for the next start to offer. Returns its path."""
        self.timer.stop()
        self.autosave_now()
        path = self.recovery_path if self._stem is not None else None
        self._stop()
        return path

    def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        for signal, slot in ((self.document.modifiedChanged, self._modified_changed),
                             (self.document.pathChanged, self._path_changed),
                             (self.document.projectReplaced, self.discard)):
            signal.disconnect(slot)

    def _modified_changed(self, modified: bool) -> None:
        if modified:
            if not self.timer.isActive():
                self.timer.start()
        else:  # saved (or undone back to the saved state): the file on disk is the truth
            self.timer.stop()
            self.discard()

    def _path_changed(self, _path) -> None:
        if self._stem is not None and self._stem != self._stem_for(self.document.path):
            self.discard()  # Save As to a new name: the next autosave starts a new file

    def _stem_for(self, path: Path | None) -> str:
        name = path.name.removesuffix(SUFFIX) if path is not None else "untitled"
        readable = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "project"
        return f"{readable}-{self._instance}"

    def _take_lock(self, stem: str) -> None:
        lock = QLockFile(str(self.folder / f"{stem}{LOCK_SUFFIX}"))
        lock.setStaleLockTime(0)  # held for hours: only a dead owner makes it stale
        lock.tryLock(0)
        self._lock, self._stem = lock, stem


def find_recoverable(folder: str | Path | None = None) -> list[Recoverable]:
    """Recovery files left by a DeepWire that did not close cleanly, newest first.

    Files another running DeepWire is still writing are not listed.
    """
    folder = Path(folder) if folder is not None else recovery_folder()
    if not folder.is_dir():
        return []
    clean_temporaries(folder)  # half-written autosaves of a killed DeepWire: never a project
    found = []
    for path in folder.glob(f"*{SUFFIX}"):
        stem = path.name.removesuffix(SUFFIX)
        if stem.startswith(".") or _in_use(folder, stem):
            continue
        note = _read_json(folder / f"{stem}{NOTE_SUFFIX}")
        original = note.get("original")
        try:
            written = path.stat().st_mtime
        except OSError:
            continue
        found.append(Recoverable(path, Path(original) if isinstance(original, str) else None, written))
    return sorted(found, key=lambda r: r.modified, reverse=True)


def recover(entry: Recoverable, document: Document, autosave: Autosave | None = None) -> None:
    """Open a recovered project as unsaved work on its original file (ProjectFileError if unreadable).

    The leftover is removed once the project is open, after `autosave` (if
    given) has written it again as this session's own recovery file.
    """
    project = load_project(entry.recovery_path, document.registry)
    document.replace_project(project, entry.original_path, modified=True)
    if autosave is not None:
        autosave.autosave_now()
    discard_recovery(entry)


def discard_recovery(entry: Recoverable) -> None:
    """Forget a leftover recovery file (the user chose not to recover it)."""
    _remove_entry(entry.recovery_path.parent, entry.recovery_path.name.removesuffix(SUFFIX))


def _in_use(folder: Path, stem: str) -> bool:
    lock_path = folder / f"{stem}{LOCK_SUFFIX}"
    if not lock_path.exists():
        return False
    lock = QLockFile(str(lock_path))
    lock.setStaleLockTime(0)
    if lock.tryLock(0):  # the owner is gone (a stale lock is taken over): a crash's leftover
        lock.unlock()
        return False
    return lock.error() == QLockFile.LockError.LockFailedError


def _remove_entry(folder: Path, stem: str) -> None:
    for suffix in (SUFFIX, NOTE_SUFFIX):
        try:
            (folder / f"{stem}{suffix}").unlink()
        except FileNotFoundError:
            pass


def _write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}

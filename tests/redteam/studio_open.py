"""The studio's open path up to first paint, as `deepwire PROJECT` runs it, then the Runs panel.

`open_and_paint(path, home)` does in this process what studio.launcher's
run_studio does: load the project (a broken one: a message and exit code 2),
build the main window (settings and recovery folder under `home`), show it
and process events until the window has painted, then tick every run in the
Runs panel so that each run's curves are read and plotted. Message boxes are
answered at once and their text printed, since a modal box would wait for a
click forever. An exception raised inside a Qt slot is printed as a
traceback (the harness counts it). Returns 0 when the window painted.

`python -m tests.redteam.studio_open PROJECT HOME` does the same in a child,
for inputs that may hang in a system call no timer interrupts (FIFOs).
"""

from __future__ import annotations

import gc
import sys
import time
import traceback
from pathlib import Path

PAINT_SECONDS = 20.0


def open_and_paint(path: str, home: Path) -> int:
    from graph.examples import ProjectNotFoundError
    from graph.project_io import ProjectFileError
    from studio.launcher import load

    try:
        registry, project, resolved, as_copy = load(path)
    except (ProjectNotFoundError, ProjectFileError, OSError) as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings
    from PySide6.QtWidgets import QMessageBox

    from studio.app import create_app
    from studio.document import Document
    from studio.main_window import MainWindow

    app = create_app()
    saved_hook, saved_boxes = sys.excepthook, {}

    def print_slot_error(kind, value, tb):  # PySide6 hands exceptions in slots to sys.excepthook
        sys.stderr.write("".join(traceback.format_exception(kind, value, tb)))

    def answer(title_index):
        def box(*args, **kwargs):
            print(f"dialog: {' | '.join(str(a) for a in args[1:3])}", file=sys.stderr)
            return QMessageBox.StandardButton.No if title_index else QMessageBox.StandardButton.Ok

        return box

    for name in ("critical", "warning", "information", "question"):
        saved_boxes[name] = getattr(QMessageBox, name)
        setattr(QMessageBox, name, staticmethod(answer(name == "question")))
    sys.excepthook = print_slot_error

    class FirstPaint(QObject):
        painted = False

        def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                FirstPaint.painted = True
            return False

    window = None
    try:
        settings = QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
        document = Document(registry, project, None if as_copy else resolved)
        window = MainWindow(document, settings=settings, autosave_folder=home / "recovery")
        spy = FirstPaint(window)
        window.installEventFilter(spy)
        window.show()
        deadline = time.monotonic() + PAINT_SECONDS
        while not FirstPaint.painted and time.monotonic() < deadline:
            app.processEvents()
        if not FirstPaint.painted:
            print("the window never painted", file=sys.stderr)
            return 3
        _tick_every_run(window, app)
        return 0
    finally:
        if window is not None:
            window.document.undo_stack.setClean()
            window.close()
            window.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
            app.processEvents()
            del window
            gc.collect()  # the panels' temporary folders go with them
        sys.excepthook = saved_hook
        for name, box in saved_boxes.items():
            setattr(QMessageBox, name, box)


def _tick_every_run(window, app) -> None:
    """Tick each run in the Runs panel (reads and plots its curves) and select it."""
    from PySide6.QtCore import Qt

    panel = window.runs
    panel.refresh()
    table = panel.table
    for i in range(table.topLevelItemCount()):
        item = table.topLevelItem(i)
        item.setCheckState(0, Qt.CheckState.Checked)
        table.setCurrentItem(item)
        app.processEvents()
    panel.plot_ticked()
    app.processEvents()


if __name__ == "__main__":
    sys.exit(open_and_paint(sys.argv[1], Path(sys.argv[2])))

"""Helpers shared by the studio window, inspector and panel tests.

Windows are built with a settings file and a recovery folder under the
test's tmp_path, so tests never touch the user's recent files or recovery
folder, and with bundled examples opened untitled (as the studio does).
`no_noise` fails a test whose session printed a traceback or a Qt warning.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

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


class Noise:
    """What a session printed that a user would see: tracebacks, unraisable errors, Qt warnings."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        self.lines.append(text.rstrip())


# said by Qt's offscreen platform (the tests' screen) when a window is shown; no real screen says it
OFFSCREEN_ONLY = ("This plugin does not support propagateSizeHints()",)


@contextlib.contextmanager
def no_noise(capfd, ignore: tuple[str, ...] = OFFSCREEN_ONLY):
    """Fail the test if the block inside prints a traceback or a Qt warning.

    Collects, while the block runs: Qt messages of any level above debug
    (qInstallMessageHandler), exceptions Python could not raise anywhere
    (sys.unraisablehook: e.g. a slot failing inside Qt's event loop) and
    uncaught ones (sys.excepthook), and everything written to stderr (capfd:
    a traceback PySide prints for a failing slot goes there). At the end the
    test fails with the collected lines. `ignore` holds substrings of lines
    that are not the session's fault (by default the offscreen platform's own).

        with no_noise(capfd):
            ...  # open, edit, train: anything printed fails the test
    """
    noise = Noise()

    def on_qt_message(mode, _context, message):
        if mode != QtMsgType.QtDebugMsg:
            noise.add(f"Qt {mode.name}: {message}")

    def on_unraisable(info):
        noise.add("unraisable: " + "".join(traceback.format_exception(
            info.exc_type, info.exc_value, info.exc_traceback)))

    def on_uncaught(kind, value, tb):
        noise.add("uncaught: " + "".join(traceback.format_exception(kind, value, tb)))

    # what came before is not this session's: earlier tests' windows die now, not in the middle of it
    gc.collect()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QApplication.processEvents()
    capfd.readouterr()
    previous_handler = qInstallMessageHandler(on_qt_message)
    old_unraisable, old_except = sys.unraisablehook, sys.excepthook
    sys.unraisablehook, sys.excepthook = on_unraisable, on_uncaught
    try:
        yield noise
        QApplication.processEvents()  # deferred deletions and queued slots speak now, not later
    finally:
        qInstallMessageHandler(previous_handler)
        sys.unraisablehook, sys.excepthook = old_unraisable, old_except
        err = capfd.readouterr().err
    noise.lines.extend(line for line in err.splitlines() if line.strip())
    lines = [line for line in noise.lines if not any(part in line for part in ignore)]
    assert not lines, "the session printed:\n" + "\n".join(lines)


def process_alive(pid: int) -> bool:
    """Whether a child process still runs (a zombie is as good as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def grid_view(qtbot, registry, count: int, columns: int):
    """A 900x600 NetworkView at 100 % over a grid of `count` ReLU cards, the grid's top-left corner in the
    view's middle, its minimap refreshed (minimap tests)."""
    from PySide6.QtCore import QPointF

    from graph.model import Block, Network, Project
    from studio.canvas.style import LIGHT
    from studio.canvas.view import NetworkView

    net = Network("big")
    for i in range(count):
        net.add_block(Block(f"b{i}", "ReLU", f"r{i}", {}, (220.0 * (i % columns), 160.0 * (i // columns))))
    view = NetworkView(Document(registry, Project("Big", [net])), "big", LIGHT)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    view.setZoom(1.0)
    view.centerOn(QPointF(0, 0))
    view.minimap.refresh()
    return view

"""The `deepwire` command: the studio for `deepwire [PROJECT]` and `deepwire screenshot`, else the CLI.

    deepwire                      the studio on the bundled digits CNN, ready to train
    deepwire PROJECT              the studio on a project file (or a bundled example's name)
    deepwire screenshot PROJECT OUT.png [--size WxH] [--theme light|dark]
    deepwire check|export|train|examples ...   handed to runtime.cli, without importing Qt

This module imports nothing heavy at load time, so `deepwire check` stays as
fast as before. The studio path never imports torch before the window is
painted (training runs in a child process; export imports torch on use).

DEEPWIRE_EXIT_AFTER_PAINT=1 makes the studio quit as soon as the window's
first paint is done and print `startup_ms=... torch=...` (bench/bench_startup.py).
"""

from __future__ import annotations

import os
import sys
import time

DEFAULT_EXAMPLE = "digits_cnn"
EXIT_AFTER_PAINT = "DEEPWIRE_EXIT_AFTER_PAINT"
STUDIO_USAGE = """\
The studio:
  deepwire                     open the studio on the bundled digits CNN example
  deepwire PROJECT             open a project file (or a bundled example by name)
  deepwire screenshot PROJECT OUT.png [--size WxH] [--theme light|dark]
"""


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "screenshot":
        from studio.screenshot import main as screenshot_main
        return screenshot_main(argv[1:])
    from runtime.cli import COMMANDS  # cheap: argparse and the command table, no Qt, no torch
    if not argv:
        return run_studio(None, started)
    if argv[0] in COMMANDS or argv[0].startswith("-") or len(argv) > 1:
        if argv[0] in ("-h", "--help"):
            print(STUDIO_USAGE)
        from runtime.cli import main as cli_main
        return cli_main(argv)
    return run_studio(argv[0], started)


def load(arg: str | None):
    """(project, path, as_copy) for a command-line argument; raises ProjectNotFoundError/ProjectFileError."""
    from graph.blocks import default_registry
    from graph.examples import example_path, resolve_project
    from graph.project_io import load_project

    registry = default_registry()
    path = resolve_project(arg or DEFAULT_EXAMPLE)
    # a bundled example opens untitled, so Save asks where to put the user's copy
    as_copy = arg is None or (example_path(str(arg)) == path and not os.path.isfile(str(arg)))
    return registry, load_project(path, registry), path, as_copy


def run_studio(arg: str | None, started: float | None = None) -> int:
    started = time.perf_counter() if started is None else started
    from graph.examples import ProjectNotFoundError
    from graph.project_io import ProjectFileError

    try:
        registry, project, path, as_copy = load(arg)
    except (ProjectNotFoundError, ProjectFileError, OSError) as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return 2
    from studio.platform_check import startup_problem

    problem = startup_problem()  # before Qt, which would abort (exit 134) and blame the wrong library
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from studio.app import ThemeManager, create_app
    from studio.document import Document
    from studio.main_window import MainWindow

    app = create_app()
    theme = ThemeManager(app)
    document = Document(registry, project, None if as_copy else path)
    window = MainWindow(document, theme=theme)
    if not as_copy:
        window.recent.add(path)
    if os.environ.get(EXIT_AFTER_PAINT):
        _quit_after_first_paint(app, window, started)
    else:
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, window.files.offer_recovery)
    window.show()
    _close_on_interrupt(app, window)
    return int(app.exec())


def _close_on_interrupt(app, window) -> None:
    """Ctrl+C in the terminal closes the window as its close button does (unsaved changes are asked
    about; the autosave stays for recovery) instead of a KeyboardInterrupt traceback in some slot.
    SIGTERM and SIGHUP (logout, shutdown) end the session at once: nobody is there to answer a dialog,
    so unsaved changes are written to the recovery file instead (MainWindow.end_session)."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
    for name in ("SIGTERM", "SIGHUP"):  # no SIGHUP on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: QTimer.singleShot(0, window.end_session))
    ticker = QTimer(window)  # Python runs signal handlers only between bytecodes: let it in now and then
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def _quit_after_first_paint(app, window, started: float) -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and not getattr(self, "seen", False):
                self.seen = True

                def done():  # after the rest of this paint pass has run
                    elapsed = (time.perf_counter() - started) * 1000
                    print(f"startup_ms={elapsed:.0f} torch={'torch' in sys.modules}", flush=True)
                    app.quit()
                QTimer.singleShot(0, done)
            return False

    window._first_paint = FirstPaint(window)
    window.installEventFilter(window._first_paint)


if __name__ == "__main__":
    sys.exit(main())

"""`deepwire screenshot PROJECT OUT.png [--size WxH]`: the main window with a project, as a PNG.

Renders offscreen (no display needed), with a throwaway settings file and
no autosave, so taking a picture never touches the user's recent files or
recovery folder. Used for the README and for looking at the studio as a
user would: `--theme dark`, `--select conv1` (a block to show in the
inspector), `--panel code` (the bottom panel to raise), `--folds expanded`
(every run of consecutive definition instances shown card by card; `folded`:
each run as one "Name xN" card; default: as the studio opens it), `--arrange`
(Auto Layout first, as the toolbar button does: wrapped to the window, folds
as one card each; the project file is not written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_SIZE = (1440, 900)
PANELS = ("problems", "code", "history")
FOLDS = ("default", "folded", "expanded")


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1440x900; got {text!r}") from None
    if not (320 <= width <= 8000 and 240 <= height <= 8000):
        raise argparse.ArgumentTypeError(f"size must be between 320x240 and 8000x8000; got {text!r}")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepwire screenshot",
                                     description="Render the studio's main window with a project to a PNG.")
    parser.add_argument("project", help="a *.dw.json file or a bundled example's name")
    parser.add_argument("out", help="the PNG file to write")
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH",
                        help="window size in pixels (default 1440x900)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--select", metavar="BLOCK",
                        help="name or id of a block to select (shown in the inspector)")
    parser.add_argument("--panel", choices=PANELS, default="problems", help="the bottom panel to show")
    parser.add_argument("--folds", choices=FOLDS, default="default",
                        help="runs of consecutive instances of a definition: folded into one card, expanded, "
                             "or as the studio opens them (folded in networks of many blocks)")
    parser.add_argument("--arrange", action="store_true",
                        help="press Auto Layout first (the picture only: the project file is not written)")
    return parser


def render(project_arg: str, out: str | Path, size: tuple[int, int] = DEFAULT_SIZE, theme: str = "light",
           select: str | None = None, panel: str = "problems", folds: str = "default",
           arrange: bool = False) -> Path:
    """Write the PNG and return its path. Raises ProjectNotFoundError/ProjectFileError, or ValueError
    for a block name that is not in the project."""
    from PySide6.QtWidgets import QApplication
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, Qt

    from studio.app import ThemeManager, create_app
    from studio.document import Document
    from studio.launcher import load
    from studio.main_window import MainWindow

    registry, project, path, as_copy = load(project_arg)
    app = create_app()
    _quiet_offscreen_notice()
    with tempfile.TemporaryDirectory() as scratch:
        settings = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Document(registry, project, None if as_copy else path), settings=settings,
                            autosave=False, theme=ThemeManager(app, theme))
        window.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        window.resize(*size)
        window.show()
        window.show_panel(panel.capitalize())
        app.processEvents()
        if folds != "default":
            _set_folds(window, folds == "folded")
            app.processEvents()
        window.tabs.fit_all()
        if arrange:
            for view in window.tabs.views:
                view.arrange()
            app.processEvents()
        if select:
            _select(window, select)
        for _ in range(3):  # layouts settle over a few rounds (a child's request, then its parents')
            app.processEvents()
        image = window.grab().toImage()
        if (image.width(), image.height()) != tuple(size):  # a window larger than asked (minimum sizes)
            image = image.scaled(*size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        out = Path(out)
        if not image.save(str(out), "PNG"):
            raise OSError(f"could not write {out}")
        while window.document.undo_stack.canUndo():  # --arrange's steps: closing asks nothing, writes nothing
            window.document.undo_stack.undo()
        window.document.undo_stack.setClean()
        window.close()
        window.deleteLater()
        app.processEvents()
    return out


# what Qt's offscreen platform says of every top-level window it shows; it is about the platform, not a
# fault of the picture, and no real screen says it
OFFSCREEN_NOTICE = "This plugin does not support propagateSizeHints()"


def _quiet_offscreen_notice() -> None:
    """Let every Qt message through to stderr except the offscreen platform's notice above."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(mode, _context, message):
        if message == OFFSCREEN_NOTICE or mode == QtMsgType.QtDebugMsg:
            return
        print(f"Qt {mode.name.removeprefix('Qt').removesuffix('Msg').lower()}: {message}", file=sys.stderr)

    qInstallMessageHandler(handler)


def _set_folds(window, folded: bool) -> None:
    for view in window.tabs.views:
        scene = view.scene()
        for run in list(scene.runs):
            scene.set_folded(run.blocks[0], folded)


def _select(window, wanted: str) -> None:
    for net in window.document.project.networks:
        for block in net.blocks.values():
            if wanted in (block.id, block.name):
                window.tabs.select_block(net.name, block.id, center=False)
                return
    raise ValueError(f"no block named {wanted!r} in the project")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from graph.examples import ProjectNotFoundError
    from graph.project_io import ProjectFileError
    try:
        out = render(args.project, args.out, args.size, args.theme, args.select, args.panel, args.folds,
                     args.arrange)
    except (ProjectNotFoundError, ProjectFileError, ValueError, OSError) as err:
        print(f"deepwire screenshot: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.size[0]}x{args.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

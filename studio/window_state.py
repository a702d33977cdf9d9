"""What the studio remembers between sessions: window geometry, dock layout, theme.

Kept in the same QSettings as the recent files (tests pass a temporary
file, so they never touch the user's). Geometry and dock layout are saved
when the window closes and restored when the next one opens; the theme as
soon as it is picked in View > Theme. DEEPWIRE_THEME still wins over the
remembered theme (screenshots force one).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

GEOMETRY, DOCKS, THEME = "window/geometry", "window/docks", "view/theme"
# bump when the docks change so an old layout (naming docks that are gone) is not restored
DOCKS_VERSION = 1


def restore(window: QMainWindow, settings: QSettings, theme=None) -> None:
    """Put back the last session's geometry, docks and theme (what is missing keeps the defaults)."""
    geometry = settings.value(GEOMETRY)
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
    docks = settings.value(DOCKS)
    if isinstance(docks, QByteArray) and not docks.isEmpty():
        window.restoreState(docks, DOCKS_VERSION)
    mode = settings.value(THEME)
    if theme is not None and isinstance(mode, str) and not os.environ.get("DEEPWIRE_THEME"):
        try:
            theme.set_mode(mode)
        except ValueError:  # a value from another version: keep the system's
            pass


def save(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue(GEOMETRY, window.saveGeometry())
    settings.setValue(DOCKS, window.saveState(DOCKS_VERSION))
    settings.sync()


def save_theme(settings: QSettings, mode: str) -> None:
    settings.setValue(THEME, mode)
    settings.sync()

"""The QApplication for the studio, and the theme that follows the system.

`create_app` makes (or reuses) the application with the Fusion style and
DeepWire's palette. `ThemeManager` picks light or dark: the user's choice
when there is one ("light", "dark"), else the platform's colour scheme
(Qt 6.5+ `QStyleHints.colorScheme`), and switches live when the system does.
DEEPWIRE_THEME=light|dark forces one (handy for screenshots).
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

from studio import theme

LIGHT, DARK = theme.LIGHT_NAME, theme.DARK_NAME
MODES = ("system", LIGHT, DARK)


def system_is_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    app.setApplicationName("DeepWire")
    app.setOrganizationName("DeepWire")
    app.setApplicationDisplayName("DeepWire")
    app.setStyle("Fusion")
    return app


class ThemeManager(QObject):
    """Owns the current look; emits `changed(dark)` whenever it flips."""

    changed = Signal(bool)

    def __init__(self, app: QApplication, mode: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._app = app
        self._mode = mode or os.environ.get("DEEPWIRE_THEME", "system")
        if self._mode not in MODES:
            self._mode = "system"
        self._dark: bool | None = None
        app.styleHints().colorSchemeChanged.connect(self._system_changed)
        self.apply()

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def dark(self) -> bool:
        return bool(self._dark)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"theme must be one of {', '.join(MODES)}; got {mode!r}")
        self._mode = mode
        self.apply()

    def _wanted_dark(self) -> bool:
        if self._mode != "system":
            return self._mode == DARK
        return system_is_dark(self._app)

    def _system_changed(self, _scheme) -> None:
        if self._mode == "system":
            self.apply()

    def apply(self) -> None:
        dark = self._wanted_dark()
        if dark == self._dark:
            return
        self._dark = dark
        self._app.setPalette(theme.palette(dark))
        self._app.setStyleSheet(theme.style_sheet(dark))
        self.changed.emit(dark)

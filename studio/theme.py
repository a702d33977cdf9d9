"""Light and dark looks of the studio's widgets: a Fusion palette plus a short style sheet.

The canvas draws with its own colours (studio/canvas/style.py); this module
themes everything around it (docks, lists, fields) so both halves match.
Fusion is used on every platform because it honours the palette fully, so
the dark theme is really dark on Windows and Linux alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette

LIGHT_NAME, DARK_NAME = "light", "dark"


@dataclass(frozen=True)
class Colors:
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    button: str
    border: str
    highlight: str
    highlighted_text: str
    link: str
    error: str
    warning: str
    ok: str


LIGHT = Colors(window="#eef0f3", base="#ffffff", alternate="#f5f6f8", text="#1d2127", muted="#5f6975",
               button="#f7f8fa", border="#c9ced6", highlight="#4c6ef5", highlighted_text="#ffffff",
               link="#364fc7", error="#c92a2a", warning="#b35c00", ok="#2b8a3e")
DARK = Colors(window="#25282d", base="#1c1f23", alternate="#23272c", text="#e9ecef", muted="#a1a9b3",
              button="#30343a", border="#444b55", highlight="#5c7cfa", highlighted_text="#ffffff",
              link="#91a7ff", error="#ff8787", warning="#ffc078", ok="#8ce99a")


def colors(dark: bool) -> Colors:
    return DARK if dark else LIGHT


def palette(dark: bool) -> QPalette:
    c = colors(dark)
    pal = QPalette()
    role = QPalette.ColorRole
    for r, value in (
        (role.Window, c.window), (role.WindowText, c.text), (role.Base, c.base),
        (role.AlternateBase, c.alternate), (role.Text, c.text), (role.Button, c.button),
        (role.ButtonText, c.text), (role.Highlight, c.highlight),
        (role.HighlightedText, c.highlighted_text), (role.ToolTipBase, c.base),
        (role.ToolTipText, c.text), (role.PlaceholderText, c.muted), (role.Link, c.link),
        (role.BrightText, c.error), (role.Mid, c.border), (role.Dark, c.border),
        (role.Light, c.base), (role.Midlight, c.alternate), (role.Shadow, "#000000"),
    ):
        pal.setColor(r, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(disabled, r, QColor(c.muted))
    return pal


def style_sheet(dark: bool) -> str:
    """Only what a palette cannot say: the error/help labels and the summary strip."""
    c = colors(dark)
    return f"""
QLabel[role="error"] {{ color: {c.error}; }}
QLabel[role="warning"] {{ color: {c.warning}; }}
QLabel[role="help"], QLabel[role="muted"] {{ color: {c.muted}; }}
QLabel[role="heading"] {{ font-weight: 600; }}
QToolTip {{ color: {c.text}; background: {c.base}; border: 1px solid {c.border}; padding: 4px; }}
QDockWidget::title {{ padding: 4px 6px; background: {c.alternate}; }}
QStatusBar {{ border-top: 1px solid {c.border}; }}
"""


def mark_invalid(widget, invalid: bool) -> None:
    """Tint a field whose value was refused. Through the palette, not a style sheet: a sheet
    on a spin box or drop-down would replace the style's own arrows."""
    widget.setProperty("invalid", invalid)
    if not invalid:
        widget.setPalette(QPalette())  # inherit again
        return
    dark = widget.palette().window().color().lightness() < 128
    pal = QPalette(widget.palette())
    pal.setColor(QPalette.ColorRole.Base, QColor(INVALID_DARK if dark else INVALID_LIGHT))
    widget.setPalette(pal)


INVALID_LIGHT, INVALID_DARK = "#ffe3e3", "#4d2428"


def code_colors(dark: bool) -> dict[str, str]:
    """Syntax colours for the code view (keyword, builtin, string, comment, number, definition)."""
    if dark:
        return {"keyword": "#c792ea", "builtin": "#82aaff", "string": "#c3e88d", "comment": "#7f8c98",
                "number": "#f78c6c", "definition": "#ffcb6b", "self": "#ff869a"}
    return {"keyword": "#8839ef", "builtin": "#1e66f5", "string": "#40a02b", "comment": "#7c7f93",
            "number": "#d20f39", "definition": "#b35c00", "self": "#d20f39"}

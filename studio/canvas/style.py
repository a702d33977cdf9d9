"""Colours, fonts and sizes of the canvas, defined once, for a light and a dark theme.

Every item reads its colours from the scene's `Theme`, so switching the
theme is one call (`NetworkScene.set_theme`). Category colours are calm,
distinct hues; red and amber are kept for errors and warnings, so a band
colour never reads as a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication

GRID = 20.0  # snap step and background dot spacing, in scene pixels
CARD_WIDTH = 180.0
BAND = 5.0  # height of the coloured category band at the top of a card
ROW = 17.0  # one line of card text
PORT_RADIUS = 5.0
PORT_PICK = 16.0  # how near (scene px) a released wire must be to a port to land on it
CORNER = 7.0
TEXT_LOD = 0.5  # below this zoom, text is drawn as grey bars (level of detail)

# palette order of graph/blocks: (light, dark)
CATEGORY_COLORS: dict[str, tuple[str, str]] = {
    "Inputs": ("#2f9e44", "#51cf66"),
    "Dense": ("#4263eb", "#748ffc"),
    "Convolution": ("#1098ad", "#3bc9db"),
    "Pooling": ("#7048e8", "#9775fa"),
    "Normalization": ("#5c7f99", "#8fb0c8"),
    "Recurrent": ("#be4bdb", "#da77f2"),
    "Attention": ("#d9480f", "#ff922b"),
    "Activations": ("#66a80f", "#a9e34b"),
    "Merge": ("#9c6b43", "#d0a47c"),
    "Pretrained": ("#c2255c", "#f06595"),
    "Outputs": ("#495057", "#adb5bd"),
}
_FALLBACK = ("#868e96", "#ced4da")


@dataclass(frozen=True)
class Theme:
    """The colours of one theme; `dark` picks the dark half of each category pair."""

    name: str
    dark: bool
    background: str
    grid: str
    card: str
    card_border: str
    text: str
    muted: str
    greek: str  # the grey bars that stand in for text when zoomed out
    shape_fill: str
    wire: str
    wire_hover: str
    selection: str
    accept: str  # a port that would take the wire being dragged
    error: str
    warning: str
    disabled: str
    group_fill: str
    group_border: str
    frozen: str = "#1c7ed6"  # a frozen block's outline, lock and label (transfer learning)
    frozen_hatch: str = "#cfe2f7"  # the diagonal hatching over a frozen block's body
    deploy: str = "#343a40"  # the deploy lint's target badge (no category's hue, nor error or warning)
    fonts: dict[str, QFont] = field(default_factory=dict, compare=False, hash=False)
    colors: dict[str, QColor] = field(default_factory=dict, compare=False, hash=False)
    font_metrics: dict[str, QFontMetricsF] = field(default_factory=dict, compare=False, hash=False)

    def category(self, name: str) -> QColor:
        key = "category:" + name
        if key not in self.colors:
            pair = CATEGORY_COLORS.get(name, _FALLBACK)
            self.colors[key] = QColor(pair[1] if self.dark else pair[0])
        return self.colors[key]

    def color(self, attribute: str) -> QColor:
        """A shared QColor (parsing hex text for every item of a big scene adds up); do not modify it."""
        color = self.colors.get(attribute)
        if color is None:
            color = self.colors[attribute] = QColor(getattr(self, attribute))
        return color

    def font(self, role: str) -> QFont:
        """title (bold), body, small; made once per theme, since QFont construction is not free."""
        if role not in self.fonts:
            font = QFont()
            font.setPointSizeF({"title": 9.5, "body": 8.5, "small": 8.0}[role])
            if role == "title":
                font.setWeight(QFont.Weight.DemiBold)
            self.fonts[role] = font
        return self.fonts[role]


    def metrics(self, role: str) -> QFontMetricsF:
        if role not in self.font_metrics:
            self.font_metrics[role] = QFontMetricsF(self.font(role))
        return self.font_metrics[role]


LIGHT = Theme(
    name="light", dark=False, background="#f6f7f9", grid="#d5d9df", card="#ffffff",
    card_border="#c9ced6", text="#1d2127", muted="#66707c", greek="#d3d7dd", shape_fill="#eef1f5",
    wire="#8a94a2", wire_hover="#4c6ef5", selection="#4c6ef5", accept="#2f9e44",
    error="#e03131", warning="#f08c00", disabled="#adb5bd", group_fill="#eaf0fb",
    group_border="#9fb3d9",
)
DARK = Theme(
    name="dark", dark=True, background="#1e2126", grid="#353a42", card="#2b3038",
    card_border="#444b55", text="#e9ecef", muted="#a1a9b3", greek="#4a515b", shape_fill="#363c45",
    wire="#7d8794", wire_hover="#91a7ff", selection="#91a7ff", accept="#69db7c",
    error="#ff6b6b", warning="#fcc419", disabled="#5c636d", group_fill="#262c36",
    group_border="#4d5b75", frozen="#74c0fc", frozen_hatch="#33465c", deploy="#dee2e6",
)


def system_theme() -> Theme:
    """DARK when the platform asks for a dark colour scheme, else LIGHT."""
    app = QGuiApplication.instance()
    if app is not None and app.styleHints().colorScheme() == Qt.ColorScheme.Dark:
        return DARK
    return LIGHT


def snap(value: float, step: float = GRID) -> float:
    return round(value / step) * step

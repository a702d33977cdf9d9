"""Gradient flow on the canvas: a colour per gradient norm, the card overlay and its legend.

A block's gradient norm (the L2 norm of its parameters' gradients, sent by
the trainer in block_stats events) is coloured on a log10 scale:

    < 1e-6          blue    vanishing: the block has all but stopped learning
    1e-4 ... 1e1    green   healthy
    > 1e2           red     exploding: steps this large throw the weights around

with smooth blends between (cyan towards vanishing, yellow and orange
towards exploding). The thresholds are rules of thumb for float32 networks
trained with the usual learning rates (1e-4 ... 1e-1): a gradient a million
times smaller than the weights it updates moves nothing, one in the
hundreds usually precedes a NaN. Blocks without weights (activations,
pooling, reshapes) have no gradient of their own and stay uncoloured.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QWidget

from studio.canvas.style import CARD_WIDTH, CORNER

VANISHING = 1e-6  # below: vanishing
EXPLODING = 1e2  # above: exploding
LOW, HIGH = -8.0, 3.0  # the legend's log10 range; values beyond take the end colours

# (log10 norm, colour): piecewise-linear blends between these stops
STOPS = (
    (-8.0, "#1c3d9c"),
    (-6.0, "#3b74e8"),
    (-4.5, "#22b8cf"),
    (-3.0, "#37b24d"),
    (0.0, "#37b24d"),
    (1.0, "#fab005"),
    (2.0, "#f76707"),
    (3.0, "#d62020"),
)


def level(norm: float) -> str:
    """In words: vanishing, healthy, exploding, or 'no gradient' (zero / not a number)."""
    if norm is None or not math.isfinite(norm):
        return "not a number"
    if norm <= 0:
        return "no gradient"
    if norm < VANISHING:
        return "vanishing"
    if norm > EXPLODING:
        return "exploding"
    return "healthy"


def position(norm: float) -> float:
    """log10 of the norm, clamped to the legend's range (0 and NaN sit at its ends)."""
    if norm is None or not math.isfinite(norm):
        return HIGH
    if norm <= 0:
        return LOW
    return min(HIGH, max(LOW, math.log10(norm)))


def color_at(x: float) -> QColor:
    """The colour of log10 value x."""
    if x <= STOPS[0][0]:
        return QColor(STOPS[0][1])
    for (x0, c0), (x1, c1) in zip(STOPS, STOPS[1:]):
        if x <= x1:
            t = (x - x0) / (x1 - x0) if x1 > x0 else 0.0
            a, b = QColor(c0), QColor(c1)
            return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                                   a.greenF() + (b.greenF() - a.greenF()) * t,
                                   a.blueF() + (b.blueF() - a.blueF()) * t)
    return QColor(STOPS[-1][1])


def norm_color(norm: float) -> QColor:
    return color_at(position(norm))


def unhealthiness(norm: float) -> float:
    """How far a norm lies from the middle of the healthy range (log scale), in units of the way to its
    edge: 0 at 1e-2, 1 at VANISHING (1e-6) or EXPLODING (1e2), more beyond; inf for not a number.
    Continuous, so among healthy norms the one nearest to vanishing or exploding still stands out."""
    if norm is None or not math.isfinite(norm):
        return math.inf
    x = position(norm)
    low, high = math.log10(VANISHING), math.log10(EXPLODING)
    middle = (low + high) / 2
    return (middle - x) / (middle - low) if x < middle else (x - middle) / (high - middle)


def worst(norms: dict[str, float]) -> str | None:
    """The key of the least healthy norm (the first of equals); None for none.

    A folded run shows its worst instance rather than a mean: the overlay is there to catch the
    one layer whose gradient vanished or exploded, and a mean of eleven healthy layers and a
    vanishing one would look healthy.
    """
    return max(norms, key=lambda k: unhealthiness(norms[k]), default=None)


def format_norm(norm: float) -> str:
    if norm is None or not math.isfinite(norm):
        return "NaN"
    return "0" if norm == 0 else f"{norm:.1e}"


class GradientOverlay(QGraphicsItem):
    """A coloured glow around a card and a value pill above it; the pill's tooltip says what it means."""

    def __init__(self, parent: QGraphicsItem, height: float):
        super().__init__(parent)
        self.norm = 0.0
        self.card_height = height
        self.setAcceptHoverEvents(True)
        # under the card's own painting: the glow shows around it, the card stays readable
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)

    def set_norm(self, norm: float, height: float) -> None:
        if (norm, height) == (self.norm, self.card_height):
            return
        if height != self.card_height:
            self.prepareGeometryChange()
        self.norm, self.card_height = norm, height
        self.setToolTip(f"<b>gradient norm {format_norm(norm)}</b> ({level(norm)})<br>"
                        f"L2 norm of this block's parameter gradients at the last measured step.<br>"
                        f"Blue below {VANISHING:g}: vanishing; red above {EXPLODING:g}: exploding.")
        self.update()

    @property
    def color(self) -> QColor:
        return norm_color(self.norm)

    def _pill(self) -> QRectF:
        return QRectF(0, -19, 74, 15)

    def boundingRect(self) -> QRectF:
        return QRectF(-6, -20, CARD_WIDTH + 12, self.card_height + 26)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        color = self.color
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        glow = QColor(color)
        for width, alpha in ((9.0, 60), (5.0, 130)):  # a soft halo, then a firm ring
            glow.setAlpha(alpha)
            painter.setPen(QPen(glow, width))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(0, 0, CARD_WIDTH, self.card_height), CORNER, CORNER)
        pill = self._pill()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(pill, 6, 6)
        painter.setPen(QColor("#ffffff") if color.lightnessF() < 0.62 else QColor("#111111"))
        font = painter.font()
        font.setPointSizeF(7.5)
        painter.setFont(font)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, f"∇ {format_norm(self.norm)}")

    def shape(self):
        from PySide6.QtGui import QPainterPath

        path = QPainterPath()  # only the pill takes the pointer: the card stays clickable
        path.addRect(self._pill())
        return path


class GradientLegend(QWidget):
    """A gradient bar with the log scale and 'vanishing · healthy · exploding', for a canvas corner."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setFixedSize(250, 58)
        self.setToolTip(f"Gradient norm per block, log scale: below {VANISHING:g} the block barely learns "
                        f"(vanishing), above {EXPLODING:g} its updates blow up (exploding).")

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        dark = self.palette().window().color().lightnessF() < 0.5
        p.setPen(QPen(QColor("#555a63" if dark else "#c9ced6")))
        p.setBrush(QColor(40, 44, 52, 230) if dark else QColor(255, 255, 255, 235))
        p.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 6, 6)
        text = QColor("#e6e8eb" if dark else "#2b2f36")
        bar = QRectF(10, 20, self.width() - 20, 10)
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for x, c in STOPS:
            gradient.setColorAt((x - LOW) / (HIGH - LOW), QColor(c))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(gradient))
        p.drawRoundedRect(bar, 3, 3)
        font = p.font()
        font.setPointSizeF(7.5)
        p.setFont(font)
        p.setPen(text)
        p.drawText(QRectF(10, 3, bar.width(), 15), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   "gradient norm (log scale)")
        for exponent in (-8, -6, -4, -2, 0, 2):
            x = bar.left() + bar.width() * (exponent - LOW) / (HIGH - LOW)
            p.drawLine(int(x), int(bar.bottom()), int(x), int(bar.bottom()) + 3)
            label = QRectF(x - 16, bar.bottom() + 3, 32, 12)
            p.drawText(label, Qt.AlignmentFlag.AlignCenter, f"1e{exponent}")
        words = QRectF(10, bar.bottom() + 14, bar.width(), 12)
        p.drawText(words, Qt.AlignmentFlag.AlignLeft, "vanishing")
        p.drawText(words, Qt.AlignmentFlag.AlignHCenter, "· healthy ·")
        p.drawText(words, Qt.AlignmentFlag.AlignRight, "exploding")
        p.end()

"""The folded card: a run of instances of one definition shown as one card ("ResidualBlock ×12").

It is a block card (BlockItem: same theme, band, fonts, shape pill, problem
badge), standing where the first instance stands, with the bottoms of two
cards peeking out below it for the stack of hidden ones. It shows the run's input ports
(the first instance's), its output port and shape (the last instance's), the
weights of all its instances together and the first and last instance's
names. Its problem badge carries the problems of every instance, each line
naming the instance. The "▸ expand" button at its bottom left (or the context
menu's Expand) opens the run in place; nothing of this touches the model.

Its `block_id` is the first instance's id, so a wire dragged from an input
port starts at that instance; the output port belongs to the last instance.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from graph.folding import Run
from studio.canvas.block_item import (
    FAR_MIN_PX,
    FAR_NAME_PX,
    PAD,
    BlockItem,
    CardContent,
    _far_font,
)
from studio.canvas.style import BAND, CARD_WIDTH, CORNER, ROW, Theme

STACK = 4.0  # how far each outline behind the card peeks out below it
EXPAND_TEXT = "▸ expand"
FROZEN_TEXT = "frozen"  # as a frozen block card writes it


def count_text(n: int | None) -> str:
    """Weights in a few characters: "864 params", "74.5k params", "1.23M params"."""
    if n is None:
        return "? params"
    if n < 1000:
        return f"{n} params"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k params"
    return f"{n / 1_000_000:.2f}M params"


def fold_title(run: Run) -> str:
    return f"{run.definition} ×{len(run)}"


class FoldItem(BlockItem):
    """One folded run; the scene keeps them in `folds` by the run's first block id."""

    def __init__(self, run: Run, content: CardContent, theme: Theme):
        super().__init__(run.head, content, theme)
        self.run = run
        if self.output is not None:
            self.output.block_id = run.tail
        self.expand_button = ExpandButton(self)
        self._place_button()

    @property
    def blocks(self) -> tuple[str, ...]:
        return self.run.blocks

    def _build_ports(self) -> None:
        super()._build_ports()
        run = getattr(self, "run", None)  # None while BlockItem.__init__ builds them the first time
        if run is not None and self.output is not None:
            self.output.block_id = run.tail

    def _place_children(self) -> None:
        super()._place_children()
        if getattr(self, "expand_button", None) is not None:
            self._place_button()

    def _place_button(self) -> None:
        self.expand_button.setPos(PAD - 3, self.height - ROW - 2)

    def _text_layout(self) -> list[tuple]:
        """A block card's lines, but a frozen run's "frozen" stands at the right of the summary row:
        its usual place, the bottom left, holds the expand button."""
        if self._layout is not None or not self.content.frozen:
            return super()._text_layout()
        lines = super()._text_layout()
        row = BAND + 5 + ROW  # the summary row
        word = self.theme.metrics("title").horizontalAdvance(FROZEN_TEXT)
        room = CARD_WIDTH - 2 * PAD - word - 8  # for the summary, left of "frozen"
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        moved = []
        for rect, align, font, color, text in lines:
            if color == "frozen":
                rect, align = QRectF(PAD, row, CARD_WIDTH - 2 * PAD, ROW), right
            elif font == "body" and rect.top() == row and text and self.content.summary:
                text = self.theme.metrics("body").elidedText(self.content.summary,
                                                            Qt.TextElideMode.ElideRight, room)
            moved.append((rect, align, font, color, text))
        self._layout = moved
        return moved

    def boundingRect(self) -> QRectF:
        rect = super().boundingRect()
        return rect.adjusted(0, 0, 0, 2 * STACK)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        t = self.theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(t.color("card_border"), 1.0))
        painter.setBrush(t.color("card"))
        for step in (2, 1):  # the hidden cards, back to front: their bottoms peek out, narrower, so the
            inset = 0.75 * STACK * step  # ports on the left and right edges stay clear
            rect = QRectF(inset, STACK * step, CARD_WIDTH - 2 * inset, self.height)
            painter.drawRoundedRect(rect, CORNER, CORNER)
        super().paint(painter, option, widget)


    def _paint_far(self, painter: QPainter, lod: float) -> None:
        """Zoomed out: as a block card's name, but "×12" is never elided away ("ResidualBl… ×12")."""
        lod = max(lod, 1e-6)
        inner = CARD_WIDTH - 2 * PAD
        pixels = min(FAR_NAME_PX, self.height * 0.5 * lod)
        if pixels < FAR_MIN_PX:
            self._paint_greek(painter)
            return
        name, times = self.run.definition, f" ×{len(self.run)}"
        wide = QFontMetricsF(_far_font(round(pixels / lod))).horizontalAdvance(name + times)
        if wide > inner:
            pixels = max(FAR_MIN_PX, 0.95 * pixels * inner / wide)
        font = _far_font(round(pixels / lod))
        metrics = QFontMetricsF(font)
        name = metrics.elidedText(name, Qt.TextElideMode.ElideRight, inner - metrics.horizontalAdvance(times))
        painter.setFont(font)
        painter.setPen(self.theme.color("text"))
        rect = QRectF(PAD, BAND, inner, self.height - BAND)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, name + times)


class ExpandButton(QGraphicsItem):
    """"▸ expand" at the folded card's bottom left: a click opens the run (view state only)."""

    def __init__(self, parent: FoldItem):
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        self.setZValue(3)
        self._hover = False
        self.setToolTip(f"Show the {len(parent.run)} {parent.run.definition} blocks")

    def boundingRect(self) -> QRectF:
        font = self.parentItem().theme.font("small")
        return QRectF(0, 0, QFontMetricsF(font).horizontalAdvance(EXPAND_TEXT) + 12, ROW - 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        scene = self.scene()
        if scene is not None and not getattr(scene, "text_visible", True):
            return  # zoomed out: the card is bars and a name only
        theme = self.parentItem().theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(theme.color("wire_hover" if self._hover else "card_border"), 1.0))
        painter.setBrush(theme.color("shape_fill"))
        painter.drawRoundedRect(rect, 5, 5)
        painter.setFont(theme.font("small"))
        painter.setPen(theme.color("text" if self._hover else "muted"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, EXPAND_TEXT)

    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()  # the release expands; the card is neither selected nor dragged
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.boundingRect().contains(event.pos()):
            scene, head = self.scene(), self.parentItem().run.head
            # after this event: expanding removes the card, and with it this button, from the scene
            QTimer.singleShot(0, lambda: scene.set_folded(head, False))
            event.accept()
            return
        super().mouseReleaseEvent(event)

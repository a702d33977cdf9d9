"""A port: the round handle on a card's edge where wires start and end.

Inputs sit on the left edge, the output on the right. A port is a
QGraphicsEllipseItem (painted in C++, so thousands cost little) whose colours
say its state: normal, `accept` / `dim` while a wire is being dragged, and
`problem` when a diagnostic names it (an unconnected input).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QBrush, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem

from studio.canvas.style import PORT_RADIUS, Theme

NORMAL, ACCEPT, DIM, PROBLEM = "normal", "accept", "dim", "problem"


class PortItem(QGraphicsEllipseItem):
    """One input or output of a block; `key` is (block id, port name, is_output)."""

    def __init__(self, block_id: str, name: str, is_output: bool, parent: QGraphicsItem):
        r = PORT_RADIUS
        super().__init__(QRectF(-r, -r, 2 * r, 2 * r), parent)
        self.block_id, self.name, self.is_output = block_id, name, is_output
        self.state = NORMAL
        self.problem = False
        self.connected = False
        self._hover = False
        self.setAcceptHoverEvents(True)
        self.setZValue(2)  # above the card body, so presses on it start a wire

    @property
    def key(self) -> tuple[str, str, bool]:
        return self.block_id, self.name, self.is_output

    def set_state(self, state: str, theme: Theme) -> None:
        if state != self.state:
            self.state = state
            self.apply_theme(theme)

    def set_flags(self, connected: bool, problem: bool, theme: Theme) -> None:
        if (connected, problem) != (self.connected, self.problem):
            self.connected, self.problem = connected, problem
            self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        key = (theme.name, self.state, self.connected, self.problem, self._hover)
        look = _LOOKS.get(key)
        if look is None:
            look = _LOOKS[key] = _look(theme, *key[1:])
        rect, brush, pen, opacity = look
        self.setRect(rect)
        self.setBrush(brush)
        self.setPen(pen)
        if self.opacity() != opacity:
            self.setOpacity(opacity)

    def hoverEnterEvent(self, event):
        self._hover = True
        self.apply_theme(self.scene().theme)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event):
        self._hover = False
        if self.scene() is not None:
            self.apply_theme(self.scene().theme)
        super().hoverLeaveEvent(event)


_LOOKS: dict[tuple, tuple[QRectF, QBrush, QPen, float]] = {}  # shared by every port of a theme


def _look(theme: Theme, state: str, connected: bool, problem: bool, hover: bool):
    card = theme.color("card")
    if state == ACCEPT:
        fill, line, grow = theme.color("accept"), theme.color("accept"), 2.5
    elif state == DIM:
        fill, line, grow = card, theme.color("greek"), -1.0
    elif problem and not connected:
        fill, line, grow = card, theme.color("error"), 0.0
    else:
        wire = theme.color("wire")
        fill, line, grow = (wire if connected else card), wire, 0.0
    if hover and state != DIM:
        fill, line, grow = theme.color("wire_hover"), theme.color("wire_hover"), max(grow, 1.5)
    r = PORT_RADIUS + grow
    return QRectF(-r, -r, 2 * r, 2 * r), QBrush(fill), QPen(line, 1.6), (0.45 if state == DIM else 1.0)

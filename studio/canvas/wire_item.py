"""Wires: smooth cubic curves from an output port to an input port.

A wire is a QGraphicsPathItem painted by Qt in C++ (no Python paint), so
a thousand wires pan smoothly. Its look is set through its pen: neutral,
hovered, selected (the scene keeps wire selection itself, so clicking a
wire never drags blocks and rubber bands select only blocks), or red when a
diagnostic names the input it feeds. The output shape can be written at
its middle (`label`), for people who like to read shapes along the flow.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsSimpleTextItem

from graph.model import Edge
from studio.canvas.style import Theme

WIDTH = 2.0
PICK_WIDTH = 12.0  # how far from the curve a click still hits the wire


def curve(p1: QPointF, p2: QPointF) -> QPainterPath:
    """A horizontal-tangent cubic: leaves the output to the right, enters the input from the left."""
    dx = abs(p2.x() - p1.x())
    bend = max(dx * 0.5, 40.0) if p2.x() >= p1.x() else max(80.0, min(dx, 200.0))
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x() + bend, p1.y()), QPointF(p2.x() - bend, p2.y()), p2)
    return path


_PICKER = QPainterPathStroker()
_PICKER.setWidth(PICK_WIDTH)


class WireItem(QGraphicsPathItem):
    """The wire of one model Edge."""

    def __init__(self, edge: Edge, theme: Theme):
        super().__init__()
        self.edge = edge
        self.theme = theme
        self.problem = False
        self.selected = False
        self._hover = False
        self._pick: QPainterPath | None = None
        self._curve = QPainterPath()  # the path last set (self.path() would copy it on each call)
        self.label: QGraphicsSimpleTextItem | None = None
        self.setZValue(0)
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
        self.apply_theme(theme)

    def set_ends(self, p1: QPointF, p2: QPointF) -> None:
        self._curve = curve(p1, p2)
        self._pick = None  # made when Qt first asks for the shape (its bounding rectangle, hit tests)
        self.setPath(self._curve)
        if self.label is not None:
            self._place_label()

    def shape(self) -> QPainterPath:
        # Qt also derives a wide pen's bounding rectangle from shape(): once per wire when it is placed
        if self._pick is None:
            self._pick = _PICKER.createStroke(self._curve)
        return self._pick

    def set_problem(self, problem: bool) -> None:
        if problem != self.problem:
            self.problem = problem
            self.apply_theme(self.theme)

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.setZValue(0.5 if selected else 0)
            self.apply_theme(self.theme)

    def set_label(self, text: str | None) -> None:
        """Show `text` (the shape on the wire) at the middle, or no label for None."""
        if text is None:
            if self.label is not None:
                if self.scene() is not None:
                    self.scene().removeItem(self.label)
                self.label = None
            return
        if self.label is None:
            self.label = QGraphicsSimpleTextItem(self)
            self.label.setFont(self.theme.font("small"))
        if self.label.text() != text:
            self.label.setText(text)
        self.label.setBrush(self.theme.color("muted"))
        self._place_label()

    def _place_label(self) -> None:
        mid = self.path().pointAtPercent(0.5)
        rect = self.label.boundingRect()
        self.label.setPos(mid.x() - rect.width() / 2, mid.y() - rect.height() - 2)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        if self.selected:
            color, width = theme.color("selection"), WIDTH + 1.5
        elif self.problem:
            color, width = theme.color("error"), WIDTH + 0.5
        elif self._hover:
            color, width = theme.color("wire_hover"), WIDTH + 0.5
        else:
            color, width = theme.color("wire"), WIDTH
        pen = QPen(color, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.problem and not self.selected:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        if self.label is not None:
            self.label.setBrush(theme.color("muted"))

    def hoverEnterEvent(self, event):
        self._hover = True
        self.apply_theme(self.theme)

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.apply_theme(self.theme)


class DragWire(QGraphicsPathItem):
    """The curve that follows the cursor while a wire is being drawn."""

    def __init__(self, theme: Theme):
        super().__init__()
        pen = QPen(theme.color("selection"), WIDTH)
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)
        self.setZValue(10)

    def set_ends(self, p1: QPointF, p2: QPointF) -> None:
        self.setPath(curve(p1, p2))

"""Groups: a labelled rounded rectangle behind its blocks, or one compact card when collapsed.

A group changes no computation; it only tidies the canvas. Expanded, it is
drawn behind its member cards and follows them as they move. Collapsed,
its members are hidden and this item becomes a card of its own ("3 blocks")
with one input and one output anchor, to which the wires of the members
attach. Double-clicking the header (or the collapsed card) toggles it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from graph.model import Group
from studio.canvas.style import BAND, CARD_WIDTH, CORNER, TEXT_LOD, Theme

HEADER = 22.0
MARGIN = 14.0
COLLAPSED_HEIGHT = 52.0


class GroupItem(QGraphicsItem):
    def __init__(self, group: Group, theme: Theme):
        super().__init__()
        self.group = group
        self.theme = theme
        self._rect = QRectF()
        self.severity: str | None = None  # worst problem of the members, drawn while collapsed
        self.setZValue(-1)
        self.setAcceptHoverEvents(False)
        self._set_flags()

    @property
    def group_id(self) -> str:
        return self.group.id

    @property
    def collapsed(self) -> bool:
        return self.group.collapsed

    def _set_flags(self) -> None:
        movable = self.group.collapsed  # an expanded group moves with its blocks, a collapsed one itself
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, movable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, movable)
        self.setZValue(1 if movable else -1)

    def set_group(self, group: Group) -> None:
        self.group = group
        self._set_flags()
        self.setToolTip(f"{group.name}: double-click to {'open' if group.collapsed else 'collapse'}")
        self.update()

    def set_severity(self, severity: str | None) -> None:
        if severity != self.severity:
            self.severity = severity
            self.update()

    def fit(self, member_rect: QRectF) -> None:
        """Place around the members' bounding rect (scene coordinates)."""
        self.prepareGeometryChange()
        if self.group.collapsed:
            self.setPos(member_rect.topLeft())
            self._rect = QRectF(0, 0, CARD_WIDTH, COLLAPSED_HEIGHT)
        else:
            self.setPos(0, 0)
            self._rect = member_rect.adjusted(-MARGIN, -MARGIN - HEADER, MARGIN, MARGIN)
        self.update()

    def header_rect(self) -> QRectF:
        if self.group.collapsed:
            return QRectF(self._rect)
        return QRectF(self._rect.left(), self._rect.top(), self._rect.width(), HEADER + 4)

    def input_anchor(self) -> QPointF:
        return self.mapToScene(QPointF(0, COLLAPSED_HEIGHT / 2))

    def output_anchor(self) -> QPointF:
        return self.mapToScene(QPointF(CARD_WIDTH, COLLAPSED_HEIGHT / 2))

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-3, -3, 3, 3)

    def shape(self) -> QPainterPath:
        # only the header (or the whole collapsed card) takes clicks: the blocks inside stay clickable
        path = QPainterPath()
        path.addRect(self.header_rect())
        return path

    def mouseDoubleClickEvent(self, event):
        if self.header_rect().contains(event.pos()):
            self.scene().toggle_group(self.group.id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        t = self.theme
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = t.color("selection") if self.isSelected() else t.color("group_border")
        if self.group.collapsed:
            # a second outline peeking out behind hints at the stack of hidden blocks
            painter.setPen(QPen(t.color("group_border"), 1.0))
            painter.setBrush(t.color("card"))
            painter.drawRoundedRect(self._rect.translated(4, 4), CORNER, CORNER)
            if self.severity is not None:
                border = t.color("error" if self.severity == "error" else "warning")
            painter.setPen(QPen(border, 2.0 if self.severity or self.isSelected() else 1.2))
            painter.drawRoundedRect(self._rect, CORNER, CORNER)
            band = QPainterPath()
            band.addRoundedRect(self._rect, CORNER, CORNER)
            top = QPainterPath()
            top.addRect(QRectF(0, 0, CARD_WIDTH, BAND))
            painter.fillPath(band.intersected(top), t.color("group_border"))
            for x in (0.0, CARD_WIDTH):
                painter.setPen(QPen(t.color("wire"), 1.6))
                painter.setBrush(t.color("wire"))
                painter.drawEllipse(QPointF(x, COLLAPSED_HEIGHT / 2), 5, 5)
            if lod >= TEXT_LOD:
                title = f"▸ {self.group.name}"
                self._text(painter, QRectF(10, BAND + 4, CARD_WIDTH - 20, 18), title, "title")
                count = len(self.group.blocks)
                self._text(painter, QRectF(10, BAND + 22, CARD_WIDTH - 20, 18),
                           f"group of {count} block{'s' if count != 1 else ''}", "small")
            return
        fill = QColor(t.group_fill)
        fill.setAlpha(170)
        painter.setPen(QPen(border, 1.2, Qt.PenStyle.DashLine))
        painter.setBrush(fill)
        painter.drawRoundedRect(self._rect, CORNER + 3, CORNER + 3)
        if lod >= TEXT_LOD * 0.6:
            head = QRectF(self._rect.left() + 10, self._rect.top() + 3, self._rect.width() - 20, HEADER)
            self._text(painter, head, f"▾ {self.group.name}", "title")

    def _text(self, painter: QPainter, rect: QRectF, text: str, role: str) -> None:
        font = self.theme.font(role)
        painter.setFont(font)
        painter.setPen(self.theme.color("text" if role == "title" else "muted"))
        text = QFontMetricsF(font).elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)

"""Problem marks on a card: the "!" badge, the deploy target badge and the one-click quick-fix chip.

The badge sits on the card's top-right corner and keeps its size on screen
at any zoom (ItemIgnoresTransformations), so problems stay visible on a
zoomed-out overview. Its tooltip holds the messages; clicking it opens the
problem menu (messages plus quick fixes). The chip under the card says what
the fix does ("Insert Flatten") and applies it on one click.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from studio.canvas.style import CARD_WIDTH

BADGE_RADIUS = 8.0


class _RoundBadge(QGraphicsItem):
    """A disc of BADGE_RADIUS on a card's edge, the same size at every zoom."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(3)

    def boundingRect(self) -> QRectF:
        r = BADGE_RADIUS + 1
        return QRectF(-r, -r, 2 * r, 2 * r)


class BadgeItem(_RoundBadge):
    """A round "!" in the error or warning colour."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.severity = "error"

    @property
    def block_id(self) -> str:
        return self.parentItem().block_id

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = self.parentItem().theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.color("error" if self.severity == "error" else "warning")
        painter.setPen(QPen(QColor(theme.card), 1.5))
        painter.setBrush(QBrush(color))
        r = BADGE_RADIUS
        painter.drawEllipse(QRectF(-r, -r, 2 * r, 2 * r))
        font = theme.font("title")
        painter.setFont(font)
        painter.setPen(QColor("#ffffff") if self.severity == "error" or not theme.dark else QColor("#1d2127"))
        painter.drawText(QRectF(-r, -r, 2 * r, 2 * r), Qt.AlignmentFlag.AlignCenter, "!")

    def mousePressEvent(self, event):
        # left click only: a right click arrives as a context-menu event, which opens the same menu
        if event.button() == Qt.MouseButton.LeftButton:
            self.scene().problem_menu_requested(self.block_id, event.screenPos())
            event.accept()
            return
        super().mousePressEvent(event)


class DeployBadgeItem(_RoundBadge):
    """A target (a ring and a dot on a charcoal disc): a chosen deploy target cannot take this block.

    Left of the "!" badge on the card's top edge, away from every port; its tooltip names each
    target, the reason and an alternative (graph/deploy.py)."""

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = self.parentItem().theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.color("deploy")
        r = BADGE_RADIUS
        painter.setPen(QPen(QColor(theme.card), 1.5))
        painter.setBrush(QBrush(color))
        painter.drawEllipse(QRectF(-r, -r, 2 * r, 2 * r))
        mark = QColor(theme.card)
        painter.setPen(QPen(mark, 1.3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QRectF(-4.5, -4.5, 9, 9))
        painter.setBrush(QBrush(mark))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QRectF(-1.6, -1.6, 3.2, 3.2))


DEPLOY_BADGE_X = CARD_WIDTH - 2 - 2 * BADGE_RADIUS - 4  # left of the "!" badge, never on a port


class FixChipItem(QGraphicsItem):
    """A small button under the card: "⚡ Insert Flatten"; a click applies that fix."""

    def __init__(self, parent: QGraphicsItem, fix):
        super().__init__(parent)
        self.fix = fix
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        self.setZValue(3)
        self._hover = False
        self.setToolTip(f"Quick fix: {fix.title} (one undo step)")

    @property
    def label(self) -> str:
        return f"⚡ {self.fix.title}"

    def _width(self) -> float:
        font = self.parentItem().theme.font("small")
        return min(CARD_WIDTH - 16, QFontMetricsF(font).horizontalAdvance(self.label) + 16)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._width(), 18)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = self.parentItem().theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
        error = theme.color("error")
        fill = QColor(error)
        fill.setAlpha(60 if self._hover else 28)
        painter.setPen(QPen(error, 1.0))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, 9, 9)
        painter.setFont(theme.font("small"))
        painter.setPen(theme.color("text"))
        metrics = QFontMetricsF(theme.font("small"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                         metrics.elidedText(self.label, Qt.TextElideMode.ElideRight, rect.width() - 10))

    def hoverEnterEvent(self, event):
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event):
        self._hover = False
        self.update()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.boundingRect().contains(event.pos()):
            self.scene().apply_fix(self.fix)
            event.accept()
            return
        super().mouseReleaseEvent(event)


def sync_badges(item) -> None:
    """Create, update or drop a block card's badge and fix chip to match its status."""
    status = item.status
    scene = item.scene()
    if status.severity is None:
        if item.badge is not None:
            _drop(scene, item.badge)
            item.badge = None
    else:
        if item.badge is None:
            item.badge = BadgeItem(item)
            item.badge.setPos(CARD_WIDTH - 2, 1)
        item.badge.severity = status.severity
        item.badge.setToolTip(status.problem_text)
        item.badge.update()
    if not status.deploy_text:
        if item.deploy_badge is not None:
            _drop(scene, item.deploy_badge)
            item.deploy_badge = None
    else:
        if item.deploy_badge is None:
            item.deploy_badge = DeployBadgeItem(item)
            item.deploy_badge.setPos(DEPLOY_BADGE_X, 1)
        item.deploy_badge.setToolTip("Deploy targets:\n" + status.deploy_text)
    fix = status.fixes[0] if status.fixes else None
    if item.fix_chip is not None and (fix is None or item.fix_chip.fix != fix):
        _drop(scene, item.fix_chip)
        item.fix_chip = None
    if fix is not None and item.fix_chip is None:
        item.fix_chip = FixChipItem(item, fix)
        item.fix_chip.setPos(8, item.height + 5)


def _drop(scene, child: QGraphicsItem) -> None:
    if scene is not None:
        scene.removeItem(child)
    else:
        child.setParentItem(None)

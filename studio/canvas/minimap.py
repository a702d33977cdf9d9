"""The minimap: an overview of the whole network in a corner of the canvas.

It shows a picture of every block (rendered once per change, after a short
pause, so editing never waits for it) and a rectangle for the part of the
network in view; click or drag in it to move the view there. It appears
only when the network does not fit in the view, that is, for large graphs,
in the corner of the view where it covers no card or port (the one that
covers fewest when every corner has some).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from studio.canvas.block_item import BlockItem
from studio.canvas.port_item import PortItem

SIZE = (220, 130)
WIDTH, MIN_HEIGHT, MAX_HEIGHT = 220, 60, 160
INSET = 6  # picture margin inside the frame
MARGIN = 12
REFRESH_MS = 250


class Minimap(QWidget):
    def __init__(self, view):
        super().__init__(view)  # on the view, not the viewport: scrolling the viewport would drag it along
        self.view = view
        self.resize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_NoMousePropagation)
        self.picture: QPixmap | None = None
        self.source = QRectF()  # the scene rect the picture shows
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._doc = view.doc
        # bound methods, not lambdas: Qt drops a bound method's connection when its object dies
        self._doc.networkChanged.connect(self.refresh_soon)
        self._doc.analysisChanged.connect(self.refresh_soon)
        self._doc.projectReplaced.connect(self.refresh_soon)
        self._scene = view.network_scene
        self.hide()

    def detach(self) -> None:
        """Stop following the document (its canvas is closing); deleting later is then safe."""
        if self._doc is None:
            return
        for signal in (self._doc.networkChanged, self._doc.analysisChanged, self._doc.projectReplaced):
            signal.disconnect(self.refresh_soon)
        self._doc = None
        self._timer.stop()

    def refresh_soon(self, *_args) -> None:
        self._timer.start()

    def refresh(self) -> None:
        """Render the whole network into the picture (a few ms for a thousand blocks: no text)."""
        rect = self._scene.items_rect()
        if rect.isNull():
            self.picture = None
            self.view_changed()
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        # the minimap takes the network's proportions, within limits
        width = WIDTH
        height = int(max(MIN_HEIGHT, min(MAX_HEIGHT, width * rect.height() / rect.width())))
        self.resize(width, height)
        self.source = rect
        ratio = self.devicePixelRatioF()
        picture = QPixmap(int(width * ratio), int(height * ratio))
        picture.setDevicePixelRatio(ratio)
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        self._draw_blocks(painter)
        painter.end()
        self.picture = picture
        self.view_changed()

    def _draw_blocks(self, painter: QPainter) -> None:
        """Each card as a small rectangle in its category colour, problems in red or amber.

        Drawn by hand rather than with QGraphicsScene.render: a thousand
        rectangles cost a few milliseconds, and read better than tiny cards.
        """
        theme, scene = self._scene.theme, self._scene
        t = self._target()
        scale = t.width() / self.source.width()
        painter.translate(t.left(), t.top())
        painter.scale(scale, scale)
        painter.translate(-self.source.left(), -self.source.top())
        painter.setPen(Qt.PenStyle.NoPen)
        marks = {"error": theme.color("error"), "warning": theme.color("warning")}
        for item in [*scene.blocks.values(), *scene.groups.values(), *getattr(scene, "folds", {}).values()]:
            if not item.isVisible():
                continue
            rect = item.sceneBoundingRect().adjusted(4, 4, -4, -4)
            severity = getattr(getattr(item, "status", None), "severity", None)
            if severity in marks:
                painter.setBrush(marks[severity])
            elif hasattr(item, "content"):
                painter.setBrush(theme.category(item.content.category) if item.content.enabled
                                 else theme.color("disabled"))
            else:
                painter.setBrush(theme.color("group_border"))
            painter.drawRect(rect)

    def _target(self) -> QRectF:
        """Where `source` lands inside the widget: scaled to fit, centred."""
        w, h = self.width() - 2 * INSET, self.height() - 2 * INSET
        scale = min(w / self.source.width(), h / self.source.height())
        tw, th = self.source.width() * scale, self.source.height() * scale
        return QRectF(INSET + (w - tw) / 2, INSET + (h - th) / 2, tw, th)

    def _to_widget(self, p: QPointF) -> QPointF:
        t = self._target()
        return QPointF(t.left() + (p.x() - self.source.left()) / self.source.width() * t.width(),
                       t.top() + (p.y() - self.source.top()) / self.source.height() * t.height())

    def _to_scene(self, p: QPointF) -> QPointF:
        t = self._target()
        return QPointF(self.source.left() + (p.x() - t.left()) / t.width() * self.source.width(),
                       self.source.top() + (p.y() - t.top()) / t.height() * self.source.height())

    def view_changed(self) -> None:
        """Show only when the network overflows the view, in the corner that covers the fewest
        cards and ports (bottom right unless a card is there)."""
        viewport = self.view.viewport()
        area = viewport.geometry()
        self.move(self._free_corner(area))
        if self.picture is None and not self._timer.isActive():
            self.refresh_soon()
        items = self._scene.items_rect()
        overflow = not items.isNull() and not self.view.visibleSceneRect().contains(items)
        big_enough = viewport.width() > 2.5 * self.width() and viewport.height() > 2.5 * self.height()
        self.setVisible(overflow and big_enough and self.picture is not None)
        self.update()

    def _free_corner(self, area: QRect) -> QPoint:
        """The top-left point of the corner where the minimap hides the least of the network."""
        w, h = self.width(), self.height()
        left, top = area.left() + MARGIN, area.top() + MARGIN
        right, bottom = area.right() - w - MARGIN, area.bottom() - h - MARGIN
        best, best_cover = None, None
        for corner in (QPoint(right, bottom), QPoint(left, bottom), QPoint(right, top), QPoint(left, top)):
            covered = self._covered(QRect(corner - area.topLeft(), QSize(w, h)))
            if covered == 0:
                return corner
            if best_cover is None or covered < best_cover:
                best, best_cover = corner, covered
        return best

    def _covered(self, rect: QRect) -> int:
        """How many cards and ports lie under a viewport rectangle."""
        # bounding rectangles, not shapes: a wire's shape is a stroke built on demand, and at 10,000
        # cards this runs on every pan frame
        under = self._scene.items(self.view.mapToScene(rect).boundingRect(),
                                  Qt.ItemSelectionMode.IntersectsItemBoundingRect)
        return sum(1 for item in under if isinstance(item, (BlockItem, PortItem)))

    def paintEvent(self, event):
        if self.picture is None:
            return
        theme = self._scene.theme
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        back = QColor(theme.color("card"))
        back.setAlpha(235)
        painter.setPen(QPen(theme.color("card_border"), 1))
        painter.setBrush(back)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.drawPixmap(0, 0, self.picture)
        seen = self.view.visibleSceneRect()
        box = QRectF(self._to_widget(seen.topLeft()), self._to_widget(seen.bottomRight()))
        box = box.intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        fill = QColor(theme.selection)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.setPen(QPen(theme.color("selection"), 1.5))
        painter.drawRect(box)
        painter.end()

    def mousePressEvent(self, event):
        self._go(event.position())
        event.accept()

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event.position())
        event.accept()

    def _go(self, pos: QPointF) -> None:
        if self.picture is None:
            return
        self.view.centerOn(self._to_scene(pos))
        self.view_changed()

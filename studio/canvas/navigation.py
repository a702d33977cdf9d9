"""Moving around the canvas, as a mixin of NetworkView.

Zoom with the wheel or a pinch (QPinchGesture on touch screens,
QNativeGestureEvent on trackpads) around the cursor; pan with the middle
button, with Space held and the left button, or with two fingers on a
trackpad; fit the network in view (F). Zoom is clamped to 10 %..300 %.
After every zoom the scene's level of detail is updated (text hidden
below 50 %, cards cached for cheap zooming).

Fit never goes below READABLE_ZOOM, where the cards' text can still be
read: a network too big for that is shown from its inputs (top left) at
that zoom, and the minimap shows the rest; Shift+F shows all of it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer
from PySide6.QtWidgets import QGraphicsView, QPinchGesture

MIN_ZOOM, MAX_ZOOM = 0.1, 3.0
OVERVIEW_MIN_ZOOM = 0.01  # Shift+F shows all of a network however big; the wheel alone stops at MIN_ZOOM
SETTLE_MS = 180
FIT_MARGIN = 40.0
READABLE_ZOOM = 0.6  # the smallest zoom Fit uses: cards still show their name, parameters and shape


class ViewNavigation:
    def _init_navigation(self) -> None:
        self._pan_from: QPoint | None = None
        self._space_down = False
        self._space_panned = False
        self.viewport().grabGesture(Qt.GestureType.PinchGesture)
        self._zooming = False
        self._settle = QTimer(self)  # the zoom has rested this long: redraw cards sharp
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(lambda: self.network_scene.set_zoom(self.zoom(), settled=True))

    # --- zoom ---
    def zoom(self) -> float:
        return self.transform().m11()

    def setZoom(self, zoom: float, anchor: QPointF | None = None, floor: float = MIN_ZOOM) -> None:
        """Zoom to `zoom`, keeping the scene point under viewport point `anchor` (default: centre) still.

        Never below `floor`, nor below MIN_ZOOM unless already there (after an overview of a huge
        network): the wheel then cannot zoom out further, but does not jump back in either."""
        zoom = max(min(floor, MIN_ZOOM, self.zoom()), min(MAX_ZOOM, zoom))
        factor = zoom / self.zoom()
        if abs(factor - 1.0) < 1e-9:
            return
        anchor = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        before = self.mapToScene(anchor.toPoint())
        old_anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        after = self.mapToScene(anchor.toPoint())
        delta = after - before
        self.translate(delta.x(), delta.y())
        self.setTransformationAnchor(old_anchor)
        self._zoomed()

    def zoomBy(self, factor: float, anchor: QPointF | None = None) -> None:
        """An interactive zoom step (wheel, pinch): cheap scaled pictures until the zoom rests."""
        self._zooming = True
        self._settle.start()
        try:
            self.setZoom(self.zoom() * factor, anchor)
        finally:
            self._zooming = False

    def _zoomed(self) -> None:
        self.network_scene.set_zoom(self.zoom(), settled=not self._zooming and not self._settle.isActive())
        self.zoomChanged.emit(self.zoom())
        self._view_moved()

    def fitAll(self, readable: bool = True) -> None:
        """Show every block (never magnified beyond 100 %); readable: never below READABLE_ZOOM
        either, showing a big network from its top-left corner, where its inputs are."""
        rect = self.network_scene.items_rect()
        if rect.isNull():
            rect = QRectF(-200, -150, 400, 300)
        self.fitRect(rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN),
                     READABLE_ZOOM if readable else OVERVIEW_MIN_ZOOM)

    def fitRect(self, rect: QRectF, min_zoom: float = MIN_ZOOM) -> None:
        area = self.viewport().rect()
        if area.width() < 2 or area.height() < 2:
            return
        zoom = min(area.width() / rect.width(), area.height() / rect.height(), 1.0)
        self.setZoom(max(zoom, min_zoom), floor=min_zoom)
        centre = rect.center()
        seen = self.visibleSceneRect()
        if seen.width() < rect.width():  # too wide: keep the left edge in view, not the middle
            centre.setX(rect.left() + seen.width() / 2)
        if seen.height() < rect.height():
            centre.setY(rect.top() + seen.height() / 2)
        self.centerOn(centre)
        self._view_moved()

    # --- wheel and gestures ---
    def wheelEvent(self, event):
        pixel = event.pixelDelta()
        trackpad = not pixel.isNull() and event.phase() != Qt.ScrollPhase.NoScrollPhase
        if trackpad and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._pan_by(QPoint(pixel.x(), pixel.y()))  # two-finger scroll pans, as in maps
            event.accept()
            return
        steps = event.angleDelta().y() or event.angleDelta().x()
        if steps:
            self.zoomBy(1.0015 ** steps, event.position())
        event.accept()

    def viewportEvent(self, event):
        kind = event.type()
        native = kind == QEvent.Type.NativeGesture
        if native and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            anchor = self.viewport().mapFromGlobal(event.globalPosition().toPoint()).toPointF()
            self.zoomBy(1.0 + event.value(), anchor)
            return True
        if kind == QEvent.Type.Gesture:
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture):
                if pinch.changeFlags() & QPinchGesture.ChangeFlag.ScaleFactorChanged:
                    centre = self.viewport().mapFromGlobal(pinch.centerPoint().toPoint())
                    self.zoomBy(pinch.scaleFactor(), QPointF(centre))
                event.accept()
                return True
        return super().viewportEvent(event)

    # --- panning ---
    def _pan_by(self, delta: QPoint) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - delta.x())
        v.setValue(v.value() - delta.y())
        self._view_moved()

    def _start_pan(self, pos: QPoint) -> None:
        self._pan_from = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _pan_press(self, event) -> bool:
        middle = event.button() == Qt.MouseButton.MiddleButton
        if middle or (self._space_down and event.button() == Qt.MouseButton.LeftButton):
            self._space_panned = self._space_panned or not middle
            self._start_pan(event.position().toPoint())
            event.accept()
            return True
        return False

    def _pan_move(self, event) -> bool:
        if self._pan_from is None:
            return False
        pos = event.position().toPoint()
        self._pan_by(pos - self._pan_from)
        self._pan_from = pos
        event.accept()
        return True

    def _pan_release(self, event) -> bool:
        if self._pan_from is None:
            return False
        self._pan_from = None
        hand = Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(hand)
        event.accept()
        return True

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._view_moved()

    def visibleSceneRect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

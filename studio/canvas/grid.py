"""The dotted background grid of the canvas (a dot every 20 px, the snap step).

Dots come from a small tile made at screen resolution for the current zoom
and copied across the view unscaled; scaling a tile, or drawing dashed
lines, costs tens of milliseconds per frame on a large view.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPen, QPixmap, QPolygonF

from studio.canvas.style import GRID, Theme


class DotGrid:
    def __init__(self):
        self._tiles: dict[tuple, QPixmap] = {}

    def draw(self, painter: QPainter, rect: QRectF, theme: Theme, zoom: float) -> None:
        """Fill `rect` (scene coordinates) with the background and a dot per grid step
        (every fifth step when zoomed out)."""
        painter.fillRect(rect, theme.color("background"))
        step = GRID if zoom >= 0.45 else GRID * 5
        to_device = painter.worldTransform()
        spacing = step * to_device.m11()  # device pixels between dots
        if spacing < 6:
            return
        tile = self._tile(theme, spacing, big=step != GRID)
        origin = to_device.map(QPointF(0, 0))
        area = to_device.mapRect(rect)
        width = tile.width() / tile.devicePixelRatio()
        offset = QPointF((area.left() - origin.x() + spacing / 2) % width,
                         (area.top() - origin.y() + spacing / 2) % width)
        painter.save()
        painter.resetTransform()
        painter.drawTiledPixmap(area, tile, offset)
        painter.restore()

    def _tile(self, theme: Theme, spacing: float, big: bool) -> QPixmap:
        """k x k dots, k chosen so the tile is within a few hundredths of a pixel of whole."""
        key = (theme.name, round(spacing, 3), big)
        tile = self._tiles.get(key)
        if tile is not None:
            return tile
        k = min(range(max(1, int(64 // spacing)), max(2, int(64 // spacing)) + 24),
                key=lambda n: abs(n * spacing - round(n * spacing)))
        size = round(k * spacing)
        tile = QPixmap(size, size)
        tile.fill(theme.color("background"))
        dots = QPainter(tile)
        dots.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(theme.color("grid"), 3.0 if big else 2.2)  # round dots: a round-capped point
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        dots.setPen(pen)
        dots.drawPoints(QPolygonF([QPointF((i + 0.5) * spacing, (j + 0.5) * spacing)
                                   for i in range(k) for j in range(k)]))
        dots.end()
        if len(self._tiles) > 64:
            self._tiles.clear()
        self._tiles[key] = tile
        return tile

"""Pictures of a whole network without a window: project thumbnails, example previews.

`render_thumbnail(network, size)` lays the network out in a private scene
(fed by a throwaway Document around a copy, so the caller's network gets
no listener) and paints it scaled to fit `size`, on the theme background.
It needs a QApplication (for fonts) but no widget.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from graph.model import Network, Project
from graph.spec import Registry
from studio.canvas.style import Theme, system_theme

MARGIN = 30.0


def render_thumbnail(network: Network, size: QSize | tuple[int, int], registry: Registry | None = None,
                     theme: Theme | None = None) -> QImage:
    """A QImage of `size` showing every block and wire of `network`, scaled to fit and centred."""
    from studio.canvas.scene import NetworkScene
    from studio.document import Document

    if QApplication.instance() is None:
        raise RuntimeError("render_thumbnail needs a QApplication (fonts are only available with one)")
    if registry is None:
        from graph.blocks import default_registry
        registry = default_registry()
    size = QSize(*size) if isinstance(size, tuple) else QSize(size)
    theme = theme or system_theme()
    doc = Document(registry, Project(network.name, [network.copy()]))
    scene = NetworkScene(doc, network.name, theme)
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(theme.color("background"))
    rect = scene.items_rect()
    if not rect.isNull():
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        scene.render(painter, QRectF(0, 0, size.width(), size.height()),
                     rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN), Qt.AspectRatioMode.KeepAspectRatio)
        painter.end()
    scene.clear()
    doc.deleteLater()
    return image

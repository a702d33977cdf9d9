"""The canvas: blocks as cards, wires as curves, drawn from the Document and edited through it.

    view = NetworkView(doc, "model")      # a QGraphicsView; its scene is view.network_scene
    view.blockSelectionChanged.connect(inspector.show_blocks)
    problems_list.clicked.connect(view.centerOnBlock)

Palette drags carry `BLOCK_MIME` (see mime.py). `render_thumbnail` paints a
network into a QImage without a window.
"""

from studio.canvas.mime import BLOCK_MIME, block_mime, block_type_of
from studio.canvas.scene import NetworkScene
from studio.canvas.thumbnail import render_thumbnail
from studio.canvas.view import NetworkView

__all__ = ["BLOCK_MIME", "NetworkScene", "NetworkView", "block_mime", "block_type_of", "render_thumbnail"]

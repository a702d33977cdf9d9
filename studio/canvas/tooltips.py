"""Tooltips of cards, ports and wires, made when the pointer rests on them.

Made on demand rather than stored on each item: a re-analysis that changes
a thousand shapes then costs no tooltip text at all.
"""

from __future__ import annotations

from html import escape

from graph.shapes import compact_shape
from studio.canvas import labels
from studio.canvas.block_item import BlockItem
from studio.canvas.port_item import PortItem
from studio.canvas.wire_item import WireItem


def tooltip_for(scene, item) -> str:
    """Rich text for the item under the pointer ('' for none)."""
    if item is None:
        return ""
    own = item.toolTip()
    if own:
        return own  # badges, fix chips, ports lit during a wire drag
    analysis = scene.doc.analysis(scene.network_name)
    if isinstance(item, BlockItem):
        block = scene.net.block(item.block_id)
        registry = scene.doc.registry
        spec = registry.get(block.type) if block.type in registry else None
        owner = scene.net.blocks.get(block.shares) if block.shares is not None else None
        return labels.block_tooltip(spec, block, item.status.shape, scene.diagnostics_of(item.block_id),
                                    owner.name if owner is not None else None, scene.bindings(block.id))
    if isinstance(item, PortItem):
        if item.is_output:
            return f"output: {compact_shape(analysis.shapes.get(item.block_id))}"
        received = analysis.inference.inputs.get(item.block_id, {}).get(item.name)
        text = f"input '{escape(item.name)}'"
        return text + (f": receives {compact_shape(received)}" if received is not None else ": not connected")
    if isinstance(item, WireItem):
        edge = item.edge
        src, dst = scene.net.blocks.get(edge.src), scene.net.blocks.get(edge.dst)
        if src is None or dst is None:
            return ""
        shape = compact_shape(analysis.shapes.get(edge.src))
        return f"{escape(src.name)} → {escape(dst.name)}.{escape(edge.dst_port)}: {shape}"
    return ""

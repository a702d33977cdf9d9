"""Drawing a wire: the curve that follows the cursor and the ports that light up.

While a wire is dragged from a port, every port at the other end that
`Document.can_connect` accepts turns green and the others dim. The
Document is the one judge; asking it costs a little (it checks for loops on
the whole graph), so on a big network the ports in view are judged first,
nearest first, within a few milliseconds, and the rest a chunk at a time
from the event loop, so the drag never stutters.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QPointF, QRectF, QTimer

from graph.model import Edge
from studio.canvas.port_item import ACCEPT, DIM, NORMAL, PortItem
from studio.canvas.style import PORT_PICK
from studio.canvas.wire_item import DragWire

FIRST_BUDGET = 0.012  # seconds judged synchronously when the drag starts
CHUNK_BUDGET = 0.006  # seconds judged per later event-loop turn


class WireDrag:
    def __init__(self, scene, port: PortItem):
        self.scene, self.port = scene, port
        self.from_output = port.is_output
        self.wire = DragWire(scene.theme)
        scene.addItem(self.wire)
        self.verdicts: dict[tuple[str, str, bool], tuple[bool, str]] = {}
        self.hover: PortItem | None = None
        self._queue = deque(self._candidates())
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._judge_more)
        self._judge(FIRST_BUDGET)

    # --- which ports may take the wire ---
    def _candidates(self) -> list[PortItem]:
        ports = []
        for item in [*self.scene.blocks.values(), *getattr(self.scene, "folds", {}).values()]:
            if item.block_id == self.port.block_id or not item.isVisible():
                continue
            if self.from_output:
                ports.extend(item.inputs.values())
            elif item.output is not None:
                ports.append(item.output)
        origin = self.port.scenePos()
        views = self.scene.views()
        seen = views[0].mapToScene(views[0].viewport().rect()).boundingRect() if views else QRectF()

        def priority(p: PortItem):
            pos = p.scenePos()
            return (not seen.contains(pos), (pos - origin).manhattanLength())
        ports.sort(key=priority)
        return ports

    def edge_to(self, target: PortItem) -> Edge:
        if self.from_output:
            return Edge(self.port.block_id, target.block_id, target.name)
        return Edge(target.block_id, self.port.block_id, self.port.name)

    def verdict(self, target: PortItem) -> tuple[bool, str]:
        key = target.key
        if key not in self.verdicts:
            self.verdicts[key] = self.scene.doc.can_connect(self.scene.network_name, self.edge_to(target))
        return self.verdicts[key]

    def _judge(self, budget: float) -> None:
        start = time.perf_counter()
        theme = self.scene.theme
        while self._queue and time.perf_counter() - start < budget:
            port = self._queue.popleft()
            if port.scene() is None:
                continue
            ok, _why = self.verdict(port)
            port.set_state(ACCEPT if ok else DIM, theme)
        if self._queue:
            self._timer.start(0)

    def _judge_more(self) -> None:
        self._judge(CHUNK_BUDGET)

    @property
    def pending(self) -> int:
        """Ports not judged yet (0 once every candidate is lit or dimmed)."""
        return len(self._queue)

    def judge_all(self) -> None:
        self._judge(float("inf"))

    # --- following the cursor ---
    def target_at(self, pos: QPointF) -> PortItem | None:
        """The nearest port of the right direction within PORT_PICK of `pos`."""
        best, best_d = None, PORT_PICK
        area = QRectF(pos.x() - PORT_PICK, pos.y() - PORT_PICK, 2 * PORT_PICK, 2 * PORT_PICK)
        for item in self.scene.items(area):
            if isinstance(item, PortItem) and item.is_output != self.from_output \
                    and item.block_id != self.port.block_id and item.isVisible():
                d = (item.scenePos() - pos).manhattanLength()
                if d < best_d:
                    best, best_d = item, d
        return best

    def best_port_on(self, block_item) -> PortItem | None:
        """On a drop over a card: its first port that accepts, else its first port (to say why not)."""
        ports = list(block_item.inputs.values()) if self.from_output else \
            ([block_item.output] if block_item.output is not None else [])
        for port in ports:
            if self.verdict(port)[0]:
                return port
        return ports[0] if ports else None

    def move(self, pos: QPointF) -> None:
        target = self.target_at(pos)
        if target is not self.hover:
            self.hover = target
            if target is not None:
                ok, why = self.verdict(target)
                target.set_state(ACCEPT if ok else DIM, self.scene.theme)
                target.setToolTip("" if ok else why)
        end = target.scenePos() if target is not None else pos
        start = self.port.scenePos()
        if self.from_output:
            self.wire.set_ends(start, end)
        else:
            self.wire.set_ends(end, start)

    def forget(self, _item) -> None:
        """A wire item went away mid-drag (undo from a shortcut): nothing to do, ports are re-read."""

    def end(self) -> None:
        """Stop judging, put every port back to normal, remove the temporary curve."""
        self._timer.stop()
        theme = self.scene.theme
        for item in [*self.scene.blocks.values(), *getattr(self.scene, "folds", {}).values()]:
            for port in item.ports():
                if port.state != NORMAL:
                    port.set_state(NORMAL, theme)
                    port.setToolTip("")
        if self.wire.scene() is not None:
            self.scene.removeItem(self.wire)

"""Gradient flow: the training worker's block_stats events coloured onto the canvas.

Each block_stats event carries {block id: gradient norm} for one network;
the cards of that network's tab take the colours (studio/canvas/heat.py)
and a legend appears in the view's bottom-left corner (the minimap keeps
the bottom-right). A new run clears the old colours; the last ones stay
after training ends so the user can look at them. View > Gradient Flow
hides and shows them.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction

from studio.canvas.heat import GradientLegend

MARGIN = 10


class GradientFlow(QObject):
    """Routes block_stats events to the canvas of their network, with a legend per view."""

    def __init__(self, tabs, worker=None, parent: QObject | None = None):
        super().__init__(parent)
        self.tabs = tabs
        self.enabled = True
        self.last: dict[str, dict[str, float]] = {}  # network -> the norms last shown
        self.legends: dict[object, GradientLegend] = {}  # view -> its legend
        self.action = QAction("&Gradient Flow", self)
        self.action.setCheckable(True)
        self.action.setChecked(True)
        self.action.setStatusTip("Colour blocks by their gradient norm while training "
                                 "(blue vanishing, green healthy, red exploding)")
        self.action.toggled.connect(self.set_enabled)
        if worker is not None:
            worker.eventReceived.connect(self.on_event)
            worker.runningChanged.connect(lambda running: running and self.clear())

    def on_event(self, event: dict) -> None:
        if event.get("kind") == "block_stats" and event.get("grad_norm"):
            self.show(str(event.get("network", "")), event["grad_norm"])

    def show(self, network: str, norms: dict[str, float]) -> None:
        self.last[network] = {str(k): float(v) for k, v in norms.items()}
        if self.enabled:
            self._apply(network)

    def _apply(self, network: str) -> None:
        view = self.tabs.view_of(network) or (self.tabs.current_view() if len(self.tabs.views) == 1 else None)
        if view is None:
            return
        view.network_scene.show_gradient_flow(self.last[network])
        legend = self.legend_of(view)
        legend.show()
        legend.raise_()

    def legend_of(self, view) -> GradientLegend:
        legend = self.legends.get(view)
        if legend is None:
            # a child of the view, not of its viewport: scrolling the view scrolls the viewport's
            # child widgets along with the picture
            legend = GradientLegend(view)
            self.legends[view] = legend
            view.viewport().installEventFilter(self)
            view.destroyed.connect(lambda *_a, v=view: self.legends.pop(v, None))
            self._place(view)
        return legend

    def _place(self, view) -> None:
        legend = self.legends.get(view)
        if legend is not None:
            area = view.viewport().geometry()
            legend.move(area.left() + MARGIN, area.bottom() - legend.height() - MARGIN)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            for view in self.legends:
                if view.viewport() is watched:
                    self._place(view)
        return False

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        if enabled:
            for network in self.last:
                self._apply(network)
        else:
            self._hide()

    def clear(self) -> None:
        """Forget the colours (a new run starts)."""
        self.last = {}
        self._hide()

    def _hide(self) -> None:
        for view in self.tabs.views:
            view.network_scene.clear_gradient_flow()
        for legend in self.legends.values():
            legend.hide()

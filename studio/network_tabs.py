"""One canvas tab per network of the project (a GAN shows a generator and a discriminator tab).

The main window's adapter to the canvas (studio/canvas): it makes a
NetworkView for each network, rebuilds them when another project is loaded,
renames tabs when a network is renamed, and re-emits the current canvas's
block selection as `selectionChanged(network, block_ids)`. The tab bar is
hidden while there is only one network.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from graph.model import Change
from studio.canvas.style import DARK, LIGHT
from studio.canvas.view import NetworkView
from studio.document import Document


class NetworkTabs(QTabWidget):
    selectionChanged = Signal(str, list)  # network name, selected block ids
    message = Signal(str)  # for the status bar (why a wire was refused)

    def __init__(self, document: Document, dark: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.dark = dark
        self.setDocumentMode(True)
        self.views: list[NetworkView] = []
        document.projectReplaced.connect(self.rebuild)
        document.networkChanged.connect(self._network_changed)
        self._unfitted: list[NetworkView] = []  # views not yet fitted at their real size
        self.currentChanged.connect(self._tab_shown)
        self.rebuild()

    # --- building ---
    def rebuild(self) -> None:
        old, self.views = self.views, []
        self._unfitted = []
        self.clear()
        for view in old:
            view.detach()
            view.deleteLater()
        for net in self.document.project.networks:
            view = NetworkView(self.document, net.name, DARK if self.dark else LIGHT)
            view.blockSelectionChanged.connect(lambda ids, v=view: self._view_selection(v, ids))
            view.wireRefused.connect(self.message)
            self.views.append(view)
            self.addTab(view, net.name)
        self.tabBar().setVisible(len(self.views) > 1)
        self.fit_all()
        self._emit_selection()

    def _network_changed(self, _name: str, change: Change) -> None:
        if change.kind == "network_renamed":
            for i, view in enumerate(self.views):
                self.setTabText(i, view.network_name)

    def set_dark(self, dark: bool) -> None:
        self.dark = dark
        for view in self.views:
            view.setTheme(DARK if dark else LIGHT)

    # --- queries ---
    def current_view(self) -> NetworkView | None:
        view = self.currentWidget()
        return view if isinstance(view, NetworkView) else None

    def current_network(self) -> str:
        view = self.current_view()
        return view.network_name if view is not None else self.document.network().name

    def view_of(self, network: str) -> NetworkView | None:
        return next((v for v in self.views if v.network_name == network), None)

    def selected_ids(self) -> list[str]:
        view = self.current_view()
        return view.selectedBlockIds() if view is not None else []

    def center_point(self) -> QPointF:
        """The scene point at the middle of the current view (where the palette adds blocks)."""
        view = self.current_view()
        return view.visibleSceneRect().center() if view is not None else QPointF()

    # --- commands from the window ---
    def show_network(self, network: str) -> None:
        view = self.view_of(network)
        if view is not None:
            self.setCurrentWidget(view)

    def select_block(self, network: str, block_id: str, center: bool = True) -> None:
        self.show_network(network)
        view = self.view_of(network)
        if view is None:
            return
        if center:
            view.centerOnBlock(block_id)  # selects it too
        else:
            view.selectBlock(block_id)

    def fit_all(self) -> None:
        """The opening view of each network (the current one now, the others when first shown)."""
        current = self.current_view()
        self._unfitted = [view for view in self.views if view is not current]
        if current is not None:
            self._fit(current)

    def _fit(self, view: NetworkView) -> None:
        """All of the network at a readable zoom, or, if it is too big for that, its first error
        (so a problem is never off-screen), or else its inputs."""
        view.fitAll()
        if view.visibleSceneRect().contains(view.network_scene.items_rect()):
            return
        problem = next((d.block for d in self.document.analysis(view.network_name).diagnostics
                        if d.is_error and d.block in view.network_scene.blocks), None)
        if problem is not None:
            view.centerOnBlock(problem)

    def _tab_shown(self, _index: int) -> None:
        """A tab shown for the first time is fitted now: hidden, it did not have its real size."""
        view = self.current_view()
        if view is not None and view in self._unfitted:
            self._unfitted.remove(view)
            self._fit(view)
        self._emit_selection()

    # --- selection ---
    def _view_selection(self, view: NetworkView, ids: list[str]) -> None:
        if view is self.current_view():
            self.selectionChanged.emit(view.network_name, list(ids))

    def _emit_selection(self) -> None:
        view = self.current_view()
        if view is not None:
            self.selectionChanged.emit(view.network_name, view.selectedBlockIds())

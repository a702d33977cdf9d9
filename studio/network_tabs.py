"""One canvas tab per network of the project (a GAN shows a generator and a discriminator tab).

The main window's adapter to the canvas (studio/canvas): it makes a
NetworkView for each network, rebuilds them when another project is loaded,
renames tabs when a network is renamed, and re-emits the current canvas's
block selection as `selectionChanged(network, block_ids)`. The tab bar is
hidden while there is only one tab.

A block definition opens in a tab of its own ("◇ ResidualBlock", with a
close button; network tabs have none): double-click an instance's card, or
`open_definition`. Its canvas is an ordinary NetworkView on the body (the
Document resolves a definition's name to its body), so every edit there is
one undo step that changes every instance. The tab closes when its
definition is removed or the project replaced, and follows a definition
swapped for another of the same name (a library update, its undo).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QTabBar, QTabWidget, QWidget

from graph.model import Change
from studio.canvas.style import DARK, LIGHT
from studio.canvas.view import NetworkView
from studio.document import Document

DEFINITION_MARK = "◇ "  # a definition's tab title starts with it: "◇ ResidualBlock"


class NetworkTabs(QTabWidget):
    selectionChanged = Signal(str, list)  # network name, selected block ids
    message = Signal(str)  # for the status bar (why a wire was refused)

    def __init__(self, document: Document, dark: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.dark = dark
        self.setDocumentMode(True)
        self.views: list[NetworkView] = []  # one per network, in the project's order
        self.definition_views: dict[str, NetworkView] = {}  # definition name -> its open tab's canvas
        self.setTabsClosable(True)  # only definition tabs keep their close button (see _add_view)
        self.tabCloseRequested.connect(self._close_requested)
        document.projectReplaced.connect(self.rebuild)
        document.networkChanged.connect(self._network_changed)
        document.undo_stack.indexChanged.connect(self._follow_definitions)
        document.definitionChanged.connect(self._definition_changed)
        self._unfitted: list[NetworkView] = []  # views not yet fitted at their real size
        self.currentChanged.connect(self._tab_shown)
        self.rebuild()

    # --- building ---
    def rebuild(self) -> None:
        old = self.views + list(self.definition_views.values())
        self.views, self.definition_views = [], {}
        self._unfitted = []
        self.clear()
        for view in old:
            view.detach()
            view.deleteLater()
        for net in self.document.project.networks:
            view = self._make_view(net.name)
            self.views.append(view)
            self._add_view(view, net.name, closable=False)
        self._update_bar()
        self.fit_all()
        self._emit_selection()

    def _make_view(self, name: str) -> NetworkView:
        view = NetworkView(self.document, name, DARK if self.dark else LIGHT)
        view.blockSelectionChanged.connect(lambda ids, v=view: self._view_selection(v, ids))
        view.blockActivated.connect(lambda bid, v=view: self._activated(v, bid))
        view.wireRefused.connect(self.message)
        view.definitionRequested.connect(self.open_definition)
        return view

    def _add_view(self, view: NetworkView, title: str, closable: bool, index: int | None = None) -> int:
        index = self.addTab(view, title) if index is None else self.insertTab(index, view, title)
        if not closable:
            bar = self.tabBar()
            for side in (QTabBar.ButtonPosition.LeftSide, QTabBar.ButtonPosition.RightSide):
                if bar.tabButton(index, side) is not None:
                    bar.tabButton(index, side).hide()
                    bar.setTabButton(index, side, None)
        return index

    def _update_bar(self) -> None:
        self.tabBar().setVisible(self.count() > 1)

    # --- definition tabs ---
    def open_definition(self, name: str) -> NetworkView | None:
        """Show the tab of definition `name` (opened now if it was not); None when there is no such
        definition (or a network has its name, so its body cannot be told apart)."""
        if not self.document.is_definition(name):
            if name in self.document.project.definitions:
                self.message.emit(f"A network is also named {name}: rename one of them to edit {name}.")
            return None
        view = self.definition_views.get(name)
        if view is None:
            view = self._make_view(name)
            self.definition_views[name] = view
            page = self.currentWidget()
            if page is not None:  # the new page gets the pages' size now, so it is fitted at that size
                view.setGeometry(page.geometry())
            self._add_view(view, DEFINITION_MARK + name, closable=True)
            self._set_definition_tip(name)
            self._update_bar()
            self.setCurrentWidget(view)
            self._fit(view)
        else:
            self.setCurrentWidget(view)
        return view

    def _set_definition_tip(self, name: str) -> None:
        uses = sum(b.type == name for net in self.document.project.networks for b in net.blocks.values())
        if uses == 0:
            tip = f"Definition {name}: no network uses it yet"
        elif uses == 1:
            tip = f"Definition {name}: an edit here changes its instance (one undo step)"
        else:
            tip = f"Definition {name}: an edit here changes all its {uses} instances at once (one undo step)"
        self.setTabToolTip(self.indexOf(self.definition_views[name]), tip)

    def close_definition(self, name: str) -> None:
        view = self.definition_views.pop(name, None)
        if view is None:
            return
        if view in self._unfitted:
            self._unfitted.remove(view)
        self.removeTab(self.indexOf(view))
        view.detach()
        view.deleteLater()
        self._update_bar()

    def _close_requested(self, index: int) -> None:
        name = next((n for n, v in self.definition_views.items() if self.indexOf(v) == index), None)
        if name is not None:
            self.close_definition(name)

    def _follow_definitions(self, _index: int) -> None:
        """After each step: a tab whose definition is gone closes; one swapped for another (a library
        update or its undo) shows the new body in the same place."""
        for name, view in list(self.definition_views.items()):
            if not self.document.is_definition(name):
                self.close_definition(name)
            elif self.document.network(name) is not view.network_scene.net:
                current = self.currentWidget() is view
                index = self.indexOf(view)
                self.close_definition(name)
                fresh = self._make_view(name)
                self.definition_views[name] = fresh
                self._add_view(fresh, DEFINITION_MARK + name, closable=True, index=index)
                self._unfitted.append(fresh)
                self._update_bar()
                if current:
                    self.setCurrentWidget(fresh)
            else:
                self._set_definition_tip(name)

    def _definition_changed(self, name: str, change: Change) -> None:
        """A port added to, removed from or renamed in a definition: its instances' cards, on every
        canvas, show the ports the definition has now (their scenes hear only their own network)."""
        if change.kind not in ("block_added", "block_removed", "block_renamed"):
            return
        for view in self.views + list(self.definition_views.values()):
            scene = view.network_scene
            for bid in [bid for bid, block in scene.net.blocks.items() if block.type == name]:
                scene._refresh_block(bid)

    def is_definition_tab(self, view: QWidget | None = None) -> bool:
        view = self.currentWidget() if view is None else view
        return view is not None and view in self.definition_views.values()

    def _activated(self, view: NetworkView, block_id: str) -> None:
        """A double-clicked instance opens its definition."""
        block = view.network_scene.net.blocks.get(block_id)
        if block is not None and block.type in self.document.project.definitions:
            self.open_definition(block.type)

    def _network_changed(self, _name: str, change: Change) -> None:
        if change.kind == "network_renamed":
            for view in self.views:
                self.setTabText(self.indexOf(view), view.network_name)

    def set_dark(self, dark: bool) -> None:
        self.dark = dark
        for view in self.views + list(self.definition_views.values()):
            view.setTheme(DARK if dark else LIGHT)

    # --- queries ---
    def current_view(self) -> NetworkView | None:
        view = self.currentWidget()
        return view if isinstance(view, NetworkView) else None

    def current_network(self) -> str:
        view = self.current_view()
        return view.network_name if view is not None else self.document.network().name

    def view_of(self, network: str) -> NetworkView | None:
        """The canvas of a network, or of a definition whose tab is open."""
        found = next((v for v in self.views if v.network_name == network), None)
        return found if found is not None else self.definition_views.get(network)

    def selected_ids(self) -> list[str]:
        view = self.current_view()
        return view.selectedBlockIds() if view is not None else []

    def center_point(self) -> QPointF:
        """The scene point at the middle of the current view (where the palette adds blocks)."""
        view = self.current_view()
        return view.visibleSceneRect().center() if view is not None else QPointF()

    # --- commands from the window ---
    def show_network(self, network: str) -> None:
        """Show a network's tab, or a definition's (opening it)."""
        if self.document.is_definition(network):
            self.open_definition(network)
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

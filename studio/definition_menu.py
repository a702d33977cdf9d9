"""The Definitions menu's editing entries: edit a definition in its tab, make one from the selection,
detach the selected instance (the library entries stay in main_window.py).

Each entry ends in a NetworkTabs or Document call; refusals go to the status bar.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMenu

from graph.definitions import DefinitionError
from studio.canvas.definition_actions import make_definition_from_selection


def add_editing_entries(window, menu: QMenu) -> None:
    """Edit Definition ▸ (one entry per definition), Make Definition from Selection…, Detach Instance."""
    doc = window.document
    names = doc.project.definitions.names()
    edit = menu.addMenu("&Edit Definition")
    edit.setEnabled(bool(names))
    for name in names:
        action = edit.addAction(name, lambda name=name: window.tabs.open_definition(name))
        action.setStatusTip(f"Open {name} in its own tab: an edit there changes every instance")
    make = menu.addAction("&Make Definition from Selection…", lambda: make_from_selection(window))
    make.setStatusTip("The selected blocks become a definition, replaced by one instance of it")
    network, ids = window._selection()
    make.setEnabled(bool(ids))
    selected = window._selected_definition()
    detach = menu.addAction(f"&Detach {selected} Instance" if selected else "&Detach Instance",
                            lambda: detach_selected(window))
    detach.setStatusTip("Replace the selected instance by a copy of its blocks (it stops following its "
                        "definition)")
    detach.setEnabled(selected is not None)


def _report(window, text: str) -> None:
    window.statusBar().showMessage(text, 8000)


def make_from_selection(window, name: str | None = None) -> str | None:
    network, ids = window._selection()
    return make_definition_from_selection(window.document, network, ids, window,
                                          lambda text: _report(window, text), name,
                                          view=window.tabs.current_view())


def detach_selected(window) -> list[str]:
    network, ids = window._selection()
    if len(ids) != 1:
        _report(window, "Select one instance of a definition to detach it")
        return []
    try:
        return window.document.detach_instance(network, ids[0])
    except DefinitionError as err:
        _report(window, str(err))
        return []

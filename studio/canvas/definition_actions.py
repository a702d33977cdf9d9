"""Card-menu entries for block definitions: edit one in its tab, make one from blocks, detach an instance.

`add_definition_actions` puts them on a card's context menu (menus.block_menu);
`make_definition_from_selection` is also what the window's Definitions menu
calls. Each ends in one Document call, one undo step; a refusal (a head in
the selection, two values leaving it) is said in the status bar, through the
view's `wireRefused` signal, before any dialog opens.
"""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from graph.definitions import DefinitionError
from studio.canvas.interaction import optional


def make_definition_from_selection(doc, network: str, ids: list[str], parent: QWidget | None,
                                   report, name: str | None = None, view=None) -> str | None:
    """Ask a name (unless given) and turn the blocks into a definition, then select the instance on
    `view`; returns its id, or None when refused (`report(text)` says why) or cancelled."""
    problem = doc.definition_selection_problem(network, ids)
    if problem:
        report(f"Cannot make a definition: {problem}")
        return None
    if name is None:
        name = ask_name(parent, len(ids), doc.suggested_definition_name(network, ids))
        if name is None:
            return None
    try:
        instance = doc.make_definition(network, ids, name)
    except ValueError as err:  # DefinitionError too: the name is taken or not a name
        report(f"Cannot make a definition: {err}")
        return None
    if view is not None:  # the new instance is the selection, where the blocks were
        view.selectBlock(instance)
    report(f"Made the definition {name.strip()}: double-click its card to edit it")
    return instance


def ask_name(parent: QWidget | None, count: int, suggested: str) -> str | None:
    """The new definition's name, from a dialog wide enough for its title (None: cancelled)."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("Make definition")
    dialog.setLabelText(f"Name of the new definition ({count} blocks become one instance of it):")
    dialog.setTextValue(suggested)
    dialog.resize(max(dialog.sizeHint().width(), 440), dialog.sizeHint().height())
    return dialog.textValue() if dialog.exec() else None


def add_definition_actions(menu: QMenu, scene, block_id: str, ids: list[str], add) -> None:
    """Edit definition 'X' and Detach for one instance; Make definition from selection for blocks.
    `add(menu, text, slot)` is menus._add."""
    doc = scene.doc
    if optional(doc, "make_definition") is None:
        return
    views = scene.views()
    view = views[0] if views else None
    report = view.wireRefused.emit if view is not None else (lambda _text: None)
    block = scene.net.block(block_id)
    if len(ids) == 1 and block.type in doc.project.definitions:
        name = block.type
        if view is not None:
            add(menu, f"Edit definition '{name}'", lambda: view.definitionRequested.emit(name))

        def detach() -> None:
            try:
                doc.detach_instance(scene.network_name, block_id)
            except DefinitionError as err:
                report(str(err))

        add(menu, "Detach (copy its blocks)", detach)
    add(menu, "Make definition from selection…",
        lambda: make_definition_from_selection(doc, scene.network_name, ids, view, report, view=view))

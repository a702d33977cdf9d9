"""Right-click menus of the canvas: on a card, a folded run, a problem badge, a wire, a group, empty canvas.

Each builder returns a QMenu whose actions call Document methods (through
the scene's helpers), so tests can trigger an action without opening the
menu. Document features that may be missing in an older build (groups,
clipboard, layout, quick fixes) are simply left out of the menu.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGraphicsItem, QMenu, QMessageBox

from studio.canvas import fold_copy
from studio.canvas.badges import BadgeItem, FixChipItem
from studio.canvas.block_item import BlockItem
from studio.canvas.definition_actions import add_definition_actions
from studio.canvas.fold_item import ExpandButton, FoldItem
from studio.canvas.group_item import GroupItem
from studio.canvas.interaction import optional
from studio.canvas.transfer_actions import freeze_target, init_from_checkpoint, toggle_frozen, with_weights
from studio.canvas.wire_item import WireItem


def _parent(scene):
    views = scene.views()
    return views[0] if views else None


def _add(menu: QMenu, text: str, slot, shortcut: str | None = None, enabled: bool = True) -> QAction:
    action = menu.addAction(text)
    action.triggered.connect(lambda _checked=False: slot())
    if shortcut:
        action.setShortcut(shortcut)
        action.setShortcutVisibleInContextMenu(True)
    action.setEnabled(enabled)
    return action


def menu_for(scene, item: QGraphicsItem | None, pos: QPointF) -> QMenu | None:
    if isinstance(item, ExpandButton):
        item = item.parentItem()
    if isinstance(item, FoldItem):
        return fold_menu(scene, item)
    if isinstance(item, BadgeItem | FixChipItem):
        return problem_menu(scene, item.parentItem().block_id)
    if isinstance(item, BlockItem):
        return block_menu(scene, item.block_id)
    if isinstance(item, WireItem):
        scene.select_wire(item.edge)
        return wire_menu(scene, item.edge)
    if isinstance(item, GroupItem):
        return group_menu(scene, item.group_id)
    return canvas_menu(scene, pos)


def add_fix_actions(menu: QMenu, scene, block_id: str) -> int:
    fixes = [d.fix for d in scene.diagnostics_of(block_id) if d.fix is not None]
    if optional(scene.doc, "apply_fix") is None:
        return 0
    for fix in dict.fromkeys(fixes):  # one entry per distinct fix
        _add(menu, f"Quick fix: {fix.title}", lambda fix=fix: scene.apply_fix(fix))
    return len(fixes)


def problem_menu(scene, block_id: str) -> QMenu:
    """The messages of a block's problems, then its quick fixes; a fold's: those of all its instances."""
    menu = QMenu(_parent(scene))
    members = scene.fold_members(block_id)
    for bid in members:
        who = f"{scene.net.block(bid).name}: " if len(members) > 1 else ""
        for d in scene.diagnostics_of(bid):
            text = who + d.message
            text = text if len(text) < 110 else text[:107] + "…"
            action = menu.addAction(("✖ " if d.is_error else "⚠ ") + text)
            action.setEnabled(False)
            action.setToolTip(d.message)
    if any(add_fix_actions(QMenu(), scene, bid) for bid in members):
        menu.addSeparator()
        for bid in members:
            add_fix_actions(menu, scene, bid)
    return menu


def block_menu(scene, block_id: str) -> QMenu:
    doc, net = scene.doc, scene.network_name
    ids = scene.selected_block_ids() or [block_id]
    block = scene.net.block(block_id)
    menu = QMenu(_parent(scene))
    if add_fix_actions(menu, scene, block_id):
        menu.addSeparator()
    if _add_fold_action(menu, scene, block_id, ids):
        menu.addSeparator()
    _add(menu, "Rename…", lambda: scene.renameRequested.emit(block_id), "F2")
    enable = not all(scene.net.block(b).enabled for b in ids)
    _add(menu, "Enable" if enable else "Disable", lambda: doc.set_enabled(net, ids, enable))
    if optional(doc, "set_frozen") is not None:
        _add_transfer(menu, scene, ids)
    _add_sharing(menu, scene, block_id, ids)
    _add_library(menu, scene, block, ids)
    add_definition_actions(menu, scene, block_id, ids, _add)
    menu.addSeparator()
    _add_copy_actions(menu, scene, ids)
    group = scene.group_of(block_id)
    grouper, ungrouper = optional(doc, "group_blocks"), optional(doc, "ungroup")
    if grouper is not None:
        _add(menu, "Group selected", lambda: grouper(net, ids, _group_name(scene)), "Ctrl+G")
    if group is not None and ungrouper is not None:
        _add(menu, f"Ungroup '{group.name}'", lambda: ungrouper(net, group.id))
    layout = optional(doc, "auto_layout")
    if layout is not None and len(ids) > 1:
        _add(menu, "Arrange selected", lambda: _arrange(scene, ids))
    menu.addSeparator()
    _add(menu, "Delete" if len(ids) == 1 else f"Delete {len(ids)} blocks", scene.delete_selection, "Del")
    menu.setTitle(block.name)
    return menu


def _add_copy_actions(menu: QMenu, scene, ids: list[str]) -> None:
    """Cut, Copy, Duplicate; copies of folded runs come out folded (studio/canvas/fold_copy.py)."""
    doc, net = scene.doc, scene.network_name
    if optional(doc, "cut_blocks") is not None:
        _add(menu, "Cut", lambda: fold_copy.copy_blocks(scene, doc, net, ids, cut=True), "Ctrl+X")
    if optional(doc, "copy_blocks") is not None:
        _add(menu, "Copy", lambda: fold_copy.copy_blocks(scene, doc, net, ids), "Ctrl+C")
    if optional(doc, "duplicate_blocks") is not None:
        _add(menu, "Duplicate", lambda: fold_copy.duplicate_blocks(scene, doc, net, ids), "Ctrl+D")


def _add_fold_action(menu: QMenu, scene, block_id: str, ids: list[str]) -> bool:
    """An instance in a run of its definition: "Fold N consecutive X" (view only, no undo step)."""
    run = scene.run_of(block_id)
    if run is None or not set(ids) <= set(run.blocks):
        return False
    _add(menu, f"Fold {len(run)} consecutive {run.definition}", lambda: scene.set_folded(block_id, True))
    return True


def fold_menu(scene, fold: FoldItem) -> QMenu:
    """A folded run: Expand, then what acts on all its instances (copy, disable, delete, ...)."""
    doc, net = scene.doc, scene.network_name
    head = fold.run.head
    ids = scene.selected_block_ids() or list(fold.run.blocks)
    menu = QMenu(_parent(scene))
    _add(menu, f"Expand ({len(fold.run)} {fold.run.definition} blocks)",
         lambda: scene.set_folded(head, False))
    menu.addSeparator()
    _add(menu, "Disable" if all(scene.net.block(b).enabled for b in ids) else "Enable",
         lambda: doc.set_enabled(net, ids, not all(scene.net.block(b).enabled for b in ids)))
    _add_copy_actions(menu, scene, ids)
    menu.addSeparator()
    _add(menu, f"Delete {len(ids)} blocks", scene.delete_selection, "Del")
    menu.setTitle(fold.content.name)
    return menu


def _add_library(menu: QMenu, scene, block, ids: list[str]) -> None:
    """An instance of a definition: keep it in My blocks, or take the library's newer version."""
    doc = scene.doc
    saver = optional(doc, "save_to_library")
    if len(ids) != 1 or saver is None or block.type not in doc.project.definitions:
        return
    name = block.type

    def save() -> None:
        from graph.library import LibraryError

        try:
            saver(name)
        except (LibraryError, ValueError) as err:
            QMessageBox.warning(_parent(scene), "Save to My blocks", str(err))

    _add(menu, f"Save {name} to My blocks", save)
    newer = next((u for u in doc.library_updates() if u.name == name), None)
    if newer is not None:
        entry = doc.library_entry(doc.project.definitions.get(name).origin.name)
        _add(menu, f"Update {name} to version {newer.newest}",
             lambda: doc.update_from_library([(name, entry)]))


def _add_sharing(menu: QMenu, scene, block_id: str, ids: list[str]) -> None:
    """Another use of a block's module (a siamese encoder), and the way back to weights of its own."""
    doc, net, network = scene.doc, scene.network_name, scene.net
    adder, freer = optional(doc, "add_shared_use"), optional(doc, "make_independent")
    if len(ids) != 1 or adder is None:
        return
    block = network.block(block_id)
    spec = doc.registry.get(block.type) if block.type in doc.registry else None
    if spec is not None and spec.role == "layer":
        _add(menu, "Add another use (shared weights)", lambda: adder(net, block_id))
    tied = any(k.startswith(block_id + ".") for k in network.ties)
    if freer is not None and (block.shares is not None or tied):
        _add(menu, "Make independent", lambda: freer(net, block_id))


def _arrange(scene, ids: list[str] | None) -> None:
    """Auto Layout as Ctrl+L does it (wrapped to the view, then fitted) when the scene has a view."""
    view = _parent(scene)
    if view is not None and hasattr(view, "arrange"):
        if ids is not None:
            view._select_ids(ids)
        view.arrange(selection_only=ids is not None)
    else:
        scene.doc.auto_layout(scene.network_name, ids)


def wire_menu(scene, edge) -> QMenu:
    menu = QMenu(_parent(scene))
    fixes = [d.fix for d in scene.diagnostics_of(edge.dst) if d.fix is not None and d.fix.edge == edge]
    if optional(scene.doc, "apply_fix") is not None:
        for fix in dict.fromkeys(fixes):
            _add(menu, f"Quick fix: {fix.title}", lambda fix=fix: scene.apply_fix(fix))
    _add(menu, "Delete wire", lambda: scene.doc.disconnect(scene.network_name, edge), "Del")
    return menu


def group_menu(scene, group_id: str) -> QMenu:
    doc, net = scene.doc, scene.network_name
    group = scene.groups[group_id].group
    menu = QMenu(_parent(scene))
    if optional(doc, "set_group_collapsed") is not None:
        _add(menu, "Expand" if group.collapsed else "Collapse", lambda: scene.toggle_group(group_id))
    if optional(doc, "ungroup") is not None:
        _add(menu, "Ungroup", lambda: doc.ungroup(net, group_id))
    members = [b for b in group.blocks if b in scene.blocks]
    if optional(doc, "set_frozen") is not None and members:
        freeze = freeze_target(doc, net, with_weights(doc, net, members))
        _add(menu, f"{'Freeze' if freeze else 'Unfreeze'} '{group.name}'",
             lambda: toggle_frozen(doc, net, members))
        _add(menu, "Initialise from checkpoint…",
             lambda: init_from_checkpoint(doc, net, members, _parent(scene), refs=[group.name]))
    _add(menu, "Delete group and its blocks", lambda: doc.remove_blocks(net, members))
    return menu


def canvas_menu(scene, pos: QPointF) -> QMenu:
    doc, net = scene.doc, scene.network_name
    menu = QMenu(_parent(scene))
    _add(menu, "Add block…", lambda: scene.quickAddRequested.emit(pos, None), "Tab")
    paste = optional(doc, "paste")
    if paste is not None:
        _add(menu, "Paste", lambda: paste(net, at=scene.snapped(pos)), "Ctrl+V")
    menu.addSeparator()
    layout = optional(doc, "auto_layout")
    if layout is not None:
        _add(menu, "Arrange all", lambda: _arrange(scene, None), "Ctrl+L")
    view = _parent(scene)
    if view is not None and hasattr(view, "fitAll"):
        _add(menu, "Fit to view", view.fitAll, "F")
    shapes = menu.addAction("Shapes on wires")
    shapes.setCheckable(True)
    shapes.setChecked(scene.show_wire_shapes)
    shapes.toggled.connect(scene.set_wire_shapes)
    return menu


def _add_transfer(menu: QMenu, scene, ids: list[str]) -> None:
    """Freeze/Unfreeze and Initialise from checkpoint… for the chosen blocks (transfer learning)."""
    doc, net = scene.doc, scene.network_name
    freeze = freeze_target(doc, net, with_weights(doc, net, ids))
    action = _add(menu, "Freeze" if freeze else "Unfreeze", lambda: toggle_frozen(doc, net, ids))
    action.setToolTip("A frozen block keeps its weights while training (transfer learning)")
    in_definition = optional(doc, "is_definition")
    if in_definition is not None and in_definition(net):
        return  # a checkpoint starts a network's blocks; inside a definition they are every instance's
    _add(menu, "Initialise from checkpoint…", lambda: init_from_checkpoint(doc, net, ids, _parent(scene)))


def _group_name(scene) -> str:
    names = {g.name for g in scene.net.groups}
    n = 1
    while f"Group {n}" in names:
        n += 1
    return f"Group {n}"

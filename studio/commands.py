"""Undo commands: the only way the studio changes a project.

Each command holds ids plus old and new values and calls only `Network`
methods (the orange-canvas-core pattern); views redraw from the model's
change events, never from the commands. Removing blocks removes their wires
first as child commands, so undo puts every wire back in its place. A drag
is one MoveBlocks on mouse release; consecutive edits of one parameter field
merge into one step.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from graph.model import Block, Edge, Group, Network

# ids for QUndoCommand.mergeWith: only commands of the same kind merge
MERGE_SET_PARAM = 1001
MERGE_RENAME = 1002


def _name(network: Network, block_id: str) -> str:
    """A block's name for a History line (its id once it is gone: the text is made when the step is)."""
    block = network.blocks.get(block_id)
    return block.name if block is not None else block_id


def _wire_text(network: Network, edge: Edge, word: str = "to") -> str:
    """'conv1 to pool1', naming the port unless it is a block's one plain input ('a to add.in2')."""
    port = "" if edge.dst_port == "x" else f".{edge.dst_port}"
    return f"{_name(network, edge.src)} {word} {_name(network, edge.dst)}{port}"


def _blocks_text(network: Network, block_ids: list[str]) -> str:
    return _name(network, block_ids[0]) if len(block_ids) == 1 else f"{len(block_ids)} blocks"


class AddBlock(QUndoCommand):
    def __init__(self, network: Network, block: Block, index: int | None = None, parent=None):
        super().__init__(f"Add {block.name}", parent)
        self.network, self.block, self.index = network, copy.deepcopy(block), index

    def redo(self):
        self.network.add_block(copy.deepcopy(self.block), self.index)

    def undo(self):
        self.network.remove_block(self.block.id)


class Connect(QUndoCommand):
    def __init__(self, network: Network, edge: Edge, index: int | None = None, parent=None):
        super().__init__(f"Connect {_wire_text(network, edge)}", parent)
        self.network, self.edge, self.index = network, edge, index

    def redo(self):
        self.network.connect(self.edge, self.index)

    def undo(self):
        self.network.disconnect(self.edge)


class Disconnect(QUndoCommand):
    def __init__(self, network: Network, edge: Edge, parent=None):
        super().__init__(f"Disconnect {_wire_text(network, edge, 'from')}", parent)
        self.network, self.edge = network, edge
        self.index: int | None = None

    def redo(self):
        self.index = self.network.disconnect(self.edge)

    def undo(self):
        self.network.connect(self.edge, self.index)


class _RemoveBlock(QUndoCommand):
    """Removes one wire-less block, remembering its place so undo restores argument order."""

    def __init__(self, network: Network, block_id: str, parent=None):
        super().__init__(f"Remove {network.block(block_id).name}", parent)
        self.network, self.block_id = network, block_id
        self.block: Block | None = None
        self.index: int | None = None
        self.groups = None

    def redo(self):
        self.index = self.network.index_of(self.block_id)
        self.groups = copy.deepcopy(self.network.groups)
        self.block = self.network.remove_block(self.block_id)
        trimmed = [g for g in (_without(g, self.block_id) for g in self.network.groups) if g.blocks]
        self.network.set_groups(trimmed)

    def undo(self):
        self.network.add_block(self.block, self.index)
        self.network.set_groups(self.groups)


def _without(group, block_id):
    if block_id not in group.blocks:
        return group
    trimmed = copy.deepcopy(group)
    trimmed.blocks = tuple(b for b in group.blocks if b != block_id)
    return trimmed


class Macro(QUndoCommand):
    """Several commands as one undo step.

    Children are kept in a Python list and run here rather than parented to
    the QUndoCommand in C++: Qt would otherwise own Python subclasses whose
    wrappers Python may collect, and call into freed objects.
    """

    def __init__(self, text: str, steps: list[QUndoCommand] | None = None):
        super().__init__(text)
        self.steps: list[QUndoCommand] = list(steps or [])

    def add(self, step: QUndoCommand) -> QUndoCommand:
        self.steps.append(step)
        return step

    def redo(self):
        for step in self.steps:
            step.redo()

    def undo(self):
        for step in reversed(self.steps):
            step.undo()


def remove_blocks(network: Network, block_ids: list[str]) -> Macro:
    """One undo step removing blocks and every wire touching them (wires first).

    A shared module outlives the block holding it: the first use that stays gets it (the others
    use it from there), so no block is left using a module that is gone; ties to a removed block go.
    """
    wanted = set(block_ids)
    ids = [bid for bid in network.blocks if bid in wanted]
    names = ", ".join(network.block(b).name for b in ids[:3]) + ("…" if len(ids) > 3 else "")
    macro = Macro(f"Delete {names}")
    for edge in [e for e in network.edges if e.src in wanted or e.dst in wanted]:
        macro.add(Disconnect(network, edge))
    gone = [key for key, source in network.ties.items()
            if any(k.startswith(bid + ".") for k in (key, source) for bid in ids)]
    if gone:
        macro.add(SetTies(network, {k: v for k, v in network.ties.items() if k not in gone}))
    for bid in ids:
        staying = [b for b in network.uses_of(bid)[1:] if b not in wanted] \
            if network.blocks[bid].shares is None else []
        if staying:
            macro.add(SetShares(network, staying[0], None))
            for other in staying[1:]:
                macro.add(SetShares(network, other, staying[0]))
    # uses of a module go before the block holding it
    for bid in sorted(ids, key=lambda b: network.blocks[b].shares is None):
        macro.add(_RemoveBlock(network, bid))
    return macro


class SetShares(QUndoCommand):
    """Make a block another use of a module (None: its own module, with the settings it had)."""

    def __init__(self, network: Network, block_id: str, owner: str | None, parent=None):
        block = network.block(block_id)
        text = f"Make {block.name} independent" if owner is None else \
            f"Use the module of {network.block(owner).name} in {block.name}"
        super().__init__(text, parent)
        self.network, self.block_id = network, block_id
        self.old, self.new = block.shares, owner
        self.params, self.frozen = copy.deepcopy(block.params), block.frozen

    def redo(self):
        self.network.set_shares(self.block_id, self.new)

    def undo(self):
        if self.old is None:
            self.network.set_shares(self.block_id, None)
            self.network.set_params(self.block_id, copy.deepcopy(self.params))
            self.network.set_frozen(self.block_id, self.frozen)
        else:
            self.network.set_shares(self.block_id, self.old)


class SetTies(QUndoCommand):
    """Replace a network's tied parameters ("block.param" -> "block.param")."""

    def __init__(self, network: Network, ties: dict[str, str], text: str = "Change tied parameters",
                 parent=None):
        super().__init__(text, parent)
        self.network, self.old, self.new = network, dict(network.ties), dict(ties)

    def redo(self):
        self.network.set_ties(self.new)

    def undo(self):
        self.network.set_ties(self.old)


class MoveBlocks(QUndoCommand):
    """Moves several blocks at once (one drag = one step)."""

    def __init__(self, network: Network, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str = "Move", parent=None):
        super().__init__(text, parent)
        self.network, self.moves = network, dict(moves)

    def redo(self):
        for bid, (_old, new) in self.moves.items():
            self.network.move_block(bid, new)

    def undo(self):
        for bid, (old, _new) in self.moves.items():
            self.network.move_block(bid, old)


class SetParam(QUndoCommand):
    """Sets one parameter; consecutive edits of the same field of the same block merge."""

    def __init__(self, network: Network, block_id: str, name: str, value: Any, parent=None):
        block = network.block(block_id)
        super().__init__(f"Set {block.name}.{name}", parent)
        self.network, self.block_id, self.name = network, block_id, name
        self.had_old = name in block.params
        self.old = block.params.get(name)
        self.new = value

    def id(self):
        return MERGE_SET_PARAM

    def mergeWith(self, other):
        if not isinstance(other, SetParam) or other.network is not self.network or (
                other.block_id, other.name) != (self.block_id, self.name):
            return False
        self.new = other.new
        return True

    def redo(self):
        self.network.set_param(self.block_id, self.name, self.new)

    def undo(self):
        if self.had_old:
            self.network.set_param(self.block_id, self.name, self.old)
        else:
            params = dict(self.network.block(self.block_id).params)
            params.pop(self.name, None)
            self.network.set_params(self.block_id, params)


class RenameBlock(QUndoCommand):
    def __init__(self, network: Network, block_id: str, name: str, parent=None):
        super().__init__(f"Rename {network.block(block_id).name} to {name}", parent)
        self.network, self.block_id = network, block_id
        self.old, self.new = network.block(block_id).name, name

    def id(self):
        return MERGE_RENAME

    def mergeWith(self, other):
        if not isinstance(other, RenameBlock) or other.network is not self.network \
                or other.block_id != self.block_id:
            return False
        self.new = other.new
        self.setText(f"Rename {self.old} to {self.new}")
        return True

    def redo(self):
        self.network.rename_block(self.block_id, self.new)

    def undo(self):
        self.network.rename_block(self.block_id, self.old)


class SetEnabled(QUndoCommand):
    def __init__(self, network: Network, block_ids: list[str], enabled: bool, parent=None):
        super().__init__(("Enable " if enabled else "Disable ") + _blocks_text(network, block_ids), parent)
        self.network = network
        self.changes = {bid: (network.block(bid).enabled, enabled) for bid in block_ids}

    def redo(self):
        for bid, (_old, new) in self.changes.items():
            self.network.set_enabled(bid, new)

    def undo(self):
        for bid, (old, _new) in self.changes.items():
            self.network.set_enabled(bid, old)


class SetFrozen(QUndoCommand):
    """Freeze or unfreeze blocks (transfer learning: a frozen block's weights do not train)."""

    def __init__(self, network: Network, block_ids: list[str], frozen: bool, parent=None):
        super().__init__(("Freeze " if frozen else "Unfreeze ") + _blocks_text(network, block_ids), parent)
        self.network = network
        self.changes = {bid: (network.block(bid).frozen, frozen) for bid in block_ids}

    def redo(self):
        for bid, (_old, new) in self.changes.items():
            self.network.set_frozen(bid, new)

    def undo(self):
        for bid, (old, _new) in self.changes.items():
            self.network.set_frozen(bid, old)


class SetGroups(QUndoCommand):
    """Replaces a network's list of groups (group, ungroup, rename, collapse are all this)."""

    def __init__(self, network: Network, groups: list[Group], text: str = "Group", parent=None):
        super().__init__(text, parent)
        self.network = network
        self.old, self.new = copy.deepcopy(network.groups), copy.deepcopy(list(groups))

    def redo(self):
        self.network.set_groups(copy.deepcopy(self.new))

    def undo(self):
        self.network.set_groups(copy.deepcopy(self.old))

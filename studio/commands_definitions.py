"""Undo commands for block definitions: one step edits the definition, so every instance changes with it.

Each wraps an `Edit` of graph.definition_edits: the first redo performs it (through model methods
only), undo replays its inverse, a later redo replays it. Build them with the functions below, which
check the edit can be made before anything is pushed (a cycle of definitions is refused here, with
its message, instead of inside the undo stack).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand

from graph.definition_edits import (
    Edit,
    add_inner_block,
    detach,
    remove_inner_block,
    set_exposed_default,
    set_inner_param,
)
from graph.definition_from_selection import make_definition
from graph.definitions import DefinitionError, cycle_message, find_cycle
from graph.model import Block, Definition, Definitions, Edge, ExposedParam, LibraryRef, Network
from graph.spec import Registry


class DefinitionEdit(QUndoCommand):
    """One edit of a definition (or a detach) as one undo step, whatever the number of instances."""

    def __init__(self, title: str, make: Callable[[], Edit], parent=None):
        super().__init__(title, parent)
        self._make = make
        self.edit: Edit | None = None

    def redo(self):
        if self.edit is None:
            self.edit = self._make()
            self.setText(self.edit.title)
        else:
            self.edit.apply()

    def undo(self):
        self.edit.revert()


def set_definition_param(library: Definitions, name: str, block_id: str, param: str,
                         value: Any) -> DefinitionEdit:
    """Set a setting of an inner block of definition `name`."""
    library.get(name).body.block(block_id)  # ModelError now, not inside the undo stack
    return DefinitionEdit(f"Set {param} in {name}",
                          lambda: set_inner_param(library, name, block_id, param, value))


def add_definition_block(library: Definitions, name: str, block: Block,
                         wires: list[Edge] = ()) -> DefinitionEdit:
    """Add a block to a definition's body; raises DefinitionError for an instance that makes a cycle."""
    if block.type in library:
        cycle = find_cycle(library, extra=(name, block.type))
        if cycle:
            raise DefinitionError(f"cannot put an instance of {block.type} into {name}: "
                                  + cycle_message(cycle))
    return DefinitionEdit(f"Add {block.name} to {name}", lambda: add_inner_block(library, name, block, wires))


def detach_instance(network: Network, block_id: str) -> DefinitionEdit:
    """Turn an instance into a plain group copy of its definition's body."""
    block = network.block(block_id)
    if not network.library or block.type not in network.library:
        raise DefinitionError(f"block {block.name!r} is not an instance of a definition")
    return DefinitionEdit(f"Detach {block.name}", lambda: detach(network, block_id))


class MakeDefinition(DefinitionEdit):
    """Blocks of a network become a new definition and one instance of it takes their place."""

    def __init__(self, network: Network, block_ids: list[str], name: str, registry: Registry,
                 shapes: dict | None = None, parent=None):
        super().__init__(f"Make definition {name}", self._make, parent)
        self._args = (network, list(block_ids), name, registry, shapes)
        self.instance_id: str | None = None

    def _make(self) -> Edit:
        edit, self.instance_id = make_definition(*self._args)
        return edit


def make_definition_command(network: Network, block_ids: list[str], name: str, registry: Registry,
                            shapes: dict | None = None) -> MakeDefinition:
    """The undo step of graph.definition_from_selection.make_definition (check the selection first:
    a refusal raised inside the undo stack would leave an empty step)."""
    return MakeDefinition(network, block_ids, name, registry, shapes)


def remove_definition_block(library: Definitions, name: str, block_id: str) -> DefinitionEdit:
    """Remove an inner block (its wires, and the bindings to its settings) from a definition."""
    library.get(name).body.block(block_id)
    return DefinitionEdit(f"Remove {block_id} from {name}",
                          lambda: remove_inner_block(library, name, block_id))


def set_definition_default(library: Definitions, name: str, param: str, value: Any) -> DefinitionEdit:
    """Change the default of an exposed parameter (instances that set no value of their own follow)."""
    library.get(name).param(param)
    return DefinitionEdit(f"Set the default of {param} in {name}",
                          lambda: set_exposed_default(library, name, param, value))


class SetExposed(QUndoCommand):
    """Replace a definition's exposed parameters (a removed inner block's bindings dropped)."""

    def __init__(self, definition: Definition, params: list[ExposedParam], parent=None):
        super().__init__(f"Change the parameters of {definition.name}", parent)
        self.definition, self.new, self.old = definition, list(params), list(definition.params)

    def redo(self):
        self.definition.set_exposed(self.new)

    def undo(self):
        self.definition.set_exposed(self.old)


# ---------------------------------------------------------------- the user library ("My blocks")


class AddDefinition(QUndoCommand):
    """Put a definition into the project (a library block copied in); undo takes it out again."""

    def __init__(self, library: Definitions, definition: Definition, parent=None):
        super().__init__(f"Add the definition {definition.name}", parent)
        self.library, self.definition = library, definition

    def redo(self):
        self.library.add(self.definition)

    def undo(self):
        self.library.remove(self.definition.name)


class ReplaceDefinition(QUndoCommand):
    """Swap a definition for another of the same name (a newer library version): every instance follows,
    in one step; undo puts the old one back in its place."""

    def __init__(self, library: Definitions, new: Definition, parent=None):
        super().__init__(f"Update {new.name}", parent)
        self.library, self.new = library, new
        self.old: Definition | None = None

    def _swap(self, definition: Definition) -> Definition:
        old, index = self.library.remove(definition.name)
        self.library.add(definition, index)
        return old

    def redo(self):
        self.old = self._swap(self.new)

    def undo(self):
        self._swap(self.old)


class SetOrigin(QUndoCommand):
    """Record (or forget) which library entry and version a project's definition is."""

    def __init__(self, definition: Definition, origin: LibraryRef | None, parent=None):
        super().__init__(f"Link {definition.name} to My blocks", parent)
        self.definition, self.new, self.old = definition, origin, definition.origin

    def redo(self):
        self.definition.origin = self.new

    def undo(self):
        self.definition.origin = self.old

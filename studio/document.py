"""The open project in the studio: model, undo stack, analysis, file state.

`Document` is the one editing controller the views talk to. Every change
goes through a command on its QUndoStack (see studio/commands.py and
studio/commands_structure.py), and every edit method is one undo step.
After each step it re-analyses the changed network (shapes + diagnostics,
with an incremental cache) and emits `analysisChanged`; views subscribe to
the networks' own change events (`networkChanged`) to redraw items.

Every edit names its network, so a project with several (a GAN's generator
and discriminator) is edited the same way. A block definition's body is
edited the same way too: `network(name)` gives the body of definition `name`
(where no network has that name), the canvas of a definition tab calls the
same edit methods with it, and `analysis(name)` gives the body's shapes at
the example shapes its first instance receives (graph.validate.analyse_definition).

Files: `new_project`, `open`, `save`, `save_as`, and `title()` for the window (autosave and recent files
live in studio/files.py).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import networkx as nx
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.bulk import without_gc_pauses
from graph.definition_from_selection import name_problem, selection_problem, suggested_name
from graph.definitions import PORT_INPUT, DefinitionError, cycle_message, find_cycle, registry_for_library
from graph.deploy import check_targets, deploy_diagnostics
from graph.diagnostics import ERROR, Diagnostic, Fix
from graph.examples import EXAMPLE_ID_PREFIX
from graph.layout import layered_layout
from graph.model import (
    Block,
    Change,
    Edge,
    ExposedParam,
    Group,
    ModelError,
    Network,
    Project,
    new_project_id,
)
from graph.project_io import definitions_to_list, load_project, save_project
from graph.pycode import to_identifier
from graph.spec import Registry, ShapeError
from graph.validate import Analysis, AnalysisCache, analyse, analyse_definition
from graph.walk import to_digraph
from studio import clipboard, commands, commands_definitions, commands_structure, commands_training
from studio.data_fit import data_input_params

Point = tuple[float, float]


class Document(QObject):
    networkChanged = Signal(str, object)  # network name, graph.model.Change
    analysisChanged = Signal(str)  # network name: new shapes/diagnostics are ready
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None
    projectReplaced = Signal()  # a different project was loaded: rebuild every view
    titleChanged = Signal(str)  # title(): the file name or modified marker changed
    definitionChanged = Signal(str, object)  # a block definition's name, the Change of its body
    libraryChanged = Signal(str)  # the user block library ("My blocks") changed: what happened, in words

    def __init__(self, registry: Registry, project: Project | None = None, path: Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._registry = registry
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.undo_stack.indexChanged.connect(self._after_step)
        self._caches: dict[int, AnalysisCache] = {}
        self._analyses: dict[str, Analysis] = {}
        self._data_problem: Diagnostic | None = None
        self._deploy: dict[str, tuple[Analysis, tuple[str, ...], list[Diagnostic]]] = {}
        self._deploy_seen: tuple[str, ...] = ()
        self._dirty: set[str] = set()
        # definition name -> (what it was analysed from, its analysis), for the definitions a tab shows
        self._definition_analyses: dict[str, tuple[tuple, Analysis]] = {}
        self._definition_serial = 0
        self._subscriptions: list[tuple[Network, object]] = []
        self.project = Project()
        self.path: Path | None = None
        self.replace_project(project or Project(), path)

    @property
    def registry(self) -> Registry:
        """The block catalog plus this project's definitions (each a block type its instances use)."""
        return registry_for_library(self.project.definitions, self._registry)

    @registry.setter
    def registry(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def catalog(self) -> Registry:
        """The block catalog alone (the palette's), whatever definitions the open project has."""
        return self._registry.base

    # --- project lifetime ---
    def replace_project(self, project: Project, path: Path | None = None, modified: bool = False) -> None:
        """Show another project (new/open): clears history, re-analyses everything.

        modified=True starts it unsaved (a project recovered after a crash
        differs from its file on disk).
        """
        for net, listener in self._subscriptions:
            net.unsubscribe(listener)
        self._subscriptions = []
        # cleared while the old project and its analyses are still in place: the stack's indexChanged
        # listeners (the Data panel, the training form) read them, and the new project's networks have
        # no analysis until below (reading them raised KeyError once per File > New / Open)
        self._dirty.clear()
        self.undo_stack.clear()
        self.project, self.path = project, Path(path) if path is not None else None
        self._caches.clear()
        self._definition_analyses.clear()
        for net in project.networks:
            listener = self._make_listener(net)
            net.subscribe(listener)
            self._subscriptions.append((net, listener))
        self._watched: set[int] = set()
        self._watch_definitions()
        self._definition_set = self._definitions_now()
        with without_gc_pauses():  # a big network's first analysis makes many objects, none garbage
            self._analyses = {net.name: self._analyse(net) for net in project.networks}
        self._data_problem = None
        self._deploy.clear()
        self._deploy_seen = tuple(project.deploy_targets)
        if modified:
            self.undo_stack.resetClean()  # no state in the history matches a file
        self.projectReplaced.emit()
        self.pathChanged.emit(self.path)
        self.modifiedChanged.emit(self.modified)
        self.titleChanged.emit(self.title())

    def _make_listener(self, net: Network):
        def listener(change: Change) -> None:
            self._dirty.add(net.name)
            cache = self._caches.get(id(net))
            if cache is not None:
                cache.note(change)  # the next analysis starts at the blocks this change touched
            self.networkChanged.emit(net.name, change)
        return listener

    def _watch_definitions(self) -> None:
        """Listen to every definition's body (an edit of one changes every network using it), also to
        definitions added since the project opened."""
        for definition in self.project.definitions:
            if id(definition.body) in self._watched:
                continue
            listener = self._make_definition_listener(definition.name)
            definition.body.subscribe(listener)
            self._subscriptions.append((definition.body, listener))
            self._watched.add(id(definition.body))

    def _definitions_now(self) -> tuple:
        return tuple((d.name, id(d)) for d in self.project.definitions)

    def _make_definition_listener(self, name: str):
        def listener(change: Change) -> None:
            self._dirty.update(net.name for net in self.project.networks)
            self.definitionChanged.emit(name, change)
            # the canvas of a definition tab follows its body like a network's (NetworkScene checks
            # that the name still means this body: a definition swapped for another is not it)
            self.networkChanged.emit(name, change)
        return listener

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)
        self.titleChanged.emit(self.title())

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: Path) -> None:
        moved = self.path is None or Path(path).parent != self.path.parent
        self.path = Path(path)
        if moved:  # relative weight paths now start from another folder
            for net in self.project.networks:
                self._analyses[net.name] = self._analyse(net)
                self.analysisChanged.emit(net.name)
        self.undo_stack.setClean()
        self.pathChanged.emit(self.path)
        self.titleChanged.emit(self.title())

    # --- analysis ---
    def _analyse(self, net: Network) -> Analysis:
        cache = self._caches.get(id(net))
        if cache is None:
            cache = self._caches[id(net)] = AnalysisCache(follows_edits=True)
        # relative weight paths start beside the project file (untitled: the current folder)
        return analyse(net, self.registry, cache, base_dir=self.path.parent if self.path else None)

    def _after_step(self, _index: int) -> None:
        # a definition added, removed or swapped for another (a library update): every network may use it
        if {id(d.body) for d in self.project.definitions} - self._watched \
                or self._definition_set != self._definitions_now():
            self._watch_definitions()
            self._dirty.update(net.name for net in self.project.networks)
        self._definition_set = self._definitions_now()
        changed = set(self._dirty)
        targets = tuple(self.project.deploy_targets)
        if targets != self._deploy_seen:  # every network's deploy warnings follow the targets
            self._deploy_seen = targets
            changed |= {net.name for net in self.project.networks}
        for name in sorted(changed):
            if name in self._dirty:
                self._analyses[name] = self._analyse(self.network(name))
        self._dirty.clear()
        # found before any listener hears of the networks: one that reads a definition's analysis
        # then (the Problems list) caches it anew, and the definition's tab would never be told
        stale = self._stale_definitions()
        for name in sorted(changed):
            self.analysisChanged.emit(name)
        for name in stale:
            self.analysisChanged.emit(name)

    def _stale_definitions(self) -> list[str]:
        """The definitions (of open tabs) whose body, definitions or example shapes changed this step."""
        stale = []
        for name, (key, _analysis) in list(self._definition_analyses.items()):
            if not self.is_definition(name):
                del self._definition_analyses[name]
            elif self._definition_key(self.project.definitions.get(name)) != key:
                stale.append(name)
        return stale

    # --- block definitions, edited in their own tabs ---
    def is_definition(self, name: str | None) -> bool:
        """Whether `name` names a block definition (and no network: a network of that name wins)."""
        return (name is not None and name in self.project.definitions
                and all(net.name != name for net in self.project.networks))

    def example_inputs(self, definition) -> dict:
        """Port name -> the shape the definition's first instance (in the networks) receives there."""
        for net in self.project.networks:
            analysis = self._analyses.get(net.name)
            for bid, block in net.blocks.items():
                if block.type == definition.name and analysis is not None:
                    received = analysis.inference.inputs.get(bid) or {}
                    return {port: shape for port, shape in received.items() if shape is not None}
        return {}

    def _definition_key(self, definition) -> tuple:
        inputs = self.example_inputs(definition)
        return (id(definition), self.project.definitions.stamp(), id(self._registry),
                tuple(sorted((k, tuple(v)) for k, v in inputs.items())))

    def definition_analysis(self, name: str) -> Analysis:
        """The body of definition `name` analysed on its own: exposed parameters at their defaults, input
        ports at the shapes its first instance receives (else at their example shapes). Its `network` is
        the body itself, so a canvas draws it like a network's analysis."""
        definition = self.project.definitions.get(name)
        key = self._definition_key(definition)
        cached = self._definition_analyses.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        raw = analyse_definition(definition, self.registry, inputs=self.example_inputs(definition))
        self._definition_serial += 1
        analysis = Analysis(definition.body, raw.inference, raw.diagnostics, None, self._definition_serial)
        self._definition_analyses[name] = (key, analysis)
        return analysis

    def add_refusal(self, network: str, type_id: str) -> str:
        """Why a block of `type_id` cannot be added to `network` ("" when it can): an instance that
        would make a definition contain itself (the canvas shows the reason instead of adding it)."""
        return self._cycle_refusal(self.network(network), [type_id])

    def _cycle_refusal(self, net: Network, types) -> str:
        owner = next((d.name for d in self.project.definitions if d.body is net), None)
        for type_id in dict.fromkeys(types):
            if owner is not None and type_id in self.project.definitions:
                cycle = find_cycle(self.project.definitions, extra=(owner, type_id))
                if cycle:
                    return f"An instance of {type_id} cannot go into {owner}: " + cycle_message(cycle)
        return ""

    def _refuse_cycle(self, net: Network, types) -> None:
        """Raise DefinitionError when blocks of `types` in `net` (a definition's body) would make a
        definition contain itself."""
        refusal = self._cycle_refusal(net, types)
        if refusal:
            raise DefinitionError(refusal)

    def definition_selection_problem(self, network: str, block_ids: list[str]) -> str:
        """Why these blocks cannot become a definition ("" when they can)."""
        return selection_problem(self.network(network), block_ids, self.registry)

    def suggested_definition_name(self, network: str, block_ids: list[str]) -> str:
        return suggested_name(self.network(network), block_ids, self.project.definitions.names(),
                              self.registry)

    def make_definition(self, network: str, block_ids: list[str], name: str) -> str:
        """The blocks become definition `name`, replaced by one instance wired the same way: one undo
        step; returns the instance's id. Raises ValueError (the message says why) before any change."""
        net = self.network(network)
        name = name.strip()
        problem = selection_problem(net, block_ids, self.registry) or name_problem(
            name, self.registry, self.project.definitions.names())
        if problem:
            raise ValueError(problem)
        command = commands_definitions.make_definition_command(net, block_ids, name, self.registry,
                                                                dict(self.analysis(network).shapes))
        self.push(command)
        return command.instance_id

    def detach_instance(self, network: str, block_id: str) -> list[str]:
        """Replace an instance by a plain copy of its definition's blocks (one undo step); returns their
        ids. Raises DefinitionError for a block that is no instance."""
        net = self.network(network)
        before = set(net.blocks)
        self.push(commands_definitions.detach_instance(net, block_id))
        return [bid for bid in net.blocks if bid not in before]

    def _deploy_problems(self, name: str, graph_only: Analysis) -> list[Diagnostic]:
        """The deploy lint's warnings for the chosen targets (graph/deploy.py), cached per analysis."""
        targets = tuple(self.project.deploy_targets)
        if not targets:
            return []
        cached = self._deploy.get(name)
        if cached is None or cached[0] is not graph_only or cached[1] != targets:
            cached = (graph_only, targets, deploy_diagnostics(graph_only.network, self.registry, targets))
            self._deploy[name] = cached
        return cached[2]

    def analysis(self, network: str | None = None) -> Analysis:
        """Shapes and problems of a network, including a data source that does not fit it."""
        if self.is_definition(network):
            return self.definition_analysis(network)
        name = self.network(network).name
        graph_only = self._analyses[name]
        problem = self._data_problem
        deploy = self._deploy_problems(name, graph_only)
        if (problem is None or problem.network != name) and not deploy:
            return graph_only
        first = [problem] if problem is not None and problem.network == name else []
        return Analysis(graph_only.network, graph_only.inference, [*first, *graph_only.diagnostics, *deploy],
                        graph_only.changed, graph_only.serial)

    def graph_analysis(self, network: str | None = None) -> Analysis:
        """Only what the graph itself says (what the compiler needs)."""
        if self.is_definition(network):
            return self.definition_analysis(network)
        return self._analyses[self.network(network).name]

    def set_data_problem(self, block_id: str | None, message: str, fix: Fix | None = None) -> None:
        """Show on the input block that the data source does not fit it ("" clears it), with the
        repair when there is one (the input shape the data has).

        Derived state like the analysis itself: never on the undo stack, never saved.
        """
        problem = None
        if message:
            net = next((n for n in self.project.networks if block_id in n.blocks), None)
            problem = Diagnostic(ERROR, "data", message, block_id if net else None, None, None,
                                 net.name if net else self.network().name, fix if net else None)
        if problem == self._data_problem:
            return
        old, self._data_problem = self._data_problem, problem
        for name in {d.network for d in (old, problem) if d is not None}:
            self.analysisChanged.emit(name)

    def network(self, name: str | None = None) -> Network:
        """The named network (the first without a name), or else the body of the definition so named."""
        if self.is_definition(name):
            return self.project.definitions.get(name).body
        return self.project.network(name)

    # --- queries the views use to refuse bad edits before they happen ---
    def can_connect(self, network: str, edge: Edge) -> tuple[bool, str]:
        """Whether a wire may be drawn, and if not, why (shown as a tooltip)."""
        net = self.network(network)
        if edge.src == edge.dst:
            return False, "A block cannot feed itself."
        src, dst = net.block(edge.src), net.block(edge.dst)
        src_spec = self.registry.get(src.type) if src.type in self.registry else None
        dst_spec = self.registry.get(dst.type) if dst.type in self.registry else None
        if src_spec is not None and not src_spec.has_output:
            return False, f"'{src.name}' is an output head: it has no output to wire from."
        if dst_spec is not None:
            analysis = self.analysis(network)
            params = analysis.inference.params.get(dst.id, dst.params)
            ports = {p.name: p for p in dst_spec.input_ports(params)}
            if edge.dst_port not in ports:
                return False, f"'{dst.name}' has no input '{edge.dst_port}'."
            refusal = self._shape_refusal(dst_spec, params, edge, analysis)
            if refusal:
                return False, refusal
        if any(e.dst == edge.dst and e.dst_port == edge.dst_port for e in net.edges):
            return False, (f"Input '{edge.dst_port}' of '{dst.name}' is already connected; "
                           "remove that wire first.")
        if nx.has_path(to_digraph(net), edge.dst, edge.src):
            return False, f"This wire would make a loop: '{dst.name}' already feeds '{src.name}'."
        return True, ""

    def _shape_refusal(self, spec, params, edge: Edge, analysis: Analysis) -> str:
        """Why a wire can never work (a rank no block could repair), or "" to allow it.

        A mismatch that has an obvious repair (Linear after an image: insert
        Flatten) is allowed, so the problem and its quick fix show on the canvas.
        """
        shape = analysis.shapes.get(edge.src)
        ports = spec.input_ports(params)
        if shape is None:
            return ""
        ins = {e.dst_port: analysis.shapes.get(e.src) for e in analysis.network.edges_into(edge.dst)}
        ins[edge.dst_port] = shape
        if any(ins.get(p.name) is None for p in ports):
            return ""  # other inputs unknown yet: judge once they are wired
        try:
            spec.infer(params, ins)
        except ShapeError as err:
            if err.port == edge.dst_port and err.fix is None and err.param is None:
                return f"{spec.title} {err}"
        return ""

    # --- edits: each is one undo step ---
    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)

    def add_block(self, network: str, type_id: str, position: tuple[float, float] = (0.0, 0.0),
                  params: dict | None = None, name: str | None = None) -> str:
        net = self.network(network)
        spec = self.registry.get(type_id)
        self._refuse_cycle(net, [spec.type_id])
        # a data input starts with the shape of the project's data (the digits are 1x8x8, not 28x28)
        fitted = data_input_params(self.project, spec.type_id, self.path.parent if self.path else None)
        block = Block(net.new_block_id(), spec.type_id,
                      net.unique_name(name or _default_name(spec.type_id)),
                      {**spec.defaults(), **fitted, **(params or {})},
                      (float(position[0]), float(position[1])))
        self.push(commands.AddBlock(net, block))
        return block.id

    # --- the user library ("My blocks", graph/library.py) ---
    @property
    def block_library(self):
        """The user's block library (graph.library.Library); tests and the window may set another."""
        if getattr(self, "_block_library", None) is None:
            from graph.library import Library

            self._block_library = Library(self._registry)
        return self._block_library

    @block_library.setter
    def block_library(self, library) -> None:
        self._block_library = library
        self.libraryChanged.emit("")

    def library_entry(self, name: str):
        return self.block_library.get(name)

    def library_updates(self) -> list:
        """graph.library.Update for each project definition whose library entry is newer now."""
        from graph.library import updates

        return updates(self.project.definitions, self.block_library.entries())

    def save_to_library(self, name: str):
        """Save the project's definition `name` (with those it uses) to My blocks and record in the
        project which version it now is (an undo step when that changed); raises LibraryError."""
        entry = self.block_library.save(self.project.definitions, name)
        self.link_to_library(name, entry)
        self.libraryChanged.emit(f"Saved {name} to My blocks (version {entry.version}): {entry.path}")
        return entry

    def import_library_file(self, path) -> object:
        """Copy a shared block file into My blocks; raises ProjectFileError / LibraryError."""
        entry = self.block_library.import_file(path)
        self.libraryChanged.emit(f"Added {entry.name} (version {entry.version}) to My blocks")
        return entry

    def update_all_from_library(self) -> list:
        """Every definition with a newer library version, updated in one undo step; returns the Updates."""
        found = self.library_updates()
        entries = {e.name: e for e in self.block_library.entries()}
        self.update_from_library([(u.name, entries[self.project.definitions.get(u.name).origin.name])
                                  for u in found])
        return found

    def add_library_block(self, network: str, entry, position: tuple[float, float] = (0.0, 0.0)) -> str:
        """Insert an instance of a library block: the definition (and those it uses that the project lacks)
        is copied into the project and the instance added, as one undo step; returns the block's id.
        A project definition of the same name is used as it is (Update offers the library's newer one)."""
        from graph.library import to_copy

        net = self.network(network)
        self._refuse_cycle(net, [entry.name])  # the library's copy of the definition being edited
        library = self.project.definitions
        copies = to_copy(entry, library)
        main = entry.definition if entry.name not in library else library.get(entry.name)
        block = Block(net.new_block_id(), entry.name, net.unique_name(_default_name(entry.name)),
                      {p.name: p.default for p in main.params}, (float(position[0]), float(position[1])))
        macro = commands.Macro(f"Add {entry.name} from My blocks")
        for definition in copies:
            macro.add(commands_definitions.AddDefinition(library, definition))
        macro.add(commands.AddBlock(net, block))
        self.push(macro)
        return block.id

    def update_from_library(self, updates: list[tuple[str, object]]) -> None:
        """Replace each named project definition by its library entry's newer version (with definitions
        it now uses that the project lacks), every instance at once: one undo step for all of them."""
        from graph.library import to_copy, updated

        if not updates:
            return
        library = self.project.definitions
        names = ", ".join(name for name, _ in updates)
        macro = commands.Macro(f"Update {names} from My blocks")
        added: set[str] = set()
        for name, entry in updates:
            for definition in to_copy(entry, library):
                if definition.name != entry.name and definition.name not in added:
                    macro.add(commands_definitions.AddDefinition(library, definition))
                    added.add(definition.name)
            macro.add(commands_definitions.ReplaceDefinition(library, updated(entry, name)))
        self.push(macro)

    def link_to_library(self, name: str, entry) -> None:
        """Record that the project's definition `name` is the library entry's version (after a save)."""
        from graph.model import LibraryRef

        definition = self.project.definitions.get(name)
        origin = LibraryRef(entry.name, entry.version)
        if definition.origin != origin:
            self.push(commands_definitions.SetOrigin(definition, origin))

    def connect(self, network: str, edge: Edge) -> tuple[bool, str]:
        ok, why = self.can_connect(network, edge)
        if ok:
            self.push(commands.Connect(self.network(network), edge))
        return ok, why

    def disconnect(self, network: str, edge: Edge) -> None:
        self.push(commands.Disconnect(self.network(network), edge))

    def remove_blocks(self, network: str, block_ids: list[str]) -> None:
        if not block_ids:
            return
        macro = commands.remove_blocks(self.network(network), block_ids)
        if self.is_definition(network):
            self._remove_from_definition(network, block_ids, macro)
        self.push(macro)

    def _remove_from_definition(self, name: str, block_ids: list[str], macro: commands.Macro) -> None:
        """Blocks removed from a definition's body: the instances' wires into a removed input port go
        too, and the exposed parameters stop binding the removed blocks' settings (a binding to no block
        would make every instance unusable)."""
        definition = self.project.definitions.get(name)
        gone = set(block_ids)
        for bid in block_ids:
            block = definition.body.blocks.get(bid)
            if block is not None and block.type == PORT_INPUT:
                for net, edge in self._instance_wires(name, block.name):
                    macro.steps.insert(0, commands.Disconnect(net, edge))
        kept = [ExposedParam(p.name, p.default, tuple(b for b in p.binds if b.partition(".")[0] not in gone))
                for p in definition.params]
        if kept != definition.params:
            macro.add(commands_definitions.SetExposed(definition, kept))

    def _instance_wires(self, definition: str, port: str) -> list[tuple[Network, Edge]]:
        """The wire into input `port` of every instance of `definition`, in the networks and in bodies."""
        found = []
        for net in [*self.project.networks, *(d.body for d in self.project.definitions)]:
            for bid, block in net.blocks.items():
                edge = net.wire_into(bid, port) if block.type == definition else None
                if edge is not None:
                    found.append((net, edge))
        return found

    def move_blocks(self, network: str, moves: dict[str, tuple[Point, Point]]) -> None:
        """One undo step for a whole drag: block id -> (old position, new position)."""
        moves = {bid: (old, new) for bid, (old, new) in moves.items() if old != new}
        if moves:
            self.push(commands.MoveBlocks(self.network(network), moves))

    def set_param(self, network: str, block_id: str, name: str, value) -> None:
        """Callers validate first (Param.check); the inspector refuses bad values in the field."""
        self.push(commands.SetParam(self.network(network), block_id, name, value))

    def set_training(self, changes: dict | None = None, seed: int | None = None, data=None,
                     text: str = "Change training settings") -> None:
        """One undo step for training settings (validated here: ParamError names a bad field)."""
        training = self.project.training.replace(**changes) if changes else None
        self.push(commands_training.SetTraining(self.project, training, seed, data, text))

    def set_deploy_targets(self, targets: list[str]) -> None:
        """One undo step: the targets the deploy lint checks (graph/deploy.py names, checked here)."""
        targets = check_targets(targets)
        if targets != self.project.deploy_targets:
            self.push(commands_training.SetDeployTargets(self.project, targets))

    def rename_block(self, network: str, block_id: str, name: str) -> None:
        """Rename a block; an input port of a definition takes every instance's wire into it along
        (the port's name is the instance's input), in the same undo step."""
        net = self.network(network)
        block = net.block(block_id)
        ports = {b.name for b in net.blocks.values() if b.type == PORT_INPUT}
        if not (self.is_definition(network) and block.type == PORT_INPUT) or name == block.name \
                or name in ports:
            self.push(commands.RenameBlock(net, block_id, name))
            return
        macro = commands.Macro(f"Rename the input {block.name} of {network} to {name}",
                               [commands.RenameBlock(net, block_id, name)])
        for other, edge in self._instance_wires(network, block.name):
            index = other.edges.index(edge)
            macro.add(commands.Disconnect(other, edge))
            macro.add(commands.Connect(other, Edge(edge.src, edge.dst, name, edge.src_port), index))
        self.push(macro)

    def set_enabled(self, network: str, block_ids: list[str], enabled: bool) -> None:
        self.push(commands.SetEnabled(self.network(network), block_ids, enabled))

    def set_frozen(self, network: str, block_ids: list[str], frozen: bool) -> None:
        """Freeze (keep fixed while training) or unfreeze blocks: one undo step."""
        self.push(commands.SetFrozen(self.network(network), block_ids, frozen))

    # --- shared modules and tied parameters ---
    def add_shared_use(self, network: str, block_id: str) -> str:
        """Another use of a block's module (shared weights), placed below it, unwired; returns its id."""
        net = self.network(network)
        owner = net.block(net.owner_of(block_id))
        block = Block(net.new_block_id(), owner.type, net.unique_name(owner.name),
                      copy.deepcopy(owner.params), (owner.position[0], owner.position[1] + 140.0),
                      frozen=owner.frozen, shares=owner.id)
        command = commands.AddBlock(net, block)
        command.setText(f"Add another use of {owner.name}")
        self.push(command)
        return block.id

    def make_independent(self, network: str, block_id: str) -> None:
        """The block gets its own module (a copy of the settings) and its tied parameters their own
        tensors: one undo step. A block whose module others use hands it to the first of them."""
        net = self.network(network)
        block = net.block(block_id)
        macro = commands.Macro(f"Make {block.name} independent")
        if block.shares is not None:
            macro.add(commands.SetShares(net, block_id, None))
        else:
            others = net.uses_of(block_id)[1:]
            if others:
                macro.add(commands.SetShares(net, others[0], None))
                for other in others[1:]:
                    macro.add(commands.SetShares(net, other, others[0]))
                macro.add(commands.SetShares(net, block_id, None))
        untied = {k: v for k, v in net.ties.items() if not k.startswith(block_id + ".")}
        if untied != net.ties:
            macro.add(commands.SetTies(net, untied))
        if macro.steps:
            self.push(macro)

    def init_from_checkpoint(self, path: str, blocks: list[str], network: str | None = None,
                             freeze: list[str] | None = None) -> None:
        """Start `blocks` (ids, names or group names; [] for all) from a run or weights file, and freeze
        the block ids in `freeze`, as one undo step. Freezing is then the blocks' own mark, shown on the
        canvas, so freeze_init is turned off: what the canvas shows is what trains."""
        changes = {"init_checkpoint": str(path), "init_blocks": ", ".join(blocks)}
        if freeze is not None:
            changes["freeze_init"] = False
        training = self.project.training.replace(**changes)
        macro = commands.Macro("Initialise from checkpoint", [
            commands_training.SetTraining(self.project, training, text="Initialise from checkpoint")])
        if freeze:
            macro.add(commands.SetFrozen(self.network(network), freeze, True))
        self.push(macro)

    def insert_block_on_edge(self, network: str, edge: Edge, type_id: str, params: dict | None = None) -> str:
        """Put a new block into a wire (src -> new -> dst), where it covers no card; one step.

        The wire enters the new block's first input. Raises ModelError when the
        wire is gone, ValueError for a block type that cannot sit on a wire.
        """
        net = self.network(network)
        spec = self.registry.get(type_id)
        params = spec.check_params(params or {})  # ParamError (a ValueError) names a bad value
        ports = spec.input_ports(params)
        if not ports or not spec.has_output:
            raise ValueError(f"{spec.title} cannot be inserted into a wire: it needs an input and an output")
        if edge not in net.edges:
            raise ModelError(f"no wire {edge}")
        at, moves = commands_structure.place_insert(net, edge)
        block = Block(net.new_block_id(), spec.type_id, net.unique_name(_default_name(spec.type_id)),
                      params, at)
        self.push(commands_structure.insert_on_edge(net, edge, block, ports[0].name, moves))
        return block.id

    def apply_fix(self, network: str, fix: Fix) -> str:
        """Apply a diagnostic's quick fix as one step; returns the inserted (or changed) block's id."""
        if fix.sets_params:
            net = self.network(network)
            macro = commands.Macro(f"Fix {net.block(fix.block).name}: {fix.title[0].lower()}{fix.title[1:]}")
            for name, value in fix.params:
                macro.add(commands.SetParam(net, fix.block, name, value))
            self.push(macro)
            return fix.block
        return self.insert_block_on_edge(network, fix.edge, fix.block_type, dict(fix.params))

    # --- clipboard ---
    def copy_blocks(self, network: str, block_ids: list[str]) -> str:
        """The blocks and the wires among them as clipboard text, also put on the system clipboard."""
        if not block_ids:
            return ""
        text = clipboard.fragment_text(clipboard.fragment_of(self.network(network), block_ids))
        clipboard.put_on_clipboard(text)
        return text

    def cut_blocks(self, network: str, block_ids: list[str]) -> str:
        """Copy, then delete the blocks (one undo step)."""
        text = self.copy_blocks(network, block_ids)
        self.remove_blocks(network, block_ids)
        return text

    cut = cut_blocks

    def can_paste(self) -> bool:
        """Whether the system clipboard seems to hold blocks (to enable Edit > Paste)."""
        return clipboard.clipboard_has_blocks()

    def paste(self, network: str, text: str | None = None, offset: Point = (40.0, 40.0),
              at: Point | None = None) -> list[str]:
        """Add copied blocks (from `text`, else the system clipboard) with fresh ids and names.

        They keep the wires among them; wires to blocks that were not copied
        are gone. Placed `offset` from where they were copied, or with their
        top-left at `at`. Raises clipboard.ClipboardError (a message for the
        user) when the text is not DeepWire blocks. Returns the new ids.
        """
        text = clipboard.clipboard_text() if text is None else text
        definitions = definitions_to_list(self.project.definitions)  # instances paste as instances
        fragment = clipboard.parse_fragment(text, self.registry, definitions)
        return self._add_fragment(network, fragment, offset, at, "Paste")

    def duplicate_blocks(self, network: str, block_ids: list[str], offset: Point = (40.0, 40.0)) -> list[str]:
        """Copies of the blocks beside them, without touching the system clipboard (Ctrl+D)."""
        if not block_ids:
            return []
        fragment = clipboard.fragment_of(self.network(network), block_ids)
        return self._add_fragment(network, fragment, offset, None, "Duplicate")

    def _add_fragment(self, network: str, fragment: clipboard.Fragment, offset: Point, at: Point | None,
                      verb: str) -> list[str]:
        net = self.network(network)
        self._refuse_cycle(net, [b.type for b in fragment.blocks])
        fragment = clipboard.placed(fragment, net, offset, at)
        if not fragment.blocks:
            return []
        count = len(fragment.blocks)
        text = f"{verb} {fragment.blocks[0].name}" if count == 1 else f"{verb} {count} blocks"
        self.push(commands_structure.add_fragment(net, fragment.blocks, fragment.edges, fragment.groups,
                                                  text))
        return [b.id for b in fragment.blocks]

    # --- groups (a block is in at most one group) ---
    def group_blocks(self, network: str, block_ids: list[str], name: str = "Group") -> str:
        """Group the blocks (taking them out of other groups); returns the new group's id."""
        net = self.network(network)
        members = clipboard.fragment_of(net, block_ids).blocks  # canvas order; ModelError if unknown
        if not members:
            raise ValueError("select at least one block to group")
        group = Group(commands_structure.new_group_id(net.groups), name, tuple(b.id for b in members))
        self._set_groups(net, commands_structure.grouped(net.groups, group), f"Group {name}")
        return group.id

    def ungroup(self, network: str, group_id: str) -> None:
        net = self.network(network)
        self._set_groups(net, commands_structure.without_group(net.groups, group_id), "Ungroup")

    def set_group_collapsed(self, network: str, group_id: str, collapsed: bool) -> None:
        net = self.network(network)
        groups = commands_structure.changed_group(net.groups, group_id, collapsed=bool(collapsed))
        self._set_groups(net, groups, "Collapse group" if collapsed else "Expand group")

    def rename_group(self, network: str, group_id: str, name: str) -> None:
        net = self.network(network)
        self._set_groups(net, commands_structure.changed_group(net.groups, group_id, name=name),
                         f"Rename group to {name}")

    def group_of(self, network: str, block_id: str) -> Group | None:
        return next((g for g in self.network(network).groups if block_id in g.blocks), None)

    def _set_groups(self, net: Network, groups: list[Group], text: str) -> None:
        if groups != net.groups:  # no empty steps in the history
            self.push(commands.SetGroups(net, groups, text))

    # --- layout ---
    def auto_layout(self, network: str, block_ids: list[str] | None = None,
                    max_width: float | None = None, folded: list[tuple[str, ...]] = ()) -> None:
        """Tidy the network (or the chosen blocks, where they are) left to right, wrapping into
        bands below where it is wider than `max_width` (scene units); one step. `folded`: the runs the
        canvas shows folded, each laid out as one card."""
        net = self.network(network)
        positions = layered_layout(net, block_ids, max_width=max_width, folded=folded)
        moves = {bid: (net.blocks[bid].position, pos) for bid, pos in positions.items()
                 if net.blocks[bid].position != pos}
        if moves:
            self.push(commands.MoveBlocks(net, moves, "Auto layout"))

    # --- files ---
    def new_project(self, project: Project | None = None) -> None:
        """Start an unsaved project (an empty one by default)."""
        self.replace_project(project or Project(), None)

    def open(self, path: str | Path, as_copy: bool = False) -> None:
        """Load a project file. On ProjectFileError the current project stays as it was.

        as_copy=True opens it untitled (a bundled example), so Save asks where to.
        """
        project = load_project(path, self.registry)  # raises before anything is touched
        self.replace_project(project, None if as_copy else Path(path))

    def save(self, path: str | Path | None = None) -> Path:
        """Write the project atomically to `path` (default: its own file) and mark it saved.

        Raises ValueError when it has no file yet (use save_as), OSError when
        the disk refuses; the project and its state stay as they were then.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this project has not been saved yet; choose a file (Save As)")
        if self.path is None and self.project.id.startswith(EXAMPLE_ID_PREFIX):
            # an example opened untitled becomes the user's own project when first saved: a new id,
            # so its runs beside the new file are never taken for the example's (or another copy's).
            # Any other Save As keeps the id: a renamed or moved project keeps its runs.
            example_id, self.project.id = self.project.id, new_project_id()
            try:
                save_project(self.project, target)
            except BaseException:
                self.project.id = example_id  # not saved: still the example
                raise
        else:
            save_project(self.project, target)
        self.mark_saved(target)
        return target

    def save_as(self, path: str | Path) -> Path:
        return self.save(path)

    def display_name(self) -> str:
        """The file name, or the project's name while it has no file."""
        return self.path.name if self.path is not None else (self.project.name or "Untitled")

    def title(self) -> str:
        """Window title: "digits_cnn.dw.json — DeepWire", with "• " in front when unsaved."""
        marker = "• " if self.modified else ""
        return f"{marker}{self.display_name()} — DeepWire"


def _default_name(type_id: str) -> str:
    """Conv2d -> conv2d, ClassificationHead -> classification_head, ReLU -> relu, LSTM -> lstm.

    A word starts at a capital that follows a small letter or digit and is
    followed by a small letter, so acronyms stay whole (made unique by the network).
    """
    return to_identifier(re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", type_id).lower())

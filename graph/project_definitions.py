"""Reading the block definitions of a project file (its top-level "definitions" list).

Each entry is a definition: its name, optional version and description, the
user library entry it was copied from when it was ("library": {"name",
"version"}; graph.library), its
exposed parameters ({"name", "default", "binds": ["block_id.param", ...]})
and its body, written like a network (blocks, edges, groups, ties). The
definitions are read before the networks, the ones an entry uses before it,
so every instance block (at the top or inside another definition) resolves
against the definitions read so far. A hostile or damaged list (a duplicate
or reserved name, a cycle of definitions using each other, nesting deeper
than MAX_DEPTH, a missing port, a binding to no setting, an unknown
definition) raises FieldError naming the place, like every other problem
of a file.
"""

from __future__ import annotations

from typing import Any

from graph.definitions import (
    _spec_of,
    cycle_message,
    definition_problems,
    find_cycle,
    registry_for_library,
)
from graph.model import Definition, Definitions, ExposedParam, LibraryRef
from graph.project_read import (
    FieldError,
    _field,
    _join,
    _nonempty_text,
    _object,
    _read_network,
    quote_name,
)
from graph.spec import Registry

MAX_DEFINITIONS = 1_000
MAX_LIBRARY_VERSION = 1_000_000_000
MAX_DEPTH = 32  # definitions inside definitions; real models nest 3 or 4 deep

_FIELDS = ("name", "version", "description", "library", "params", "blocks", "edges", "groups", "ties")
_BODY_FIELDS = ("blocks", "edges", "groups", "ties")


def _entry_where(i: int, value: Any) -> str:
    where = f"definitions[{i}]"
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        where = f"{where} {quote_name(value['name'])}"
    return where


def _raw_uses(value: dict[str, Any], names: set[str]) -> list[str]:
    blocks = value.get("blocks")
    if not isinstance(blocks, list):
        return []
    types = [b.get("type") for b in blocks if isinstance(b, dict)]
    return list(dict.fromkeys(t for t in types if isinstance(t, str) and t in names))


def read_definitions(values: list[Any], registry: Registry) -> tuple[Definitions, Registry]:
    """The project's definitions and the registry its networks are read with (it knows them)."""
    if len(values) > MAX_DEFINITIONS:
        raise FieldError("definitions", f"this project has {len(values)} definitions; DeepWire handles at "
                         f"most {MAX_DEFINITIONS}. Is the file damaged?")
    base = registry.base
    entries: dict[str, tuple[int, dict[str, Any], str]] = {}
    for i, value in enumerate(values):
        where = _entry_where(i, value)
        obj = _object(value, where, "a definition", _FIELDS)
        name = _nonempty_text(obj, "name", where)
        if name in entries:
            first = entries[name][0]
            raise FieldError(_join(where, "name"), f"two definitions are named {quote_name(name)} "
                             f"(definitions[{first}] and definitions[{i}]); give each its own name")
        if name in base:
            raise FieldError(_join(where, "name"), f"the definition name {quote_name(name)} is already a "
                             "block type; rename the definition")
        entries[name] = (i, obj, where)
    names = set(entries)
    uses = {name: _raw_uses(obj, names) for name, (_, obj, _) in entries.items()}
    probe = Definitions()
    for name in entries:  # bodies-less stand-ins, only to find a cycle in what the file says
        probe._items[name] = _Stub(name, uses[name])
    cycle = find_cycle(probe)
    if cycle:
        where = entries[cycle[0]][2]
        raise FieldError(where, cycle_message(cycle))
    depth: dict[str, int] = {}
    ordered: list[str] = []
    for name in entries:
        if _depth_iterative(name, uses, depth, ordered) > MAX_DEPTH:
            raise FieldError(entries[name][2], f"definitions nest more than {MAX_DEPTH} deep here (a "
                             "definition holding a definition holding ...); a real model never nests that "
                             "deep, so the file is damaged")
    library = Definitions()
    known = _with_ports(base)  # grows by each definition read, so the next can hold its instances
    for name in ordered:
        i, obj, where = entries[name]
        body_data = {"name": name, **{k: obj[k] for k in _BODY_FIELDS if k in obj}}
        body = _read_network(body_data, f"definitions[{i}]", known)  # it adds the name to the place
        version = _field(obj, "version", "int", where, 1)
        if version < 1:
            raise FieldError(_join(where, "version"), f"'version' must be 1 or more; got {version}")
        description = _field(obj, "description", "text", where, "")
        params = _read_params(_field(obj, "params", "list", where, []), _join(where, "params"))
        origin = _read_origin(obj["library"], _join(where, "library")) if "library" in obj else None
        definition = Definition(name, body, params, version, description, origin)
        library.add(definition)
        problems = definition_problems(definition, library, known)
        if problems:
            raise FieldError(where, problems[0])
        known.register(_spec_of(definition, library, known, None)[0])
    # instances in the bodies were read against the definitions before them: all names resolve now;
    # the library keeps the file's order, so saving again writes the same text
    library = Definitions([library.get(name) for name in entries])
    return library, registry_for_library(library, base)


def _depth_iterative(start: str, uses: dict[str, list[str]], depth: dict[str, int],
                     ordered: list[str]) -> int:
    """Nesting depth of `start` (1: uses no definition), placing every definition after those it uses."""
    stack = [(start, iter(uses[start]))]
    while stack:
        name, pending = stack[-1]
        child = next((u for u in pending if u not in depth), None)
        if child is not None:
            stack.append((child, iter(uses[child])))
            continue
        stack.pop()
        if name not in depth:
            depth[name] = 1 + max((depth[u] for u in uses[name]), default=0)
            ordered.append(name)
    return depth[start]


def _with_ports(base: Registry) -> Registry:
    from graph.definitions import PORT_INPUT_SPEC, PORT_OUTPUT_SPEC

    return base.extended([PORT_INPUT_SPEC, PORT_OUTPUT_SPEC], None)


class _Stub:
    """A definition seen only by name and the definitions it uses (for find_cycle)."""

    def __init__(self, name: str, used: list[str]):
        self.name = name
        self.body = _StubBody(used)


class _StubBody:
    def __init__(self, used: list[str]):
        self.blocks = {str(i): _StubBlock(t) for i, t in enumerate(used)}


class _StubBlock:
    def __init__(self, type_id: str):
        self.type = type_id


def _read_origin(value: Any, where: str) -> LibraryRef:
    """{"name": ..., "version": N}: the user library's entry a definition was copied from."""
    obj = _object(value, where, "the library entry this definition came from", ("name", "version"))
    name = _nonempty_text(obj, "name", where)
    version = _field(obj, "version", "int", where)
    if not 1 <= version <= MAX_LIBRARY_VERSION:
        raise FieldError(_join(where, "version"), f"'version' must be between 1 and {MAX_LIBRARY_VERSION}; "
                         f"got {str(version)[:30]}")
    return LibraryRef(name, version)


def _read_params(values: list[Any], where: str) -> list[ExposedParam]:
    params = []
    for j, value in enumerate(values):
        here = f"{where}[{j}]"
        obj = _object(value, here, "an exposed parameter", ("name", "default", "binds"))
        name = _nonempty_text(obj, "name", here)
        if "default" not in obj:
            raise FieldError(here, "the field 'default' is missing; it is the value an instance gets "
                             "when it sets none")
        default = obj["default"]
        if isinstance(default, list):
            default = tuple(default)
        binds = _field(obj, "binds", "list", here)
        for k, bind in enumerate(binds):
            if not isinstance(bind, str) or "." not in bind:
                raise FieldError(_join(here, f"binds[{k}]"), "a binding names an inner setting as text like "
                                 f"'conv1.channels' (block id, dot, parameter); got {bind!r:.60}")
        params.append(ExposedParam(name, default, tuple(binds)))
    return params

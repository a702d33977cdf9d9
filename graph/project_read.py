"""Checking the plain JSON data of a project file and building the Project from it.

`read_project` is the loader's second half (graph.project_io parses the
text first): one iterative pass bounds the nesting and checks that every
value is JSON, then the format and version are checked, older versions are
migrated (graph.project_migrate) and every field is read against the
registry. The first problem raises `FieldError` with its location, e.g.
"networks[0] 'model' > blocks[3] 'conv1' > params > kernel_size", and a
message saying what is wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any

from graph.deploy import DeployTargetError, check_targets
from graph.infer import check_block_params
from graph.model import Block, Edge, Group, Network, Project
from graph.params import ParamError
from graph.project_migrate import CURRENT_VERSION, migrate
from graph.spec import BlockSpec, Registry
from graph.training_config import TRAINING_PARAMS, DataSpec, TrainingConfig, check_training

FORMAT = "deepwire-project"
MAX_DEPTH = 32  # a real project nests 7 levels deep; more means a damaged or hostile file
MAX_SEED = 2**32 - 1  # numpy's seeds stop here
PROJECT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # uuid4 hex for new projects, "example-NAME" for examples
# Five times the 10,000-block projects the canvas is measured on (bench/bench_canvas.py --blocks
# 10000: an imported ViT-L is about 3,000); bounds the load time and memory of a hostile file
# (wiring is linear: the network indexes its wires, bench/bench_graph.py).
MAX_BLOCKS = 50_000
MAX_WIRES = 100_000

_REQUIRED = object()


class FieldError(ValueError):
    """A problem in the data at `location`; graph.project_io adds the file's path."""

    def __init__(self, location: str, message: str):
        super().__init__(message)
        self.location = location
        self.message = message


# ---------------------------------------------------------------- wording


def quote_name(text: Any, limit: int = 40) -> str:
    """A name as messages show it: quoted, control characters escaped, long ones cut."""
    text = str(text)
    if not text.isprintable():  # escape only what would break the line or hide text, keep "é" and "💥"
        text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"'{text}'"


def key_in_location(key: str) -> str:
    """A field name as a location shows it: bare when plain ("kernel_size"), else quoted ("''")."""
    plain = key and key.isprintable() and key.strip() == key and ">" not in key and "[" not in key
    return key[:60] if plain else quote_name(key, 60)


def describe_value(value: Any) -> str:
    """What a wrong value is, in words ("a list of 3 items", "the text 'abc'")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"the number {value:g}" if math.isfinite(value) else _JSON_SPELLING[str(value)]
    if isinstance(value, int):
        return f"the number {str(value)[:30]}"
    if isinstance(value, str):
        return f"the text {quote_name(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object { ... }"
    return f"a {type(value).__name__}"


_JSON_SPELLING = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _join(where: str, part: str) -> str:
    return f"{where} > {part}" if where else part


def _suggest(wrong: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(wrong, known, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known names: {', '.join(known)}." if known else "there are none."


def too_deep_message() -> str:
    return (f"values are nested more than {MAX_DEPTH} levels deep; a project never nests that deep, "
            "so the file is damaged or not a project file")


def check_json_values(data: Any) -> None:
    """One pass over everything: bounded nesting, text keys, valid Unicode, JSON types only.

    Iterative, so a hostile file cannot exhaust the stack here.
    """
    # node -> (parent node, its part of a location: "[3]" or " > name")
    parents: list[tuple[int, str]] = [(-1, "")]

    def location(node: int, part: str | None = None) -> str:
        parts = [] if part is None else [part]
        while node > 0:
            node, name = parents[node]
            parts.append(name)
        return "".join(reversed(parts)).removeprefix(" > ") or "top level"

    stack: list[tuple[Any, int, int]] = [(data, 1, 0)]
    while stack:
        value, depth, node = stack.pop()
        if isinstance(value, dict):
            items: Iterable[tuple[str, Any]] = value.items()
        elif isinstance(value, list):
            items = ((f"[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > MAX_DEPTH:
            raise FieldError(location(node), too_deep_message())
        for key, item in items:
            if not isinstance(key, str):
                raise FieldError(location(node), f"field names must be text; got {describe_value(key)}")
            part = key if isinstance(value, list) else " > " + key_in_location(key)
            for text in (key, item) if isinstance(item, str) else (key,):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise FieldError(location(node, part), "this text holds an invalid character (a lone "
                                     "surrogate code); retype it") from None
            if isinstance(item, (dict, list)):
                parents.append((node, part))
                stack.append((item, depth + 1, len(parents) - 1))
            elif not (item is None or isinstance(item, (str, int, float))):
                raise FieldError(location(node, part), f"{describe_value(item)} is not a JSON value")


def _field(obj: dict[str, Any], key: str, kind: str, where: str, default: Any = _REQUIRED) -> Any:
    """obj[key] checked to be of `kind`, or `default` when absent (absent and required: an error)."""
    test, wanted = _KINDS[kind]
    if key not in obj:
        if default is _REQUIRED:
            raise FieldError(where or "top level", f"the field '{key}' is missing; it should be {wanted}")
        return default
    value = obj[key]
    if not test(value):
        raise FieldError(_join(where, key), f"'{key}' must be {wanted}; got {describe_value(value)}")
    return value


_KINDS = {
    "text": (lambda v: isinstance(v, str), "text in double quotes"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "object": (lambda v: isinstance(v, dict), "an object { ... }"),
    "list": (lambda v: isinstance(v, list), "a list [ ... ]"),
}


def _object(value: Any, where: str, what: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """`value` checked to be an object holding only known fields."""
    if not isinstance(value, dict):
        got = describe_value(value)
        raise FieldError(where or "top level", f"{what} must be an object {{ ... }}; got {got}")
    for key in value:
        if key not in fields:
            raise FieldError(_join(where, key_in_location(key)),
                             f"{what} has no field {quote_name(key)}; {_suggest(key, fields)}")
    return value


def _nonempty_text(obj: dict[str, Any], key: str, where: str) -> str:
    text = _field(obj, key, "text", where)
    if not text:
        raise FieldError(_join(where, key), f"'{key}' cannot be empty")
    return text


_TOP_FIELDS = ("format", "version", "id", "name", "description", "seed", "data", "training", "networks",
               "experiment", "definitions", "deploy_targets")
# the sweep settings a project may keep (the space entries themselves are checked by runtime/sweep)
_EXPERIMENT_FIELDS = ("space", "trials", "sampler", "max_seconds", "metric", "epochs", "parallel")


def read_project(data: Any, registry: Registry) -> Project:
    """The Project the data describes; raises FieldError at the first problem."""
    check_json_values(data)
    if not isinstance(data, dict):
        got = describe_value(data)
        raise FieldError("top level", f"a project file holds one object {{ ... }}; got {got}")
    if "format" not in data:
        raise FieldError("top level", f"this is not a DeepWire project: it has no 'format' field "
                         f"(a project file starts with \"format\": \"{FORMAT}\")")
    if data["format"] != FORMAT:
        got = describe_value(data["format"])
        raise FieldError("format", f"this is not a DeepWire project: 'format' is {got}, expected '{FORMAT}'")
    version = _field(data, "version", "int", "")
    if version > CURRENT_VERSION:
        raise FieldError("version", f"this file was made by a newer DeepWire (project format version "
                         f"{str(version)[:20]}; this DeepWire reads up to version {CURRENT_VERSION}): "
                         "update DeepWire to open it")
    if version < 0:
        raise FieldError("version", f"'version' must be 0 or more; got {version}")
    data = migrate(data, version)
    try:
        return _read_current(data, registry)
    except FieldError as err:
        if version < CURRENT_VERSION:
            err.message += f" (this file has the older format version {version} and was converted on loading)"
        raise


def _read_current(data: dict[str, Any], registry: Registry) -> Project:
    _object(data, "", "a project file", _TOP_FIELDS)
    registry = registry.base  # only this file's own definitions are block types here
    name = _field(data, "name", "text", "", "Untitled")
    description = _field(data, "description", "text", "", "")
    seed = _field(data, "seed", "int", "", 0)
    if not 0 <= seed <= MAX_SEED:
        raise FieldError("seed", f"'seed' must be between 0 and {MAX_SEED}; got {str(seed)[:30]}")
    data_spec = _read_data(data["data"]) if "data" in data else DataSpec()
    training = _read_training(_field(data, "training", "object", "", {}))
    definitions = None
    if "definitions" in data:  # block definitions first: the networks' instance blocks name them as types
        from graph.project_definitions import read_definitions

        definitions, registry = read_definitions(_field(data, "definitions", "list", ""), registry)
    networks_data = _field(data, "networks", "list", "")
    if not networks_data:
        raise FieldError("networks", "a project needs at least one network; add one to 'networks'")
    networks: list[Network] = []
    first_with_name: dict[str, int] = {}
    for i, net_data in enumerate(networks_data):
        net = _read_network(net_data, f"networks[{i}]", registry)
        if net.name in first_with_name:
            first = first_with_name[net.name]
            raise FieldError(f"networks[{i}] {quote_name(net.name)} > name",
                             f"two networks are named {quote_name(net.name)} (networks[{first}] "
                             f"and networks[{i}]); give each network its own name")
        first_with_name[net.name] = i
        networks.append(net)
    experiment = _read_experiment(_field(data, "experiment", "object", "", {}))
    project = Project(name, networks, data_spec, training, seed, description, experiment, _read_id(data),
                      deploy_targets=_read_deploy_targets(_field(data, "deploy_targets", "list", "", [])))
    if definitions is not None:
        project.definitions = definitions
        project.link()
    return project


def _read_deploy_targets(value: list[Any]) -> list[str]:
    """The deploy target and preset names (graph/deploy.py), each known."""
    try:
        return check_targets(value)
    except DeployTargetError as err:
        raise FieldError("deploy_targets", str(err)) from None


def _read_id(data: dict[str, Any]) -> str:
    """The project's id ("" when the file has none yet): a short word of letters, digits, - and _."""
    project_id = _field(data, "id", "text", "", "")
    if project_id and not PROJECT_ID.fullmatch(project_id):
        raise FieldError("id", f"'id' must be 1 to 64 letters, digits, '-' or '_' (it names the project "
                         f"its runs belong to); got {quote_name(project_id[:80])}")
    return project_id


def _read_experiment(value: dict[str, Any]) -> dict[str, Any]:
    """The experiment's shape only: which settings vary is checked against the blocks when it runs."""
    obj = _object(value, "experiment", "'experiment'", _EXPERIMENT_FIELDS)
    space = _field(obj, "space", "list", "experiment", [])
    for i, entry in enumerate(space):
        entry_obj = _object(entry, f"experiment > space[{i}]", "a space entry",
                            ("target", "kind", "low", "high", "log", "step", "choices", "grid"))
        _nonempty_text(entry_obj, "target", f"experiment > space[{i}]")
    return dict(obj)


def _read_data(value: Any) -> DataSpec:
    obj = _object(value, "data", "'data'", ("source", "options"))
    source = _field(obj, "source", "text", "data")
    if not source.isidentifier():
        raise FieldError("data > source", f"the data source must be a simple name like 'digits'; "
                         f"got {describe_value(source)}")
    options = _field(obj, "options", "object", "data", {})
    for key, option in options.items():
        where = f"data > options > {key_in_location(key)}"
        items = option if isinstance(option, list) else [option]
        for item in items:
            if isinstance(item, float) and not math.isfinite(item):
                raise FieldError(where, f"data option {quote_name(key)} must be a finite number; got {item}")
        try:
            DataSpec(source, {key: option})
        except ParamError as err:
            raise FieldError(where, str(err)) from None
    return DataSpec(source, dict(options))


def _read_training(values: dict[str, Any]) -> TrainingConfig:
    known = [p.name for p in TRAINING_PARAMS]
    for key, value in values.items():
        where = f"training > {key_in_location(key)}"
        if key not in known:
            raise FieldError(where, f"there is no training setting {quote_name(key)}; {_suggest(key, known)}")
        try:
            check_training({key: value})
        except ParamError as err:
            raise FieldError(where, f"training setting {err}") from None
    return TrainingConfig(values)


def _read_network(value: Any, where: str, registry: Registry) -> Network:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        where = f"{where} {quote_name(value['name'])}"
    obj = _object(value, where, "a network", ("name", "blocks", "edges", "groups", "ties"))
    name = _field(obj, "name", "text", where)
    blocks: dict[str, Block] = {}
    specs: dict[str, BlockSpec] = {}
    index: dict[str, int] = {}
    blocks_data = _field(obj, "blocks", "list", where)
    edges_data = _field(obj, "edges", "list", where, [])
    for key, items, limit in (("blocks", blocks_data, MAX_BLOCKS), ("edges", edges_data, MAX_WIRES)):
        if len(items) > limit:
            raise FieldError(_join(where, key), f"this network has {len(items)} {key}; DeepWire handles "
                             f"at most {limit} in one network. Is the file damaged?")
    for i, block_data in enumerate(blocks_data):
        block, spec, here = _read_block(block_data, f"{where} > blocks[{i}]", registry)
        if block.id in blocks:
            raise FieldError(_join(here, "id"), f"the block id {quote_name(block.id)} is also used by "
                             f"blocks[{index[block.id]}]; every block needs its own id")
        blocks[block.id], specs[block.id], index[block.id] = block, spec, i
    edges = _read_edges(edges_data, where, blocks, specs)
    groups = _read_groups(_field(obj, "groups", "list", where, []), where, blocks)
    ties = _read_ties(_field(obj, "ties", "object", where, {}), _join(where, "ties"))
    return Network(name, list(blocks.values()), edges, groups, ties)


def _read_ties(value: dict[str, Any], where: str) -> dict[str, str]:
    """Tied parameters, "block.param": "block.param"; what they name is checked by validation."""
    ties: dict[str, str] = {}
    for key, source in value.items():
        if not isinstance(source, str) or not source:
            raise FieldError(_join(where, key_in_location(key)), "a tied parameter names the parameter "
                             f"whose tensor it uses, as text like 'b3.weight', not {describe_value(source)}")
        ties[key] = source
    return ties


def _read_block(value: Any, where: str, registry: Registry) -> tuple[Block, BlockSpec, str]:
    if isinstance(value, dict):
        label = value.get("name") if isinstance(value.get("name"), str) else value.get("id")
        if isinstance(label, str):
            where = f"{where} {quote_name(label)}"
    obj = _object(value, where, "a block", ("id", "type", "name", "params", "position", "enabled",
                                                "frozen", "shares"))
    block_id = _nonempty_text(obj, "id", where)
    type_id = registry.resolve(_field(obj, "type", "text", where))
    if type_id not in registry:
        raise FieldError(_join(where, "type"), unknown_type_message(type_id, registry))
    spec = registry.get(type_id)
    name = _field(obj, "name", "text", where, block_id)
    label = f"{spec.title} {quote_name(name)}"
    raw_params = _field(obj, "params", "object", where, {})
    params, problems = check_block_params(spec, raw_params)
    if problems:
        param, problem = problems[0]
        if param not in {p.name for p in spec.params}:
            problem = (f"has no parameter {quote_name(param)}; "
                       f"{_suggest(param, [p.name for p in spec.params])} Remove it or correct its name")
        raise FieldError(_join(where, f"params > {key_in_location(param)}"), f"{label}: {problem}")
    position = _read_position(obj.get("position", [0.0, 0.0]), _join(where, "position"))
    enabled = _field(obj, "enabled", "bool", where, True)
    frozen = _field(obj, "frozen", "bool", where, False)
    # another use of that block's module; a block not in the network is a diagnostic, not a load error
    shares = _field(obj, "shares", "text", where, None)
    return Block(block_id, type_id, name, params, position, enabled, frozen, shares or None), spec, where


def unknown_type_message(type_id: str, registry: Registry) -> str:
    """'unknown block type X' plus the likely block: same letters, another library's name, a near spelling."""
    known = [spec.type_id for spec in registry]
    same_letters = [k for k in known if k.lower() == type_id.lower()]
    close = (same_letters or list(registry.foreign_name(type_id))
             or difflib.get_close_matches(type_id, known, n=3))
    message = f"unknown block type {quote_name(type_id)}"
    if close:
        return message + f"; did you mean {' or '.join(quote_name(c) for c in close)}?"
    return (message + f"; this DeepWire knows {len(known)} block types (see the palette). "
            "If the file comes from a newer DeepWire, update DeepWire")


def _read_position(value: Any, where: str) -> tuple[float, float]:
    def finite(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not (isinstance(value, list) and len(value) == 2 and all(finite(v) for v in value)):
        if isinstance(value, list):
            shown = f"[{', '.join(describe_value(v) for v in value[:3])}{', ...' if len(value) > 3 else ''}]"
        else:
            shown = describe_value(value)
        raise FieldError(where, f"'position' must be two finite numbers [x, y]; got {shown}")
    return (float(value[0]), float(value[1]))


def _read_edges(values: list[Any], where: str, blocks: dict[str, Block],
                specs: dict[str, BlockSpec]) -> list[Edge]:
    edges: list[Edge] = []
    wired: dict[tuple[str, str], int] = {}  # (block, port) -> index of the wire into it

    def label(block_id: str) -> str:
        return f"{specs[block_id].title} {quote_name(blocks[block_id].name)}"

    for i, value in enumerate(values):
        here = f"{where} > edges[{i}]"
        obj = _object(value, here, "a wire", ("from", "to", "port"))
        src, dst, port = (_field(obj, key, "text", here) for key in ("from", "to", "port"))
        for key, block_id in (("from", src), ("to", dst)):
            if block_id not in blocks:
                raise FieldError(_join(here, key), f"there is no block with id {quote_name(block_id)} "
                                 "in this network; a wire must join two blocks of the same network")
        if not specs[src].has_output:
            raise FieldError(_join(here, "from"), f"{label(src)} is an output head and has no output to "
                             "wire from; wire from the block before it instead")
        ports = [p.name for p in specs[dst].input_ports(blocks[dst].params)]
        if port not in ports:
            if ports:
                problem = f"{label(dst)} has no input {quote_name(port)}; its inputs are {', '.join(ports)}"
            else:
                problem = f"{label(dst)} is an input block and takes no wires in"
            raise FieldError(_join(here, "port"), problem)
        if (dst, port) in wired:
            raise FieldError(here, f"input {quote_name(port)} of {label(dst)} already has a wire "
                             f"(edges[{wired[dst, port]}]); an input takes one wire: remove one of them")
        wired[dst, port] = i
        edges.append(Edge(src, dst, port))
    return edges


def _read_groups(values: list[Any], where: str, blocks: dict[str, Block]) -> list[Group]:
    groups: list[Group] = []
    seen: set[str] = set()
    for i, value in enumerate(values):
        here = f"{where} > groups[{i}]"
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            here = f"{here} {quote_name(value['name'])}"
        obj = _object(value, here, "a group", ("id", "name", "blocks", "collapsed"))
        group_id = _nonempty_text(obj, "id", here)
        if group_id in seen:
            raise FieldError(_join(here, "id"), f"two groups have the id {quote_name(group_id)}; "
                             "every group needs its own id")
        seen.add(group_id)
        name = _field(obj, "name", "text", here, group_id)
        members = _field(obj, "blocks", "list", here)
        for j, member in enumerate(members):
            if not isinstance(member, str):
                raise FieldError(_join(here, f"blocks[{j}]"), f"a group lists block ids (text); got "
                                 f"{describe_value(member)}")
            if member not in blocks:
                raise FieldError(_join(here, f"blocks[{j}]"), f"group {quote_name(name)} lists the block "
                                 f"{quote_name(member)}, but this network has no block with that id; "
                                 "remove it from the group")
        collapsed = _field(obj, "collapsed", "bool", here, False)
        groups.append(Group(group_id, name, tuple(members), collapsed))
    return groups

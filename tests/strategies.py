"""Hypothesis strategies for random but loadable DeepWire projects.

`projects(registry)` draws whole Projects a project file can hold: one or
two networks of up to a dozen blocks drawn from every type in the registry
(so new block types are covered as soon as they are registered), full and
valid parameter dicts, names that include Unicode, control characters and
text that looks like code, wires that respect ports, optional groups, and
random training settings and data sources. The networks need not be valid
graphs: shape errors, loops and unconnected inputs are all fine, since the
file format stores them and the editor reports them.

Values come out exactly as loading produces them (each parameter passed
through `Param.check`), so `load(save(p)) == p` holds for every draw.
The smaller strategies (`param_values`, `block_params`, `networks`, ...)
are public for other property tests and fuzzers.
"""

from __future__ import annotations

import functools
import math
import string

from hypothesis import strategies as st

from graph.model import Block, Edge, Group, Network, Project
from graph.params import Param
from graph.project_io import project_to_dict
from graph.project_read import MAX_SEED
from graph.spec import BlockSpec, Registry
from graph.training_config import TRAINING_PARAMS, DataSpec, TrainingConfig

# Names are data, never code: these must load, save and show without harm.
HOSTILE_TEXT = (
    "'); import os #",
    "__import__('os')",
    "\"; os.system('rm -rf /') #",
    "self",
    "forward",
    "class",
    "None",
    "x.out -> y.in",
    "a > b",
    "",
    " ",
    "\\",
    "\x00",
    "line\nbreak",
    "tab\there",
    "💥 Конв 畳み込み",
    "\u202eright-to-left",
    "{name}",
    "%s%n",
    "x" * 120,
)

_ONE_LINE_HOSTILE = tuple(t for t in HOSTILE_TEXT if t.isprintable())

# Any text but lone surrogates, which no UTF-8 file can hold.
_one_line_chars = st.characters(min_codepoint=32, exclude_categories=("Cs",))
_identifiers = st.tuples(st.sampled_from(string.ascii_letters + "_"),
                         st.text(string.ascii_letters + string.digits + "_", max_size=10)).map("".join)

# Strategies are built once and shared: hypothesis validates every new strategy
# object, which would otherwise dominate the run time.
_NAMES = st.one_of(_identifiers, st.sampled_from(HOSTILE_TEXT), st.text(max_size=24))
_IDS = st.one_of(st.integers(1, 999).map(lambda n: f"b{n}"), st.text(min_size=1, max_size=10))


def names() -> st.SearchStrategy[str]:
    """Block, network, group and project names: plain, Unicode, control characters, hostile."""
    return _NAMES


def ids() -> st.SearchStrategy[str]:
    """Block and group ids: usually like the editor makes them ("b12"), sometimes any text."""
    return _IDS


def _int_bounds(param: Param) -> tuple[int, int]:
    """A small range inside the declared bounds (a 10-million-unit Linear helps no test)."""
    hi_declared = math.floor(param.maximum) if param.maximum is not None else None
    if param.minimum is not None:
        lo = math.ceil(param.minimum)
    else:
        lo = -8 if hi_declared is None else min(-8, hi_declared)
    hi = max(lo, 0) + 64
    if hi_declared is not None:
        hi = min(hi, hi_declared)
    return lo, hi


def _tuples(param: Param) -> st.SearchStrategy[list[int]]:
    min_len, max_len = param.length
    items = st.lists(st.integers(*_int_bounds(param)), min_size=min_len, max_size=min(max_len, min_len + 3))
    if not param.allow_minus_one:
        return items

    @st.composite
    def with_one_inferred(draw):
        values = draw(items)
        if draw(st.booleans()):  # -1 ("infer this size") at most once
            values[draw(st.integers(0, len(values) - 1))] = -1
        return values

    return with_one_inferred()


@functools.cache
def param_values(param: Param) -> st.SearchStrategy:
    """Valid values of one parameter, as `param.check` returns them (tuples, floats...)."""
    kind = param.kind
    if kind == "bool":
        drawn = st.booleans()
    elif kind == "choice":
        drawn = st.sampled_from(param.choices)
    elif kind == "int":
        drawn = st.integers(*_int_bounds(param))
        if param.specials:
            drawn = st.one_of(drawn, st.sampled_from(param.specials))
    elif kind == "float":
        drawn = st.floats(param.minimum, param.maximum, allow_nan=False, allow_infinity=False)
    elif kind == "str":
        limit = int(param.maximum or 4096)
        drawn = st.one_of(st.sampled_from([t for t in _ONE_LINE_HOSTILE if len(t) <= limit]),
                          st.text(_one_line_chars, max_size=min(limit, 20)))
    else:
        drawn = _tuples(param)
    return st.one_of(st.just(param.default), drawn).map(param.check)


@functools.cache
def block_params(spec: BlockSpec) -> st.SearchStrategy[dict]:
    """A full, valid parameter dict for a block type, in declaration order like loading gives."""
    order = [p.name for p in spec.params]
    drawn = st.fixed_dictionaries({p.name: param_values(p) for p in spec.params})
    return drawn.map(lambda values: {name: values[name] for name in order})


_COORDINATE = st.floats(allow_nan=False, allow_infinity=False)
_POSITIONS = st.tuples(_COORDINATE, _COORDINATE)
_ENABLED = st.sampled_from((True, True, True, False))
_FROZEN = st.sampled_from((False, False, False, True))  # transfer learning's mark, round-tripped too


def positions() -> st.SearchStrategy[tuple[float, float]]:
    return _POSITIONS


@st.composite
def groups(draw, block_ids: list[str], max_groups: int = 2) -> list[Group]:
    """View groups over some of the given blocks."""
    count = draw(st.integers(0, max_groups))
    group_ids = draw(st.lists(ids(), min_size=count, max_size=count, unique=True))
    members = st.lists(st.sampled_from(block_ids), unique=True, max_size=6) if block_ids else st.just([])
    return [Group(gid, draw(names()), tuple(draw(members)), draw(st.booleans())) for gid in group_ids]


@functools.lru_cache(maxsize=8)
def _one_of_types(type_ids: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(type_ids)


@st.composite
def networks(draw, registry: Registry, name: str | None = None, max_blocks: int = 12) -> Network:
    """A network of random blocks from the whole registry with wires that fit their ports.

    Wires start only at blocks with an output (not heads), end at an input port
    the block really has (variadic merges included), and no port gets two.
    Loops, self-wires and shape mismatches are allowed.
    """
    type_ids = _one_of_types(tuple(spec.type_id for spec in registry))  # the registry as it is now
    count = draw(st.integers(0, max_blocks))
    block_ids = draw(st.lists(ids(), min_size=count, max_size=count, unique=True))
    blocks = []
    for block_id in block_ids:
        spec = registry.get(draw(type_ids))
        enabled = draw(_ENABLED)
        blocks.append(Block(block_id, spec.type_id, draw(names()), draw(block_params(spec)),
                            draw(positions()), enabled, draw(_FROZEN)))
    sources = [b.id for b in blocks if registry.get(b.type).has_output]
    edges = []
    if sources:
        for block in blocks:
            for port in registry.get(block.type).input_ports(block.params):
                if draw(st.booleans()):
                    edges.append(Edge(draw(st.sampled_from(sources)), block.id, port.name))
    edges = draw(st.permutations(edges))
    net_name = name if name is not None else draw(names())
    return Network(net_name, blocks, edges, draw(groups(block_ids)))


@functools.lru_cache(maxsize=1)
def training_configs() -> st.SearchStrategy[TrainingConfig]:
    """Random training settings: any subset of the declared ones, each with a valid value."""
    optional = {p.name: param_values(p) for p in TRAINING_PARAMS}
    return st.fixed_dictionaries({}, optional=optional).map(TrainingConfig)


@functools.lru_cache(maxsize=1)
def data_specs() -> st.SearchStrategy[DataSpec]:
    """A data source name and options of every JSON kind the format allows."""
    source = st.one_of(st.sampled_from(("digits", "iris", "csv", "mnist", "text")), _identifiers)
    number = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
    item = st.one_of(st.booleans(), number, st.text(max_size=16))
    value = st.one_of(st.none(), item, st.lists(item, max_size=4))
    options = st.dictionaries(st.text(max_size=12), value, max_size=4)
    return st.builds(DataSpec, source, options)


@st.composite
def projects(draw, registry: Registry, max_networks: int = 2, max_blocks: int = 12) -> Project:
    """A whole random project that a project file can hold (see the module docstring)."""
    count = draw(st.integers(1, max_networks))
    net_names = draw(st.lists(names(), min_size=count, max_size=count, unique=True))
    nets = [draw(networks(registry, name=n, max_blocks=max_blocks)) for n in net_names]
    description = draw(st.one_of(st.just(""), st.text(max_size=60)))
    return Project(draw(names()), nets, draw(data_specs()), draw(training_configs()),
                   draw(st.integers(0, MAX_SEED)), description)


def project_dicts(registry: Registry, **kwargs) -> st.SearchStrategy[dict]:
    """Random projects as the plain JSON data of a project file (for fuzzing the loader)."""
    return projects(registry, **kwargs).map(project_to_dict)


# --- random graphs that often compile (for the graph fuzzer) --------------------------------

def _small_ints(param: Param) -> st.SearchStrategy[int]:
    """Small sizes near the lower bound: random layers that mostly fit tiny inputs."""
    lo = math.ceil(param.minimum) if param.minimum is not None else -3
    hi = lo + 6
    if param.maximum is not None:
        hi = min(hi, math.floor(param.maximum))
    return st.integers(lo, max(lo, hi))


def _fitting_tuples(param: Param, shape) -> st.SearchStrategy[list[int]]:
    """Tuples that often fit the input: a permutation of its axes, or a reshape of its size."""
    rank = len(shape) if shape else 1
    options = [_tuples(param).map(lambda v: [1 if x == 0 else x for x in v])]
    if param.allow_minus_one:  # Reshape: keep the element count
        options.append(st.just([-1]))
        if shape:
            options.append(st.sampled_from(shape).map(lambda d: [d, -1]))
    else:  # Permute: axes 1..rank in some order
        options.append(st.permutations(list(range(1, rank + 1))))
    return st.one_of(options)


def _split_size(spec: BlockSpec, param: Param, in_shape) -> int:
    """The size that attention heads or normalisation groups must divide (0: not such a parameter)."""
    if not in_shape or param.kind != "int":
        return 0
    if param.name == "heads":
        return in_shape[-1]
    if param.name == "groups" and spec.type_id == "GroupNorm":
        return in_shape[0]
    return 0


@st.composite
def small_block_params(draw, spec: BlockSpec, in_shape=None) -> dict:
    """Valid parameters with small sizes; tuples shaped after the (first) input when known."""
    params = {}
    for param in spec.params:
        size = _split_size(spec, param, in_shape)
        if size and draw(st.integers(0, 3)) != 2:  # mostly a count that divides what it splits
            value = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
        elif param.kind == "int":
            value = draw(st.one_of(st.just(param.default), _small_ints(param),
                                   st.sampled_from(param.specials or (param.default,))))
        elif param.kind == "tuple":
            value = draw(st.one_of(st.just(param.default), _fitting_tuples(param, in_shape)))
        else:
            value = draw(param_values(param))
        params[param.name] = param.check(value)
    return params


@st.composite
def _input_block(draw, registry: Registry, block_id: str) -> tuple[Block, tuple]:
    spec = draw(st.sampled_from([s for s in registry if s.role == "input"]))
    params = {}
    for param in spec.params:
        lo = max(1, math.ceil(param.minimum or 1))
        params[param.name] = param.check(draw(st.integers(lo, lo + 9)))
    return Block(block_id, spec.type_id, draw(names()), params, (0.0, 0.0)), spec.infer(params, {})


def _fitting_head(draw, head_types: list[BlockSpec], shape) -> tuple[BlockSpec, dict]:
    """A head for `shape`: a random one if it fits, else with its class count set, else an Output head."""
    from graph.spec import ShapeError

    spec = draw(st.sampled_from(head_types))
    params = draw(small_block_params(spec))
    if shape is None or draw(st.integers(0, 19)) == 7:  # now and then keep whatever was drawn
        return spec, params
    if "classes" in params and shape:
        params["classes"] = spec.param("classes").check(max(2, shape[-1]))
    try:
        spec.infer(params, {spec.input_ports()[0].name: shape})
        return spec, params
    except ShapeError:
        output = next(s for s in head_types if s.type_id == "Output")  # takes any shape
        return output, {}


_MOVES_VALUES = ("Flatten", "Reshape", "Permute")  # keep integer token ids integer


@st.composite
def graph_networks(draw, registry: Registry, max_layers: int = 8) -> Network:
    """A random DAG over the whole catalog that compiles about half the time.

    Inputs of random shapes, then layers of any type with small parameters
    wired to earlier outputs (several inputs for merges and attention). Each
    new block's shape rule is tried as it is added: a block that does not fit
    is redrawn a few times and then kept only now and then, so the network
    is sometimes invalid (for the diagnostics path) without being always so.
    Finally one to three heads take the last outputs.
    """
    from graph.spec import ShapeError

    layer_types = [s for s in registry if s.role not in ("input", "head")]
    head_types = [s for s in registry if s.role == "head"]
    blocks: list[Block] = []
    edges: list[Edge] = []
    shapes: dict[str, tuple | None] = {}
    ids: dict[str, int] = {}  # blocks whose output is integer token ids -> their vocabulary size
    # a Random seeded from the example: one hypothesis manages replays its choices across examples,
    # which left whole families of the catalog (every Conv, every RNN) out of a 400-graph run
    rng = draw(st.randoms(use_true_random=True))
    for _ in range(draw(st.integers(1, 2))):
        block, shape = draw(_input_block(registry, f"b{len(blocks) + 1}"))
        blocks.append(block)
        shapes[block.id] = shape
        if block.type == "TokenInput":
            ids[block.id] = block.params["vocab_size"]
    for _ in range(rng.randint(0, max_layers)):
        block_id = f"b{len(blocks) + 1}"
        # three types, then up to four inputs that may fit each; types drawn uniformly (hypothesis's own
        # choices lean towards the first items, which would starve the end of the catalog)
        tries = [(spec, first) for spec in rng.sample(layer_types, 3)
                 for first in rng.sample(sorted(shapes), min(4, len(shapes)))]
        for attempt, (spec, first) in enumerate(tries):
            params = draw(small_block_params(spec, shapes[first]))
            ports = spec.input_ports(params)
            same = draw(st.booleans())  # one source for every port: merges of a value with itself fit
            sources = [first] + [first if same else draw(st.sampled_from(sorted(shapes))) for _ in ports[1:]]
            try:
                known = {p.name: shapes[s] for p, s in zip(ports, sources)}
                out = spec.infer(params, known) if None not in known.values() else None
            except ShapeError:
                out = None
            from_ids = [s in ids for s in sources]
            if "token_ids" in spec.tags:
                fits_values = all(from_ids)
                if fits_values and draw(st.integers(0, 9)) != 7:  # mostly a table big enough for the ids
                    params["vocab_size"] = max(params["vocab_size"], ids[first])
            else:
                fits_values = spec.type_id in _MOVES_VALUES or not any(from_ids)
            if not fits_values:
                out = None  # integer ids must go into an Embedding, floats never
            # kept when it does not fit, now and then: the seeded Random decides, not hypothesis, whose
            # choices lean on constants it finds in whatever modules earlier tests imported
            if out is not None or attempt == len(tries) - 1 and rng.randrange(4) == 2:
                enabled = len(ports) > 1 or draw(st.integers(0, 19)) != 7  # merges cannot be disabled
                blocks.append(Block(block_id, spec.type_id, draw(names()), params, (0.0, 0.0), enabled))
                edges.extend(Edge(s, block_id, p.name) for p, s in zip(ports, sources))
                shapes[block_id] = out
                if spec.type_id in _MOVES_VALUES and all(from_ids):
                    ids[block_id] = ids[first]
                break
    produced = sorted(shapes, key=lambda b: int(b[1:]))
    produced = [b for b in produced if b not in ids] or produced
    for _ in range(draw(st.integers(1, 3))):
        block_id = f"b{len(blocks) + 1}"
        source = draw(st.sampled_from(produced[-3:]))
        spec, params = _fitting_head(draw, head_types, shapes[source])
        blocks.append(Block(block_id, spec.type_id, draw(names()), params, (0.0, 0.0)))
        edges.append(Edge(source, block_id, spec.input_ports()[0].name))
    return Network(draw(names()), blocks, edges)


def graph_projects(registry: Registry, max_layers: int = 8) -> st.SearchStrategy[Project]:
    """One-network projects around `graph_networks`, with a random (possibly hostile) name."""
    return st.builds(Project, names(), graph_networks(registry, max_layers).map(lambda n: [n]))

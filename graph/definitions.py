"""Block definitions: sub-networks used as blocks, and the block types they become.

A `Definition` (graph.model) holds a body network whose inputs are PortInput
blocks and whose output is a PortOutput block, each port named by its block's
name, plus exposed parameters bound to inner settings. An instance is a block
whose type is the definition's name and whose params are the exposed values.

`registry_for(network, registry)` gives the registry a network of a project
is analysed and compiled with: the catalog plus the two port types plus one
BlockSpec per definition, whose shape rule infers the body with the
instance's input shapes and bound parameters (so a definition is polymorphic
in its input shape, like an nn.Module). Everything that reads block specs
(validation, diagnostics, parameter counts, memory estimates) therefore works
on instances unchanged. Problems of a definition itself (a cycle of
definitions, a missing port, a binding to no setting) are found by
`definition_problems` / `library_problems`: the loader refuses such files and
an instance of a broken definition gets a diagnostic saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.model import Definition, Definitions, ModelError, Network
from graph.params import Param, ParamError, Tuple
from graph.spec import BlockSpec, Emission, Port, Registry, Shape, ShapeError

PORT_INPUT = "PortInput"
PORT_OUTPUT = "PortOutput"
PORT_TYPES = frozenset({PORT_INPUT, PORT_OUTPUT})
DEFINITION_TAG = "definition"
CATEGORY = "Definitions"


def _no_code(p, ins, out):
    return Emission(None, "")


PORT_INPUT_SPEC = BlockSpec(
    PORT_INPUT, "Definition input", "Definition ports",
    "Where a value enters a definition; its name is the port's name. An instance feeds it the shape it "
    "receives; `shape` is only the example shape the definition is shown with on its own.",
    infer=lambda p, ins: tuple(p["shape"]), emit=_no_code, role="input", inputs=(),
    params=(Tuple("shape", (16, 8, 8), 1, 1 << 30, "Example input shape (without the batch).",
                  length=(0, 8)),),
    tags=("port",),
)

PORT_OUTPUT_SPEC = BlockSpec(
    PORT_OUTPUT, "Definition output", "Definition ports",
    "Where a value leaves a definition; its name is the port's name.",
    infer=lambda p, ins: ins["x"], emit=_no_code, role="head", loss=lambda p: None,
    tags=("port",),
)


class DefinitionError(ValueError):
    """A definition, or an edit of one, that cannot hold (the message says why and what to do)."""


# ---------------------------------------------------------------- structure


def input_ports(definition: Definition) -> list[str]:
    """Block ids of the definition's input ports, in body order."""
    return [bid for bid, b in definition.body.blocks.items() if b.type == PORT_INPUT]


def output_ports(definition: Definition) -> list[str]:
    return [bid for bid, b in definition.body.blocks.items() if b.type == PORT_OUTPUT]


def uses(definition: Definition, library: Definitions) -> list[str]:
    """Names of the definitions whose instances the body holds (each once, in body order)."""
    return list(dict.fromkeys(b.type for b in definition.body.blocks.values() if b.type in library))


def find_cycle(library: Definitions, extra: tuple[str, str] | None = None) -> list[str] | None:
    """A cycle of definitions using each other (["A", "B", "A"]), or None.

    `extra` = (user, used) adds one more use, to ask whether an edit would make a cycle."""
    graph = {d.name: uses(d, library) for d in library}
    if extra is not None:
        graph.setdefault(extra[0], []).append(extra[1])
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in graph:
        if start in state:
            continue
        path = [start]
        stack = [iter(graph.get(start, ()))]
        state[start] = 1
        while stack:  # iterative: a long chain of definitions cannot exhaust the stack
            used = next(stack[-1], None)
            if used is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(used) == 1:
                return path[path.index(used):] + [used]
            elif used not in state:
                state[used] = 1
                path.append(used)
                stack.append(iter(graph.get(used, ())))
    return None


def dependency_order(library: Definitions) -> list[Definition]:
    """Every definition after the ones it uses (those on a cycle last, in library order)."""
    done: list[str] = []
    placed: set[str] = set()
    pending = [d.name for d in library]
    progress = True
    while pending and progress:
        progress = False
        for name in list(pending):
            if all(u in placed or u == name for u in uses(library.get(name), library)) and \
                    name not in uses(library.get(name), library):
                done.append(name)
                placed.add(name)
                pending.remove(name)
                progress = True
    return [library.get(n) for n in done + pending]


def cycle_message(cycle: list[str]) -> str:
    steps = ", ".join(f"{a} uses {b}" for a, b in zip(cycle, cycle[1:]))
    return (f"definitions form a cycle ({' -> '.join(cycle)}: {steps}); a definition cannot contain "
            "itself: remove one of these instances")


_RESERVED_PARAM_NAMES = frozenset({"self", "nn", "torch", "F", "math", "x"})


def _bound_param(definition: Definition, bind: str, registry: Registry) -> Param:
    block_id, _, param = bind.partition(".")
    block = definition.body.blocks.get(block_id)
    if block is None or not param:
        raise DefinitionError(f"definition {definition.name!r}: the binding {bind!r} names no inner block "
                              "(write it as BLOCK_ID.PARAMETER, e.g. b3.channels)")
    if block.type not in registry:
        raise DefinitionError(f"definition {definition.name!r}: inner block {block.name!r} has the unknown "
                              f"type {block.type!r}")
    spec = registry.get(block.type)
    try:
        return spec.param(param)
    except KeyError:
        raise DefinitionError(f"definition {definition.name!r}: inner block {block.name!r} ({spec.title}) "
                              f"has no parameter {param!r} to bind") from None


def exposed_param_spec(definition: Definition, name: str, registry: Registry) -> Param:
    """The Param an exposed parameter is checked with: its first bound setting's, renamed."""
    exposed = definition.param(name)
    if not exposed.binds:
        raise DefinitionError(f"definition {definition.name!r}: parameter {name!r} binds no inner setting")
    inner = _bound_param(definition, exposed.binds[0], registry)
    try:
        return dataclasses.replace(inner, name=name, default=exposed.default)
    except ParamError as err:
        raise DefinitionError(f"definition {definition.name!r}: the default of parameter {name!r} is "
                              f"refused: {err}") from None


def definition_problems(definition: Definition, library: Definitions, registry: Registry) -> list[str]:
    """What is wrong with one definition itself (not with its shapes), in words; [] when nothing."""
    base = registry.base
    problems: list[str] = []
    name = definition.name
    if not name.isidentifier() or keyword.iskeyword(name):
        problems.append(f"the definition name {name!r} must be a name like ResidualBlock (letters, digits "
                        "and _, not starting with a digit)")
    elif name in base or name in PORT_TYPES:
        problems.append(f"the definition name {name!r} is already a block type; rename the definition")
    ins, outs = input_ports(definition), output_ports(definition)
    if not ins:
        problems.append(f"definition {name!r} has no input port; add a Definition input block")
    if len(outs) != 1:
        problems.append(f"definition {name!r} has {len(outs)} output ports; it needs exactly one "
                        "Definition output block")
    port_names = [definition.body.blocks[b].name for b in ins + outs]
    for port in port_names:
        if not port.isidentifier() or keyword.iskeyword(port) or port in ("self", "inputs"):
            problems.append(f"definition {name!r}: the port name {port!r} must be a name like x or skip "
                            "(not self or inputs)")
    dupes = sorted({p for p in port_names if port_names.count(p) > 1})
    if dupes:
        problems.append(f"definition {name!r}: two ports are named {dupes[0]!r}; give each its own name")
    seen: set[str] = set()
    for exposed in definition.params:
        if (not isinstance(exposed.name, str) or not exposed.name.isidentifier()
                or keyword.iskeyword(exposed.name) or exposed.name in _RESERVED_PARAM_NAMES):
            problems.append(f"definition {name!r}: the parameter name {exposed.name!r} must be a name like "
                            "channels (not a Python keyword, not self, x, nn or torch)")
            continue
        if exposed.name in seen:
            problems.append(f"definition {name!r}: two parameters are named {exposed.name!r}")
        seen.add(exposed.name)
        try:
            param = exposed_param_spec(definition, exposed.name, registry)
            for bind in exposed.binds[1:]:
                other = _bound_param(definition, bind, registry)
                if other.kind != param.kind:
                    problems.append(f"definition {name!r}: parameter {exposed.name!r} binds settings of "
                                    f"different kinds ({param.kind} and {other.kind}); bind it to one kind")
                else:
                    other.check(exposed.default)
        except (DefinitionError, ParamError) as err:
            problems.append(str(err))
    return problems


def library_problems(library: Definitions, registry: Registry) -> list[str]:
    """Problems of every definition, the first cycle of definitions among them."""
    problems: list[str] = []
    cycle = find_cycle(library)
    if cycle:
        problems.append(cycle_message(cycle))
    ext = registry_for_library(library, registry)
    for definition in library:
        problems += definition_problems(definition, library, ext)
    return problems


# ---------------------------------------------------------------- instances


@dataclass
class Instance:
    """One use of a definition with concrete values: the body with its settings bound, and its analysis."""

    definition: Definition
    params: dict[str, Any]  # the exposed parameters' values
    inputs: dict[str, Shape]  # port name -> shape received
    body: Network  # a copy of the definition's body with the bound settings and port shapes filled in
    inference: Any  # graph.infer.Inference of `body`
    output: Shape | None


def bound_body(definition: Definition, params: Mapping[str, Any], ins: Mapping[str, Shape]) -> Network:
    """A copy of the body with the exposed values in the settings they bind and the ports' shapes set."""
    body = definition.body.copy()
    for exposed in definition.params:
        if exposed.name not in params:
            continue
        for bind in exposed.binds:
            block_id, _, param = bind.partition(".")
            if block_id in body.blocks:
                body.blocks[block_id].params[param] = params[exposed.name]
    for bid in input_ports(definition):
        port = body.blocks[bid]
        if port.name in ins:
            port.params["shape"] = tuple(ins[port.name])
    return body


class InnerShapeError(ShapeError):
    """A problem inside an instance's body: names the inner block and the definition."""

    def __init__(self, definition: str, inner_id: str | None, inner_message: str,
                 deeper: tuple[str, ...] = ()):
        super().__init__(inner_message)
        self.definition = definition
        self.inner_id = inner_id
        self.inner_message = inner_message
        # (definition, inner block id, ...): where the problem is, through nested definitions
        self.path = (definition, inner_id or "", *deeper)

    def describe(self, instance_name: str) -> str:
        return f"inside {self.definition} (instance '{instance_name}'): {self.inner_message}"


class _DefinitionRule:
    """The shape rule, parameter count and code of one definition, memoised per instance values."""

    def __init__(self, definition: Definition, problem: str | None):
        self.definition = definition
        self.problem = problem
        self.registry: Registry | None = None  # the extended registry, set once built
        self.memo: dict[tuple, Instance | ShapeError] = {}

    def instance(self, params: Mapping[str, Any], ins: Mapping[str, Shape]) -> Instance:
        """The analysed body for these values; raises ShapeError (InnerShapeError inside) when it fails."""
        from graph.infer import infer

        if self.problem:
            raise ShapeError(f"cannot be used: {self.problem}")
        try:
            key = (tuple(sorted(params.items())), tuple(sorted(ins.items())))
            hit = self.memo.get(key)
        except TypeError:
            key, hit = None, None
        if hit is None:
            body = bound_body(self.definition, params, ins)
            inference = infer(body, self.registry)
            out_id = output_ports(self.definition)[0]
            errors = [d for d in inference.diagnostics if d.is_error]
            shape = inference.inputs.get(out_id, {}).get("x")
            if errors:
                first = errors[0]
                hit = InnerShapeError(self.definition.name, first.block, first.message, first.inside)
            elif shape is None or inference.order.cycles:
                hit = InnerShapeError(self.definition.name, out_id, "its output port receives no value (a "
                                      "wire is missing or the body has a loop); open the definition and "
                                      "wire its input through to its output")
            else:
                hit = Instance(self.definition, dict(params), dict(ins), body, inference, shape)
            if key is not None:
                if len(self.memo) > 4096:
                    self.memo.clear()
                self.memo[key] = hit
        if isinstance(hit, ShapeError):
            raise hit
        return hit

    def infer(self, params, ins) -> Shape:
        return tuple(self.instance(params, ins).output)

    def count(self, params, ins, out) -> int:
        from graph.memory import block_weights

        try:
            inst = self.instance(params, ins)
        except ShapeError:
            return 0
        return sum(block_weights(inst.body, self.registry, inst.inference, bid) for bid in inst.body.blocks)

    def emit(self, params, ins, out) -> Emission:
        # what an instance looks like outside compile_project (which writes the class call itself):
        # equal values give equal text, so two uses of one module can be compared
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))
        ports = ", ".join("{" + p + "}" for p in ins)
        return Emission(f"{self.definition.name}({args})", "{self}(" + ports + ")")


def _fallback_param(name: str, default: Any) -> Param:
    if isinstance(default, bool):
        return Param(name, "bool", default)
    if isinstance(default, int):
        return Param(name, "int", default)
    if isinstance(default, float):
        return Param(name, "float", default)
    if isinstance(default, (list, tuple)) and all(isinstance(v, int) for v in default):
        return Param(name, "tuple", tuple(default), length=(0, 64))
    return Param(name, "str", default if isinstance(default, str) else "")


def _spec_of(definition: Definition, library: Definitions, registry: Registry,
             cycle: list[str] | None) -> tuple[BlockSpec, _DefinitionRule]:
    problems = definition_problems(definition, library, registry)
    if cycle and definition.name in cycle:
        problems.insert(0, cycle_message(cycle))
    rule = _DefinitionRule(definition, problems[0] if problems else None)
    params = []
    for exposed in definition.params:
        try:
            params.append(exposed_param_spec(definition, exposed.name, registry))
        except (DefinitionError, ModelError):
            try:
                params.append(_fallback_param(exposed.name, exposed.default))
            except (ValueError, ParamError):
                continue
    names = [p.name for p in params]
    params = [p for i, p in enumerate(params) if p.name not in names[:i]]
    ports = tuple(Port(definition.body.blocks[bid].name) for bid in input_ports(definition))
    spec = BlockSpec(
        definition.name, definition.name, CATEGORY,
        definition.description or f"An instance of the definition {definition.name}.",
        infer=rule.infer, emit=rule.emit, params=tuple(params), inputs=ports or (Port("x"),),
        count=rule.count, version=definition.version, summary=tuple(names[:3]), tags=(DEFINITION_TAG,),
    )
    return spec, rule


def registry_for_library(library: Definitions | None, registry: Registry) -> Registry:
    """The registry extended with the port types and one block type per definition (cached)."""
    base = registry.base
    if not library:
        return base
    key = (id(base), library.stamp())
    cached = getattr(library, "_registry_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    ext = base.extended([PORT_INPUT_SPEC, PORT_OUTPUT_SPEC], key)
    cycle = find_cycle(library)
    rules: dict[str, _DefinitionRule] = {}
    # leaves first, so a definition's bindings to an inner instance find that instance's type
    for definition in dependency_order(library):
        if definition.name in ext or not definition.name.isidentifier():
            continue  # reported by definition_problems; the catalog's type wins
        spec, rule = _spec_of(definition, library, ext, cycle)
        ext.register(spec)
        rules[definition.name] = rule
    ext.definition_rules = rules  # name -> _DefinitionRule (the compiler reads the instances)
    for rule in rules.values():
        rule.registry = ext
    library._registry_cache = (key, ext)
    return ext


def registry_for(network: Network, registry: Registry) -> Registry:
    """The registry to analyse or compile `network` with: extended when its project has definitions."""
    library = network.library
    if not library:
        return registry
    return registry_for_library(library, registry)


def is_instance(spec: BlockSpec | None) -> bool:
    return spec is not None and DEFINITION_TAG in spec.tags


def rule_of(registry: Registry, type_id: str) -> _DefinitionRule | None:
    return getattr(registry, "definition_rules", {}).get(type_id)


def instances_of(networks: list[Network], library: Definitions, name: str) -> list[tuple[str, str]]:
    """Every use of definition `name`: (network or definition name, block id), in the networks and in the
    bodies of other definitions (what an edit of it changes)."""
    found = [(net.name, bid) for net in networks for bid, b in net.blocks.items() if b.type == name]
    for definition in library:
        found += [(definition.name, bid) for bid, b in definition.body.blocks.items() if b.type == name]
    return found

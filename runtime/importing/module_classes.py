"""An imported model's module classes as block definitions: a class used N times, one definition.

After the flat import (every call a block, each remembering the module path it came from),
`make_definitions` looks at every module of the original model that is an instance of a
user class (not torch.nn's own layers, not a plain nn.Sequential/ModuleList container, not
a module that became one block): its blocks are those whose path starts with its own. The
uses of one class whose blocks are the same sub-graph (same block types, module names and
wiring; settings may differ) become one Definition named after the class, and each use one
instance block named by its module path (`layer1.0`), so the exported code has one class per
definition and the same state_dict keys as the original (`layer1.0.conv1.weight`). Uses
with another structure (torchvision's BasicBlock with a downsample) get a definition of
their own (BasicBlock2); a class with more than MAX_VARIANTS structures stays plain blocks.
Nested classes become nested definitions, leaves first.

Exposed parameters: the settings that differ between instances (settings with equal values
everywhere share one), and the constructor arguments the class's `__init__` source passes to
its layers (`nn.Conv2d(channels, channels, 3)` binds `channels` to that conv's channels) even
where every instance has the same value, so DeepWire's own exported code imports back to the
definitions it was written from. Names come from the constructor's arguments where they can be
matched, else from the inner setting (`channels`, or `conv1_channels` where two differ).

Kept as plain blocks, with a note: a class whose uses have several outputs, hold an Unsupported
block or a module shared with blocks outside, or are not one connected piece of the network.
A class used once becomes a definition too, unless it holds most of the network (a wrapper
around the whole model), which is looked into instead.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from graph.definitions import PORT_INPUT, PORT_OUTPUT
from graph.layout import layered_layout
from graph.model import Block, Definition, Definitions, Edge, ExposedParam, Network
from graph.pycode import to_class_name
from graph.spec import Registry
from runtime.importing.network_builder import ImportedNetwork, block_name

MAX_VARIANTS = 4
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_RESERVED = frozenset({"self", "nn", "torch", "F", "math", "x"})
# a torch constructor argument -> the DeepWire setting it is (others: the same name)
_TORCH_TO_SETTING = {"out_channels": "channels", "out_features": "features", "num_heads": "heads"}


@dataclass
class _Use:
    path: str  # module path, e.g. "layer1.0"
    module: nn.Module
    members: list[str]  # block ids in network order
    inputs: list[tuple[str, str]] = field(default_factory=list)  # external (block, port) per input port
    output: tuple[str, str] | None = None  # the member (block, port) read outside
    signature: tuple = ()
    names: dict[str, str] = field(default_factory=dict)  # member -> inner block name
    values: dict[str, Any] = field(default_factory=dict)  # the instance's exposed values


def make_definitions(imported: ImportedNetwork, model: nn.Module, leaves: set[str], registry: Registry,
                     library: Definitions) -> list[str]:
    """Replace the uses of the model's classes by instances of new definitions (added to `library`);
    returns the notes for the import report."""
    net = imported.network
    scopes = imported.scopes
    notes: list[str] = []
    paths = sorted({".".join(s.split(".")[:i]) for s in scopes.values() if s
                    for i in range(1, len(s.split(".")) + 1)}, key=lambda p: (-p.count("."), p))
    by_depth: dict[int, list[str]] = {}
    for path in paths:
        by_depth.setdefault(path.count("."), []).append(path)
    used_names = set(library.names())
    imported.shapes = _output_shapes(net, registry, library)
    made: dict[tuple, _Made] = {}  # (class, structure) -> its definition, across depths
    total = len(net.blocks)  # "most of the network" is judged on the flat import, whatever is replaced first
    for depth in sorted(by_depth, reverse=True):  # leaves of the nesting first
        classes: dict[type, list[_Use]] = {}
        for path in by_depth[depth]:
            if path in leaves:
                continue
            try:
                module = model.get_submodule(path)
            except AttributeError:
                continue
            cls = type(module)
            if cls in _CONTAINERS or cls.__module__.startswith("torch."):
                continue
            members = [bid for bid in net.blocks if scopes.get(bid) == path
                       or (scopes.get(bid) or "").startswith(path + ".")]
            if members:
                classes.setdefault(cls, []).append(_Use(path, module, members))
        for cls, found in classes.items():
            notes += _convert_class(cls, found, imported, registry, library, used_names, leaves, made, total)
    if library:
        for bid, position in layered_layout(net).items():
            net.move_block(bid, position)
    return notes


def _output_shapes(net: Network, registry: Registry, library: Definitions) -> dict[str, tuple]:
    """Each block's output shape in the flat import (none where inference stops, at an Unsupported block)."""
    from graph.definitions import registry_for_library
    from graph.infer import infer

    try:
        shapes = infer(net, registry_for_library(library, registry)).shapes
    except Exception:  # noqa: BLE001 - the shapes only give the definitions their example input shapes
        return {}
    return {bid: tuple(shape) for bid, shape in shapes.items() if isinstance(shape, tuple)}


def _convert_class(cls: type, found: list[_Use], imported: ImportedNetwork, registry: Registry,
                   library: Definitions, used_names: set[str], leaves: set[str],
                   made: dict[tuple, _Made], total: int) -> list[str]:
    net = imported.network
    label = cls.__name__
    if len(found) == 1 and 2 * _flat_size(found[0], imported) > total:
        return []  # a wrapper holding most of the model: looked into, not made one block
    reasons = [_why_not(use, net, registry, imported.scopes, leaves, library) for use in found]
    bad = [(use, why) for use, why in zip(found, reasons) if why]
    if bad:
        use, why = bad[0]
        return [f"class {label} ('{use.path}') stays plain blocks: {why}"]
    variants: dict[tuple, list[_Use]] = {}
    for use in found:
        variants.setdefault(use.signature, []).append(use)
    if len(variants) > MAX_VARIANTS:
        return [f"class {label}: its {len(found)} uses have {len(variants)} different structures; they stay "
                "plain blocks"]
    notes = []
    summary = []
    family = _family(cls)
    for signature, uses in variants.items():
        known = made.get((family, signature))
        if known is not None and not _extends(known, uses, imported.network, registry):
            known = None  # its instances are inside other definitions now, whose parameters it would change
        if known is None:
            name = _unique(family, used_names, registry)
            used_names.add(name)
            definition, order = _definition(name, cls, uses, imported, registry)
            known = made[family, signature] = _Made(definition, order, cls, uses[0].module, inner_names=dict(
                (i, definition.body.blocks[i].name) for i in order))
            library.add(definition)
        else:
            definition = known.definition
            for use in uses:
                use.names = {bid: definition.body.blocks[inner].name for bid, inner in zip(use.members,
                                                                                           known.order)}
        known.snapshots += [_snapshot(imported.network, use, known.order, registry) for use in uses]
        definition.params = _exposed(known.cls, known.module, known.snapshots, known.inner_names)
        values = [{p.name: snap[p.binds[0]] for p in definition.params} for snap in known.snapshots]
        for bid, value in zip(known.instances, values):  # the earlier instances, with the new parameters
            if bid in net.blocks:  # (one inside another definition keeps its values: _extends)
                net.blocks[bid].params = dict(value)
        for use, value in zip(uses, values[len(known.instances):]):
            use.values = value
            known.instances.append(_replace(use, definition, imported))
        summary.append(f"{definition.name} ({len(uses)} use{'s' if len(uses) > 1 else ''})")
    if len(variants) > 1:
        notes.append(f"class {label}: its uses have {len(variants)} different structures, so "
                     f"{len(variants)} definitions: {', '.join(summary)}")
    return notes


@dataclass
class _Made:
    """A definition made from a class: what its later uses (at another depth) extend."""

    definition: Definition
    order: list[str]  # inner block ids, in the order of a use's members
    cls: type
    module: nn.Module  # its first use, whose __init__ source names the parameters
    inner_names: dict[str, str] = field(default_factory=dict)
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # per use: "inner.param" -> value
    instances: list[str] = field(default_factory=list)  # the instance blocks, in snapshot order


def _extends(known: _Made, uses: list[_Use], net: Network, registry: Registry) -> bool:
    """Whether more uses can join a definition: its instances are all still in the network, or its
    parameters stay as they are with them."""
    if all(bid in net.blocks for bid in known.instances):
        return True
    for use in uses:
        use.names = {bid: known.definition.body.blocks[inner].name for bid, inner in zip(use.members,
                                                                                          known.order)}
    snapshots = known.snapshots + [_snapshot(net, use, known.order, registry) for use in uses]
    return _exposed(known.cls, known.module, snapshots, known.inner_names) == known.definition.params


def _family(cls: type) -> str:
    """The definition a class is: DeepWire's exported classes name theirs ("Block definition X (...)": the
    classes of one definition whose instances needed other code, X2, X_, are one definition again)."""
    found = re.match(r"Block definition (\w+) \(", inspect.getdoc(cls) or "")
    return found.group(1) if found else cls.__name__


def _snapshot(net: Network, use: _Use, order: list[str], registry: Registry) -> dict[str, Any]:
    return {f"{inner}.{param}": value for inner, bid in zip(order, use.members)
            for param, value in _full(net, bid, registry).items()}


def _flat_size(use: _Use, imported: ImportedNetwork) -> int:
    """How many flat blocks a use stands for (an instance in it counts its definition's blocks)."""
    return sum(imported.flat_sizes.get(bid, 1) for bid in use.members)


def _unique(wanted: str, taken: set[str], registry: Registry) -> str:
    # the name its class will have in the exported code (MBConv -> Mbconv, _DenseLayer -> DenseLayer),
    # so exporting and importing again gives the same definitions
    base = to_class_name(wanted, "Block")
    if base in registry or base in (PORT_INPUT, PORT_OUTPUT):
        base += "Block"
    name, n = base, 2
    while name in taken or name in registry:
        name, n = f"{base}{n}", n + 1
    return name


def _why_not(use: _Use, net: Network, registry: Registry, scopes: dict[str, str], leaves: set[str],
             library: Definitions) -> str:
    """Why one use cannot become an instance ("" when it can); fills its ports and signature."""
    members = set(use.members)
    for bid in use.members:
        block = net.blocks[bid]
        role = registry.get(block.type).role if block.type in registry else "layer"  # or an instance
        if block.type == "Unsupported":
            return f"it holds an operation with no DeepWire block ('{block.name}')"
        if role in ("input", "head"):
            return "it holds an input or an output of the network"
        if block.shares is not None and block.shares not in members or \
                any(b.shares == bid for b in net.blocks.values() if b.id not in members):
            return "a module of it is used outside it too"
    if any(k.partition(".")[0] in members or v.partition(".")[0] in members for k, v in net.ties.items()):
        return "it holds a parameter tied to another"
    inputs = _inputs(net, use.members)
    outputs: set[tuple[str, str]] = set()
    for bid in use.members:
        for edge in net.edges_from(bid):
            if edge.dst not in members:
                outputs.add((bid, edge.src_port))
    if not inputs:
        return "it reads no value from outside"
    if len(outputs) != 1:
        return f"it gives {len(outputs)} values to the rest of the network (a definition has one output)"
    if _detour(net, members):
        return "its blocks are not one connected piece of the network"
    use.inputs, use.output = inputs, next(iter(outputs))
    index = {bid: i for i, bid in enumerate(use.members)}
    names: dict[str, str] = {}
    modules: list[str] = []
    for bid in use.members:
        block, scope = net.blocks[bid], scopes.get(bid, "")
        if (block.type in library or scope in leaves) and scope.startswith(use.path + "."):
            names[bid] = scope[len(use.path) + 1:]  # conv1, downsample.0: the original's module names
            modules.append(names[bid])
        else:
            names[bid] = re.sub(r"_\d+$", "", block.name)  # a function's call: add_3 -> add
            modules.append("")
    wiring = tuple(sorted((index[e.src] if e.src in index else -1 - inputs.index((e.src, e.src_port)),
                           e.src_port, index[e.dst], e.dst_port)
                          for b in use.members for e in net.edges_into(b)))
    use.names = names
    use.signature = (tuple(net.blocks[b].type for b in use.members), tuple(modules), wiring,
                     index[use.output[0]], use.output[1], len(inputs))
    return ""


def _inputs(net: Network, members: list[str]) -> list[tuple[str, str]]:
    """The outside values (block, port) the members read, in order of first use: the input ports."""
    inside = set(members)
    found: list[tuple[str, str]] = []
    for bid in members:
        for edge in net.edges_into(bid):
            if edge.src not in inside and (edge.src, edge.src_port) not in found:
                found.append((edge.src, edge.src_port))
    return found


def _detour(net: Network, members: set[str]) -> bool:
    """Whether a block outside lies on a path from one member to another (one block would make a loop)."""
    seen: set[str] = set()
    stack = [e.dst for m in members for e in net.edges_from(m) if e.dst not in members]
    while stack:
        bid = stack.pop()
        if bid in seen:
            continue
        seen.add(bid)
        for edge in net.edges_from(bid):
            if edge.dst in members:
                return True
            stack.append(edge.dst)
    return False


def _definition(name: str, cls: type, uses: list[_Use], imported: ImportedNetwork,
                registry: Registry) -> tuple[Definition, list[str]]:
    net = imported.network
    first = uses[0]
    body = Network(name)
    ids: dict[str, str] = {}
    forward = [p for p in inspect.signature(cls.forward).parameters][1:] if hasattr(cls, "forward") else []
    port_names = forward if len(forward) == len(first.inputs) and all(
        p.isidentifier() and p not in ("self", "inputs") for p in forward) else \
        ["x"] if len(first.inputs) == 1 else [f"x{i + 1}" for i in range(len(first.inputs))]
    for port, (src, _port) in zip(port_names, first.inputs):
        # the first use's input shape is the example the definition's own tab is analysed with
        shape = imported.shapes.get(src)
        body.add_block(Block(f"in_{port}", PORT_INPUT, port, {"shape": shape} if shape else {}))
    inner_names: set[str] = set(port_names) | {"out"}
    for bid in first.members:
        block = net.blocks[bid]
        wanted = first.names[bid] or "block"
        inner = wanted
        n = 2
        while inner in inner_names:
            inner, n = f"{wanted}{n}", n + 1
        inner_names.add(inner)
        new_id = block_name(inner)
        while new_id in body.blocks:
            new_id += "_"
        ids[bid] = new_id
        body.add_block(Block(new_id, block.type, inner, dict(block.params), (0.0, 0.0), block.enabled,
                             block.frozen, None))
    for bid in first.members:
        block = net.blocks[bid]
        if block.shares is not None:
            body.set_shares(ids[bid], ids[block.shares])
    for use in uses:  # the weights of each use go under the inner blocks' names (module_classes._replace)
        use.names = {bid: body.blocks[ids[inner]].name for bid, inner in zip(use.members, first.members)}
    body.add_block(Block("out", PORT_OUTPUT, "out"))
    port_ids = {src: f"in_{port_names[i]}" for i, src in enumerate(_inputs(net, first.members))}
    for bid in first.members:
        for edge in net.edges_into(bid):
            src = ids.get(edge.src)
            if src is None:
                body.connect(Edge(port_ids[(edge.src, edge.src_port)], ids[bid], edge.dst_port))
            else:
                body.connect(Edge(src, ids[bid], edge.dst_port, edge.src_port))
    body.connect(Edge(ids[first.output[0]], "out", "x", first.output[1]))
    for bid, position in layered_layout(body).items():
        body.move_block(bid, position)
    description = "" if _family(cls) != cls.__name__ else (inspect.getdoc(cls) or "").split("\n\n")[0][:300]
    definition = Definition(name, body, [], description=f"Imported class {cls.__name__}" +
                            (f": {description}" if description else ""))
    return definition, [ids[bid] for bid in first.members]


def _full(net: Network, bid: str, registry: Registry) -> dict[str, Any]:
    block = net.blocks[bid]
    try:
        return registry.get(block.type).check_params(block.params)
    except Exception:  # noqa: BLE001 - an instance's params: as stored
        return dict(block.params)


def _init_usage(cls: type, module: nn.Module) -> dict[str, set[tuple[str, str]]]:
    """Constructor argument -> {(submodule path, torch constructor argument)} it is passed as, read from
    the class's __init__ source (self.conv1 = nn.Conv2d(channels, channels, 3)); {} without source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    except (OSError, TypeError, SyntaxError):
        return {}
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        return {}
    args = {a.arg for a in fn.args.args[1:] + fn.args.kwonlyargs}
    spaces = inspect.getmodule(cls)
    scope = vars(spaces) if spaces is not None else {}
    found: dict[str, set[tuple[str, str]]] = {}

    def resolve(node: ast.expr):
        # a dotted name (nn.Conv2d, Bottleneck) looked up attribute by attribute: nothing is evaluated
        if isinstance(node, ast.Name):
            return scope.get(node.id, getattr(builtins, node.id, None))
        if isinstance(node, ast.Attribute):
            owner = resolve(node.value)
            return None if owner is None else getattr(owner, node.attr, None)
        return None  # a local or computed callee: not followed

    def visit(call: ast.expr, path: str) -> None:
        if not isinstance(call, ast.Call) or not all(isinstance(n, (ast.Name, ast.Attribute))
                                                     for n in ast.walk(call.func)
                                                     if isinstance(n, ast.expr) and n is not call.func
                                                     and not isinstance(n, ast.Load)):
            return
        try:
            sub = module.get_submodule(path)
        except AttributeError:
            return
        callee = resolve(call.func)
        if callee is nn.Sequential:
            for i, arg in enumerate(call.args):
                visit(arg, f"{path}.{i}")
            return
        if callee is not type(sub):
            return
        names = [p for p in inspect.signature(type(sub).__init__).parameters][1:]
        for i, arg in enumerate(call.args):
            if isinstance(arg, ast.Name) and arg.id in args and i < len(names):
                found.setdefault(arg.id, set()).add((path, names[i]))
        for kw in call.keywords:
            if kw.arg and isinstance(kw.value, ast.Name) and kw.value.id in args:
                found.setdefault(kw.value.id, set()).add((path, kw.arg))

    for statement in ast.walk(fn):
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                    target.value.id == "self":
                visit(statement.value, target.attr)
    order = [a.arg for a in fn.args.args[1:] + fn.args.kwonlyargs]
    return {a: found[a] for a in order if a in found}


def _exposed(cls: type, module: nn.Module, snapshots: list[dict[str, Any]],
             inner_name: dict[str, str]) -> list[ExposedParam]:
    """The parameters of a definition from its uses' settings ("inner_id.param" -> value, per use)."""
    settings: dict[str, list[Any]] = {key: [snap.get(key) for snap in snapshots] for key in snapshots[0]}
    params: list[ExposedParam] = []
    taken: set[str] = set()
    bound: set[str] = set()

    def same(a, b) -> bool:
        return len(a) == len(b) and all(x == y and type(x) is type(y) for x, y in zip(a, b))

    # the constructor's arguments, where the source says which layer setting each fills
    for arg, places in _init_usage(cls, module).items():
        binds = []
        for path, torch_arg in sorted(places):
            inner = next((i for i, n in inner_name.items() if n == path), None)
            key = f"{inner}.{_TORCH_TO_SETTING.get(torch_arg, torch_arg)}"
            if inner is not None and key in settings and key not in bound:
                binds.append(key)
        binds = [b for b in binds if same(settings[b], settings[binds[0]])]
        if binds and arg.isidentifier() and arg not in _RESERVED:
            params.append(ExposedParam(arg, settings[binds[0]][0], tuple(binds)))
            taken.add(arg)
            bound.update(binds)
    # every other setting that differs between uses: equal ones share a parameter
    groups: dict[tuple, list[str]] = {}
    for key, values in settings.items():
        if key in bound or all(v == values[0] and type(v) is type(values[0]) for v in values):
            continue
        groups.setdefault(tuple((type(v).__name__, repr(v)) for v in values), []).append(key)
    for keys in groups.values():
        inner_params = {k.partition(".")[2] for k in keys}
        wanted = inner_params.pop() if len(inner_params) == 1 else keys[0].replace(".", "_")
        if wanted in taken or wanted in _RESERVED or not wanted.isidentifier():
            wanted = keys[0].replace(".", "_")
        name, n = wanted, 2
        while name in taken or name in _RESERVED:
            name, n = f"{wanted}{n}", n + 1
        taken.add(name)
        params.append(ExposedParam(name, settings[keys[0]][0], tuple(keys)))
    return params


def _replace(use: _Use, definition: Definition, imported: ImportedNetwork) -> str:
    """The use's blocks become one instance block named by its module path, wired in their place."""
    net = imported.network
    members = set(use.members)
    index = min(net.index_of(b) for b in use.members)
    ports = [b.name for b in definition.body.blocks.values() if b.type == PORT_INPUT]
    inputs = _inputs(net, use.members)  # now: an earlier replacement may have renewed a source
    into = [(e, ports[inputs.index((e.src, e.src_port))]) for b in use.members for e in net.edges_into(b)
            if e.src not in members]
    out = [e for b in use.members for e in net.edges_from(b) if e.dst not in members]
    weights: dict[str, Any] = {}
    for bid in use.members:
        for key, value in imported.weights.pop(bid, {}).items():
            weights[f"{use.names[bid]}.{key}"] = value
    for bid in use.members:
        for edge in net.edges_of(bid):
            net.disconnect(edge)
    for bid in sorted(use.members, key=lambda b: net.blocks[b].shares is None):  # users before owners
        net.remove_block(bid)
        imported.scopes.pop(bid, None)
    size = _flat_size(use, imported)
    bid = net.new_block_id()
    values = dict(use.values)
    name = use.path if use.path not in {b.name for b in net.blocks.values()} else net.unique_name(use.path)
    net.add_block(Block(bid, definition.name, name, values), index)
    imported.scopes[bid] = use.path
    imported.flat_sizes[bid] = size
    if use.output is not None and use.output[0] in imported.shapes:
        imported.shapes[bid] = imported.shapes[use.output[0]]
    if weights:
        imported.weights[bid] = weights
    for edge, port in into:
        if net.wire_into(bid, port) is None:
            net.connect(Edge(edge.src, bid, port, edge.src_port))
    for edge in out:
        net.connect(Edge(bid, edge.dst, edge.dst_port))
    return bid

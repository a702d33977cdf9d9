"""Compiler: a validated project becomes Python source for nn.Module classes.

One class per network: named submodules in `__init__`, one line per block in
`forward` in topological order with a shape comment, and a `make_loss`
static method giving each output head's loss. The runtime builds the model
it trains by executing exactly this source, so exported code and trained
model cannot differ.

Identifiers come from `Namespace`; user text (block names, project names)
only ever reaches the code as a sanitised identifier. Local variables are
reused once a value is dead, so a chain reads `x = self.conv(x)` the way a
careful person writes it, and residual branches get their own names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from graph.compile_definitions import build as build_definitions
from graph.definitions import is_instance, registry_for_library
from graph.diagnostics import ERROR, Diagnostic
from graph.helpers_src import HELPERS
from graph.model import Network, Project
from graph.pycode import Namespace, reads_name, to_class_name, to_identifier
from graph.shapes import format_shape
from graph.sharing import PARAM_PATH, split_key
from graph.spec import Emission, Registry, Shape
from graph.validate import Analysis, analyse
from graph.walk import order

GENERATOR = "DeepWire"
# module-level names an export of a trained run adds after the classes (runtime/preprocessing.py);
# class names keep off them
EXPORT_CONSTANTS = frozenset({"MEAN", "STD", "CLASSES", "VOCAB", "TOKEN_IDS", "UNKNOWN", "FOLDS"})


class CompileError(ValueError):
    """The network has errors; `diagnostics` lists them."""

    def __init__(self, network: str, diagnostics: list[Diagnostic]):
        errors = [d for d in diagnostics if d.is_error]
        lines = "\n".join(f"  - {d.message}" for d in errors[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(f"network '{network}' cannot be compiled:\n{lines}{more}")
        self.diagnostics = errors


@dataclass
class CompiledNetwork:
    """What the runtime needs to know about one generated class."""

    network: str
    class_name: str
    module_names: dict[str, str]  # block id -> submodule attribute (blocks with weights or state)
    input_blocks: list[str]  # input block ids, in forward() argument order
    input_names: list[str]
    input_shapes: list[Shape]
    input_types: list[str]  # the input blocks' type ids (TokenInput feeds integer ids)
    output_blocks: list[str]  # head block ids, in the order forward() returns them
    output_shapes: list[Shape]
    losses: list[str | None]  # loss constructor per head (None: the recipe decides)
    head_types: list[str]
    lines: dict[str, int] = field(default_factory=dict)  # block id -> 1-based line of its forward code
    shared: dict[str, str] = field(default_factory=dict)  # block id -> block whose submodule it calls


@dataclass
class CompiledProject:
    source: str
    networks: dict[str, CompiledNetwork]  # by network name

    def network(self, name: str | None = None) -> CompiledNetwork:
        if name is None:
            return next(iter(self.networks.values()))
        return self.networks[name]


InstanceEmit = Callable[[str, dict, dict], Emission]  # (definition, params, input shapes) -> its code


@dataclass
class _Class:
    lines: list[str]
    info: CompiledNetwork
    helpers: set[str]


def _compile_class(network: Network, registry: Registry, analysis: Analysis, class_name: str,
                   module_level: set[str], instance_emit: InstanceEmit | None = None,
                   definition: str | None = None) -> _Class:
    """One class. instance_emit writes the construction of an instance block (its definition's class);
    definition: the definition's name when this is the body of one (no make_loss, its own docstring)."""
    if not analysis.ok:
        raise CompileError(network.name, analysis.diagnostics)
    inference = analysis.inference
    blocks = network.blocks
    topo = order(network, stable=True).blocks  # stable: same project, same code
    specs = {bid: registry.get(blocks[bid].type) for bid in topo}

    attrs = Namespace()
    local_reserved = Namespace()
    for name in module_level:
        local_reserved.take(name)
    position = {bid: i for i, bid in enumerate(topo)}
    consumers: dict[str, list[str]] = {}
    port_source: dict[str, dict[str, str]] = {}
    for edge in network.edges:
        consumers.setdefault(edge.src, []).append(edge.dst)
        port_source.setdefault(edge.dst, {})[edge.dst_port] = edge.src

    input_blocks = [bid for bid in blocks if specs[bid].role == "input"]
    heads = [bid for bid in blocks if specs[bid].role == "head"]
    end = len(topo)
    # a disabled block passes its input through: it holds no value of its own, so uses of it are
    # uses of the value it passes on (its owner), which must stay alive for them
    owner: dict[str, str] = {}
    for bid in topo:
        if specs[bid].role not in ("input", "head") and not blocks[bid].enabled:
            first = specs[bid].input_ports(inference.params[bid])[0].name
            owner[bid] = owner[port_source[bid][first]]
        else:
            owner[bid] = bid
    # a value dies after its last consumer; heads keep theirs alive until `return`
    last_use = {bid: position[bid] for bid in topo}
    for bid in topo:
        for c in consumers.get(bid, []):
            last_use[owner[bid]] = max(last_use[owner[bid]], end if specs[c].role == "head" else position[c])

    run_of = (_sequential_runs(network, specs, inference, port_source, consumers, definition is not None)
              if instance_emit else {})
    for _prefix, members in {id(r[1]): r for r in run_of.values()}.values():
        src = owner[port_source[members[0]][next(iter(port_source[members[0]]))]]
        last_use[src] = max(last_use[src], position[members[-1]])
    arg_names = [local_reserved.name(blocks[bid].name, key=bid, fallback="inputs") for bid in input_blocks]
    var: dict[str, str] = dict(zip(input_blocks, arg_names))
    live: dict[str, str] = {name: bid for bid, name in var.items()}  # variable -> value it holds
    init_lines: list[str] = []
    forward_lines: list[str] = []
    helpers: set[str] = set()
    module_names: dict[str, str] = {}
    shared: dict[str, str] = {}  # another use of a module -> the block holding it
    line_of: dict[str, int] = {}

    def fresh_local(block_name: str) -> str:
        def free(name: str) -> bool:
            return name not in live and name not in arg_names and local_reserved.is_free(name)

        base = to_identifier(block_name)
        # inside a definition the running value reads `out = ...` while the input x is still needed
        preferred = ["x", "out"] if definition is not None else ["x"]
        candidates = preferred + [base] + [f"{base}_{n}" for n in range(2, len(topo) + 3)]
        return next(name for name in candidates if free(name))

    for bid in topo:
        block, spec = blocks[bid], specs[bid]
        if spec.role == "input":
            continue
        sources = port_source.get(bid, {})
        ports = [p.name for p in spec.input_ports(inference.params[bid])]
        if spec.role == "head" or not block.enabled:
            var[bid] = var[sources[ports[0]]]
            continue
        out_shape = inference.shapes[bid]
        local_name = block.name
        if bid in run_of:
            # instances named layer1.0, layer1.1, ... in a chain: one nn.Sequential, as torchvision writes it
            prefix, members = run_of[bid]
            if bid != members[-1]:
                continue  # its value only feeds the next member, inside the Sequential
            sources = port_source[members[0]]
            ports = list(sources)
            modules = []
            for m in members:
                made = (instance_emit(blocks[m].type, inference.params[m], inference.inputs[m])
                        if is_instance(specs[m]) else
                        specs[m].emit(inference.params[m], inference.inputs[m], inference.shapes[m]))
                helpers.update(made.helpers)
                modules.append(made.module)
            attr = attrs.name(prefix, key=("sequential", prefix))
            one_line = f"        self.{attr} = nn.Sequential({', '.join(modules)})"
            if len(one_line) <= 110:
                init_lines.append(one_line)
            else:  # one member a line, as a person would wrap it
                init_lines += [f"        self.{attr} = nn.Sequential(",
                               *(f"            {m}," for m in modules), "        )"]
            for k, member in enumerate(members):
                module_names[member] = f"{attr}.{k}"
            expr = f"self.{attr}({var[sources[ports[0]]]})"
            local_name = prefix
        else:
            in_vars = {port: var[sources[port]] for port in ports}
            if instance_emit is not None and is_instance(spec):
                emission = instance_emit(block.type, inference.params[bid], inference.inputs[bid])
            else:
                emission = spec.emit(inference.params[bid], inference.inputs[bid], out_shape)
            helpers.update(emission.helpers)
            template_args = dict(in_vars, inputs=", ".join(in_vars[p] for p in ports))
            if emission.module is not None:
                # another use of a shared module calls its owner's submodule, made once (by its first use)
                holder = network.owner_of(bid)
                attr = attrs.name(blocks[holder].name, key=holder)
                if holder not in module_names:
                    module_names[holder] = attr
                    init_lines.append(f"        self.{attr} = {emission.module}")
                if holder != bid:
                    shared[bid] = holder
                template_args["self"] = f"self.{attr}"
            expr = emission.forward.format(**template_args)

        owners = [owner[sources[p]] for p in ports]
        # inside a definition a dead input's name is reused too, so a residual reads x = x + out (nanoGPT,
        # torchvision); a network's inputs (image, text) keep their names
        dying = [src for src in owners if last_use[src] == position[bid]
                 and (specs[src].role != "input" or definition is not None)]
        for src in dict.fromkeys(owners):
            if last_use[src] == position[bid] and live.get(var[src]) == src:
                del live[var[src]]
        # reuse a dead input's name, preferring "x" so chains read x = f(x)
        dying_vars = sorted((var[d] for d in dying), key=lambda name: name != "x")
        out_var = dying_vars[0] if dying_vars else fresh_local(local_name)
        var[bid] = out_var
        live[out_var] = bid
        line_of[bid] = len(forward_lines)
        forward_lines.append(f"        {out_var} = {expr}  # {format_shape(out_shape)}")

    # tied parameters: the tensor of one submodule becomes another's (after both exist)
    for key, source in network.ties.items():
        parts = [split_key(network, k) for k in (key, source)]
        if any(p is None or p[0] not in module_names or not PARAM_PATH.match(p[1]) for p in parts):
            problem = f"tied parameter {key!r} -> {source!r} names no parameter of a block with weights"
            raise CompileError(network.name, [Diagnostic(ERROR, "tie", problem)])
        (tb, tp), (sb, sp) = parts
        init_lines.append(f"        self.{module_names[tb]}.{tp} = self.{module_names[sb]}.{sp}")

    returned = [var[bid] for bid in heads]
    signature = ", ".join(["self", *arg_names])
    arg_doc = ", ".join(f"{n}: {format_shape(inference.shapes[b])}" for n, b in zip(arg_names, input_blocks))
    losses = [specs[h].loss(inference.params[h]) for h in heads]

    lines = [f"class {class_name}(nn.Module):"]
    if definition is not None:
        lines.append(f'    """Block definition {definition} ({len(topo)} blocks)."""')
    else:
        lines.append(f'    """Network {to_identifier(network.name, "model")!r} ({len(topo)} blocks)."""')
    lines.append("")
    lines.append("    def __init__(self):")
    lines.append("        super().__init__()")
    lines.extend(init_lines or ["        pass"])
    lines.append("")
    lines.append(f"    def forward({signature}):")
    lines.append(f"        # {arg_doc}")
    body_start = len(lines)
    lines.extend(forward_lines)
    lines.append(f"        return {', '.join(returned)}")
    if definition is None:
        lines.append("")
        lines.append("    @staticmethod")
        lines.append("    def make_loss():")
        lines.append('        """The training loss of each output, in the order forward() returns them."""')
        loss_exprs = [loss if loss is not None else "None" for loss in losses]
        lines.append(f"        return {', '.join(loss_exprs)}")

    info = CompiledNetwork(
        network=network.name,
        class_name=class_name,
        module_names=module_names,
        input_blocks=input_blocks,
        input_names=arg_names,
        input_shapes=[inference.shapes[b] for b in input_blocks],
        input_types=[blocks[b].type for b in input_blocks],
        output_blocks=heads,
        output_shapes=[inference.shapes[b] for b in heads],
        losses=losses,
        head_types=[blocks[b].type for b in heads],
        lines={bid: body_start + i for bid, i in line_of.items()},  # 0-based within the class
        shared=shared,
    )
    return _Class(lines, info, helpers)


_MEMBER = re.compile(r"(.+)\.(0|[1-9][0-9]{0,5})\Z")


def _sequential_runs(network: Network, specs: dict, inference, port_source: dict[str, dict[str, str]],
                     consumers: dict[str, list[str]], plain: bool) -> dict[str, tuple[str, list[str]]]:
    """Instance blocks named P.0, P.1, ... P.(n-1), each feeding only the next: block id -> (P, members).

    Every member is an enabled instance of a definition with one input, sharing no module and tied to
    nothing; otherwise its prefix stays a row of named attributes. plain: inside a definition, layers
    that are called on their input (a convolution, a batch norm) may be members too, so a shortcut
    written downsample.0, downsample.1 is torchvision's `downsample = nn.Sequential(conv, bn)`."""

    def member(bid: str) -> bool:
        if is_instance(specs[bid]):
            return True
        if not plain or bid not in inference.params or inference.shapes.get(bid) is None:
            return False
        try:
            made = specs[bid].emit(inference.params[bid], inference.inputs.get(bid, {}),
                                   inference.shapes[bid])
        except Exception:  # noqa: BLE001 - a rule failing is reported by the shape checks
            return False
        port = next(iter(inference.inputs.get(bid, {})), None)
        return made.module is not None and made.forward == "{self}({" + str(port) + "})"

    tied = {k.partition(".")[0] for pair in network.ties.items() for k in pair}
    prefixes: dict[str, dict[int, str]] = {}
    for bid, block in network.blocks.items():
        match = _MEMBER.match(block.name)
        if match is not None and bid in specs and member(bid):
            prefixes.setdefault(match.group(1), {})[int(match.group(2))] = bid
    runs: dict[str, tuple[str, list[str]]] = {}
    for prefix, numbered in prefixes.items():
        members = [numbered[i] for i in range(len(numbered)) if i in numbered]
        if len(members) != len(numbered):
            continue
        ok = all(network.blocks[m].enabled and network.blocks[m].shares is None and m not in tied
                 and len(port_source.get(m, {})) == 1 and len(inference.inputs.get(m, {})) == 1
                 and not any(network.blocks[o].shares == m for o in network.blocks)
                 for m in members)
        ok = ok and all(list(port_source[b].values()) == [a] and consumers.get(a) == [b]
                        for a, b in zip(members, members[1:]))
        if ok:
            for m in members:
                runs[m] = (prefix, members)
    return runs


def _imports(body: str) -> list[str]:
    lines = []
    standard = [name for name in ("math", "os") if reads_name(body, name)]
    if standard:
        lines += [f"import {name}" for name in standard] + [""]
    if reads_name(body, "torch"):
        lines.append("import torch")
    if reads_name(body, "F"):
        lines.append("import torch.nn.functional as F")
    lines.append("from torch import nn")
    return lines


def compile_project(project: Project, registry: Registry,
                    analyses: dict[str, Analysis] | None = None) -> CompiledProject:
    """Source for every network of the project, in one module (each block definition one class)."""
    library = project.definitions
    if library:
        registry = registry_for_library(library, registry)
    # a definition's class is named as the user named it; network classes keep off those names
    definition_names = {to_class_name(d.name, "Block") for d in library} if library else set()
    class_names: dict[str, str] = {}
    for net in project.networks:
        wanted = to_class_name(net.name if len(project.networks) > 1 else project.name)
        name = wanted
        n = 2
        while (name in class_names.values() or name in HELPERS or name in EXPORT_CONSTANTS
               or name in definition_names):
            name = f"{wanted}{n}"
            n += 1
        class_names[net.name] = name
    module_level = set(class_names.values()) | set(HELPERS) | definition_names
    analysed = {}
    for net in project.networks:
        analysis = (analyses or {}).get(net.name) or analyse(net, registry)
        if not analysis.ok:
            raise CompileError(net.name, analysis.diagnostics)
        analysed[net.name] = analysis
    instance_emit = None
    definition_chunks: list[list[str]] = []
    definition_helpers: set[str] = set()
    if library:
        def compile_body(body, inference, class_name, emit):
            cls = _compile_class(body, registry, Analysis(body, inference, list(inference.diagnostics)),
                                 class_name, module_level, instance_emit=emit, definition=class_name)
            return cls.lines, cls.helpers, cls.info.module_names

        taken = set(class_names.values()) | set(HELPERS) | set(EXPORT_CONSTANTS)
        built = build_definitions(library, registry, [(net, analysed[net.name].inference)
                                                       for net in project.networks], compile_body, taken)
        instance_emit, definition_chunks, definition_helpers = built.emit, built.chunks, built.helpers
    classes = []
    for net in project.networks:
        classes.append(_compile_class(net, registry, analysed[net.name], class_names[net.name], module_level,
                                      instance_emit=instance_emit))

    helper_names = sorted(set().union(definition_helpers, *(c.helpers for c in classes)))
    chunks: list[list[str]] = [HELPERS[h].strip("\n").splitlines() for h in helper_names]
    chunks += definition_chunks
    n_before_classes = len(chunks)
    chunks += [c.lines for c in classes]
    body_lines: list[str] = []
    for chunk in chunks:
        body_lines += ["", "", *chunk]
    body = "\n".join(body_lines)
    summary = []
    for c in classes:
        ins = ", ".join(f"{n} {format_shape(s)}" for n, s in zip(c.info.input_names, c.info.input_shapes))
        outs = ", ".join(format_shape(s) for s in c.info.output_shapes)
        summary.append(f"    {c.info.class_name}: {ins} -> {outs}")
    header = [
        f'"""PyTorch model{"s" if len(classes) > 1 else ""} generated by {GENERATOR}.',
        "",
        *[line.rstrip() for line in summary],
        "",
        "B is the batch size. This is plain PyTorch: read it, change it, train it anywhere.",
        '"""',
        "",
        *_imports(body),
    ]
    source = "\n".join(header) + "\n" + body + "\n"
    # turn per-class line indexes into 1-based lines of the whole file:
    # every chunk is preceded by two blank lines
    running = len(header) + 1
    infos = {}
    for chunk_index, chunk in enumerate(chunks):
        running += 2
        class_pos = chunk_index - n_before_classes
        if class_pos >= 0:
            info = classes[class_pos].info
            info.lines = {bid: running + ln for bid, ln in info.lines.items()}
            infos[info.network] = info
        running += len(chunk)
    return CompiledProject(source, infos)


def compile_network(network: Network, registry: Registry, name: str = "Model") -> CompiledProject:
    """Convenience: compile a lone network as a one-network project."""
    project = Project(name=name, networks=[network])
    if network.library is not None:  # an instance block's definition lives in its project
        project.definitions = network.library
    return compile_project(project, registry)

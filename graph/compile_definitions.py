"""Each block definition becomes one nn.Module class, instantiated with its parameters.

compile_project hands this module the analysed networks. Every use of a
definition (an instance, at any depth of nesting) is one *context*: the
definition's body with that instance's bound settings and input shapes. Each
context's body is compiled like a network (graph.compiler._compile_class),
leaves of the nesting first, so an inner instance is written as the call of
its class. The contexts' sources have the same statements and differ only
in literal values (64 in one, 128 in another): a literal equal in all of them
stays as it is; one that differs becomes a parameter of `__init__`, named
after the definition's exposed parameter whose values it equals (`channels`),
the input's size (`in_channels`), or the argument it fills (`stride`); a
forward() literal is kept as an attribute. A literal in the module of an
inner block that an exposed parameter binds, equal to that parameter in
every context, is written as the parameter too, so even a definition used
once reads `nn.Conv2d(channels, channels, ...)`. Every name stands for
exactly its values in every context, so each instance computes what its
own body would. Contexts whose statements differ (a layer that writes other
code for other shapes) get a class each: Name, Name2, ...
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph.definitions import Instance, dependency_order, input_ports, rule_of
from graph.model import Definitions, Network
from graph.pycode import RESERVED, Namespace, Raw, call, to_class_name
from graph.spec import Emission, Registry

# the positional arguments of common constructors, to name a literal that differs between instances
_POSITIONAL = {
    **{f"nn.{k}": ("in_channels", "out_channels", "kernel_size") for k in (
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")},
    "nn.Linear": ("in_features", "out_features"),
    **{f"nn.{k}": ("num_features",) for k in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
                                              "InstanceNorm1d", "InstanceNorm2d")},
    "nn.LayerNorm": ("normalized_shape",),
    "nn.GroupNorm": ("num_groups", "num_channels"),
    "nn.Embedding": ("num_embeddings", "embedding_dim"),
    **{f"nn.{k}": ("input_size", "hidden_size", "num_layers") for k in ("LSTM", "GRU", "RNN")},
    "nn.MultiheadAttention": ("embed_dim", "num_heads"),
    "nn.Dropout": ("p",),
}


@functools.cache
def _helper_positional() -> dict[str, tuple[str, ...]]:
    """The __init__ arguments of the helper classes (SelfAttention(dim, heads, ...)), from their source."""
    from graph.helpers_src import HELPERS

    out: dict[str, tuple[str, ...]] = {}
    for name, source in HELPERS.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                out.setdefault(name, tuple(a.arg for a in node.args.args[1:]))
    return out


# constructor arguments that are sizes: an exposed size parameter (channels) fills them in the blocks it binds
_SIZE_HINTS = frozenset({"in_channels", "out_channels", "in_features", "out_features", "num_features",
                         "normalized_shape", "num_channels", "embedding_dim", "input_size", "hidden_size",
                         "embed_dim", "dim"})
_SIZE_PARAMS = frozenset({"channels", "features", "hidden_size", "dim"})


def context_key(params: dict[str, Any], ins: dict[str, Any]) -> tuple:
    return (tuple(sorted(params.items())), tuple(sorted(ins.items())))


@dataclass
class _Variant:
    class_name: str
    contexts: list[tuple]  # context keys
    args: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    values: dict[tuple, list[Any]] = field(default_factory=dict)  # context key -> __init__ arguments


@dataclass
class DefinitionClasses:
    """The classes of every used definition and how each instance constructs its class."""

    chunks: list[list[str]]  # class source lines, leaves of the nesting first
    helpers: set[str]
    by_context: dict[tuple[str, tuple], tuple[str, list[Any]]]  # (definition, key) -> (class, args)
    order: dict[str, list[str]]  # definition -> its input port names (forward argument order)
    signatures: dict[str, tuple[str, ...]] = field(default_factory=dict)  # class -> __init__ arguments

    def emit(self, definition: str, params: dict[str, Any], ins: dict[str, Any]) -> Emission:
        class_name, args = self.by_context[definition, context_key(dict(params), dict(ins))]
        values = [Raw(repr(v)) if isinstance(v, list) else v for v in args]
        ports = ", ".join("{" + port + "}" for port in self.order[definition])
        return Emission(call(class_name, *values), "{self}(" + ports + ")")


def gather(networks: list[tuple[Network, Any]], registry: Registry) -> dict[str, dict[tuple, Instance]]:
    """Every context of every definition reached from these (network, inference) pairs."""
    found: dict[str, dict[tuple, Instance]] = {}
    stack = list(networks)
    while stack:
        network, inference = stack.pop(0)
        for bid, block in network.blocks.items():
            rule = rule_of(registry, block.type)
            if rule is None or not block.enabled or inference.shapes.get(bid) is None:
                continue
            params, ins = inference.params[bid], inference.inputs.get(bid, {})
            key = context_key(params, ins)
            contexts = found.setdefault(block.type, {})
            if key in contexts:
                continue
            instance = rule.instance(params, ins)
            contexts[key] = instance
            stack.append((instance.body, instance.inference))
    return found


CompileBody = Callable[[Network, Any, str, Callable], tuple[list[str], set[str], dict[str, str]]]


def build(library: Definitions, registry: Registry, networks: list[tuple[Network, Any]],
          compile_body: CompileBody, taken: set[str]) -> DefinitionClasses:
    """Classes for the definitions the networks use; `taken`: module-level names to keep off (updated)."""
    contexts = gather(networks, registry)
    out = DefinitionClasses([], set(), {}, {})
    for definition in dependency_order(library):
        if definition.name not in contexts:
            continue
        out.order[definition.name] = [definition.body.blocks[b].name for b in input_ports(definition)]
        wanted = to_class_name(definition.name, "Block")
        sources = []
        for key, instance in contexts[definition.name].items():
            lines, helpers, attrs = compile_body(instance.body, instance.inference, wanted, out.emit)
            out.helpers |= helpers
            sources.append((key, instance, lines, attrs))
        for variant_index, group in enumerate(_group(sources, out.signatures)):
            name = wanted if variant_index == 0 else f"{wanted}{variant_index + 1}"
            while name in taken or name in RESERVED:
                name += "_"
            taken.add(name)
            variant = _template(definition, group, name)
            out.chunks.append(variant.lines)
            out.signatures[name] = tuple(variant.args)
            for key in variant.contexts:
                out.by_context[definition.name, key] = (name, variant.values[key])
    return out


# ---------------------------------------------------------------- literals


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)) and isinstance(node.ctx, ast.Load):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_literal(node.operand)
    return False


@dataclass
class _Atom:
    node: ast.expr
    function: str  # "__init__" or "forward"
    attr: str | None  # the submodule an __init__ statement assigns (self.<attr> = ...)
    hint: str | None  # the keyword or positional argument it fills


def _atoms(tree: ast.AST, positional: dict[str, tuple[str, ...]]) -> tuple[list[_Atom], str]:
    """The literals of a class (docstrings left out), in a fixed order, and its skeleton without them."""
    atoms: list[_Atom] = []
    parts: list[str] = []

    def visit(node: ast.AST, function: str, attr: str | None, hint: str | None, callee: str | None) -> None:
        parts.append(type(node).__name__)
        for name, value in ast.iter_fields(node):
            items = value if isinstance(value, list) else [value]
            parts.append(f"{name}[")
            for position, item in enumerate(items):
                if not isinstance(item, ast.AST):
                    parts.append(repr(item))
                    continue
                if isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant):
                    parts.append(repr(ast.dump(item)))  # a docstring
                    continue
                fn, at, hi, ca = function, attr, hint, callee
                if isinstance(item, ast.FunctionDef):
                    fn = item.name
                if isinstance(item, ast.Assign) and len(item.targets) == 1:
                    target = item.targets[0]
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id == "self"):
                        at = target.attr
                if isinstance(node, ast.Call) and name == "args":
                    names = (positional.get(callee or "", ()) or _POSITIONAL.get(callee or "", ())
                             or _helper_positional().get(callee or "", ()))
                    hi = names[position] if position < len(names) else None
                if isinstance(item, ast.keyword):
                    hi = item.arg
                if isinstance(item, ast.Call):
                    ca = ast.unparse(item.func)
                if isinstance(item, ast.expr) and _is_literal(item):
                    atoms.append(_Atom(item, fn, at, hi))
                    parts.append("#")
                    continue
                visit(item, fn, at, hi, ca)
            parts.append("]")

    visit(tree, "", None, None, None)
    return atoms, " ".join(parts)


def _group(sources: list, positional: dict[str, tuple[str, ...]]) -> list[list]:
    """Contexts whose classes have the same statements (only literals differ), in first-seen order."""
    groups: dict[str, list] = {}
    for key, instance, lines, attrs in sources:
        text = "\n".join(lines)
        tree = ast.parse(text)
        atoms, skeleton = _atoms(tree, positional)
        groups.setdefault(f"{len(lines)}:{skeleton}", []).append((key, instance, lines, attrs, atoms))
    return list(groups.values())


def _feature_dims(instance: Instance) -> dict[str, int]:
    """'in_channels' (or 'in_features', '<port>_channels' with several inputs) -> the size it has."""
    out = {}
    several = len(instance.inputs) > 1
    for port, shape in instance.inputs.items():
        if not shape:
            continue
        size, word = (shape[0], "channels") if len(shape) == 3 else (shape[-1], "features")
        out[f"{port}_{word}" if several else f"in_{word}"] = size
    return out


def _template(definition, group: list, class_name: str) -> _Variant:
    keys = [entry[0] for entry in group]
    instances = [entry[1] for entry in group]
    first_lines, first_attrs, first_atoms = group[0][2], group[0][3], group[0][4]
    variant = _Variant(class_name, keys)
    exposed = [p.name for p in definition.params]
    exposed_vectors = {name: [inst.params.get(name) for inst in instances] for name in exposed}
    dims = [_feature_dims(inst) for inst in instances]
    dim_vectors = {name: [d.get(name) for d in dims] for name in dims[0] if name not in exposed}
    bound_attrs: dict[str, set[str]] = {}  # exposed parameter -> submodules of the blocks it binds
    bound_hints: dict[str, set[tuple[str, str]]] = {}  # exposed parameter -> (submodule, inner setting)
    for p in definition.params:
        for bind in p.binds:
            block_id, _, inner = bind.partition(".")
            attr = first_attrs.get(block_id)
            if attr:  # a member of an nn.Sequential (downsample.0) is written in its statement
                attr = attr.partition(".")[0]
                bound_attrs.setdefault(p.name, set()).add(attr)
                bound_hints.setdefault(p.name, set()).add((attr, inner))

    size_params = [p for p in exposed if any(inner in _SIZE_PARAMS for _, inner in bound_hints.get(p, ()))]

    def fills(p: str, atom: _Atom) -> bool:
        """Whether the literal is where the setting that `p` binds appears in its block's code."""
        return any(attr == atom.attr and (atom.hint == inner
                                          or (atom.hint in _SIZE_HINTS and inner in _SIZE_PARAMS))
                   for attr, inner in bound_hints.get(p, ()))
    submodules = set(first_attrs.values())
    names = Namespace(RESERVED | submodules)
    for name in [*exposed, *dim_vectors]:  # a derived argument never takes these names
        names.take(name)
    stored_as: dict[str, str] = {}  # a name forward() reads -> the attribute holding it
    derived: dict[str, list[Any]] = {}  # derived argument -> its values per context
    replace: dict[int, str] = {}  # atom index -> the name written in its place
    stored: list[str] = []  # names forward() reads as self.<name>
    for index, atom in enumerate(first_atoms):
        vector = [ast.literal_eval(entry[4][index].node) for entry in group]
        constant = all(v == vector[0] and type(v) is type(vector[0]) for v in vector)
        chosen = None
        if constant:
            if atom.function == "__init__" and atom.attr is not None:
                chosen = next((p for p in exposed if fills(p, atom) and _same(exposed_vectors[p], vector)),
                              None)
                if chosen is None and atom.hint in _SIZE_HINTS:  # a size: the input's, or a size parameter
                    chosen = next((p for p in size_params if _same(exposed_vectors[p], vector)), None)
                    if chosen is None and atom.hint.startswith("in"):
                        chosen = next((d for d in dim_vectors if _same(dim_vectors[d], vector)), None)
        else:
            bound = [p for p in exposed if atom.attr in bound_attrs.get(p, ())]
            chosen = next((p for p in bound + exposed if _same(exposed_vectors[p], vector)), None)
            if chosen is None:
                chosen = next((d for d in dim_vectors if _same(dim_vectors[d], vector)), None)
            if chosen is None:
                chosen = next((d for d, values in derived.items() if _same(values, vector)), None)
            if chosen is None:
                chosen = names.name(atom.hint or f"{atom.attr or 'value'}_arg", fallback="value")
                derived[chosen] = vector
        if chosen is None:
            continue
        if chosen in dim_vectors and chosen not in derived:
            names.take(chosen)
            derived[chosen] = dim_vectors[chosen]
        if atom.function == "forward":
            if chosen not in stored_as:  # never over a submodule of the same name
                stored_as[chosen] = chosen if chosen not in submodules else names.name(f"{chosen}_value")
                stored.append(chosen)
            replace[index] = f"self.{stored_as[chosen]}"
        else:
            replace[index] = chosen
    # torchvision's order: the input's size first (BasicBlock(inplanes, planes, stride)), then the rest
    dims_used = [d for d in derived if d in dim_vectors]
    # an exposed parameter the class never reads (a dropout of 0.0 the layer's code leaves out) is no
    # argument: passing it another value would change nothing, so the signature does not offer it
    read = {name for name in replace.values() if not name.startswith("self.")} | set(stored)
    args = dims_used + [p for p in exposed if p in read] + [
        d for d in derived if d not in exposed and d not in dim_vectors]
    variant.args = args
    for position, (key, inst) in enumerate(zip(keys, instances)):
        variant.values[key] = [inst.params.get(a) if a in exposed else derived[a][position] for a in args]
    variant.lines = _rewrite(first_lines, first_atoms, replace, group, args,
                             [(stored_as[n], n) for n in stored], class_name)
    try:
        ast.parse("\n".join(variant.lines))
    except SyntaxError as err:  # a bug here, never the user's doing: said plainly, not as a traceback
        from graph.compiler import CompileError
        from graph.diagnostics import ERROR, Diagnostic

        raise CompileError(definition.name, [Diagnostic(
            ERROR, "definition", f"the class of definition {definition.name!r} could not be written "
            f"({err.msg} at line {err.lineno}); please report this with the project file")]) from None
    return variant


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x == y and type(x) is type(y) for x, y in zip(a, b))


def _comments(lines: list[str]) -> list[tuple[int, int, str]]:
    out = []
    for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if token.type == tokenize.COMMENT:
            out.append((token.start[0] - 1, token.start[1], token.string))
    return out


def _rewrite(lines: list[str], atoms: list[_Atom], replace: dict[int, str], group: list,
             args: list[str], stored: list[tuple[str, str]], class_name: str) -> list[str]:
    raw = [line.encode() for line in lines]
    # comments (shape comments) that differ between contexts say nothing true of the class: dropped
    mine = _comments(lines)
    others = [_comments(entry[2]) for entry in group[1:]]
    cut: dict[int, int] = {}
    for i, (row, col, text) in enumerate(mine):
        if any(i >= len(o) or o[i][2] != text for o in others):
            cut[row] = len(lines[row][:col].rstrip().encode())
    edits = sorted(((atoms[i].node.lineno - 1, atoms[i].node.col_offset, atoms[i].node.end_col_offset, name)
                    for i, name in replace.items()), reverse=True)
    for row, start, end, name in edits:
        raw[row] = raw[row][:start] + name.encode() + raw[row][end:]
        if row in cut and start < cut[row]:
            cut[row] += len(name.encode()) - (end - start)
    out = [(raw[row][:cut[row]] if row in cut else raw[row]).decode() for row in range(len(raw))]
    out = [line for row, line in enumerate(out) if not (row in cut and not line.strip())]
    out[0] = f"class {class_name}(nn.Module):"
    init = next(i for i, line in enumerate(out) if line.strip() == "def __init__(self):")
    out[init] = f"    def __init__({', '.join(['self', *args])}):"
    stores = [f"        self.{attr} = {name}" for attr, name in stored]
    out[init + 2:init + 2] = stores
    if stores and out[init + 2 + len(stores)].strip() == "pass":
        del out[init + 2 + len(stores)]
    return out

"""`deepwire blocks [TYPE ...] [--json]`: every block type a project file may use, from the block registry.

    deepwire blocks                  all block types by category: id, title, ports, parameters
    deepwire blocks Conv2d LSTM      only these (names as in a project file's "type")
    deepwire blocks --json           the same as data, e.g. for an editor or a script writing projects

Everything printed comes from the one declaration of each block type
(graph/blocks), the same one the palette, inspector and compiler read, so
this list is the file format's vocabulary. Never imports torch.
Exit codes: 0 listed, 2 a named type is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from graph.params import Param
from graph.spec import BlockSpec, Registry

FORMAT = "deepwire-blocks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("types", nargs="*", metavar="TYPE", help="only these block types (e.g. Conv2d)")
    parser.add_argument("--json", action="store_true", help="print the block types as JSON")


def describe_param(param: Param) -> dict[str, Any]:
    """One parameter as data: what a project file's "params" may hold for it."""
    entry: dict[str, Any] = {"name": param.name, "kind": param.kind, "default": _plain(param.default),
                             "help": param.help}
    if param.kind == "str":
        entry["max_length"] = int(param.maximum or 4096)
    else:
        if param.minimum is not None:
            entry["minimum"] = param.minimum
        if param.maximum is not None:
            entry["maximum"] = param.maximum
    if param.choices:
        entry["choices"] = list(param.choices)
    if param.specials:
        entry["also"] = list(param.specials)
    if param.kind == "tuple":
        entry["length"] = list(param.length)
        if param.allow_minus_one:
            entry["minus_one_infers"] = True
    return entry


def describe_block(spec: BlockSpec) -> dict[str, Any]:
    """One block type as data: id, title, category, role, help, parameters and ports."""
    entry: dict[str, Any] = {
        "type": spec.type_id, "version": spec.version, "title": spec.title, "category": spec.category,
        "role": spec.role, "help": spec.help,
        "params": [describe_param(p) for p in spec.params],
        "inputs": [{"name": p.name, "help": p.help, "ranks": list(p.ranks) if p.ranks else None}
                   for p in spec.input_ports()],
        "output": "out" if spec.has_output else None,
    }
    if spec.variadic:
        # the inputs are in1..inN, N being this parameter (the list above is for its default)
        entry["inputs_from_param"] = spec.variadic
    support = _deploy(spec)
    if support is not None:  # derived by exporting the type (graph/deploy_support.json)
        entry["deploy"] = support["support"]
        if support.get("variants"):
            entry["deploy_variants"] = support["variants"]
    return entry


def _deploy(spec: BlockSpec) -> dict[str, Any] | None:
    from graph.deploy import support_table

    return support_table()["blocks"].get(spec.type_id)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _number(bound: float | None) -> str:
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _bounds(param: Param) -> str:
    if param.kind == "choice":
        return "one of " + ", ".join(param.choices)
    if param.kind == "bool":
        return ""
    if param.kind == "str":
        return f"text, at most {int(param.maximum or 4096)} characters"
    lo, hi = param.minimum, param.maximum
    text = ""
    if lo is not None or hi is not None:
        text = f"{_number(lo)}..{_number(hi)}"
    if param.kind == "tuple":
        count = f"{param.length[0]}-{param.length[1]}" if param.length[0] != param.length[1] \
            else str(param.length[0])
        text = f"{count} whole numbers" + (f" in {text}" if text else "")
        if param.allow_minus_one:
            text += ", -1 infers one"
    if param.specials:
        text += (", " if text else "") + "or " + ", ".join(repr(s) for s in param.specials)
    return text


def _text(specs: list[BlockSpec]) -> str:
    lines: list[str] = []
    category = None
    for spec in specs:
        if spec.category != category:
            category = spec.category
            lines.append(f"{'' if not lines else chr(10)}== {category} ==")
        ports = ", ".join(p.name for p in spec.input_ports()) or "none"
        if spec.variadic:
            ports = f"in1..inN (N = {spec.variadic})"
        output = "out" if spec.has_output else "none (a head: its loss trains the network)"
        lines.append(f"{spec.type_id}  ({spec.title}, {spec.role})")
        lines.append(f"  {spec.help}")
        lines.append(f"  inputs: {ports}   output: {output}")
        support = _deploy(spec)
        if support is not None:
            good = [t for t, v in support["support"].items() if v is True]
            bad = [t for t, v in support["support"].items() if v is not True]
            lines.append(f"  deploys to: {', '.join(good) or 'none'}"
                         + (f"; not to: {', '.join(bad)}" if bad else "")
                         + "".join(f"; with {k}: not {', '.join(v)}"
                                   for k, v in support.get("variants", {}).items()))
        for p in spec.params:
            bounds = _bounds(p)
            lines.append(f"    {p.name}: {p.kind} = {json.dumps(_plain(p.default))}"
                         + (f"  [{bounds}]" if bounds else "") + (f"  {p.help}" if p.help else ""))
    return "\n".join(lines)


def _pick(registry: Registry, names: list[str]) -> list[BlockSpec] | None:
    if not names:
        return list(registry)
    from graph.project_read import unknown_type_message

    specs = []
    for name in names:
        if name not in registry:
            print(f"deepwire: {unknown_type_message(name, registry)}", file=sys.stderr)
            return None
        specs.append(registry.get(name))
    return specs


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry

    registry = default_registry()
    specs = _pick(registry, args.types)
    if specs is None:
        return 2
    if args.json:
        print(json.dumps({"format": FORMAT, "count": len(specs),
                          "blocks": [describe_block(s) for s in specs]}, indent=2))
        return 0
    print(_text(specs))
    if not args.types:
        print(f"\n{len(specs)} block types. In a project file a block is "
              '{"id": ..., "type": TYPE, "params": {NAME: VALUE}}; parameters left out take their default.')
    return 0

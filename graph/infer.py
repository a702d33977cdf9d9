"""Shape inference: a visitor over the topological walk.

For every block it checks the parameters, gathers the input shapes and calls
the block's shape rule. A failing block gets shape None and one diagnostic;
blocks downstream of it get None silently, so one mistake gives one message.
Rule results are memoised on (type, params, input shapes), so re-running
after a single edit only re-evaluates what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.diagnostics import ERROR, Diagnostic, Fix
from graph.model import Block, Edge, Network
from graph.params import ParamError
from graph.spec import BlockSpec, Registry, Shape, ShapeError
from graph.walk import Order, order, walk


@dataclass
class Inference:
    """Everything shape inference learned about one network."""

    shapes: dict[str, Shape | None]  # block id -> output shape (a head: the shape it receives)
    inputs: dict[str, dict[str, Shape]]  # block id -> port -> shape received
    params: dict[str, dict[str, Any]]  # block id -> validated parameters
    diagnostics: list[Diagnostic]
    order: Order


def block_label(spec: BlockSpec | None, block: Block) -> str:
    """How messages name a block: "Conv 2D 'conv1'"."""
    title = spec.title if spec else block.type
    return f"{title} '{block.name}'"


def check_block_params(spec: BlockSpec, raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validated params (defaults where a value is bad) and (param, message) for each problem."""
    problems: list[tuple[str, str]] = []
    known = {p.name for p in spec.params}
    for name in raw:
        if name not in known:
            problems.append((name, f"has no parameter '{name}'"))
    values: dict[str, Any] = {}
    for p in spec.params:
        if p.name not in raw:
            values[p.name] = p.default
            continue
        try:
            values[p.name] = p.check(raw[p.name])
        except ParamError as err:
            problems.append((p.name, str(err)))
            values[p.name] = p.default
    return values, problems


@dataclass
class ShapeCache:
    """Memo of rule results; reuse one across edits of the same network."""

    rules: dict[tuple, tuple[Shape | None, ShapeError | None]] = field(default_factory=dict)
    params: dict[tuple, tuple[dict[str, Any], list[tuple[str, str]]]] = field(default_factory=dict)

    def check_params(self, spec: BlockSpec, raw: dict[str, Any]):
        try:
            key = (spec.type_id, tuple(raw.items()))
            hash(key)
        except TypeError:  # unhashable junk (a list from a file): no memo
            return check_block_params(spec, raw)
        hit = self.params.get(key)
        if hit is None:
            hit = self.params[key] = check_block_params(spec, raw)
        return hit

    def run_rule(self, spec: BlockSpec, params: dict[str, Any], ins: dict[str, Shape]):
        key = (spec.type_id, tuple(params.items()), tuple(sorted(ins.items())))
        hit = self.rules.get(key)
        if hit is None:
            try:
                hit = (tuple(spec.infer(params, ins)), None)
            except ShapeError as err:
                hit = (None, err)
            if len(self.rules) > 100_000:
                self.rules.clear()
            self.rules[key] = hit
        return hit


def infer(network: Network, registry: Registry, cache: ShapeCache | None = None,
          walk_order: Order | None = None) -> Inference:
    cache = cache or ShapeCache()
    walk_order = walk_order or order(network)
    result = Inference({}, {}, {}, [], walk_order)
    diags = result.diagnostics
    net = network.name

    def report(block: Block, code: str, message: str, port=None, param=None, fix=None):
        diags.append(Diagnostic(ERROR, code, message, block.id, port, param, net, fix))

    incoming: dict[str, dict[str, Edge]] = {}
    for edge in network.edges:
        incoming.setdefault(edge.dst, {})[edge.dst_port] = edge

    def visit(block: Block, upstream: dict[str, Shape | None]) -> Shape | None:
        if block.type not in registry:
            report(block, "unknown_type", f"'{block.name}' has unknown block type '{block.type}'")
            result.shapes[block.id] = None
            return None
        spec = registry.get(block.type)
        label = block_label(spec, block)
        params, problems = cache.check_params(spec, block.params)
        result.params[block.id] = params
        for param, message in problems:
            report(block, "param", f"{label}: {message}", param=param)
        ports = spec.input_ports(params)
        port_names = {p.name for p in ports}
        for port in upstream:
            if port not in port_names:
                report(block, "bad_port", f"{label} has no input '{port}'; remove that wire", port=port)
        missing = [p.name for p in ports if p.name not in upstream]
        for port in missing:
            what = f"input '{port}'" if len(ports) > 1 else "input"
            report(block, "unconnected", f"{label}: its {what} is not connected; wire a block into it",
                   port=port)
        ins = {p.name: upstream[p.name] for p in ports if p.name in upstream}
        result.inputs[block.id] = {k: v for k, v in ins.items() if v is not None}
        if problems or missing or any(v is None for v in ins.values()):
            result.shapes[block.id] = None
            return None
        if not block.enabled and spec.role == "layer":
            if len(ins) != 1:
                report(block, "disabled", f"{label} has several inputs and cannot be disabled")
                result.shapes[block.id] = None
                return None
            shape = next(iter(ins.values()))
            result.shapes[block.id] = shape
            return shape
        shape, err = cache.run_rule(spec, params, ins)
        if err is not None:
            fix = None
            if err.fix and err.port in incoming.get(block.id, {}):
                fix = Fix(f"Insert {err.fix}", err.fix, incoming[block.id][err.port],
                          tuple(err.fix_params.items()))
            report(block, "shape" if err.param is None else "param", f"{label} {err}",
                   port=err.port, param=err.param, fix=fix)
        result.shapes[block.id] = shape
        return shape

    walk(network, visit, walk_order)
    for block_id in walk_order.blocked:
        result.shapes[block_id] = None
    return result

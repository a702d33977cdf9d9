"""Shape inference: a visitor over the topological walk.

For every block it checks the parameters, gathers the input shapes and calls
the block's shape rule. A failing block gets shape None and one diagnostic;
blocks downstream of it get None silently, so one mistake gives one message.
Rule results are memoised on (type, params, input shapes), so re-running
after a single edit only re-evaluates what changed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from graph.definitions import InnerShapeError, registry_for
from graph.diagnostics import ERROR, Diagnostic, Fix, set_params_fix
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
class _BlockResult:
    shape: Shape | None
    inputs: dict[str, Shape]
    params: dict[str, Any] | None
    diagnostics: list[Diagnostic]


@dataclass
class ShapeCache:
    """Memo of earlier results; reuse one across edits of the same network.

    `blocks` remembers each block's last result with everything it depended
    on (type, name, params, enabled, wires, input shapes): a block whose
    signature is unchanged after an edit is not visited again, so one edit
    costs little more than a walk over the ids. `rules` memoises shape rules
    across blocks with equal parameters and inputs.
    """

    rules: dict[tuple, tuple[Shape | None, ShapeError | None]] = field(default_factory=dict)
    blocks: dict[str, tuple[tuple, _BlockResult]] = field(default_factory=dict)

    def run_rule(self, spec: BlockSpec, params: dict[str, Any], ins: dict[str, Shape]):
        try:
            key = (spec.type_id, tuple(params.items()), tuple(sorted(ins.items())))
            # an instance's rule depends on its definition's body: it memoises itself (graph.definitions)
            hit = None if "definition" in spec.tags else self.rules.get(key)
        except TypeError:  # unhashable values: no memo
            key, hit = None, None
        if hit is None:
            try:
                hit = (tuple(spec.infer(params, ins)), None)
            except ShapeError as err:
                hit = (None, err)
            if key is not None and "definition" not in spec.tags:
                if len(self.rules) > 100_000:
                    self.rules.clear()
                self.rules[key] = hit
        return hit


def _visit(block: Block, upstream: dict[str, Shape | None], wires: dict[str, Edge],
           registry: Registry, cache: ShapeCache, net: str) -> _BlockResult:
    """Check one block and run its shape rule; every problem becomes a diagnostic."""
    diags: list[Diagnostic] = []

    def report(code: str, message: str, port=None, param=None, fix=None, inside=()):
        diags.append(Diagnostic(ERROR, code, message, block.id, port, param, net, fix, inside))

    if block.type not in registry:
        report("unknown_type", f"'{block.name}' has unknown block type '{block.type}'")
        return _BlockResult(None, {}, None, diags)
    spec = registry.get(block.type)
    label = block_label(spec, block)
    params, problems = check_block_params(spec, block.params)
    for param, message in problems:
        report("param", f"{label}: {message}", param=param)
    ports = spec.input_ports(params)
    port_names = {p.name for p in ports}
    for port in upstream:
        if port not in port_names:
            report("bad_port", f"{label} has no input '{port}'; remove that wire", port=port)
    missing = [p.name for p in ports if p.name not in upstream]
    for port in missing:
        what = f"input '{port}'" if len(ports) > 1 else "input"
        report("unconnected", f"{label}: its {what} is not connected; wire a block into it", port=port)
    ins = {p.name: upstream[p.name] for p in ports if p.name in upstream}
    known = {k: v for k, v in ins.items() if v is not None}
    blocked = problems or missing or len(known) < len(ins)
    # A placeholder (an imported operation with no block) refuses whatever it receives, so it
    # speaks even below another problem: an import shows every unsupported operation at once.
    if blocked and not ("placeholder" in spec.tags and not problems):
        return _BlockResult(None, known, params, diags)
    if not block.enabled and spec.role == "layer":
        if len(ins) != 1:
            report("disabled", f"{label} has several inputs and cannot be disabled")
            return _BlockResult(None, known, params, diags)
        return _BlockResult(next(iter(ins.values())), known, params, diags)
    shape, err = cache.run_rule(spec, params, ins)
    if err is not None:
        fix = None
        if err.fix and err.port in wires:
            fix = Fix(f"Insert {err.fix}", err.fix, wires[err.port], tuple(err.fix_params.items()))
        elif err.set_params:
            fix = set_params_fix(block.id, err.set_params)
        if isinstance(err, InnerShapeError):  # names the inner block, the definition and this instance
            report("shape", f"{label}: {err.describe(block.name)}", port=err.port, inside=err.path)
        else:
            report("shape" if err.param is None else "param", f"{label} {err}",
                   port=err.port, param=err.param, fix=fix)
    return _BlockResult(shape, known, params, diags)


def infer(network: Network, registry: Registry, cache: ShapeCache | None = None,
          walk_order: Order | None = None) -> Inference:
    cache = cache or ShapeCache()
    registry = registry_for(network, registry)  # the project's definitions are block types too
    stamp = registry.stamp  # an edit of a definition changes every instance: nothing cached survives it
    walk_order = walk_order or order(network)
    result = Inference({}, {}, {}, [], walk_order)
    remembered = cache.blocks
    fresh: dict[str, tuple[tuple, _BlockResult]] = {}

    def visit(block: Block, upstream: dict[str, Shape | None], wires: dict[str, Edge]) -> Shape | None:
        outcome = _remembered_visit(block, upstream, wires, registry, cache, network.name, remembered, fresh,
                                    stamp)
        result.shapes[block.id] = outcome.shape
        result.inputs[block.id] = outcome.inputs
        if outcome.params is not None:
            result.params[block.id] = outcome.params
        result.diagnostics.extend(outcome.diagnostics)
        return outcome.shape

    walk(network, visit, walk_order)
    cache.blocks = fresh  # forget removed blocks
    for block_id in walk_order.blocked:
        result.shapes[block_id] = None
    return result


def _remembered_visit(block: Block, upstream: dict[str, Shape | None], wires: dict[str, Edge],
                      registry: Registry, cache: ShapeCache, net: str,
                      remembered: dict[str, tuple[tuple, _BlockResult]],
                      fresh: dict[str, tuple[tuple, _BlockResult]], stamp: object) -> _BlockResult:
    """The block's result, from `remembered` when nothing it depends on changed; recorded in `fresh`.
    stamp: the registry's stamp of the project's definitions (an edit of one changes every instance)."""
    signature = (block.type, block.name, block.enabled, tuple(block.params.items()),
                 tuple(wires.items()), tuple(upstream.items()), net, stamp)
    hit = remembered.get(block.id)
    outcome = hit[1] if hit is not None and hit[0] == signature else _visit(block, upstream, wires, registry,
                                                                           cache, net)
    fresh[block.id] = (signature, outcome)
    return outcome


def infer_changed(network: Network, registry: Registry, cache: ShapeCache, previous: Inference,
                  dirty: set[str], rank: dict[str, int]) -> tuple[Inference, set[str]]:
    """Inference after edits that changed only the settings, names or switches of the `dirty` blocks
    (no block or wire came or went since `previous`, made with the same cache): those blocks are
    visited again, then, in topological order, every block whose input shapes changed, and no other.
    An edit deep in a 10,000-block network costs what the blocks it reaches cost.

    Returns the new inference (`previous` is left as it was) and the ids of the blocks visited."""
    result = Inference(dict(previous.shapes), dict(previous.inputs), dict(previous.params), [],
                       previous.order)
    registry = registry_for(network, registry)
    remembered = cache.blocks
    pending = [(rank[bid], bid) for bid in dirty if bid in rank]
    heapq.heapify(pending)
    queued = {bid for _, bid in pending}
    visited: set[str] = set()
    while pending:
        _, bid = heapq.heappop(pending)
        block = network.blocks[bid]
        wires = network.wires_into(bid)
        upstream = {port: result.shapes.get(e.src) for port, e in wires.items()}
        before = result.shapes.get(bid)
        outcome = _remembered_visit(block, upstream, wires, registry, cache, network.name, remembered,
                                    remembered, registry.stamp)
        visited.add(bid)
        result.shapes[bid] = outcome.shape
        result.inputs[bid] = outcome.inputs
        if outcome.params is not None:
            result.params[bid] = outcome.params
        else:
            result.params.pop(bid, None)
        if outcome.shape != before:
            for edge in network.edges_from(bid):
                if edge.dst not in queued and edge.dst in rank:
                    queued.add(edge.dst)
                    heapq.heappush(pending, (rank[edge.dst], edge.dst))
    # the diagnostics in walk order, as a full inference lists them: the blocks that had some, and those
    # visited now (every inference diagnostic names its block)
    speaking = {d.block for d in previous.diagnostics} | visited
    for bid in sorted(speaking, key=lambda b: rank.get(b, -1)):
        hit = remembered.get(bid)
        if hit is not None and hit[1].diagnostics:
            result.diagnostics.extend(hit[1].diagnostics)
    return result, visited

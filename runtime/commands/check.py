"""`deepwire check PROJECT`: every block's output shape and parameter count, then the problems.

With deploy targets (the project's `deploy_targets`, or `--target int8` instead) the problems
include a warning for each block a target cannot take (graph/deploy.py).

Never imports torch: shapes and parameter counts come from the block
declarations, so checking a project is instant. Exit codes: 0 valid,
1 the project has errors, 2 the file could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from graph.definitions import registry_for
from graph.diagnostics import ERROR, WARNING, Diagnostic, set_params_fix
from graph.infer import block_label
from graph.model import Network, Project
from graph.shapes import format_shape
from graph.sharing import counts_weights, tied_counts
from graph.spec import Registry
from graph.validate import Analysis, analyse

EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="a .dw.json project file, or the name of a bundled example")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    parser.add_argument("--target", action="append", metavar="TARGET", default=None,
                        help="a deploy target to check the blocks against instead of the project's own: "
                             "onnx13, onnx17, onnx, torch-export, int8 or the preset mobile "
                             "(repeat it, or separate by commas)")


def open_project(arg: str, registry: Registry) -> tuple[Project, Path] | None:
    """Load the project a command names (a path or an example name).

    On failure print why on stderr and return None (the caller exits with 2).
    """
    from graph.examples import ProjectNotFoundError, resolve_project
    from graph.project_io import ProjectFileError, load_project

    try:
        path = resolve_project(arg)
        return load_project(path, registry), path
    except (ProjectNotFoundError, ProjectFileError) as err:
        print(f"deepwire: {err}", file=sys.stderr)
    except OSError as err:
        print(f"deepwire: {arg}: cannot read the file ({err.strerror or err})", file=sys.stderr)
    return None


@dataclass
class Row:
    """One line of the table."""

    block: str
    name: str
    type: str
    shape: str
    params: int | None  # None: unknown because the block has a problem
    enabled: bool
    frozen: bool = False  # transfer learning: its weights are kept fixed while training


def block_rows(network: Network, registry: Registry, analysis: Analysis) -> list[Row]:
    """Rows in the order data flows (topological), then any blocks stuck in a loop."""
    inference = analysis.inference
    visited = set(inference.order.blocks)
    registry = registry_for(network, registry)  # an instance of a definition is a block type too
    order = list(inference.order.blocks) + [b for b in network.blocks if b not in visited]
    rows = []
    tied = tied_counts(network, registry, inference)
    for block_id in order:
        block = network.blocks[block_id]
        shape = inference.shapes.get(block_id)
        count: int | None = None
        if block.type in registry and shape is not None:
            spec = registry.get(block.type)
            if not block.enabled or spec.role != "layer" or not counts_weights(network, block_id):
                count = 0  # another use of a shared module counts nothing: its holder counts the weights
            else:
                count = int(spec.count(inference.params[block_id], inference.inputs[block_id], shape))
                count -= tied.get(block_id, 0)  # a tied tensor counts once, at the block it belongs to
        rows.append(Row(block_id, block.name, block.type, format_shape(shape), count, block.enabled,
                        block.frozen))
    return rows


# input block type -> the input kind a data source must provide (NoiseInput takes no data)
DATA_INPUT_KINDS = {"ImageInput": "image", "SequenceInput": "sequence", "VectorInput": "vector",
                    "TokenInput": "tokens"}


def data_diagnostics(project: Project, registry: Registry, analyses: dict[str, Analysis],
                     base_dir: Path | None = None) -> list[Diagnostic]:
    """Does the data source fit each network that reads it? Errors name both shapes.

    Uses the source's cheap probe (constants, a file header), never loading the data.
    """
    try:
        from runtime.data import DataError, probe
    except ImportError:  # a trimmed install without the data package: shapes are still checked
        return []
    diagnostics: list[Diagnostic] = []
    if not project.data.chosen:
        return diagnostics  # no data yet: a notice (data_notice), not a problem of the project
    from runtime.data.registry import augment_problem

    refused = augment_problem(project.data.source, project.training.augment)  # image flips on sounds
    if refused:
        diagnostics.append(Diagnostic(ERROR, "data", refused, param="augment"))
    recipe = project.training.recipe
    if recipe == "seq2seq" and project.networks:
        diagnostics += _seq2seq_diagnostics(project, registry, analyses, base_dir)
    for net in project.networks:
        inference = analyses[net.name].inference
        data_inputs = [b for b in net.blocks.values() if b.type in DATA_INPUT_KINDS]
        if len(data_inputs) != 1 or inference.shapes.get(data_inputs[0].id) is None:
            continue  # no data input (a generator), several, or already broken: nothing to compare
        block = data_inputs[0]
        label = block_label(registry.get(block.type), block)
        try:
            found = probe(project.data, inference.shapes[block.id], DATA_INPUT_KINDS[block.type], recipe,
                          base_dir)
        except DataError as err:
            diagnostics.append(Diagnostic(ERROR, "data", f"{label}: {err}", block.id, network=net.name))
            continue
        diagnostics += _class_count_diagnostics(project, registry, net, inference, found)
    return diagnostics


def _seq2seq_diagnostics(project, registry, analyses, base_dir) -> list[Diagnostic]:
    """A seq2seq network reads two Token ids inputs (the source, then the answer so far) and its data
    gives text pairs: said before training, on the network."""
    from runtime.data import DataError, probe

    net = project.networks[0]
    registry = registry_for(net, registry)  # an instance of a definition is a block type too
    inputs = [b for b in net.blocks.values() if registry.get(b.type).role == "input"]
    tokens = [b for b in inputs if b.type == "TokenInput"]
    if len(tokens) != 2 or len(inputs) != 2:
        found = ", ".join(f"'{b.name}' ({b.type})" for b in inputs) or "none"
        return [Diagnostic(ERROR, "data", f"the seq2seq recipe needs exactly two Token ids inputs, the "
                           f"source text first and the answer so far second; network '{net.name}' has "
                           f"{found}", network=net.name)]
    shape = analyses[net.name].inference.shapes.get(tokens[0].id)
    if shape is None:
        return []
    try:
        probe(project.data, shape, "tokens", "seq2seq", base_dir)
    except DataError as err:
        label = block_label(registry.get(tokens[0].type), tokens[0])
        return [Diagnostic(ERROR, "data", f"{label}: {err}", tokens[0].id, network=net.name)]
    return []


def data_notice(project: Project) -> str | None:
    """What to say about a project that has no data yet (an imported model), or None."""
    if project.data.chosen:
        return None
    from runtime.data.registry import NO_DATA_MESSAGE

    return NO_DATA_MESSAGE


def _class_count_diagnostics(project, registry, net, inference, found) -> list[Diagnostic]:
    """Heads with fewer classes than the data has (or token inputs with a smaller vocabulary)."""
    if found.num_classes is None:
        return []
    source = project.data.source
    diagnostics = []
    for block in net.blocks.values():
        params = inference.params.get(block.id)
        if params is None or block.type not in ("ClassificationHead", "SegmentationHead", "TokenInput"):
            continue
        label = block_label(registry.get(block.type), block)
        if block.type in ("ClassificationHead", "SegmentationHead"):
            have, what = params["classes"], "classes"
        else:
            have, what = params["vocab_size"], "vocab_size"
        words = "token ids" if found.target_kind == "tokens" else "classes"
        if have < found.num_classes:
            diagnostics.append(Diagnostic(
                ERROR, "data", f"{label} has {what} {have} but data source '{source}' has "
                f"{found.num_classes} {words}: set {what} to {found.num_classes}"
                + ((" (and the convolution before it to as many channels)" if block.type == "SegmentationHead"
                    else " (and the layer before it to as many features)") if what == "classes" else ""),
                block.id, param=what, network=net.name,
                fix=set_params_fix(block.id, {what: found.num_classes})))
        elif have > found.num_classes and what == "classes":
            diagnostics.append(Diagnostic(
                WARNING, "data", f"{label} has {have} classes but data source '{source}' has only "
                f"{found.num_classes}: the extra outputs are never right; set classes to {found.num_classes}",
                block.id, param=what, network=net.name,
                fix=set_params_fix(block.id, {what: found.num_classes})))
    return diagnostics


def _cell(text: str, width: int = 40) -> str:
    """A name as one short table cell: line breaks and tabs become spaces, long names are cut."""
    text = " ".join(text.split()) or "(unnamed)"
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: list[Row]) -> list[str]:
    header = ("Block", "Type", "Output shape", "Params")
    cells = [(_cell(r.name) + ("" if r.enabled else " (disabled)") + (" (frozen)" if r.frozen else ""),
              r.type, r.shape,
              "?" if r.params is None else f"{r.params:,}") for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]

    def line(values):
        left = "  ".join(v.ljust(w) for v, w in zip(values[:3], widths[:3]))
        return f"  {left}  {values[3].rjust(widths[3])}"

    rule = "  " + "-" * (sum(widths) + 2 * (len(widths) - 1))
    return [line(header), rule, *(line(c) for c in cells), rule]


def _diagnostic_lines(diagnostics: list[Diagnostic]) -> list[str]:
    lines = []
    for d in diagnostics:
        lines.append(f"  {d.severity:<7}  {d.message}")
        if d.fix is not None:
            lines.append(f"           quick fix: {d.fix.title}")
    return lines


def _as_json(project: Project, results: list[tuple[Network, list[Row]]],
             diagnostics: list[Diagnostic], notices: list[str], targets: list[str]) -> str:
    return json.dumps({
        "project": project.name,
        "deploy_targets": targets,
        "ok": not any(d.is_error for d in diagnostics),
        "networks": [{
            "name": net.name,
            "blocks": [{"id": r.block, "name": r.name, "type": r.type, "shape": r.shape,
                        "params": r.params, "enabled": r.enabled, "frozen": r.frozen} for r in rows],
            "total_params": sum(r.params or 0 for r in rows),
        } for net, rows in results],
        "diagnostics": [{"severity": d.severity, "code": d.code, "network": d.network, "block": d.block,
                         "port": d.port, "param": d.param, "message": d.message,
                         "fix": d.fix.title if d.fix else None} for d in diagnostics],
        "notices": notices,
    }, indent=2, ensure_ascii=False)


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry

    registry = default_registry()
    opened = open_project(args.project, registry)
    if opened is None:
        return EXIT_UNREADABLE
    project, path = opened
    from graph.deploy import DeployTargetError, check_targets, deploy_diagnostics

    try:
        targets = check_targets([t.strip() for arg in args.target for t in arg.split(",") if t.strip()]
                                if args.target else project.deploy_targets)
    except DeployTargetError as err:
        print(f"deepwire: --target: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    analyses = {net.name: analyse(net, registry, base_dir=path.parent) for net in project.networks}
    results = [(net, block_rows(net, registry, analyses[net.name])) for net in project.networks]
    diagnostics = [d for net in project.networks for d in analyses[net.name].diagnostics]
    diagnostics += data_diagnostics(project, registry, analyses, base_dir=path.parent)
    for net in project.networks:
        diagnostics += deploy_diagnostics(net, registry, targets)
    # errors first, so a long list still starts with what must be fixed
    diagnostics.sort(key=lambda d: d.severity != ERROR)
    errors = sum(d.is_error for d in diagnostics)

    notice = data_notice(project)
    if args.json:
        print(_as_json(project, results, diagnostics, [notice] if notice else [], targets))
        return EXIT_ERRORS if errors else EXIT_OK

    data = project.data.source if project.data.chosen else "none yet"
    print(f"{_cell(project.name, 80)}  (data: {data}, recipe: {project.training.recipe})")
    for net, rows in results:
        print()
        print(f"Network '{_cell(net.name, 80)}'")
        print("\n".join(_table(rows)))
        total = sum(r.params or 0 for r in rows)
        unknown = " (some unknown: fix the errors below)" if any(r.params is None for r in rows) else ""
        frozen = sum(r.params or 0 for r in rows if r.frozen and r.enabled)
        kept = f" ({frozen:,} frozen, {total - frozen:,} trained)" if frozen else ""
        print(f"  Total parameters: {total:,}{kept}{unknown}")
    print()
    if targets:
        where = "--target" if args.target else "the project's deploy_targets"
        print(f"Deploy targets: {', '.join(targets)} (from {where})")
        print()
    if notice:
        print(f"notice: {notice}")
        print()
    warnings = len(diagnostics) - errors
    if not diagnostics:
        print("No problems found.")
        return EXIT_OK
    print(f"{errors} error(s), {warnings} warning(s):")
    print("\n".join(_diagnostic_lines(diagnostics)))
    return EXIT_ERRORS if errors else EXIT_OK

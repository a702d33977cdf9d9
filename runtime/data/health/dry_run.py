"""The dry run: would this data go through the network? Which block would refuse it?

Shape inference (graph/infer.py) runs on a copy of each network whose data
input block is set to the shape the data really has (the most common image
size and mode, the table's feature count); the first block in data-flow
order whose shape rule refuses is named with its message. Separately, the
source's own fitting (`fit_shape`) says whether training accepts the data
for the block as declared: image folders are resized to the block, so a
different image size is a warning there; a table or an array whose values
do not fit is an error, as training would stop.
"""

from __future__ import annotations

from graph.infer import block_label, infer
from graph.shapes import format_shape
from runtime.data.base import DataError
from runtime.data.health.report import ERROR, WARNING, DryRun, Report
from runtime.data.source import Natural, fit_shape

# data input block type -> (the input kind it takes, its shape parameters in order)
INPUT_BLOCKS = {"ImageInput": ("image", ("channels", "height", "width")),
                "SequenceInput": ("sequence", ("length", "features")),
                "VectorInput": ("vector", ("features",)),
                "TokenInput": ("tokens", ("length",))}


def _data_inputs(network):
    return [b for b in network.blocks.values() if b.type in INPUT_BLOCKS]


def _first_refusal(network, registry, input_id: str):
    """(block, diagnostic) of the first error in data-flow order, or None."""
    inference = infer(network, registry)
    for diagnostic in inference.diagnostics:
        if diagnostic.is_error and diagnostic.block is not None:
            return network.blocks.get(diagnostic.block), diagnostic
    return None


def _shape(shape) -> str:
    return format_shape(tuple(shape)) if shape is not None else "unknown"


def dry_run(report: Report, project, registry, natural: Natural | None, data_shape) -> None:
    """Append one DryRun (and its problems) per network that reads the data."""
    recipe_nets = project.networks
    for network in recipe_nets:
        inputs = _data_inputs(network)
        if len(inputs) != 1:
            continue  # a generator (noise in) or several inputs: the data does not feed it alone
        block = inputs[0]
        spec = registry.get(block.type) if block.type in registry else None
        label = block_label(spec, block)
        kind, names = INPUT_BLOCKS[block.type]
        declared_inference = infer(network, registry)
        declared = declared_inference.shapes.get(block.id)
        fed, refused = None, None
        if natural is not None and declared is not None:
            try:
                fed, _ = fit_shape(natural, project.data.source, tuple(declared), kind)
            except DataError as exc:
                refused = str(exc)
        shape = tuple(data_shape) if data_shape is not None and len(data_shape) == len(names) else fed
        if kind in ("tokens",) or (natural is not None and natural.flexible == "length"):
            shape = fed  # the length comes from the network: only the fitted shape means anything
        run = DryRun(network.name, block.id, block.name, block.type,
                     tuple(declared) if declared is not None else None,
                     tuple(data_shape) if data_shape is not None else None, fed, False, "")
        report.dry_runs.append(run)
        where = {"block": block.id, "network": network.name}
        own = _first_refusal(network, registry, block.id)
        if own is not None:
            bad, diagnostic = own
            run.failing = {"id": bad.id, "name": bad.name, "type": bad.type, "message": diagnostic.message}
            run.message = (f"the network fails on its own declared input {_shape(declared)} at "
                           f"{bad.name!r}: {diagnostic.message}")
            report.problem(ERROR, "network", f"network '{network.name}': {run.message} (see deepwire check)",
                           block=bad.id, network=network.name)
            continue
        if refused is not None:
            run.message = f"{label}: {refused}"
            report.problem(ERROR, "input_mismatch", f"{label}: training refuses this data: {refused}",
                           **where)
        trial_failure = None
        if shape is not None and declared is not None and tuple(shape) != tuple(declared):
            trial = network.copy()
            trial.set_params(block.id, {**block.params, **dict(zip(names, (int(d) for d in shape)))})
            trial_failure = _first_refusal(trial, registry, block.id)
        if trial_failure is not None:
            bad, diagnostic = trial_failure
            run.failing = {"id": bad.id, "name": bad.name, "type": bad.type, "message": diagnostic.message}
            at = (f"with samples of {_shape(shape)}, block '{bad.name}' ({bad.type}) fails: "
                  f"{diagnostic.message}")
            if refused is None:  # training resizes the images to the block: it runs, but say it
                run.fits = True
                run.message = (f"the images are {_shape(shape)}, resized to the input block's "
                               f"{_shape(declared)} for training; {at}")
                report.problem(WARNING, "resized", run.message, block=bad.id, network=network.name)
            else:
                run.message += f"; {at}"
                report.problem(ERROR, "shape", f"network '{network.name}': {at}", block=bad.id,
                               network=network.name)
            continue
        if refused is not None:
            if shape is not None:
                run.message += (f"; with the input block set to {_shape(shape)} every block's shape rule "
                                "accepts it")
            continue
        run.fits = True
        if shape is not None and declared is not None and tuple(shape) != tuple(declared):
            run.message = (f"the samples are {_shape(shape)}, resized to the input block's "
                           f"{_shape(declared)}; the network accepts both")
            report.problem(WARNING, "resized", f"{label}: {run.message}", **where)
        else:
            run.message = f"the samples {_shape(fed or shape)} fit {label} and every block after it"

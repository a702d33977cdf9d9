"""One import from start to finish: find the model, convert it, check it, write the project.

`run_import(spec, out, ...)` is what `deepwire import` and the studio's
File > Import call. It returns an ImportReport: the blocks made per type,
the problems (operations that became Unsupported blocks, blocks whose
shapes do not fit), the largest difference between the imported model's
outputs and the original's on one random batch (the imported weights loaded),
and the files written. It raises ModelImportError when nothing could be imported.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from graph.diagnostics import ERROR
from graph.model import Definitions
from graph.spec import Registry
from graph.validate import analyse
from runtime.importing.fx_import import InputSpec, ModelImportError, example_inputs, import_module
from runtime.importing.network_builder import ImportedNetwork, Problem
from runtime.importing.project_writer import (
    build_project,
    checkpoint_by_block,
    load_block_weights,
    project_paths,
    write,
)
from runtime.importing.source import Candidate, default_input_shape, find_models, split_spec

CHECK_BATCH = 3  # differs from the tracing batch, so a batch size frozen into the graph shows up
HEADS = {"classification": "ClassificationHead", "binary": "BinaryHead", "regression": "RegressionHead",
         "output": "Output"}


@dataclass
class NetworkReport:
    name: str
    source: str  # e.g. "model.py:SmallNet"
    blocks: Counter
    problems: list[Problem]
    errors: list[str]  # other diagnostics that stop the network compiling
    max_abs_diff: float | None = None  # None: not compared (it does not compile yet)
    matches: bool | None = None  # every output within export's tolerance (absolute + relative)


@dataclass
class ImportReport:
    project_path: Path
    weights_path: Path
    networks: list[NetworkReport]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # a NaN difference: not compared (no onnxruntime), which is no problem of the import
        return all(not n.problems and not n.errors and n.max_abs_diff is not None
                   and (math.isnan(n.max_abs_diff) or bool(n.matches)) for n in self.networks)


def parse_shapes(texts: list[str]) -> tuple[tuple[int, ...] | None, dict[str, tuple[int, ...]]]:
    """--input-shape values: "1,28,28" (the only or first input) or "name=1,28,28"."""
    unnamed, named = None, {}
    for text in texts or []:
        name, _, sizes = text.rpartition("=")
        parts = [p for p in re.split(r"[,x\s()]+", sizes) if p]
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise ModelImportError(f"--input-shape {text!r}: give whole numbers without the batch, "
                                "e.g. 3,32,32 or image=3,32,32") from None
        if not shape or min(shape) < 1:
            raise ModelImportError(f"--input-shape {text!r}: sizes must be 1 or more, without the batch")
        if name:
            named[name.strip()] = shape
        else:
            unnamed = shape
    return unnamed, named


def _input_specs(candidate: Candidate, unnamed, named) -> list[InputSpec]:
    parameters = [p for p in inspect.signature(candidate.model.forward).parameters.values()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    specs = []
    for i, p in enumerate(parameters):
        shape = named.get(p.name) or (unnamed if i == 0 else None) or candidate.input_shapes.get(p.name)
        if shape is None and i == 0:
            shape = default_input_shape(candidate)
        if shape is None:
            if p.default is not p.empty:
                continue  # an optional argument: traced at its default
            raise ModelImportError(f"{candidate.label}: no input shape for '{p.name}': give it with "
                                f"--input-shape {'' if i == 0 else p.name + '='}SIZES without the batch, "
                                "e.g. --input-shape 1,28,28")
        specs.append(InputSpec(p.name, tuple(shape)))
    return specs


def _load_weights(model: nn.Module, path: str) -> None:
    """--weights into the module being imported; a bad file raises WeightsFileError (exit code 2)."""
    from runtime.export import read_state, weights_for
    from runtime.weights_file import WeightsFileError, fit_state

    state = weights_for(read_state(path), ["model"], path)["model"]
    try:
        fit_state(model, state, path)
    except WeightsFileError:
        raise
    except Exception as err:  # a module's own checks of its version (fit_state catches torch's own)
        reason = str(err).splitlines()[0] if str(err) else ""
        raise ModelImportError(f"--weights {path}: the model does not take these weights: "
                               f"{type(err).__name__}: {reason}") from None


def _compare(original: nn.Module, imported: nn.Module, inputs: list[InputSpec]) -> float:
    generator = torch.Generator().manual_seed(0)
    batch = example_inputs(inputs, CHECK_BATCH, generator)
    original.eval()
    imported.eval()
    with torch.no_grad():
        want, got = original(*batch), imported(*batch)
    want = tuple(want) if isinstance(want, (tuple, list)) else (want,)
    got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
    return output_difference(want, got)


def output_difference(want, got) -> tuple[float, bool]:
    """The largest absolute difference, and whether every value is within export's tolerance.

    The tolerance is absolute plus relative (|got - want| <= ATOL + RTOL |want|), as `deepwire
    export` checks: outputs near 458 differ by 1e-4 from float rounding alone.
    """
    from runtime.export_project import ATOL, RTOL

    want = [torch.as_tensor(w) for w in want]
    got = [torch.as_tensor(g) for g in got]
    if len(want) != len(got) or any(tuple(w.shape) != tuple(g.shape) for w, g in zip(want, got)):
        return float("inf"), False
    worst, within = 0.0, True
    for w, g in zip(want, got):
        w, g = w.double(), g.double()
        diff = torch.where(torch.isnan(w - g), torch.inf, (w - g).abs())
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        within = within and bool((diff <= ATOL + RTOL * w.abs()).all())
    return worst, within


def run_import(spec: str, out: str | Path, registry: Registry, input_shapes: list[str] | None = None,
               head: str | None = None, weights: str | None = None, flat: bool = False) -> ImportReport:
    """Import the model named by spec (a .py/.onnx file or package:name) into a project at out.

    The model's module classes become block definitions (runtime/importing/module_classes.py) unless
    `flat`: then every call is a plain block."""
    if spec.lower().endswith(".onnx"):
        from runtime.importing.onnx_import import import_onnx_file

        return import_onnx_file(Path(spec), out, registry, head, flat=flat)
    unnamed, named = parse_shapes(input_shapes or [])
    candidates = find_models(spec)
    if weights is not None:
        if len(candidates) != 1:
            raise ModelImportError("--weights needs a single model; name one as FILE.py:NAME")
        _load_weights(candidates[0].model, weights)
    imported: list[ImportedNetwork] = []
    specs: list[list[InputSpec]] = []
    library = None if flat else Definitions()
    for candidate in candidates:
        inputs = _input_specs(candidate, unnamed, named)
        heads = (HEADS[head], {}) if head is not None else candidate.heads
        network, _ = import_module(candidate.model, inputs, heads, registry, candidate.network, library)
        imported.append(network)
        specs.append(inputs)
    names = [c.cls.__name__ for c in candidates]
    stem = Path(split_spec(spec)[0]).stem if len(candidates) > 1 else _snake(names[0])
    project_path, weights_path = project_paths(out, stem)
    sources = ", ".join(c.label for c in candidates)
    project, suggested = build_project(names[0] if len(candidates) == 1 else stem, imported, registry,
                                        weights_path.name, f"Imported from {sources} by 'deepwire import'.",
                                        library)
    reports, checkpoint = check_import(project, imported, [c.label for c in candidates], registry,
                                       [_runner(c.model, i) for c, i in zip(candidates, specs)])
    write(project, checkpoint or checkpoint_by_block(imported), project_path, weights_path)
    notes = [note for c in candidates for note in c.notes] + [note for n in imported for note in n.notes]
    notes.append(data_note(project, suggested, imported, registry, project_path))
    return ImportReport(project_path, weights_path, reports, notes)


def data_note(project, suggested, imported: list[ImportedNetwork], registry: Registry,
              project_path: Path | None = None) -> str:
    """What the import says about data: the project has none yet; how to give it some."""
    from runtime.importing.project_writer import only_plain_outputs

    if project.training.recipe != "gan" and only_plain_outputs(imported, registry):
        return ("the outputs end in plain Output heads (no loss is known): import again with --head "
                "classification|regression|binary, or change the head in the studio, then choose the data")
    where = project_path.name if project_path is not None else "PROJECT"
    if suggested is not None:
        return (f"no training data yet: pick your data in the studio's Data panel, or train with "
                f"'deepwire train {where} --data SOURCE[:NAME=VALUE,...]' (the bundled "
                f"'{suggested.source}' set fits this network: --data {suggested.source})")
    return ("no training data yet: pick your data (csv, image_folder, arrays, ...) in the studio's Data "
            f"panel, or train with 'deepwire train {where} --data SOURCE[:NAME=VALUE,...]'")


def _runner(model: nn.Module, inputs: list[InputSpec]):
    """A function comparing an imported network with the original module."""
    return lambda rebuilt: _compare(model, rebuilt, inputs)


def check_import(project, imported: list[ImportedNetwork], labels: list[str], registry: Registry,
                 compare) -> tuple[list[NetworkReport], dict | None]:
    """Per-network reports and, when everything compiles, the compiled model's checkpoint.

    compare: one function per network taking the rebuilt model (imported weights loaded) and
    returning output_difference() to the original (or NaN when it cannot compare).
    """
    reports = []
    for net_import, label in zip(imported, labels):
        analysis = analyse(net_import.network, registry)
        problem_blocks = {p.block for p in net_import.problems}
        errors = [d.message for d in analysis.diagnostics
                  if d.severity == ERROR and d.block not in problem_blocks]
        counts = flat_counts(net_import.network, project.definitions)
        reports.append(NetworkReport(net_import.network.name, label, counts, list(net_import.problems),
                                     errors))
    if any(r.problems or r.errors for r in reports):
        return reports, None
    from runtime.build import build_models
    from runtime.train.checkpoint import make_checkpoint

    models, compiled = build_models(project, registry)
    module_names = {name: info.module_names for name, info in compiled.networks.items()}
    weight_problems = load_block_weights(models, module_names, imported)
    for report, run in zip(reports, compare):
        report.errors.extend(weight_problems)
        if not weight_problems:
            result = run(models[report.name])  # (difference, within tolerance), or NaN: not compared
            report.max_abs_diff, report.matches = result if isinstance(result, tuple) else (result, None)
    if weight_problems:
        return reports, None
    return reports, make_checkpoint(models, module_names, 0, 0, {})


def flat_counts(network, definitions) -> Counter:
    """Block types of a network with every definition instance counted as the blocks inside it (and
    the ports left out): what the import covers, the same whether module classes became definitions."""
    from graph.definitions import PORT_TYPES

    counts: Counter = Counter()
    for block in network.blocks.values():
        if block.type in definitions:
            counts += flat_counts(definitions.get(block.type).body, definitions)
        elif block.type not in PORT_TYPES:
            counts[block.type] += 1
    return counts


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or "model"

"""Export a whole project in one format, then check the files against the in-app model.

`export_project` builds the models from the compiled source (seeded with the
project's seed, or loaded with trained weights), writes the artefacts, and
`verify_export` loads each artefact the way a user would (importing the
Python file, onnxruntime, torch.export.load) and compares its outputs with
the in-app model on one random batch of a batch size not used for tracing.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from graph.compiler import CompiledProject, compile_project
from graph.model import Project
from graph.spec import Registry
from runtime.build import build_models
from runtime.export import (
    ExportError,
    as_tuple,
    export_onnx,
    export_python,
    export_torch_program,
    export_weights,
    load_weights,
    quiet_exporters,
    read_state,
    sample_inputs,
    vocab_sizes,
    weights_for,
)

FORMATS = ("python", "script", "onnx", "torch-export")
SUFFIXES = {"python": ".py", "script": ".py", "onnx": ".onnx", "torch-export": ".pt2"}
VERIFY_BATCH = 3  # differs from the tracing batch, so a frozen batch size shows up as a failure
ATOL, RTOL = 1e-4, 1e-4


@dataclass
class Artefact:
    """One written file. network is None for a file holding every network (python, script)."""

    path: Path
    kind: str  # "python", "script", "onnx", "torch-export", "weights" or "data" (the script's .npz)
    network: str | None = None


@dataclass
class Exported:
    """What export_project wrote, plus the models it exported (eval mode) for checking."""

    format: str
    artefacts: list[Artefact]
    models: dict[str, nn.Module]
    compiled: CompiledProject
    networks: list[str]  # the networks exported, in project order
    project: Project = field(repr=False, default=None)


@dataclass
class Comparison:
    network: str
    path: Path
    max_abs_diff: float
    ok: bool
    note: str = ""


def prepare_models(project: Project, registry: Registry, weights: str | Path | None = None,
                   networks: list[str] | None = None) -> tuple[dict[str, nn.Module], CompiledProject]:
    """Models built from the compiled source: seeded fresh weights, or the checkpoint's."""
    compiled = compile_project(project, registry)
    torch.manual_seed(project.seed)
    models, compiled = build_models(project, registry, compiled)
    if weights is not None:
        wanted = networks or list(models)
        states = weights_for(read_state(weights), wanted, str(weights))
        for name in wanted:
            load_weights(models[name], states[name], name, str(weights))
    for model in models.values():
        model.eval()
    return models, compiled


def export_project(project: Project, registry: Registry, fmt: str, out: str | Path,
                   weights: str | Path | None = None, network: str | None = None, force: bool = False,
                   project_path: str | Path | None = None) -> Exported:
    """Write the project in format `fmt` to `out` (per-network files for onnx and torch-export).

    Before anything is written the targets are checked (runtime.export_targets): never over a
    file the export reads (`project_path`, the weights, the data), never two networks into one
    file, never into a missing folder, and over another existing file only with `force`.
    Each file is written to a temporary name and renamed when complete.
    """
    from runtime.export_targets import check, inputs_of, plan

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    names = [net.name for net in project.networks]
    if network is not None:
        if network not in names:
            raise ExportError(f"project '{project.name}' has no network '{network}' "
                              f"(it has: {', '.join(names)})")
        names = [network]
    targets = plan(fmt, out, names, weights is not None)
    check(targets, inputs_of(project, project_path, weights), force)
    models, compiled = prepare_models(project, registry, weights, names)
    artefacts: list[Artefact] = []
    for target in targets:
        if target.kind == "python":
            export_python(project, registry, target.path)
        elif target.kind == "script":
            from runtime.export_script import write_training_script

            data_file = next(t.path for t in targets if t.kind == "data")
            write_training_script(project, registry, target.path, data_file)
        elif target.kind == "data":
            continue  # written with the script, listed after it
        elif target.kind == "weights":
            export_weights(models[target.network], target.path)
        else:
            info = compiled.network(target.network)
            example = sample_inputs(info, vocab_sizes=vocab_sizes(project, target.network))
            writer = export_onnx if fmt == "onnx" else export_torch_program
            writer(models[target.network], info, target.path, example)
        artefacts.append(Artefact(target.path, target.kind, target.network))
        if target.kind == "script":  # the script's data, already split and normalised
            artefacts += [Artefact(t.path, "data") for t in targets if t.kind == "data"]
    return Exported(fmt, artefacts, models, compiled, names, project)


# --- loading artefacts back ---------------------------------------------------------------

def import_module_from(path: Path):
    """Import a .py file under a fresh module name, without running its `if __name__ == "__main__"`."""
    name = f"deepwire_export_{uuid.uuid4().hex[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _run_artefact(artefact: Artefact, exported: Exported, network: str,
                  inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    info = exported.compiled.network(network)
    if artefact.kind in ("python", "script"):
        module = import_module_from(artefact.path)
        cls = getattr(module, info.class_name, None)
        if cls is None:
            raise ExportError(f"{artefact.path}: has no class {info.class_name} for network '{network}'")
        model = cls()
        model.load_state_dict(exported.models[network].state_dict())
        model.eval()
        with torch.no_grad():
            return as_tuple(model(*inputs))
    if artefact.kind == "torch-export":
        with quiet_exporters():
            program = torch.export.load(str(artefact.path))
        with torch.no_grad():
            return as_tuple(program.module()(*inputs))
    if artefact.kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(artefact.path), providers=["CPUExecutionProvider"])
        feed = {name: x.numpy() for name, x in zip(info.input_names, inputs)}
        return tuple(torch.from_numpy(y) for y in session.run(None, feed))
    raise ExportError(f"{artefact.path}: nothing to compare for a {artefact.kind} file")


def _max_diff(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> tuple[float, bool]:
    if len(got) != len(want):
        return float("inf"), False
    worst, ok = 0.0, True
    for g, w in zip(got, want):
        if tuple(g.shape) != tuple(w.shape):
            return float("inf"), False
        g, w = g.double(), w.double()
        diff = (g - w).abs()
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        ok = ok and bool((diff <= ATOL + RTOL * w.abs()).all())
    return worst, ok


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def verify_export(exported: Exported, seed: int = 0) -> list[Comparison]:
    """Outputs of every written model file versus the in-app model, on one random batch each."""
    results = []
    generator = torch.Generator().manual_seed(seed)
    for artefact in exported.artefacts:
        if artefact.kind in ("weights", "data"):
            continue
        networks = [artefact.network] if artefact.network else exported.networks
        for network in networks:
            info = exported.compiled.network(network)
            if artefact.kind == "onnx" and not onnxruntime_available():
                results.append(Comparison(network, artefact.path, float("nan"), True,
                                          "not checked: pip install onnxruntime to check ONNX files"))
                continue
            inputs = sample_inputs(info, VERIFY_BATCH, vocab_sizes(exported.project, network), generator)
            with torch.no_grad():
                want = as_tuple(exported.models[network](*inputs))
            got = _run_artefact(artefact, exported, network, inputs)
            worst, ok = _max_diff(got, want)
            results.append(Comparison(network, artefact.path, worst, ok))
    return results

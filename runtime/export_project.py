"""Export a whole project in one format, then check the files against the in-app model.

`export_project` builds the models from the compiled source (seeded with the
project's seed, or loaded with trained weights), writes the artefacts, and
`verify_export` loads each artefact the way a user would (importing the
Python file, onnxruntime, torch.export.load) and compares its outputs with
the in-app model on one random batch of a batch size not used for tracing.

Trained weights are exported only with the network they were trained on:
`run_weights` takes a run folder or a checkpoint in one, and refuses it when
the run's project snapshot has a different network (graph.network_match);
`prepare_models` then refuses weights whose keys or shapes do not fit the
built model, naming the first few, before anything is written.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from graph.compiler import CompiledProject, compile_project
from graph.model import Project
from graph.network_match import describe_differences, network_differences
from graph.spec import Registry
from runtime.build import build_models
from runtime.export import (
    ExportError,
    WeightsFileError,
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
from runtime.nonfinite import all_finite, find_nonfinite
from runtime.parity import BlockParity, BlockReport
from runtime.preprocessing import Preprocessing, PreprocessingError

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
    registry: Registry = field(repr=False, default=None)
    preprocessing: Preprocessing | None = None  # what the trained run recorded about its inputs
    notes: list[str] = field(default_factory=list)  # things the user should know about the files


@dataclass
class Comparison:
    network: str
    path: Path
    max_abs_diff: float
    ok: bool
    note: str = ""
    nonfinite: str = ""  # the in-app model gives NaN or infinite outputs: why, naming the first block
    blocks: BlockReport | None = None  # each block's value versus the in-app model (failed, or explain)
    block_note: str = ""  # why the per-block check was not made, when it was wanted

    @property
    def first_divergence(self) -> BlockParity | None:
        return self.blocks.first_divergence if self.blocks is not None else None


RUN_SNAPSHOT = "project.dw.json"  # runtime/train/runs.py: the project a run was trained as
RUN_CHECKPOINTS = ("best.pt", "last.pt")


def run_weights(project: Project, registry: Registry, weights: str | Path) -> Path:
    """The checkpoint to export with: `weights` itself, or a run folder's best.pt (else last.pt).

    When the checkpoint is a run's (its folder holds the run's project
    snapshot), the run's networks must be the project's: else
    WeightsFileError says what differs and how to export the run as trained.
    """
    from graph.project_io import ProjectFileError, load_project

    path = Path(weights)
    if path.is_dir():
        found = next((path / name for name in RUN_CHECKPOINTS if (path / name).is_file()), None)
        if found is None:
            raise WeightsFileError(path, f"this folder holds no {' or '.join(RUN_CHECKPOINTS)}; give a run "
                                   "folder of 'deepwire train' that saved a checkpoint, or a weights file")
        path = found
    snapshot = path.parent / RUN_SNAPSHOT
    if not snapshot.is_file():
        return path  # a plain weights file: its keys and shapes are checked when it is loaded
    try:
        trained = load_project(snapshot, registry)
    except ProjectFileError as err:
        raise WeightsFileError(snapshot, f"the project this run was trained as cannot be read ({err}); "
                               "it is needed to check that the weights fit") from None
    differences = network_differences(trained, project)
    if differences:
        raise WeightsFileError(path, f"refused: these weights were trained on another network than project "
            f"'{project.name[:60]}' has now, so the exported model would not be the trained one "
            f"({describe_differences(differences)}). Export the run as it was trained: "
            f"deepwire export {snapshot} --weights {path} -o OUT")
    return path


def prepare_models(project: Project, registry: Registry, weights: str | Path | None = None,
                   networks: list[str] | None = None,
                   state: dict | None = None) -> tuple[dict[str, nn.Module], CompiledProject]:
    """Models built from the compiled source: seeded fresh weights, or the checkpoint's.

    state: the weights file already read (read_state(weights)), so it is read once.
    """
    compiled = compile_project(project, registry)
    torch.manual_seed(project.seed)
    models, compiled = build_models(project, registry, compiled)
    if weights is not None:
        wanted = networks or list(models)
        states = weights_for(state if state is not None else read_state(weights), wanted, str(weights))
        for name in wanted:
            load_weights(models[name], states[name], name, str(weights))
    for model in models.values():
        model.eval()
    return models, compiled


def export_project(project: Project, registry: Registry, fmt: str, out: str | Path,
                   weights: str | Path | None = None, network: str | None = None, force: bool = False,
                   project_path: str | Path | None = None, opset: int | None = None) -> Exported:
    """Write the project in format `fmt` to `out` (per-network files for onnx and torch-export).

    opset: the ONNX opset (onnx only; None: the exporter's own; see runtime.export.export_onnx).

    Before anything is written the targets are checked (runtime.export_targets): never over a
    file the export reads (`project_path`, the weights, the data), never two networks into one
    file, never into a missing folder, and over another existing file only with `force`.
    Each file is written to a temporary name and renamed when complete.
    """
    from runtime.export_targets import check, inputs_of, plan

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if opset is not None and fmt != "onnx":
        raise ExportError(f"--opset {opset}: only the onnx format has opsets; leave it out for {fmt}")
    if opset is not None and not 7 <= opset <= 23:
        raise ExportError(f"--opset {opset}: choose an ONNX opset between 7 and 23 (13 and 17 are common)")
    out = Path(out)
    if fmt == "torch-export" and out.suffix != ".pt2":  # torch.export.save/load warn on, and refuse, others
        raise ExportError(f"{out}: a torch.export archive is a .pt2 file; use -o {out.with_suffix('.pt2')}")
    names = [net.name for net in project.networks]
    if network is not None:
        if network not in names:
            raise ExportError(f"project '{project.name}' has no network '{network}' "
                              f"(it has: {', '.join(names)})")
        names = [network]
    if weights is not None:
        weights = run_weights(project, registry, weights)
    targets = plan(fmt, out, names, weights is not None)
    check(targets, inputs_of(project, project_path, weights), force)
    state = read_state(weights) if weights is not None else None
    models, compiled = prepare_models(project, registry, weights, names, state)
    prep, notes = recorded_preprocessing(state, weights, fmt)
    artefacts: list[Artefact] = []
    for target in targets:
        if target.kind == "python":
            export_python(project, registry, target.path, prep)
        elif target.kind == "script":
            from runtime.export_script import write_training_script

            data_file = next(t.path for t in targets if t.kind == "data")
            base_dir = Path(project_path).parent if project_path is not None else None  # relative data
            write_training_script(project, registry, target.path, data_file, base_dir=base_dir)
        elif target.kind == "data":
            continue  # written with the script, listed after it
        elif target.kind == "weights":
            export_weights(models[target.network], target.path)
        else:
            info = compiled.network(target.network)
            example = sample_inputs(info, vocab_sizes=vocab_sizes(project, target.network))
            # every network's file gets the record (it names the network that reads the data): a GAN's
            # generator needs the scaling as much as its discriminator, to turn samples into pixels
            metadata = prep.metadata() if prep is not None else None
            if fmt == "onnx":
                export_onnx(models[target.network], info, target.path, example, metadata, opset=opset)
            else:
                export_torch_program(models[target.network], info, target.path, example, metadata)
        artefacts.append(Artefact(target.path, target.kind, target.network))
        if target.kind == "script":  # the script's data, already split and normalised
            artefacts += [Artefact(t.path, "data") for t in targets if t.kind == "data"]
    return Exported(fmt, artefacts, models, compiled, names, project, registry, prep, notes)


def recorded_preprocessing(state: dict | None, weights: str | Path | None,
                           fmt: str) -> tuple[Preprocessing | None, list[str]]:
    """The preprocessing a trained run's checkpoint records, and a note when it records none."""
    if state is None or fmt == "script":  # fresh weights: nothing was trained on anything yet
        return None, []
    if "preprocessing" not in state:
        return None, [f"{weights} records no input preprocessing (a plain state_dict, or a checkpoint "
                      "written before DeepWire recorded it): feed the model inputs scaled as in training"]
    try:
        return Preprocessing.from_dict(state["preprocessing"]), []
    except PreprocessingError as err:
        raise WeightsFileError(weights, f"its 'preprocessing' entry cannot be used ({err}); "
                               "export from a checkpoint written by 'deepwire train'") from None


# --- loading artefacts back ---------------------------------------------------------------

def import_module_from(path: Path):
    """Import a .py file under a fresh module name, without running its `if __name__ == "__main__"`."""
    name = f"deepwire_export_{uuid.uuid4().hex[:12]}"
    # an explicit source loader: `-o model.python` or a file without a suffix is still Python source
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
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
        diff = torch.where(torch.isnan(diff), torch.inf, diff)  # NaN is no match (max() would skip it)
        worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
        ok = ok and bool((diff <= ATOL + RTOL * w.abs()).all())
    return worst, ok


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def verify_export(exported: Exported, seed: int = 0, explain: bool = False) -> list[Comparison]:
    """Outputs of every written model file versus the in-app model, on one random batch each.

    When the in-app model's own outputs are NaN or infinite, nothing can be compared: the
    comparison fails with `nonfinite` saying which block first produces such values.
    When a file's outputs differ (or with `explain`), every block's value is compared too
    (runtime/parity.py), on the same batch: `blocks` holds the table, whose first block outside
    tolerance is where the file departs from the model.
    """
    results = []
    nonfinite: dict[str, str] = {}  # network -> message, found once per network
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
            if not all_finite(want):
                if network not in nonfinite:
                    found = find_nonfinite(exported.project, exported.registry, network,
                                           exported.models[network], info, inputs, want)
                    nonfinite[network] = found.message()
                results.append(Comparison(network, artefact.path, float("nan"), False,
                                          nonfinite=nonfinite[network]))
                continue
            got = _run_artefact(artefact, exported, network, inputs)
            worst, ok = _max_diff(got, want)
            comparison = Comparison(network, artefact.path, worst, ok)
            if artefact.kind == "script" and explain:
                comparison.block_note = ("not compared block by block: the training script's model is "
                                         "the python format's code (export --format python --explain)")
            elif explain or not ok:
                try:
                    comparison.blocks = block_parity(exported, artefact, network, inputs)
                except Exception as err:  # noqa: BLE001 - the exporters raise many kinds; the final check stands
                    comparison.block_note = f"the per-block check could not be made: {_first_line(err)}"
            results.append(comparison)
    return results


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def block_parity(exported: Exported, artefact: Artefact, network: str,
                 inputs: tuple[torch.Tensor, ...]) -> BlockReport:
    """Each block's value in `artefact` (a copy of it made the same way) versus the in-app model.

    The reference is the in-app model run by its own source, compiled afresh from the project
    and registry; the file's side is the source the file was exported from (`exported.compiled`),
    through the file's own writer and runtime, or the Python file's text itself.
    """
    from runtime import parity

    reference = compile_project(exported.project, exported.registry)
    ref_info, info = reference.network(network), exported.compiled.network(network)
    net = exported.project.network(network)
    model = exported.models[network]
    kept, values = parity.reference_values(model, reference.source, ref_info,
                                           parity.computed_blocks(ref_info), inputs)
    by_block = dict(zip(kept, values))
    blocks = [b for b in kept if b in info.lines]  # both sources compute it (they are one, but for tests)
    want = [by_block[b] for b in blocks]
    example = sample_inputs(info, vocab_sizes=vocab_sizes(exported.project, network))
    if artefact.kind == "onnx":
        got = parity.onnx_values(model, exported.compiled.source, info, blocks, example, inputs)
    elif artefact.kind == "torch-export":
        got = parity.torch_export_values(model, exported.compiled.source, info, blocks, example, inputs)
    elif artefact.kind == "python":
        text = artefact.path.read_text(encoding="utf-8")
        got = parity.python_values(model, text, exported.compiled.source, info, blocks, inputs)
    else:
        raise ExportError(f"a {artefact.kind} file is not compared block by block")
    return parity.compare_blocks(net, blocks, got, want, network)

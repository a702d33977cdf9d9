"""Export a project's networks: Python code, weights, ONNX and torch.export programs.

The Python export is the compiler's source itself, the very code the app
executes to build the model it trains. The other formats are made from a
live model built from that source (with fresh or trained weights), always
in eval mode (dropout off, batch norm using its running statistics) and
with a free batch dimension.

File names: a format with one file per network (onnx, torch-export,
weights) writes OUT itself for a one-network project or when one network is
chosen, and `<stem>.<network><suffix>` next to OUT for each network
otherwise, e.g. `gan.onnx` -> `gan.generator.onnx`, `gan.discriminator.onnx`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graph.atomic import atomic_path, write_text, write_with
from graph.compiler import CompiledNetwork, compile_project
from graph.model import Project
from graph.pycode import to_identifier
from graph.spec import Registry
from runtime import weights_file
from runtime.preprocessing import Preprocessing, with_preprocessing

# The sample batch used to trace exports; 2, not 1, so the exporters do not
# specialise the batch dimension to a constant.
TRACE_BATCH = 2
# the lowest opset torch's torch.export-based ONNX exporter writes itself (export_onnx `opset`)
DYNAMO_MIN_OPSET = 18


class ExportError(RuntimeError):
    """An export failed; the message names the network and the format."""


# A weights file that cannot be used: one error type for every command (see runtime/weights_file.py)
WeightsFileError = weights_file.WeightsFileError


# --- file names ---------------------------------------------------------------------------

def split_suffix(path: Path) -> tuple[str, str]:
    """("model", ".onnx") for model.onnx; keeps double suffixes such as .dw.json out of the stem."""
    name = path.name
    match = re.search(r"(\.[A-Za-z0-9]+)$", name)
    suffix = match.group(1) if match else ""
    return name[: len(name) - len(suffix)], suffix


def network_path(out: Path, network: str, several: bool) -> Path:
    """OUT itself for a lone network; `<stem>.<network><suffix>` when a project has several."""
    if not several:
        return out
    stem, suffix = split_suffix(out)
    return out.with_name(f"{stem}.{to_identifier(network, 'network')}{suffix}")


# --- sample inputs ------------------------------------------------------------------------

def sample_inputs(info: CompiledNetwork, batch: int = TRACE_BATCH,
                  vocab_sizes: Mapping[str, int] | None = None,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """One random batch for forward(): float noise, or token ids for a TokenInput.

    `vocab_sizes` maps TokenInput block ids to their vocabulary size (ids are drawn below it).
    """
    args = []
    for block_id, type_id, shape in zip(info.input_blocks, info.input_types, info.input_shapes):
        if type_id == "TokenInput":
            vocab = (vocab_sizes or {}).get(block_id, 2)
            args.append(torch.randint(0, vocab, (batch, *shape), generator=generator))
        else:
            args.append(torch.randn(batch, *shape, generator=generator))
    return tuple(args)


def vocab_sizes(project: Project, network: str) -> dict[str, int]:
    """TokenInput block id -> its vocab_size, so sample ids stay inside the embedding table."""
    net = project.network(network)
    return {bid: int(b.params.get("vocab_size", 128)) for bid, b in net.blocks.items()
            if b.type == "TokenInput"}


def as_tuple(output: Any) -> tuple[torch.Tensor, ...]:
    """forward() returns one tensor per head: a tensor, or a tuple when there are several."""
    return tuple(output) if isinstance(output, (tuple, list)) else (output,)


def output_names(info: CompiledNetwork) -> list[str]:
    if len(info.output_blocks) == 1:
        return ["output"]
    return [f"output_{i}" for i in range(1, len(info.output_blocks) + 1)]


@contextlib.contextmanager
def quiet_exporters() -> Iterator[None]:
    """Silence the exporters' progress lines and internal warnings (about torch's own modules,
    e.g. LSTM weights or unavailable torchvision ops): the user can do nothing about them."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        registration.setLevel(level)


def _batch_dynamic_shapes(info: CompiledNetwork) -> tuple[dict[int, Any], ...]:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    return tuple({0: batch} for _ in info.input_blocks)


# --- writers ------------------------------------------------------------------------------

def export_python(project: Project, registry: Registry, out_path: str | Path,
                  preprocessing: Preprocessing | None = None) -> Path:
    """Write the compiled model module (every network's class) to out_path.

    With the preprocessing a trained run recorded, the module also gets its MEAN / STD / CLASSES /
    VOCAB constants and preprocess() / predict() helpers after the classes (which stay unchanged).
    """
    out_path = Path(out_path)
    compiled = compile_project(project, registry)
    source = compiled.source
    if preprocessing is not None and preprocessing.network in compiled.networks:
        source = with_preprocessing(source, preprocessing, compiled.network(preprocessing.network))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(out_path, source)


def export_torch_program(model: nn.Module, info: CompiledNetwork, out_path: str | Path,
                         example: tuple[torch.Tensor, ...],
                         metadata: Mapping[str, str] | None = None) -> Path:
    """torch.export the model with a free batch size and save it as a .pt2 archive.

    metadata (e.g. the run's preprocessing) goes into the archive as extra file `deepwire.json`.
    """
    out_path = Path(out_path)
    model.eval()
    try:
        with quiet_exporters():
            program = torch.export.export(model, example, dynamic_shapes=_batch_dynamic_shapes(info))
    except Exception as err:  # torch raises many kinds here; the user needs the network named
        raise ExportError(f"network '{info.network}': torch.export failed: {err}") from err
    out_path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"deepwire.json": json.dumps(dict(metadata))} if metadata else None
    write_with(out_path, lambda temp: torch.export.save(program, str(temp), extra_files=extra))
    return out_path


def export_onnx(model: nn.Module, info: CompiledNetwork, out_path: str | Path,
                example: tuple[torch.Tensor, ...], metadata: Mapping[str, str] | None = None,
                outputs: list[str] | None = None, opset: int | None = None) -> Path:
    """Export to ONNX with the torch.export-based exporter, batch dimension named "batch".

    metadata (e.g. the run's preprocessing: mean, std, classes) goes into the model's metadata_props.
    outputs: the graph's output names, when the model returns more than the network's outputs (the
    per-block check's copy, runtime/parity.py, also returns every block's value).
    opset: the ONNX opset to write (None: the exporter's own). Below DYNAMO_MIN_OPSET the
    torch.export-based exporter can only convert its graph down, which fails on ordinary operations
    (Div, Shape), so those opsets are written by torch's TorchScript exporter, batch axis "batch".
    """
    out_path = Path(out_path)
    model.eval()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with quiet_exporters(), atomic_path(out_path) as temp:  # a kill mid-export keeps the old file
            names = outputs or output_names(info)
            if opset is not None and opset < DYNAMO_MIN_OPSET:
                torch.onnx.export(
                    model, example, str(temp), dynamo=False, verbose=False, opset_version=opset,
                    input_names=list(info.input_names), output_names=names,
                    dynamic_axes={name: {0: "batch"} for name in [*info.input_names, *names]},
                )
            else:
                torch.onnx.export(
                    model, example, str(temp), dynamo=True, external_data=False, verbose=False,
                    input_names=list(info.input_names), output_names=names,
                    dynamic_shapes=_batch_dynamic_shapes(info),
                    **({} if opset is None else {"opset_version": opset}),
                )
            if metadata:  # into the temporary too: the file appears whole, metadata included
                import onnx

                proto = onnx.load(str(temp))
                onnx.helper.set_model_props(proto, dict(metadata))
                onnx.save(proto, str(temp))
    except Exception as err:  # the exporter raises many kinds; the user needs the network named
        raise ExportError(f"network '{info.network}': ONNX export failed: {err}") from err
    return out_path


def export_weights(model: nn.Module, out_path: str | Path) -> Path:
    """Save the state_dict: torch.save (load with weights_only=True), or safetensors for *.safetensors."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if out_path.suffix == ".safetensors":
        save_file = _safetensors("save_file")
        write_with(out_path, lambda temp: save_file(state, str(temp)))
    else:
        write_with(out_path, lambda temp: torch.save(state, temp))
    return out_path


def _safetensors(function: str):
    try:
        import safetensors.torch as st
    except ImportError:
        raise ExportError(".safetensors files need the safetensors package: "
                          "pip install safetensors") from None
    return getattr(st, function)


# --- reading weights back -----------------------------------------------------------------

def read_state(path: str | Path) -> dict[str, Any]:
    """A weights or checkpoint file as a dict, never unpickling code (weights_only=True)."""
    state = weights_file.read_file(path)
    if not isinstance(state, Mapping):
        raise WeightsFileError(path, "expected a state_dict (a dict of tensors), "
                                     f"found {type(state).__name__}")
    return _with_metadata(state, getattr(state, "_metadata", None))


def weights_for(checkpoint: Mapping[str, Any], networks: list[str],
                path: str = "checkpoint") -> dict[str, dict]:
    """Per-network state_dicts from a checkpoint, each checked to hold only name -> tensor.

    Accepts a plain state_dict (for a one-network project), a dict with a
    "models" key mapping network name -> state_dict (the trainer's
    checkpoints), or a dict of network name -> state_dict.
    """
    if "models" in checkpoint:
        by_net = weights_file.check_checkpoint(checkpoint, path)["models"]
    elif all(name in checkpoint and isinstance(checkpoint[name], Mapping) for name in networks):
        by_net = {name: checkpoint[name] for name in networks}
    elif checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        if len(networks) != 1:
            raise WeightsFileError(path, f"holds one state_dict but the project has {len(networks)} "
                                         f"networks ({', '.join(networks)}); use a checkpoint saved by "
                                         "'deepwire train'")
        by_net = {networks[0]: checkpoint}
    else:
        keys = ", ".join(repr(k)[:40] for k in list(checkpoint)[:6]) or "none"
        raise WeightsFileError(path, "expected a state_dict or a checkpoint with a 'models' entry; "
                                     f"found keys {keys}")
    missing = [n for n in networks if n not in by_net]
    if missing:
        raise WeightsFileError(path, f"has no weights for network(s) {', '.join(missing)} "
                                     f"(it has: {', '.join(map(str, by_net)) or 'none'})")
    return {n: _with_metadata(weights_file.check_state_dict(by_net[n], path, f"network '{n}'"),
                              getattr(by_net[n], "_metadata", None)) for n in networks}


def _with_metadata(state: Mapping[str, Any], metadata: Any) -> dict:
    """A copy of a state_dict that keeps torch's `_metadata` (module versions: MNASNet reads it)."""
    copy = OrderedDict(state)
    if isinstance(metadata, dict):
        copy._metadata = metadata
    return copy


def load_weights(model: nn.Module, state: Mapping[str, Any], network: str, path: str = "checkpoint") -> None:
    """Load a network's weights; a mismatch names the network, the key and both shapes."""
    weights_file.fit_state(model, state, path, network)

"""Turning an nn.Module into an fx graph the importer reads: torch.fx first, torch.export when fx fails.

`capture_graph(model, inputs)` traces model.forward with torch.fx (torch.nn
layers and DeepWire's own helper classes kept whole as leaves) in eval mode,
with optional arguments fixed at their defaults. Python torch.fx cannot follow
(`x.is_cuda`, `len(x)`, `assert`, branches on sizes) makes it fall back to a
torch.export capture (export_capture.py), which runs the code on an example
batch; when that fails too the ModelImportError gives both reasons and the
line of the model's code each stopped at. Also here: each input's block type
(image, sequence, vector, noise, token ids) and the example batches.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F  # noqa: N812 - the name everyone uses
from torch import nn
from torch.fx import Node

from runtime.importing.fx_modules import is_helper

TRACE_BATCH = 2  # not 1, so a reshape that folds the batch away shows up


class ModelImportError(RuntimeError):
    """The model could not be imported at all; the message says why and what to do."""


@dataclass
class InputSpec:
    """One forward() argument: its name, its shape without the batch, and the input block it becomes."""

    name: str
    shape: tuple[int, ...]
    type: str = ""  # chosen by the importer when empty
    params: dict[str, Any] = field(default_factory=dict)


class _Tracer(fx.Tracer):
    """torch.nn layers (fx's default) and DeepWire's helper classes stay whole, as one call each."""

    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        return is_helper(m) or super().is_leaf_module(m, qualified_name)


class TraceError(ModelImportError):
    """torch.fx could not trace forward(); the fallback capture may still manage."""


def trace(model: nn.Module, input_names: list[str]) -> fx.GraphModule:
    """The fx graph of model.forward, with arguments not in input_names fixed at their defaults."""
    signature = inspect.signature(model.forward)
    concrete = {}
    for name, parameter in signature.parameters.items():
        if name in input_names or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            raise ModelImportError(f"forward() takes '{name}', which has no shape: give it one with "
                                f"--input-shape {name}=C,H,W (sizes without the batch)")
        concrete[name] = parameter.default
    tracer = _Tracer()
    if tracer.is_leaf_module(model, ""):
        return _whole_module(model, input_names)
    # eval mode: what the user runs for inference (and what the outputs are compared against), so
    # `if self.training:` branches stay out; F.dropout(x, training=self.training) then reads
    # training=False, which the dropout rule still keeps as a Dropout block
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as err:  # fx raises many kinds for code it cannot follow
        from runtime.importing.export_capture import user_line

        line = user_line(err, model)
        raise TraceError(f"torch.fx cannot trace {type(model).__name__}.forward: "
                         f"{(str(err).strip().splitlines() or [type(err).__name__])[0]}"
                         f"{f' ({line})' if line else ''}") from None
    finally:
        for module, training in modes.items():  # each submodule's own mode, as it was
            module.training = training
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _placeholders(gm: fx.GraphModule) -> dict[str, Node]:
    """forward()'s arguments by their name in the signature: fx renames the nodes (input -> input_1)."""
    return {str(n.target): n for n in gm.graph.nodes if n.op == "placeholder"}


def _whole_module(model: nn.Module, input_names: list[str]) -> fx.GraphModule:
    """A torch layer imported by itself (nn.Linear): one call of it, not the functions inside it."""
    root = nn.Module()
    name = _snake(type(model).__name__)
    root.add_module(name, model)
    graph = fx.Graph()
    arguments = tuple(graph.placeholder(n) for n in input_names)
    graph.output(graph.call_module(name, arguments))
    return fx.GraphModule(root, graph, type(model).__name__)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or "layer"


def choose_input_types(gm: fx.GraphModule, inputs: list[InputSpec]) -> None:
    """Fill in each input's block type: image, sequence, vector, noise, or token ids for an Embedding."""
    placeholders = _placeholders(gm)
    for spec in inputs:
        node = placeholders.get(spec.name)
        if spec.type:
            continue
        embeddings = _embeddings(gm, node)
        rank = len(spec.shape)
        if embeddings and rank == 1:
            spec.type = "TokenInput"
            spec.params = {"length": spec.shape[0], "vocab_size": min(e.num_embeddings for e in embeddings)}
        elif rank == 1 and spec.name.lower() in ("noise", "z", "latent", "latent_noise"):
            spec.type, spec.params = "NoiseInput", {"size": spec.shape[0]}
        elif rank == 1:
            spec.type, spec.params = "VectorInput", {"features": spec.shape[0]}
        elif rank == 2:
            spec.type, spec.params = "SequenceInput", {"length": spec.shape[0], "features": spec.shape[1]}
        elif rank == 3:
            spec.type = "ImageInput"
            spec.params = {"channels": spec.shape[0], "height": spec.shape[1], "width": spec.shape[2]}
        else:
            raise ModelImportError(f"input '{spec.name}' has shape {spec.shape}: DeepWire inputs are "
                                   "vectors (F), sequences (T, F), token ids (T) or images (C, H, W)")


def example_inputs(inputs: list[InputSpec], batch: int = TRACE_BATCH,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    values = []
    for spec in inputs:
        if spec.type == "TokenInput":
            values.append(torch.randint(0, spec.params["vocab_size"], (batch, *spec.shape),
                                        generator=generator))
        else:
            values.append(torch.randn(batch, *spec.shape, generator=generator))
    return values


def _embeddings(gm: fx.GraphModule, node: Node | None) -> list[nn.Embedding]:
    """The embeddings reading this input: nn.Embedding calls, or F.embedding on a stored table."""
    found = []
    for user in node.users if node is not None else ():
        if user.op == "call_module" and isinstance(gm.get_submodule(user.target), nn.Embedding):
            found.append(gm.get_submodule(user.target))
        elif user.op == "call_function" and user.target is F.embedding and user.args[0] is node \
                and isinstance(user.args[1], Node) and user.args[1].op == "get_attr":
            table = _read(gm, str(user.args[1].target))
            found.append(nn.Embedding(*table.shape, _weight=table))
    return found


def _read(gm: nn.Module, target: str) -> torch.Tensor:
    value: Any = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value


def capture_graph(model: nn.Module, inputs: list[InputSpec]) -> fx.GraphModule:
    """torch.fx's trace of model.forward, or a torch.export capture where fx cannot follow the code."""
    names = [s.name for s in inputs]
    try:
        return trace(model, names)
    except TraceError as fx_failed:
        from runtime.importing.export_capture import CaptureError, capture

        guessed = [InputSpec(s.name, s.shape, s.type, dict(s.params)) for s in inputs]
        _guess_types(model, guessed)
        try:
            gm = capture(model, example_inputs(guessed), names)
        except CaptureError as err:
            raise ModelImportError(f"{fx_failed}; torch.export cannot capture it either: {err}. A "
                                   "forward() that branches on tensor values (if x.sum() > 0) has no "
                                   "single graph: move that out of forward()") from None
        for spec, guess in zip(inputs, guessed):  # the types the capture ran with
            if not spec.type and guess.type == "TokenInput":
                spec.type, spec.params = guess.type, guess.params
        return gm


def _guess_types(model: nn.Module, inputs: list[InputSpec]) -> None:
    """Input types before any graph exists: rank-1 inputs of a model with an embedding are token ids."""
    tables = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    for spec in inputs:
        if not spec.type and len(spec.shape) == 1 and tables:
            spec.type = "TokenInput"
            spec.params = {"length": spec.shape[0], "vocab_size": min(t.num_embeddings for t in tables)}
        elif not spec.type and len(spec.shape) in (1, 2, 3):
            spec.type = {1: "VectorInput", 2: "SequenceInput", 3: "ImageInput"}[len(spec.shape)]


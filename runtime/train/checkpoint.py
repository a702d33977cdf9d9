"""Checkpoint files: what they hold and how to read them back safely.

A checkpoint is a plain dict saved with `torch.save` and always read with
`torch.load(..., weights_only=True)`, so opening one never runs code:

    format         "deepwire-checkpoint"
    version        1
    models         {network name: state_dict}  <- `deepwire export --weights` reads this
    block_modules  {network name: {block id: submodule attribute}}  (transfer learning by block id)
    epoch, step    epochs completed, optimizer steps done
    metrics        validation metrics at that point (may be empty)
    preprocessing  how the training data reached the network: scaling statistics, class names,
                   vocabulary (runtime/preprocessing.py; plain lists and strings); exports of the
                   run carry it on
    resume         (last.pt only) optimizers, schedulers, scaler, RNG states, loop position,
                   early-stopping state: everything a resumed run needs to continue exactly
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from runtime.weights_file import CHECKPOINT_FORMAT, WeightsFileError, fit_state, read_checkpoint

FORMAT = CHECKPOINT_FORMAT
VERSION = 1


def model_states(models: dict[str, nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts on the CPU (so a checkpoint written on a GPU loads anywhere)."""
    return {name: {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            for name, model in models.items()}


def make_checkpoint(models: dict[str, nn.Module], block_modules: dict[str, dict[str, str]], epoch: int,
                    step: int, metrics: dict[str, float], resume: dict[str, Any] | None = None,
                    preprocessing: dict[str, Any] | None = None) -> dict:
    state = {"format": FORMAT, "version": VERSION, "models": model_states(models),
             "block_modules": block_modules, "epoch": epoch, "step": step, "metrics": dict(metrics)}
    if preprocessing is not None:
        state["preprocessing"] = preprocessing
    if resume is not None:
        state["resume"] = resume
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a DeepWire checkpoint (weights only, never code); WeightsFileError says what is wrong."""
    return read_checkpoint(path)


def load_models(models: dict[str, nn.Module], state: dict[str, Any], source: str) -> None:
    """Load every network's weights; a mismatch names the network, the key and both shapes."""
    for name, model in models.items():
        if name not in state["models"]:
            raise WeightsFileError(source, f"has no weights for network '{name}' "
                                           f"(it holds {', '.join(state['models']) or 'none'})")
        fit_state(model, state["models"][name], source, name)

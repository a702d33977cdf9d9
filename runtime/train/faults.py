"""Turning what went wrong during training into a message a student can act on.

A NaN or infinite loss names the step and suggests a lower learning rate or
gradient clipping; running out of memory names the batch size and suggests
half of it; anything else keeps its own message, and the full traceback is
written to the run folder's error.txt for whoever debugs it.
"""

from __future__ import annotations

import math
import traceback

import torch

from graph.atomic import write_text
from runtime.train.errors import TrainingError


def non_finite_failure(trainer, row: list[float], step: int, epoch: int) -> TrainingError:
    names = trainer.recipe.step_names
    bad = next(name for name, value in zip(names, row) if not math.isfinite(value))
    value = next(v for v in row if not math.isfinite(v))
    what = "NaN (not a number)" if math.isnan(value) else "infinite"
    label = "loss" if bad == "loss" else f"loss value '{bad}'"
    lr = trainer.config.lr
    clip = trainer.config.grad_clip
    clip_hint = (f"clip gradients harder (grad_clip is {clip:g}; try {clip / 4:g})" if clip
                 else "turn on gradient clipping (grad_clip 1.0)")
    return TrainingError(
        f"the {label} became {what} at step {step} (epoch {epoch}), so training stopped; "
        f"the last good weights are in {trainer.folder.path / 'last.pt'}",
        reason="nan",
        suggestion=f"lower the learning rate (now {lr:g}; try {lr / 10:g}) or {clip_hint}; "
                   "also check the data for missing or huge values",
        step=step, epoch=epoch)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def describe_failure(exc: Exception, trainer) -> TrainingError:
    """A TrainingError for any exception raised by the loop (the traceback goes to error.txt)."""
    step, epoch = trainer.step, trainer.epoch + 1
    batch = getattr(trainer, "batch_size", trainer.config.batch_size)
    if trainer.folder is not None:
        try:
            write_text(trainer.folder.file("error.txt"), traceback.format_exc())
        except OSError:
            pass
    if is_out_of_memory(exc):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        device = getattr(trainer, "device", "device")
        return TrainingError(
            f"the {device} ran out of memory at step {step} (epoch {epoch}) with batch size {batch}",
            reason="out_of_memory",
            suggestion=f"try a smaller batch: --batch-size {max(1, batch // 2)} (or a smaller model, "
                       "or mixed precision on a GPU)",
            step=step, epoch=epoch)
    return TrainingError(
        f"training failed at step {step} (epoch {epoch}): {type(exc).__name__}: {exc}",
        reason="exception",
        suggestion="check the network and its data; the full traceback is in error.txt in the run folder",
        step=step, epoch=epoch)

"""Autoencoder: the network learns to give back its own input through a narrow middle.

The loss is the head's (a Regression head's MSE, L1 or Huber; an Output
head falls back to MSE) between reconstruction and input; labels, if the
data has any, are ignored. After each epoch a preview PNG shows eight
fixed validation inputs (top row) above their reconstructions (bottom row).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.images import grid_png
from runtime.train.metrics import RegressionMeter
from runtime.train.recipes.base import (
    Evaluation,
    RecipeSetup,
    SampleOutput,
    SingleNetworkRecipe,
    check_input,
    pick_network,
    single_head,
)

PREVIEW_COUNT = 8


def image_shape_for(shape: tuple[int, ...], extra: dict) -> tuple[int, ...] | None:
    """(C, H, W) to draw samples of `shape` as pictures, or None when they are not images."""
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape
    hinted = extra.get("image_shape")
    if hinted and int(np.prod(hinted)) == int(np.prod(shape)):
        return tuple(hinted) if len(hinted) == 3 else (1, *hinted)
    side = math.isqrt(int(np.prod(shape)))
    if len(shape) == 1 and side * side == shape[0] and side >= 4:
        return (1, side, side)  # e.g. 64 features of an 8x8 digit
    return None


class Autoencoder(SingleNetworkRecipe):
    name = "autoencoder"
    monitor = "loss"

    def __init__(self, setup: RecipeSetup):
        super().__init__(setup)
        self.network, self.model, info = pick_network(setup, "autoencoder")
        head, out_shape = single_head(info, "the autoencoder recipe")
        dataset = setup.dataset
        check_input(info, dataset)
        if dataset.input_kind == "tokens":
            raise SetupError("an autoencoder reconstructs numbers; token ids cannot be reconstructed "
                             "with a regression loss: use the language model recipe for text")
        if tuple(out_shape) != tuple(dataset.input_shape):
            raise SetupError(
                f"an autoencoder must output what it reads: network '{info.network}' reads "
                f"{tuple(dataset.input_shape)} but its {head} receives {tuple(out_shape)}; make the last "
                "layers give back the input's shape")
        if head not in ("RegressionHead", "Output"):
            raise SetupError(f"an autoencoder compares numbers, so network '{info.network}' must end in a "
                             f"Regression head (or a plain Output), not a {head}")
        self.loss_fn = self.model.make_loss() or torch.nn.MSELoss()
        self.image_shape = image_shape_for(tuple(dataset.input_shape), dataset.extra)
        self.place_data()

    def step_loss(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.loss_fn(self.model(x).float(), x)  # the input is its own target

    @torch.no_grad()
    def evaluate(self, split: DeviceSplit) -> Evaluation:
        self.model.eval()
        meter = RegressionMeter(self.device)
        for x, _y in split.batches(self.eval_batch_size()):
            with self.autocast():
                out = self.model(x).float()
                loss = self.loss_fn(out, x)
            meter.add(out, x, loss)
        return Evaluation(meter.result())

    @torch.no_grad()
    def samples(self, epoch: int) -> list[SampleOutput]:
        if self.image_shape is None:
            return []
        source = self.val_data or self.train_data
        x = source.inputs[:PREVIEW_COUNT].to(self.device)
        self.model.eval()
        with self.autocast():
            out = self.model(x).float()
        pictures = torch.cat([x.float(), out]).reshape(-1, *self.image_shape).cpu().numpy()
        low, high = float(x.min()), float(x.max())
        png = grid_png(pictures, columns=len(x), value_range=(low, high))
        return [SampleOutput(f"Inputs (top) and reconstructions (bottom), epoch {epoch}",
                             f"epoch_{epoch:03d}.png", png=png)]

"""Semantic segmentation: a class for every pixel of an image.

The network reads images (B, C, H, W) and ends in a Segmentation head that
receives per-pixel class scores (B, classes, H, W); the data gives one mask
per image (B, H, W) of class ids (background 0): the `shapes` and
`mask_folder` sources. The loss is per-pixel cross-entropy (the head's
`make_loss()`); the metrics are pixel accuracy, mean IoU (the monitor),
mean Dice and the IoU of each class (`iou_<class>`), counted over every
pixel of the split (runtime/train/metrics.py). After each epoch a preview
shows a few fixed validation images beside their true and predicted masks.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.images import encode_png
from runtime.train.masks import mask_strip, stack_rows
from runtime.train.metrics import SegmentationMeter
from runtime.train.recipes.base import (
    Evaluation,
    RecipeSetup,
    SampleOutput,
    SingleNetworkRecipe,
    check_input,
    check_targets,
    pick_network,
    single_head,
)

PREVIEW_COUNT = 4


def metric_name(class_name: str) -> str:
    """'iou_circle' for class 'circle' (letters, digits and _ only)."""
    return "iou_" + (re.sub(r"\W+", "_", str(class_name)).strip("_") or "class")


class Segmentation(SingleNetworkRecipe):
    name = "segmentation"
    monitor = "mean_iou"

    def __init__(self, setup: RecipeSetup):
        super().__init__(setup)
        self.network, self.model, info = pick_network(setup, "segmentation")
        head, out_shape = single_head(info, "the segmentation recipe")
        dataset = setup.dataset
        blocks = setup.project.network(self.network).blocks
        head_block = blocks[info.output_blocks[0]]
        if head != "SegmentationHead":
            raise SetupError(f"network '{info.network}' ends in a {head} ('{head_block.name}'), but the "
                             "segmentation recipe scores every pixel: end it in a Segmentation head fed "
                             "per-pixel class scores (B, classes, H, W)")
        check_input(info, dataset)
        check_targets(dataset, "class", "segmentation", "choose a mask data source (shapes, mask_folder)")
        mask = tuple(dataset.train.targets.shape[1:])
        if len(mask) != 2:
            raise SetupError(
                f"the segmentation recipe needs one mask per image (N, H, W), but the data "
                f"'{dataset.name}' has labels of shape {tuple(dataset.train.targets.shape)}; choose a mask "
                "data source (shapes, mask_folder), or the classification recipe for one label per image")
        classes, height, width = (int(d) for d in out_shape)
        if (height, width) != mask:
            raise SetupError(
                f"the Segmentation head '{head_block.name}' of network '{info.network}' receives scores for "
                f"{height}x{width} pixels, but the masks of the data '{dataset.name}' are "
                f"{mask[0]}x{mask[1]}; upsample back to the input's size (ConvTranspose2d or Upsample) "
                "before the head, or pad the convolutions (padding = kernel_size // 2)")
        known = dataset.num_classes
        if known is not None and known > classes:
            raise SetupError(
                f"the data '{dataset.name}' has {known} classes (background included), but the Segmentation "
                f"head '{head_block.name}' of '{info.network}' scores only {classes}; set the head's classes "
                f"(and the channels of the convolution before it) to {known}")
        if known is not None and known < classes:
            setup.warnings.append(f"the Segmentation head '{head_block.name}' scores {classes} classes but "
                                  f"the data has only {known}")
        self.head = head
        self.classes = classes
        self.out_shape = out_shape
        self.loss_fn = self.model.make_loss()
        names = list(dataset.class_names or [])[:classes]
        self.names = names + [str(i) for i in range(len(names), classes)]
        self.place_data()

    @property
    def class_names(self) -> list[str] | None:
        return self.names

    def step_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model(x).float(), y.long())

    @torch.no_grad()
    def evaluate(self, split: DeviceSplit) -> Evaluation:
        self.model.eval()  # the trainer switches back to training mode before the next epoch
        meter = self.meter_over(split)
        metrics = meter.result()
        for name, row in zip(self.names, meter.per_class()):
            if row["iou"] is not None:  # a class in neither masks nor predictions has no IoU
                metrics[metric_name(name)] = row["iou"]
        return Evaluation(metrics)

    @torch.no_grad()
    def meter_over(self, split: DeviceSplit) -> SegmentationMeter:
        meter = SegmentationMeter(self.classes, self.device)
        for x, y in split.batches(self.eval_batch_size()):
            with self.autocast():
                out = self.model(x).float()
                loss = self.loss_fn(out, y.long())
            meter.add(out, y, loss)
        return meter

    def pixels(self, x: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None]:
        """Inputs (N, C, H, W) with the normalisation undone, and their value range for drawing."""
        dataset = self.setup.dataset
        x = np.asarray(x, np.float32)
        if dataset.std is not None and dataset.mean is not None:
            x = x * dataset.std + dataset.mean
        return x, dataset.extra.get("pixel_range")

    @torch.no_grad()
    def samples(self, epoch: int) -> list[SampleOutput]:
        source = self.val_data or self.train_data
        x = source.inputs[:PREVIEW_COUNT].to(self.device)
        y = source.targets[:PREVIEW_COUNT].cpu().numpy()
        self.model.eval()
        with self.autocast():
            predicted = self.model(x).float().argmax(dim=1).cpu().numpy()
        images, value_range = self.pixels(x.float().cpu().numpy())
        strips = [mask_strip(images[k], y[k], predicted[k], value_range) for k in range(len(x))]
        return [SampleOutput(f"Images, true masks and predicted masks, epoch {epoch}",
                             f"epoch_{epoch:03d}.png", png=encode_png(stack_rows(strips)))]

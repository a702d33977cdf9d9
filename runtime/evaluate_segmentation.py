"""The segmentation part of `deepwire evaluate`: per-class IoU and pictures of the best and worst masks.

    result = segmentation_result(recipe, split, pictures)   # merged into evaluation.json

Written to evaluation.json:
    per_class   [{"class", "iou", "dice", "pixels", "predicted"}]: IoU and Dice are null for a class
                in neither the masks nor the predictions of the split
    confusion   the (true, predicted) pixel counts
    colours     [{"class", "rgb"}]: how each class is drawn (background: no tint)
    samples     [{"index", "iou", "png", "which": "worst" | "best"}]: the image, the true mask over it
                and the predicted mask over it, side by side, for the SAMPLES_EACH worst and best
                samples by their own mean IoU
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.train.device import DeviceSplit
from runtime.train.images import encode_png
from runtime.train.masks import class_colour, mask_strip
from runtime.train.metrics import segmentation_scores

SAMPLES_EACH = 3
PICTURES = "evaluation"


def sample_iou(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Mean IoU of each sample (N, H, W) over the classes in its mask or its prediction."""
    scores = np.zeros(len(true))
    for n in range(len(true)):
        ious = []
        for c in range(classes):
            t, p = true[n] == c, predicted[n] == c
            union = int((t | p).sum())
            if union:
                ious.append(int((t & p).sum()) / union)
        scores[n] = float(np.mean(ious)) if ious else 1.0
    return scores


@torch.no_grad()
def predict_masks(recipe, data: DeviceSplit) -> tuple[np.ndarray, np.ndarray]:
    """(true masks, predicted masks), int64 (N, H, W), over a split."""
    truths, preds = [], []
    for x, y in data.batches(recipe.eval_batch_size()):
        preds.append(recipe.model(x).float().argmax(dim=1).cpu().numpy())
        truths.append(y.cpu().numpy())
    return np.concatenate(truths).astype(np.int64), np.concatenate(preds).astype(np.int64)


def segmentation_result(recipe, data: DeviceSplit, pictures: Path) -> dict[str, Any]:
    true, predicted = predict_masks(recipe, data)
    classes = recipe.classes
    matrix = np.bincount((true * classes + predicted).reshape(-1), minlength=classes * classes)
    matrix = matrix.reshape(classes, classes).tolist()
    names = recipe.class_names
    per_class = [{"class": name, **row} for name, row in zip(names, segmentation_scores(matrix))]
    scores = sample_iou(true, predicted, classes)
    order = np.argsort(scores, kind="stable")
    worst = [int(i) for i in order[:SAMPLES_EACH]]
    best = [int(i) for i in order[::-1] if int(i) not in worst][:SAMPLES_EACH]
    images, value_range = recipe.pixels(data.inputs[worst + best].float().cpu().numpy())
    samples = []
    for k, (index, which) in enumerate([(i, "worst") for i in worst] + [(i, "best") for i in best]):
        name = f"{PICTURES}/mask_{index}.png"
        strip = mask_strip(images[k], true[index], predicted[index], value_range)
        (pictures / Path(name).name).write_bytes(encode_png(strip))
        samples.append({"index": index, "iou": float(scores[index]), "png": name, "which": which})
    return {"kind": "segmentation", "class_names": list(names), "per_class": per_class, "confusion": matrix,
            "colours": [{"class": n, "rgb": list(class_colour(c))} for c, n in enumerate(names)],
            "samples": samples}

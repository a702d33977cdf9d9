"""Evaluation metrics, accumulated on the device and read back once per evaluation.

Each accumulator adds up sums as tensors batch by batch (no `.item()` per
batch, which would stall a GPU), and `result()` turns them into plain
floats. Losses are averaged per sample (or per token for per-step outputs).
"""

from __future__ import annotations

import math

import torch


class LossMeter:
    """Mean of a per-sample loss over many batches."""

    def __init__(self, device: torch.device):
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0

    def add(self, mean_loss: torch.Tensor, count: int) -> None:
        self.total += mean_loss.detach().double() * count
        self.count += count

    def result(self) -> float:
        return float(self.total) / max(1, self.count)


class ClassificationMeter:
    """Loss, top-1 and top-k accuracy and the confusion matrix of a classifier.

    Works for (B, C) scores with (B,) labels and per-step (B, T, C) scores with
    (B, T) labels alike; per-step outputs count every step.
    """

    def __init__(self, classes: int, device: torch.device, top_k: int = 5, confusion: bool = True):
        self.classes = classes
        self.top_k = top_k if 1 < top_k < classes else 0
        self.loss = LossMeter(device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.correct_k = torch.zeros((), dtype=torch.int64, device=device)
        self.matrix = (torch.zeros(classes * classes, dtype=torch.int64, device=device)
                       if confusion else None)
        self.count = 0

    def add(self, scores: torch.Tensor, labels: torch.Tensor, mean_loss: torch.Tensor) -> None:
        scores = scores.detach().reshape(-1, self.classes)
        labels = labels.reshape(-1)
        predicted = scores.argmax(dim=1)
        self.correct += (predicted == labels).sum()
        if self.top_k:
            best = scores.topk(self.top_k, dim=1).indices
            self.correct_k += (best == labels[:, None]).any(dim=1).sum()
        if self.matrix is not None:
            self.matrix += torch.bincount(labels * self.classes + predicted,
                                          minlength=self.classes * self.classes)
        self.loss.add(mean_loss, len(labels))
        self.count += len(labels)

    def result(self) -> dict[str, float]:
        n = max(1, self.count)
        out = {"loss": self.loss.result(), "accuracy": int(self.correct) / n}
        if self.top_k:
            out[f"top{self.top_k}_accuracy"] = int(self.correct_k) / n
        return out

    def confusion(self) -> list[list[int]] | None:
        if self.matrix is None:
            return None
        return self.matrix.view(self.classes, self.classes).tolist()


class BinaryMeter:
    """Loss, accuracy and 2x2 confusion matrix of a one-logit yes/no classifier."""

    def __init__(self, device: torch.device):
        self.inner = ClassificationMeter(2, device, top_k=0)

    def add(self, logits: torch.Tensor, labels: torch.Tensor, mean_loss: torch.Tensor) -> None:
        predicted = (logits.detach().reshape(-1) > 0).long()
        # two columns whose argmax is the prediction, so the shared counting applies
        scores = torch.nn.functional.one_hot(predicted, 2)
        self.inner.add(scores, labels.reshape(-1).long(), mean_loss)

    def result(self) -> dict[str, float]:
        return self.inner.result()

    def confusion(self) -> list[list[int]] | None:
        return self.inner.confusion()


class RegressionMeter:
    """Loss, mean absolute error and root mean squared error over every predicted number."""

    def __init__(self, device: torch.device):
        self.loss = LossMeter(device)
        self.abs_error = torch.zeros((), dtype=torch.float64, device=device)
        self.sq_error = torch.zeros((), dtype=torch.float64, device=device)
        self.values = 0

    def add(self, predicted: torch.Tensor, target: torch.Tensor, mean_loss: torch.Tensor) -> None:
        diff = (predicted.detach().float() - target.float()).double()
        self.abs_error += diff.abs().sum()
        self.sq_error += diff.square().sum()
        self.values += diff.numel()
        self.loss.add(mean_loss, len(predicted))

    def result(self) -> dict[str, float]:
        n = max(1, self.values)
        return {"loss": self.loss.result(), "mae": float(self.abs_error) / n,
                "rmse": math.sqrt(float(self.sq_error) / n)}

    def confusion(self) -> None:
        return None


def perplexity(mean_cross_entropy: float) -> float:
    """exp(loss) in nats, capped so an untrained model does not overflow to infinity."""
    return math.exp(min(mean_cross_entropy, 50.0))


# validation metrics where a larger value is better (the trainer's "best" and early stopping)
HIGHER_IS_BETTER = frozenset({"accuracy", "pixel_accuracy", "mean_iou", "mean_dice"})


class SegmentationMeter:
    """Loss, pixel accuracy, mean IoU and mean Dice of per-pixel class scores (B, C, H, W).

    Counts a (true, predicted) confusion matrix over every pixel. IoU of class c is
    TP / (TP + FP + FN), Dice 2 TP / (2 TP + FP + FN); a class absent from both the masks and the
    predictions has neither (0 / 0) and is left out of the means, so an evaluation split without
    any "triangle" is not punished for predicting none.
    """

    def __init__(self, classes: int, device: torch.device):
        self.classes = classes
        self.loss = LossMeter(device)
        self.matrix = torch.zeros(classes * classes, dtype=torch.int64, device=device)
        self.count = 0

    def add(self, scores: torch.Tensor, masks: torch.Tensor, mean_loss: torch.Tensor) -> None:
        predicted = scores.detach().argmax(dim=1).reshape(-1)
        masks = masks.reshape(-1).long()
        self.matrix += torch.bincount(masks * self.classes + predicted, minlength=self.classes ** 2)
        self.loss.add(mean_loss, len(scores))
        self.count += len(scores)

    def confusion_matrix(self) -> list[list[int]]:
        return self.matrix.view(self.classes, self.classes).tolist()

    def per_class(self) -> list[dict[str, float | None]]:
        """Per class: IoU and Dice (None when the class is in neither masks nor predictions), pixels."""
        return segmentation_scores(self.confusion_matrix())

    def result(self) -> dict[str, float]:
        matrix = self.confusion_matrix()
        rows = segmentation_scores(matrix)
        total = sum(map(sum, matrix))
        correct = sum(matrix[c][c] for c in range(self.classes))
        ious = [r["iou"] for r in rows if r["iou"] is not None]
        dices = [r["dice"] for r in rows if r["dice"] is not None]
        return {"loss": self.loss.result(), "pixel_accuracy": correct / max(1, total),
                "mean_iou": sum(ious) / len(ious) if ious else 0.0,
                "mean_dice": sum(dices) / len(dices) if dices else 0.0}

    def confusion(self) -> None:
        return None  # a pixel matrix is not a sample matrix: the Runs panel's confusion view stays off


def segmentation_scores(matrix: list[list[int]]) -> list[dict[str, float | None]]:
    """IoU, Dice, true pixels and predicted pixels of each class of a (true, predicted) pixel matrix."""
    classes = len(matrix)
    out = []
    for c in range(classes):
        tp = matrix[c][c]
        true = sum(matrix[c])
        predicted = sum(matrix[t][c] for t in range(classes))
        union = true + predicted - tp
        out.append({"iou": tp / union if union else None,
                    "dice": 2 * tp / (true + predicted) if true + predicted else None,
                    "pixels": true, "predicted": predicted})
    return out

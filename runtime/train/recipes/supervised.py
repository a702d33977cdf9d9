"""Supervised learning: classification and regression, for images, tables and sequences.

The output head decides the loss (its `make_loss()` in the generated code)
and the metrics: a classification head reports accuracy, top-k accuracy
and a confusion matrix; a binary head accuracy and a 2x2 matrix; a
regression head MAE and RMSE. Per-step heads (B, T, classes) on sequence
models work the same way, counting every step. With the `adversarial`
setting each step also learns from inputs perturbed to raise the loss
(recipes/adversary.py).
"""

from __future__ import annotations

import torch

from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.metrics import BinaryMeter, ClassificationMeter, RegressionMeter
from runtime.train.recipes.adversary import Adversary
from runtime.train.recipes.base import (
    Evaluation,
    RecipeSetup,
    SingleNetworkRecipe,
    as_target_shape,
    check_input,
    check_targets,
    pick_network,
    single_head,
)

_HEADS = {"ClassificationHead": "classification", "BinaryHead": "classification",
          "RegressionHead": "regression"}
# confusion matrices beyond this many classes are too big to send every epoch
MAX_CONFUSION_CLASSES = 100


class Supervised(SingleNetworkRecipe):
    name = "supervised"

    def __init__(self, setup: RecipeSetup):
        super().__init__(setup)
        self.network, self.model, info = pick_network(setup, setup.config.recipe)
        head, out_shape = single_head(info, f"the {setup.config.recipe} recipe")
        dataset = setup.dataset
        if head not in _HEADS:
            raise SetupError(f"network '{info.network}' ends in a {head}, which has no loss to learn from; "
                             "end it with a Classification, Binary or Regression head")
        task = _HEADS[head]
        if task != setup.config.recipe:
            setup.warnings.append(f"the recipe is set to {setup.config.recipe}, but the network ends in a "
                                  f"{head}; training it for {task}")
        check_input(info, dataset)
        largest = dataset.extra.get("max_token_id")
        if largest is not None:  # integer ids from arrays: each must index the input's table
            block = setup.project.network(self.network).blocks[info.input_blocks[0]]
            allowed = block.params.get("vocab_size", 128)
            if largest >= allowed:
                raise SetupError(f"the data '{dataset.name}' holds token ids up to {largest}, but the input "
                                 f"block '{block.name}' allows ids below {allowed}; set its vocab_size (and "
                                 f"the Embedding's) to {largest + 1}")
        self.head = head
        self.out_shape = out_shape
        self.loss_fn = self.model.make_loss()
        if task == "classification":
            check_targets(dataset, "class", "classification", "choose a labelled data source, or end the "
                          "network in a Regression head to predict numbers")
            self._setup_classification(info.network, head, out_shape)
        else:
            check_targets(dataset, "value", "regression", "end the network in a Classification head to "
                          "predict labels, or choose data with numeric targets")
            target = tuple(dataset.train.targets.shape[1:])
            if _numel(target) != _numel(out_shape):
                raise SetupError(
                    f"the Regression head of '{info.network}' outputs {_numel(out_shape)} number(s) per "
                    f"sample {out_shape}, but the data '{dataset.name}' has {_numel(target)} per sample "
                    f"{target}; make the last layer output {_numel(target)}")
            self.monitor = "loss"
            self._loss_of = self._regression_loss
        self.adversary = None
        if setup.config.adversarial != "off":
            self.adversary = Adversary.for_setup(setup, info.network, self.model)
        self.place_data()

    def _setup_classification(self, network: str, head: str, out_shape: tuple[int, ...]) -> None:
        dataset = self.setup.dataset
        classes = out_shape[-1] if head == "ClassificationHead" else 2
        known = dataset.num_classes
        if known is not None and known > classes:
            raise SetupError(
                f"the data '{dataset.name}' has {known} classes, but the {head} of '{network}' scores "
                f"only {classes}; set the head's classes (and the layer before it) to {known}")
        if known is not None and known < classes and head == "ClassificationHead":
            self.setup.warnings.append(f"the head scores {classes} classes but the data has only {known}")
        self.classes = classes
        self.monitor = "accuracy"
        per_step = len(out_shape) == 2
        target_rank = dataset.train.targets.ndim - 1
        if target_rank >= 2:
            raise SetupError(f"the data '{dataset.name}' gives a class mask per image "
                             f"{tuple(dataset.train.targets.shape[1:])}, not one label: choose the "
                             "segmentation recipe and end the network in a Segmentation head")
        if per_step != (target_rank == 1) and head == "ClassificationHead":
            expected = "one label per step (N, T)" if per_step else "one label per sample (N,)"
            raise SetupError(
                f"the Classification head of '{network}' scores {'every step' if per_step else 'each sample'}"
                f" {out_shape} and needs {expected}, but the data '{dataset.name}' has labels of shape "
                f"{tuple(dataset.train.targets.shape)}")
        if head == "BinaryHead":
            self._loss_of = self._binary_loss
        elif per_step:
            self._loss_of = self._per_step_loss
        else:
            self._loss_of = self.loss_fn  # (B, C) scores with (B,) labels: the loss takes them as they are

    def _per_step_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def _binary_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(out, y.reshape(out.shape).to(out.dtype))

    def _regression_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(out, as_target_shape(y, self.out_shape).to(out.dtype))

    @property
    def class_names(self) -> list[str] | None:
        return self.setup.dataset.class_names

    def step_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.adversary is None:
            return self._loss_of(self.model(x), y)
        moved = self.adversary.perturb(lambda inputs: self._loss_of(self.adversary.network(inputs), y), x)
        # one forward pass over both halves: DistributedDataParallel allows one per backward
        out = self.model(torch.cat([x, moved]))
        weight = self.config.adversarial_weight
        return (1 - weight) * self._loss_of(out[:len(x)], y) + weight * self._loss_of(out[len(x):], y)

    def _meter(self):
        if self.monitor != "accuracy":
            return RegressionMeter(self.device)
        if self.head == "BinaryHead":
            return BinaryMeter(self.device)
        return ClassificationMeter(self.classes, self.device, self.config.top_k,
                                   confusion=self.classes <= MAX_CONFUSION_CLASSES)

    @torch.no_grad()
    def evaluate(self, split: DeviceSplit) -> Evaluation:
        self.model.eval()  # the trainer switches back to training mode before the next epoch
        meter = self._meter()
        for x, y in split.batches(self.eval_batch_size()):
            with self.autocast():
                out = self.model(x)
                loss = self._loss_of(out, y)
            if self.monitor == "accuracy":
                meter.add(out.float(), y, loss)
            else:
                meter.add(out.float(), as_target_shape(y, self.out_shape), loss)
        return Evaluation(meter.result(), meter.confusion())


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for size in shape:
        n *= size
    return n

"""What every recipe shares: the set-up it receives, its interface, and the data checks.

A recipe says how a project trains: which networks get an optimizer, what
one training step computes, how to evaluate a split and what to show
after each epoch (images, text). The trainer owns everything else (loop,
events, checkpoints, faults), so a recipe stays a page of code.

The checks here run before training and raise `SetupError` with a message
naming the block and saying what the data gives versus what the network
expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from graph.compiler import CompiledNetwork, CompiledProject
from graph.model import Project
from graph.shapes import format_shape
from graph.training_config import TrainingConfig
from runtime.data.base import Dataset
from runtime.train.device import DeviceSplit, Precision, place_split
from runtime.train.errors import SetupError
from runtime.train.updater import Updater

INPUT_KINDS = {"ImageInput": "image", "SequenceInput": "sequence", "VectorInput": "vector",
               "TokenInput": "tokens", "NoiseInput": "noise"}


@dataclass
class RecipeSetup:
    project: Project
    compiled: CompiledProject
    models: dict[str, nn.Module]
    dataset: Dataset
    config: TrainingConfig
    device: torch.device
    precision: Precision
    warnings: list[str] = field(default_factory=list)  # the trainer turns these into warning events
    workers: int | None = None  # DataLoader workers for streamed data (None: automatic)


@dataclass
class Evaluation:
    metrics: dict[str, float]
    confusion: list[list[int]] | None = None


@dataclass
class SampleOutput:
    title: str
    filename: str  # under the run folder's samples/
    png: bytes | None = None
    text: str | None = None


@dataclass
class OptimizerGroup:
    network: str
    params: list[nn.Parameter]
    lr: float


class Recipe:
    """Interface of a training recipe (see the module docstring)."""

    name = "recipe"
    step_names: tuple[str, ...] = ("loss",)  # what train_step's returned values are
    monitor = "loss"  # the validation metric "best" means, unless the settings pick one
    has_validation = True

    def __init__(self, setup: RecipeSetup):
        self.setup = setup
        self.config = setup.config
        self.device = setup.device
        self.autocast = setup.precision.autocast
        self.updaters: dict[str, Updater] = {}
        self.train_data: DeviceSplit | None = None
        self.val_data: DeviceSplit | None = None
        self.test_data: DeviceSplit | None = None

    def place_data(self) -> None:
        ds, workers = self.setup.dataset, self.setup.workers
        self.train_data = place_split(ds.train, self.device, workers)  # streamed data: a StreamSplit
        self.val_data = place_split(ds.val, self.device, workers)
        self.test_data = place_split(ds.test, self.device, workers)

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """One optimisation step; returns the step's values (detached), in `step_names` order."""
        raise NotImplementedError

    def evaluate(self, split: DeviceSplit) -> Evaluation:
        raise NotImplementedError

    def samples(self, epoch: int) -> list[SampleOutput]:
        return []

    @property
    def class_names(self) -> list[str] | None:
        return None

    def eval_batch_size(self) -> int:
        return max(self.config.batch_size, min(1024, 4 * self.config.batch_size))


# --- checks shared by recipes -------------------------------------------------------------------


class SingleNetworkRecipe(Recipe):
    """A recipe that trains one network with one optimizer (all but the GAN).

    Subclasses set `self.network` and `self.model` and say how a batch becomes a loss.
    """

    network: str
    model: nn.Module

    def step_loss(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        return {self.network: OptimizerGroup(self.network, list(self.model.parameters()), self.config.lr)}

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with self.autocast():
            loss = self.step_loss(x, y)
        self.updaters[self.network](loss)
        return loss.detach()


def pick_network(setup: RecipeSetup, recipe: str) -> tuple[str, nn.Module, CompiledNetwork]:
    """The one network a single-network recipe trains (the first, with a warning when there are more)."""
    names = list(setup.compiled.networks)
    if len(names) > 1:
        setup.warnings.append(f"the {recipe} recipe trains one network; using '{names[0]}' and "
                              f"ignoring {', '.join(repr(n) for n in names[1:])}")
    name = names[0]
    parts = setup.dataset.extra.get("input_parts") if setup.dataset is not None else None
    if parts:
        split_flat_inputs(setup.models[name], parts)
    return name, setup.models[name], setup.compiled.networks[name]


def split_flat_inputs(model: nn.Module, parts: list[tuple[str, tuple[int, ...]]]) -> None:
    """A network with several inputs fed one flat vector per sample (runtime/train/data.py): a forward
    pre-hook cuts it into the inputs, in forward() order, before forward runs. The module, its
    weights and its state_dict keys stay as they are; called with the inputs themselves, nothing
    changes (exports, previews)."""
    if getattr(model, "_deepwire_split", None) is not None:
        return
    sizes = [math.prod(shape) for _name, shape in parts]
    shapes = [tuple(shape) for _name, shape in parts]

    def split(_module, args):
        if len(args) != 1 or not isinstance(args[0], torch.Tensor) or args[0].shape[-1:] != (sum(sizes),):
            return None
        flat = args[0]
        return tuple(piece.reshape(len(flat), *shape)
                     for piece, shape in zip(torch.split(flat, sizes, dim=1), shapes))

    model._deepwire_split = model.register_forward_pre_hook(split)


def single_head(info: CompiledNetwork, what: str) -> tuple[str, tuple[int, ...]]:
    """(head type, output shape) of a network that must have exactly one output head."""
    if len(info.head_types) != 1:
        raise SetupError(f"network '{info.network}' has {len(info.head_types)} output heads, but {what} "
                         "trains a network with exactly one; remove the extra heads")
    return info.head_types[0], tuple(info.output_shapes[0])


def check_input(info: CompiledNetwork, dataset: Dataset) -> None:
    """The network has one input block, of the kind and shape the data provides (or several, fed side
    by side as one flat vector by the arrays source)."""
    parts = dataset.extra.get("input_parts")
    if parts and len(info.input_types) > 1:
        wanted = [(n, tuple(s)) for n, s in zip(info.input_names, info.input_shapes)]
        if [(n, tuple(s)) for n, s in parts] != wanted:
            raise SetupError(f"network '{info.network}' takes inputs {wanted}, but the data was read for "
                             f"{[(n, tuple(s)) for n, s in parts]}; load the data again")
        return
    if len(info.input_types) != 1:
        raise SetupError(f"network '{info.network}' has {len(info.input_types)} input blocks, but the data "
                         f"'{dataset.name}' feeds exactly one; remove the extra inputs")
    kind = INPUT_KINDS.get(info.input_types[0], "?")
    shape = tuple(info.input_shapes[0])
    name = info.input_names[0]
    if kind != dataset.input_kind:
        raise SetupError(
            f"input block '{name}' of network '{info.network}' is a {info.input_types[0]} ({kind}), but "
            f"the data '{dataset.name}' gives {dataset.input_kind} samples; replace the input block with "
            f"the {dataset.input_kind} input, or pick data that matches")
    if shape != tuple(dataset.input_shape):
        raise SetupError(
            f"input block '{name}' of network '{info.network}' expects samples of shape "
            f"{format_shape(shape)}, but the data '{dataset.name}' gives "
            f"{format_shape(dataset.input_shape)}; set the input block's size to "
            f"{format_shape(dataset.input_shape)}")


def check_targets(dataset: Dataset, wanted: str, recipe: str, fix: str) -> None:
    if dataset.target_kind != wanted:
        given = {"class": "class labels", "value": "numbers to predict", "tokens": "next tokens",
                 "none": "no targets"}.get(dataset.target_kind, dataset.target_kind)
        raise SetupError(f"the {recipe} recipe needs {wanted} targets, but the data '{dataset.name}' has "
                         f"{given}; {fix}")
    if dataset.train is None or len(dataset.train) == 0:
        raise SetupError(f"the data '{dataset.name}' has no training samples; check its source and fractions")


def as_target_shape(y: torch.Tensor, out_shape: tuple[int, ...]) -> torch.Tensor:
    """Targets reshaped to the output's per-sample shape (e.g. (B,) -> (B, 1))."""
    return y.reshape(y.shape[0], *out_shape)

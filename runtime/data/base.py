"""The data interface shared by every data source and by the trainer.

A source turns a `DataSpec` (source name + options) into a `Dataset`: numpy
arrays already split into train/validation/test with a fixed seed and
normalised, plus what the trainer and the studio need to know about them.
Everything is in memory: the bundled sets are small, and a user's folder of
images is read once.

Conventions the trainer relies on:
- inputs: float32 (N, *input_shape), or int64 token ids (N, T) when
  input_kind == "tokens".
- targets: int64 (N,) class ids for "class" (or (N, T) per-step classes);
  float32 (N, *shape) for "value"; int64 (N, T) next tokens for "tokens";
  None for "none" (GAN and autoencoder sources: the inputs are the data); int64 (N, T) target
  ids (end token, padding) for "translation", the inputs (N, S) source ids (runtime/data/parallel.py).
- Normalisation follows the recipe: classification/regression standardise
  with training-split statistics when config.normalize is set; autoencoders
  get images scaled to [0, 1]; GANs to [-1, 1] (a Tanh generator's range).
  Whatever was applied is recorded as x' = (x - mean) / std, with mean and
  std shaped to broadcast against one sample ((C, 1, 1) for images, (F,)
  otherwise), so samples can be turned back into pixels for display.
- num_classes is the class count, or the vocabulary size for token data (a
  language model's output size); None for regression.
- Targets are not scaled (regression values keep their units).

Sources, probing and loading live next to this file: see runtime/data/__init__.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

INPUT_KINDS = ("image", "sequence", "vector", "tokens")
TARGET_KINDS = ("class", "value", "tokens", "none", "translation")


class DataError(ValueError):
    """Bad data, found before training starts.

    The message names the file (and row or column where there is one) and
    says what to do, e.g. "data.csv, row 17: 4 values where the header has 5
    columns; fix or delete that row".
    """


@dataclass
class Split:
    inputs: np.ndarray
    targets: np.ndarray | None

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split | None
    test: Split | None
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    input_kind: str  # one of INPUT_KINDS
    target_kind: str  # one of TARGET_KINDS
    num_classes: int | None = None
    class_names: list[str] | None = None
    vocab: list[str] | None = None  # token id -> text (character language models)
    mean: np.ndarray | None = None  # normalisation that was applied: x' = (x - mean) / std
    std: np.ndarray | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

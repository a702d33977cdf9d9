"""What a data source declares, and the checks every source shares.

A `Source` is data plus two functions:
- `natural(options, context) -> Natural`: what one sample looks like, cheaply
  (constants, a file header, a folder listing). `probe` and `deepwire check`
  use it, so it never imports torch and avoids reading whole files.
- `read(options, context) -> RawData`: the full load, with samples already
  shaped for the network (`context.shape`).

This module also fits a source's natural sample shape to the network's input
block (`fit_shape`) and decides the target kind a training recipe needs
(`target_kind_for`). Pure numpy-free Python: probing stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from graph.params import Param, ParamError
from runtime.data.base import DataError

# Natural sample rank -> the input block kind that takes it, when the caller does not say.
KIND_BY_RANK = {1: "vector", 2: "sequence", 3: "image"}
INPUT_BLOCK_NAMES = {
    "image": "an Image input", "sequence": "a Sequence input",
    "vector": "a Tabular input", "tokens": "a Token ids input",
}


class Probe(NamedTuple):
    """What a source will produce for a network: compare it with the input block.

    num_classes is the class count for class targets and the vocabulary size for
    token sources (a language model's output size); None otherwise.
    """

    input_shape: tuple[int, ...]
    input_kind: str
    target_kind: str
    num_classes: int | None


@dataclass(frozen=True)
class Natural:
    """One sample as a source gives it, before fitting it to a network.

    flexible: "fixed" (only a reshape with the same number of values fits),
    "length" (sequences and text: the time steps T come from the network),
    "image_size" (image files: resized to the network's channels, height, width),
    "exact" (audio: only this very shape; a spectrogram is never silently reshaped).
    adjust: what else makes the data fit, appended to a mismatch message.
    """

    shape: tuple[int, ...]
    input_kind: str
    target_kind: str
    num_classes: int | None
    what: str  # how messages name the samples, e.g. "the digits images"
    flexible: str = "fixed"
    adjust: str = ""
    integer_ids: bool = False  # whole numbers >= 0 that may also feed a Token ids input (arrays)


@dataclass
class Context:
    """What a source may need besides its options."""

    recipe: str | None = None
    base_dir: Path | None = None  # relative paths are read from here (the project's folder)
    seed: int = 0
    val_fraction: float = 0.0
    test_fraction: float = 0.0
    shape: tuple[int, ...] | None = None  # the fitted sample shape, set before `read`
    input_kind: str | None = None  # the fitted input kind, set before `read` ("tokens": keep integer ids)
    num_classes: int | None = None  # the network's class count, when known
    progress: Callable | None = None  # progress(what, done, total) while indexing a big folder
    input_parts: list | None = None  # [(argument, shape)] of a network with several inputs (arrays only)
    target_length: int | None = None  # seq2seq: the decoder's Token ids input length (parallel text)
    memo: dict = field(default_factory=dict)  # what `natural` found that `read` reuses (a folder's index)
    # the caller reads a few rows only (the studio's preview): a source that can stream streams, whatever
    # the size, so that nothing is decoded but the rows asked for
    stream: bool = False

    def path(self, text: str) -> Path:
        path = Path(text).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = Path(self.base_dir) / path
        return path


@dataclass
class RawData:
    """A source's full load: every sample, shaped (N, *context.shape), not yet split.

    Text sources split their character stream themselves (contiguous parts, so
    overlapping windows never leak validation text into training) and hand
    back `splits` = (train, val, test) as (inputs, targets) pairs instead.
    """

    inputs: Any  # np.ndarray (N, *shape)
    targets: Any  # np.ndarray or None
    target_kind: str
    origin: str  # file or source name, for messages
    num_classes: int | None = None
    class_names: list[str] | None = None
    vocab: list[str] | None = None
    pixel_range: tuple[float, float] | None = None  # images: the value range of a pixel
    description: str = ""
    splits: tuple | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    help: str  # one line
    params: tuple[Param, ...]
    natural: Callable[[dict[str, Any], Context], Natural]
    read: Callable[[dict[str, Any], Context], RawData]
    required: tuple[str, ...] = ()  # options that must be set, e.g. a file path
    # why the training setting 'augment' (random left-right flips and shifts of images) must stay off
    # for this source's samples, e.g. sounds; "" when it may be on
    no_augment: str = ""
    several_inputs: bool = False  # reads one array per input of a network with several (arrays)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in and every value checked; DataError names the bad option."""
        names = [p.name for p in self.params]
        for key in options:
            if key not in names:
                valid = f"its options are: {', '.join(names)}" if names else "it takes no options"
                raise DataError(f"data source '{self.name}' has no option '{key}'; {valid}")
        checked = {}
        for param in self.params:
            value = options.get(param.name, param.default)
            try:
                checked[param.name] = param.check(value)
            except ParamError as exc:
                raise DataError(f"data source '{self.name}', option '{param.name}': {exc}") from None
        for name in self.required:
            if checked[name] in ("", None):
                raise DataError(f"data source '{self.name}' needs option '{name}': "
                                f"{self.param(name).help}")
        return checked

    def probe(self, spec, input_shape: tuple[int, ...] | None = None, input_kind: str | None = None,
              recipe: str | None = None, base_dir: str | Path | None = None) -> Probe:
        """The shapes and kinds this source gives a network with that input block; cheap."""
        options = self.check_options(spec.options)
        context = Context(recipe=recipe, base_dir=Path(base_dir) if base_dir is not None else None)
        natural = self.natural(options, context)
        shape, kind = fit_shape(natural, self.name, input_shape, input_kind)
        target_kind = target_kind_for(natural.target_kind, self.name, recipe)
        classes = natural.num_classes if target_kind in ("class", "tokens", "translation") else None
        return Probe(shape, kind, target_kind, classes)


def shape_text(shape: tuple[int, ...]) -> str:
    return "(B, " + ", ".join(str(d) for d in shape) + ")"


def _values_text(shape: tuple[int, ...]) -> str:
    count = math.prod(shape)
    if len(shape) == 1:
        return f"{count} values per sample"
    return f"{'x'.join(str(d) for d in shape)} = {count} values per sample"


# input block type -> the kind of samples it reads (Latent noise reads none)
DATA_INPUTS = {"ImageInput": "image", "SequenceInput": "sequence", "VectorInput": "vector",
               "TokenInput": "tokens"}


def several_inputs(network) -> list[tuple[str, tuple[int, ...]]] | None:
    """(forward() argument, sample shape) of each input of a compiled network with several data inputs
    (a siamese pair), fed as one flat vector of their values side by side; None for one input.
    ValueError for a mix the flat vector cannot carry (noise or token ids beside other inputs)."""
    named = zip(network.input_names, network.input_types, network.input_shapes)
    reads = [(n, t, tuple(s)) for n, t, s in named if t in DATA_INPUTS]
    if len(reads) < 2:
        return None
    if len(reads) != len(network.input_types):
        raise ValueError(f"network '{network.network}' mixes Latent noise with other inputs; train it with "
                         "one data input, or only data inputs")
    tokens = [n for n, t, _s in reads if DATA_INPUTS[t] == "tokens"]
    if tokens:
        raise ValueError(f"network '{network.network}' has {len(reads)} inputs, one of them token ids "
                         f"('{tokens[0]}'); several inputs are fed as numbers side by side, so give it one "
                         "Token ids input or none")
    return [(n, s) for n, _t, s in reads]


def fit_shape(natural: Natural, source: str, input_shape: tuple[int, ...] | None,
              input_kind: str | None) -> tuple[tuple[int, ...], str]:
    """The sample shape and input kind the source will produce for this network input.

    A natural shape fits when it has as many values as the input block expects
    (digits 1x8x8 -> (64,) or (8, 8)); sequences and text take their length from
    the network; image files are resized. Otherwise DataError names both shapes.
    """
    is_tokens = natural.input_kind == "tokens" or (natural.integer_ids and input_kind == "tokens")
    if input_kind is not None and (input_kind == "tokens") != is_tokens:
        wanted = INPUT_BLOCK_NAMES.get(input_kind, input_kind)
        if is_tokens:
            raise DataError(
                f"data source '{source}' gives token ids (characters of a text), but the network starts "
                f"with {wanted} block; use a Token ids input (TokenInput) for text")
        raise DataError(
            f"the network starts with a Token ids input, but data source '{source}' gives "
            f"{natural.input_kind} data, not text; use a text source (pydoc_text, text_file) "
            f"or change the input block")
    if input_shape is None:
        return tuple(natural.shape), (input_kind or natural.input_kind)
    shape = tuple(int(d) for d in input_shape)
    kind = input_kind or ("tokens" if is_tokens else KIND_BY_RANK.get(len(shape), natural.input_kind))
    mismatch = DataError(
        f"{natural.what} are {_values_text(natural.shape)} but the network's input block expects "
        f"{shape_text(shape)}; change the input block to {shape_text(natural.shape)}")
    if is_tokens:
        if natural.integer_ids and natural.input_kind != "tokens" and shape != tuple(natural.shape):
            raise DataError(f"{natural.what} are token ids {shape_text(natural.shape)}, but the network's "
                            f"Token ids input expects {shape_text(shape)}; set its length to "
                            f"{natural.shape[0]}")
        if len(shape) != 1:
            raise DataError(f"{natural.what} are token ids (B, T), but the network's input block expects "
                            f"{shape_text(shape)}; use a Token ids input (TokenInput)")
        return shape, kind
    if natural.flexible == "length":
        features = natural.shape[-1]
        if len(shape) == 2 and shape[1] == features:
            return shape, kind
        if len(shape) == 1 and features == 1:
            return shape, kind
        raise DataError(
            f"{natural.what} have {features} feature(s) per time step, but the network's input block "
            f"expects {shape_text(shape)}; use a Sequence input with features={features} "
            f"(any length)")
    if natural.flexible == "image_size" and len(shape) == 3:
        if shape[0] not in (1, 3, 4):
            raise DataError(
                f"{natural.what} can be read with 1 (grey), 3 (RGB) or 4 (RGBA) channels, but the "
                f"network's input block expects {shape[0]} channels {shape_text(shape)}")
        return shape, kind
    if natural.flexible == "exact":
        if shape != tuple(natural.shape):
            raise DataError(f"{natural.what} are {shape_text(natural.shape)} but the network's input block "
                            f"expects {shape_text(shape)}; change the input block to "
                            f"{shape_text(natural.shape)}{natural.adjust}")
        return shape, kind
    if math.prod(shape) != math.prod(natural.shape):
        raise mismatch
    return shape, kind


# What each recipe needs from the targets: recipe -> (target kind, hint when the data does not fit)
_RECIPE_TARGETS = {
    "classification": ("class", "class labels"),
    "regression": ("value", "numbers to predict"),
    "language_model": ("tokens", "text (next-character targets)"),
    "seq2seq": ("translation", "pairs of texts (a source and its target)"),
    "segmentation": ("class", "a class mask per image"),
}
_TARGET_WORDS = {"class": "class labels", "value": "numbers to predict (regression)",
                 "tokens": "text for a language model", "none": "no targets",
                 "translation": "pairs of texts (source -> target)"}
_RECIPE_FOR_TARGET = {"class": "classification", "value": "regression", "tokens": "language_model",
                      "translation": "seq2seq"}


def target_kind_for(natural_target: str, source: str, recipe: str | None) -> str:
    """The target kind the dataset will carry under `recipe`, or DataError if they do not fit."""
    if recipe is None:
        return natural_target
    if recipe in ("autoencoder", "gan"):
        return "none"  # the inputs are the data
    needed, words = _RECIPE_TARGETS[recipe]
    if natural_target != needed:
        better = _RECIPE_FOR_TARGET.get(natural_target)
        hint = f"; choose the {better} recipe" if better else ""
        raise DataError(
            f"the {recipe} recipe needs {words}, but data source '{source}' gives "
            f"{_TARGET_WORDS[natural_target]}{hint}, or pick another data source")
    return needed

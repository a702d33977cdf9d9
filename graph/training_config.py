"""How a project trains: the recipe with its hyper-parameters, and its data source.

Hyper-parameters are declared with the same `Param` type as block
parameters, so the project loader validates them and the studio builds its
training panel from them. The data source is a name plus options; the
runtime's data registry knows what each source accepts (the graph layer
only checks they are plain JSON values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graph.params import Bool, Choice, Float, Int, ParamError, Text

RECIPES = ("classification", "regression", "language_model", "autoencoder", "gan", "seq2seq",
           "segmentation")

TRAINING_PARAMS = (
    Choice("recipe", "classification", RECIPES,
           "What the network learns: labels, numbers, the next token, its own input, a GAN, a class per "
           "pixel (segmentation), or one text from another (seq2seq)."),
    Choice("optimizer", "adam", ("sgd", "adam", "adamw", "rmsprop"),
           "The update rule. Adam is a safe default; SGD with momentum often generalises best."),
    Float("lr", 1e-3, 1e-7, 10.0, "Learning rate: the step size of each update."),
    Float("momentum", 0.9, 0.0, 0.999, "SGD and RMSprop momentum."),
    Float("beta1", 0.9, 0.0, 0.9999,
          "Adam/AdamW: how slowly the running mean of gradients forgets; GANs train better with 0.5."),
    Bool("nesterov", False, "Nesterov momentum (SGD only)."),
    Float("weight_decay", 0.0, 0.0, 1.0, "L2 penalty on the weights (decoupled for AdamW)."),
    Int("batch_size", 64, 1, 65536, "Samples per step."),
    Int("epochs", 10, 1, 100000, "Passes over the training data."),
    Choice("schedule", "constant", ("constant", "step", "cosine", "onecycle"),
           "How the learning rate changes during training."),
    Int("warmup_epochs", 0, 0, 1000, "Linear learning-rate warm-up at the start (epochs)."),
    Int("step_size", 10, 1, 100000, "Step schedule: epochs between decays."),
    Float("gamma", 0.1, 0.0, 1.0, "Step schedule: factor applied at each decay."),
    Float("grad_clip", 0.0, 0.0, 1e6, "Clip the gradient norm to this value (0 turns it off)."),
    Int("early_stopping", 0, 0, 100000,
        "Stop after this many epochs without validation improvement (0 turns it off)."),
    Float("val_fraction", 0.2, 0.0, 0.9, "Share of the data held out for validation."),
    Float("test_fraction", 0.0, 0.0, 0.9, "Share of the data held out for a final test."),
    Bool("augment", False, "Image augmentation: random flips and crops."),
    Choice("adversarial", "off", ("off", "fgsm", "pgd"),
           "Adversarial training: also learn from inputs perturbed (by FGSM or PGD) to raise the loss, so "
           "small changes fool the network less. Images, sequences and tables; each step costs 2 (FGSM) "
           "or adversarial_steps + 1 (PGD) forward and backward passes."),
    Float("adversarial_eps", 0.1, 0.0, 10.0,
          "Adversarial training: the largest change per input value, in the units `deepwire evaluate "
          "--attack` uses: a fraction of the pixel range for images, standard deviations otherwise."),
    Float("adversarial_weight", 0.5, 0.0, 1.0,
          "Adversarial training: share of the loss from the perturbed inputs (the rest from the clean "
          "ones; 1 learns from perturbed inputs only)."),
    Int("adversarial_steps", 3, 1, 100, "Adversarial training with PGD: attack steps per batch."),
    Bool("normalize", True, "Scale inputs to zero mean and unit variance (from the training split)."),
    Choice("device", "auto", ("auto", "cpu", "cuda", "mps"), "Where to train; auto picks the best."),
    Bool("mixed_precision", True, "Use mixed precision on CUDA (ignored elsewhere)."),
    Bool("compile", False, "Compile the model with torch.compile (slower start, faster steps)."),
    Choice("monitor", "auto", ("auto", "loss", "accuracy"),
           "Validation metric that picks the best checkpoint and drives early stopping; "
           "auto: accuracy for classifiers, loss otherwise."),
    Int("top_k", 5, 1, 1000, "Classifiers: also report top-k accuracy (the right class among the k best)."),
    Float("d_lr", 0.0, 0.0, 10.0, "GAN: the discriminator's learning rate (0 uses lr, like the generator)."),
    Int("log_every", 10, 1, 100000, "Steps between step events."),
    Int("stats_every", 50, 0, 1000000,
        "Steps between per-block gradient and activation statistics (0 turns them off)."),
    Int("sample_length", 200, 1, 100000, "Language models: characters sampled each epoch."),
    Float("temperature", 0.8, 0.01, 10.0, "Language models: sampling temperature."),
    Text("init_checkpoint", "",
         "Transfer learning: weights to start from: a DeepWire run folder (or its best.pt), or a "
         "PyTorch state_dict file (.pt/.pth) whose keys are matched to blocks by name."),
    Text("init_blocks", "",
         "Transfer learning: the blocks to copy: block ids, block names or group names, separated by "
         "commas (empty: every block the file has weights for)."),
    Text("init_key_map", "",
         "Transfer learning from a state_dict: which file prefix feeds which block, e.g. "
         "'features.0=conv1, backbone=b3' (empty: keys are matched by the blocks' code names)."),
    Bool("freeze_init", True, "Transfer learning: keep the copied blocks fixed while training."),
    Float("pretrained_lr_scale", 1.0, 0.0, 10.0,
          "Transfer learning: learning rate of copied (pretrained) blocks that still learn, as a "
          "share of lr (e.g. 0.1 fine-tunes them gently)."),
)

_BY_NAME = {p.name: p for p in TRAINING_PARAMS}


class TrainingConfig:
    """Validated hyper-parameters; read them as attributes (`config.lr`)."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self.values = check_training(values or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrainingConfig) and self.values == other.values

    def __repr__(self) -> str:
        return f"TrainingConfig({self.changed()!r})"

    def changed(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what a project file stores)."""
        return {k: v for k, v in self.values.items() if _BY_NAME[k].default != v}

    def replace(self, **changes: Any) -> TrainingConfig:
        return TrainingConfig({**self.values, **changes})


def check_training(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every value checked; ParamError names the field."""
    unknown = sorted(set(raw) - set(_BY_NAME))
    if unknown:
        raise ParamError(f"unknown training setting '{unknown[0]}'")
    return {p.name: p.check(raw[p.name]) if p.name in raw else p.default for p in TRAINING_PARAMS}


def _check_json_value(key: str, value: Any) -> None:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value):
        return
    raise ParamError(f"data option '{key}' must be a number, text, true/false or a list of those")


# the source of a project that has no data yet (an imported model): training asks for data,
# `deepwire check` and the studio show it as a notice, not as an error
NO_DATA = "none"


@dataclass
class DataSpec:
    """Which data source feeds the network, and its options (e.g. a CSV path and columns).

    `DataSpec(NO_DATA)` means no data has been chosen yet (see `chosen`).
    """

    source: str = "digits"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> bool:
        """False until the user picks a data source (an imported project starts without one)."""
        return self.source != NO_DATA

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.isidentifier():
            raise ParamError(f"data source must be a simple name like 'digits'; got {self.source!r}")
        if not isinstance(self.options, dict):
            raise ParamError("data options must be an object of name: value pairs")
        for key, value in self.options.items():
            if not isinstance(key, str):
                raise ParamError(f"data option names must be text; got {key!r}")
            _check_json_value(key, value)

"""Normalisation and regularisation: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, Dropout, stochastic depth.

All of them keep the shape of their input. BatchNorm and GroupNorm work per
channel, the first axis after the batch; LayerNorm normalises the last axis
(the features of a sequence step or of a vector).
"""

from __future__ import annotations

from graph.params import Bool, Choice, Float, Int
from graph.pycode import call
from graph.shapes import format_shape
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Normalization"

MOMENTUM_HELP = "How fast the running mean/variance used at test time follows new batches."
AFFINE_HELP = "Learn a scale and an offset per channel after normalising."
DEFAULT_EPS = 1e-5


def _eps() -> object:
    return Float("eps", DEFAULT_EPS, 1e-12, 1.0,
                 "Small number added to the variance so it never divides by zero; 1e-5 is torch's "
                 "default, 1e-6 or 1e-3 are used by some model families.")


def _eps_option(p, extra: dict) -> dict:
    if p["eps"] != DEFAULT_EPS:
        extra["eps"] = p["eps"]
    return extra


def _expect_ranks(x, ranks: tuple[int, ...], words: str, hint: str = "") -> None:
    if len(x) not in ranks:
        raise ShapeError(f"expects {words} but receives {format_shape(x)}{hint}", port="x")


def _batch_norm1d_shape(p, ins):
    x = ins["x"]
    _expect_ranks(x, (1, 2), "features (B, F) or channels along a length (B, C, L)",
                  ": use Batch norm 2D for images" if len(x) == 3 else "")
    return x


def _batch_norm2d_shape(p, ins):
    x = ins["x"]
    _expect_ranks(x, (3,), "an image (B, C, H, W)",
                  ": use Batch norm 1D for vectors and (B, C, L) inputs" if len(x) in (1, 2) else "")
    return x


def _affine_count(p, ins, out):
    return 2 * ins["x"][0] if p["affine"] else 0


def _batch_norm_code(cls: str):
    def emit(p, ins, out):
        extra = _eps_option(p, {})
        if p["momentum"] != 0.1:
            extra["momentum"] = p["momentum"]
        if not p["affine"]:
            extra["affine"] = False
        return Emission(call(cls, ins["x"][0], **extra), "{self}({x})")
    return emit


def _batch_norm_params() -> tuple:
    return (
        Float("momentum", 0.1, 0.0, 1.0, MOMENTUM_HELP),
        Bool("affine", True, AFFINE_HELP),
        _eps(),
    )


BATCH_NORM1D = BlockSpec(
    "BatchNorm1d", "Batch norm 1D", CATEGORY,
    "Normalises each feature (B, F) or channel (B, C, L) over the batch; speeds up and steadies training.",
    infer=_batch_norm1d_shape, emit=_batch_norm_code("nn.BatchNorm1d"), count=_affine_count,
    inputs=(Port("x", "features (B, F) or (B, C, L)", ranks=(1, 2)),),
    params=_batch_norm_params(), same_shape=True,
)

BATCH_NORM2D = BlockSpec(
    "BatchNorm2d", "Batch norm 2D", CATEGORY,
    "Normalises each image channel over the batch and all pixels; usually right after a Conv 2D.",
    infer=_batch_norm2d_shape, emit=_batch_norm_code("nn.BatchNorm2d"), count=_affine_count,
    inputs=(Port("x", "an image (B, C, H, W)", ranks=(3,)),),
    params=_batch_norm_params(), same_shape=True,
)


def _same(p, ins):
    return ins["x"]


def _layer_norm_code(p, ins, out):
    extra = _eps_option(p, {})
    if not p["affine"]:
        extra["elementwise_affine"] = False
    elif not p["bias"]:
        extra["bias"] = False
    return Emission(call("nn.LayerNorm", ins["x"][-1], **extra), "{self}({x})")


def _layer_norm_count(p, ins, out):
    if not p["affine"]:
        return 0
    return ins["x"][-1] * (2 if p["bias"] else 1)


LAYER_NORM = BlockSpec(
    "LayerNorm", "Layer norm", CATEGORY,
    "Normalises the last axis of each sample on its own (no batch statistics); standard in Transformers.",
    infer=_same, emit=_layer_norm_code, count=_layer_norm_count,
    params=(Bool("affine", True, "Learn a scale and an offset per feature after normalising."),
            _eps(),
            Bool("bias", True, "With affine: learn the offset too (off: a scale only, as in some GPTs)."),),
    same_shape=True,
)


def _divisors(n: int, limit: int = 8) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0][:limit]


def _group_norm_shape(p, ins):
    x = ins["x"]
    _expect_ranks(x, (1, 2, 3), "features (B, F), (B, C, L) or an image (B, C, H, W)")
    channels, groups = x[0], p["groups"]
    if channels % groups:
        options = _divisors(channels)
        listed = ", ".join(map(str, options))
        choose = f"such as {listed}" if len(options) == 8 else f"one of {listed}"
        raise ShapeError(
            f"has groups {groups}, which does not divide its {channels} channels: "
            f"choose a divisor of {channels}, {choose}", port="x", param="groups")
    return x


def _group_norm_code(p, ins, out):
    extra = _eps_option(p, {} if p["affine"] else {"affine": False})
    return Emission(call("nn.GroupNorm", p["groups"], ins["x"][0], **extra), "{self}({x})")


GROUP_NORM = BlockSpec(
    "GroupNorm", "Group norm", CATEGORY,
    "Normalises groups of channels within each sample; works with tiny batches, unlike BatchNorm.",
    infer=_group_norm_shape, emit=_group_norm_code, count=_affine_count,
    inputs=(Port("x", "channels first: (B, C, ...)", ranks=(1, 2, 3)),),
    params=(
        Int("groups", 8, 1, 65_536, "How many groups the channels are split into; must divide them."),
        Bool("affine", True, AFFINE_HELP),
        _eps(),
    ),
    summary=("groups",), same_shape=True,
)


def _instance_norm_shape(dims: int):
    def infer(p, ins):
        x = ins["x"]
        if dims == 1:
            _expect_ranks(x, (2,), "channels along a length (B, C, L)",
                          ": use Instance norm 2D for images" if len(x) == 3 else "")
        else:
            _expect_ranks(x, (3,), "an image (B, C, H, W)",
                          ": use Instance norm 1D for (B, C, L) inputs" if len(x) == 2 else "")
        positions = x[1] if dims == 1 else x[1] * x[2]
        if positions < 2:
            raise ShapeError(
                f"normalises each channel over its positions, but its input {format_shape(x)} has only one "
                "per channel (its variance is undefined): remove it, or use Batch norm, which also averages "
                "over the batch", port="x")
        return x
    return infer


def _instance_norm_code(cls: str):
    def emit(p, ins, out):
        extra = _eps_option(p, {})
        if p["momentum"] != 0.1:
            extra["momentum"] = p["momentum"]
        if p["affine"]:
            extra["affine"] = True
        if p["track_running_stats"]:
            extra["track_running_stats"] = True
        return Emission(call(cls, ins["x"][0], **extra), "{self}({x})")
    return emit


def _instance_norm(dims: int) -> BlockSpec:
    words = "channels along a length (B, C, L)" if dims == 1 else "an image (B, C, H, W)"
    return BlockSpec(
        f"InstanceNorm{dims}d", f"Instance norm {dims}D", CATEGORY,
        f"Normalises each channel of each sample on its own over its positions ({words}); "
        "the usual normalisation of style transfer and some GAN generators.",
        infer=_instance_norm_shape(dims), emit=_instance_norm_code(f"nn.InstanceNorm{dims}d"),
        count=_affine_count,
        inputs=(Port("x", words, ranks=(dims + 1,)),),
        params=(
            Bool("affine", False, AFFINE_HELP + " Off by default, as in torch."),
            Bool("track_running_stats", False,
                 "Keep running means/variances and use them at test time instead of each sample's own."),
            Float("momentum", 0.1, 0.0, 1.0, MOMENTUM_HELP + " Only with track_running_stats."),
            _eps(),
        ),
        same_shape=True,
    )


INSTANCE_NORM1D = _instance_norm(1)
INSTANCE_NORM2D = _instance_norm(2)


def _dropout_code(cls: str):
    def emit(p, ins, out):
        return Emission(call(cls, p["p"]) if p["p"] != 0.5 else f"{cls}()", "{self}({x})")
    return emit


DROPOUT = BlockSpec(
    "Dropout", "Dropout", CATEGORY,
    "While training, zeroes a random share p of the values so the network cannot rely on any one.",
    infer=_same, emit=_dropout_code("nn.Dropout"),
    params=(Float("p", 0.5, 0.0, 1.0, "Share of values zeroed while training (0.1 to 0.5 is typical)."),),
    summary=("p",), same_shape=True,
)


def _dropout2d_shape(p, ins):
    x = ins["x"]
    _expect_ranks(x, (3,), "an image (B, C, H, W)", ": use Dropout for other inputs")
    return x


DROPOUT2D = BlockSpec(
    "Dropout2d", "Dropout 2D", CATEGORY,
    "While training, zeroes whole image channels at random (share p); suits convolutional networks.",
    infer=_dropout2d_shape, emit=_dropout_code("nn.Dropout2d"),
    inputs=(Port("x", "an image (B, C, H, W)", ranks=(3,)),),
    params=(Float("p", 0.5, 0.0, 1.0, "Share of channels zeroed while training."),),
    summary=("p",), same_shape=True,
)



def _scale_shape(p, x) -> tuple[int, ...]:
    """The learned scale's shape: (D,) for the last axis, (C, 1, ...) for the channels."""
    return (x[-1],) if p["axis"] == "last" else (x[0], *(1,) * (len(x) - 1))


def _layer_scale_code(p, ins, out):
    args = [_scale_shape(p, ins["x"])] + ([p["init"]] if p["init"] != 1e-5 else [])
    return Emission(call("LayerScale", *args), "{self}({x})", helpers=("LayerScale",))


LAYER_SCALE = BlockSpec(
    "LayerScale", "Layer scale", CATEGORY,
    "Multiplies by a learned scale per feature (last axis) or per channel, starting small so a residual "
    "branch begins almost switched off: ConvNeXt and deep vision Transformers put one before each Add.",
    infer=_same, emit=_layer_scale_code,
    count=lambda p, ins, out: ins["x"][-1] if p["axis"] == "last" else ins["x"][0],
    params=(
        Choice("axis", "last", ("last", "channels"),
               "last: one scale per feature of a vector or sequence; channels: one per channel of "
               "(B, C, H, W) or (B, C, L)."),
        Float("init", 1e-5, 0.0, 1000.0, "Starting value of every scale (1e-6 in ConvNeXt, 1e-5 in timm)."),
    ),
    summary=("axis",), same_shape=True,
)


def _stochastic_depth_code(p, ins, out):
    options = {}
    if p["mode"] != "row":
        options["mode"] = p["mode"]
    if not p["scale_by_keep"]:
        options["scale_by_keep"] = False
    return Emission(call("StochasticDepth", p["p"], **options), "{self}({x})", helpers=("StochasticDepth",))


STOCHASTIC_DEPTH = BlockSpec(
    "StochasticDepth", "Stochastic depth (drop path)", CATEGORY,
    "While training, drops a whole residual branch for a random share p of the samples (before the Add "
    "that joins it to the skip connection); passes values unchanged at evaluation. Used by ConvNeXt, "
    "EfficientNet and vision Transformers.",
    infer=_same, emit=_stochastic_depth_code,
    params=(
        Float("p", 0.1, 0.0, 1.0, "Chance that a sample's branch is dropped while training (0.1 is typical; "
              "deeper layers often get more)."),
        Choice("mode", "row", ("row", "batch"),
               "row: each sample is dropped on its own; batch: the whole batch at once."),
        Bool("scale_by_keep", True, "Divide what is kept by 1 - p, so the expected output stays the same."),
    ),
    summary=("p",), same_shape=True,
)

BLOCKS = (BATCH_NORM1D, BATCH_NORM2D, LAYER_NORM, GROUP_NORM, INSTANCE_NORM1D, INSTANCE_NORM2D, DROPOUT,
          DROPOUT2D, STOCHASTIC_DEPTH, LAYER_SCALE)

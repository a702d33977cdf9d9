"""Activation functions: element-wise non-linearities (shape unchanged).

They have no weights, so the generated code calls them as functions
(`x = torch.relu(x)`) rather than as submodules: that is how careful
hand-written PyTorch reads, and it saves a module call per activation
(measurable on small models; see bench/bench_codegen.py).

Softmax and LogSoftmax normalise along one axis; their `dim` counts the axes
after the batch from 1 (so it is also torch's dim), and -1 means the last.
"""

from __future__ import annotations

from graph.params import Choice, Float, Int
from graph.pycode import Raw, call
from graph.shapes import axes_range, format_shape, normalize_axis
from graph.spec import BlockSpec, Emission, ShapeError

CATEGORY = "Activations"
X = Raw("{x}")  # the input variable's placeholder in a forward template


def _same(p, ins):
    return ins["x"]


def _plain(type_id: str, title: str, function: str, help: str) -> BlockSpec:
    """An activation without parameters, emitted as `function(x)`."""
    return BlockSpec(type_id, title, CATEGORY, help, infer=_same,
                     emit=lambda p, ins, out: Emission(None, f"{function}({{x}})"), same_shape=True)


RELU = _plain("ReLU", "ReLU", "torch.relu", "max(0, x): the default non-linearity; cheap and trains well.")
SILU = _plain("SiLU", "SiLU (swish)", "F.silu",
              "x · sigmoid(x): a smooth ReLU used in modern convolutional networks.")
SIGMOID = _plain("Sigmoid", "Sigmoid", "torch.sigmoid",
                 "Squashes values into (0, 1), e.g. for probabilities or gates.")
TANH = _plain("Tanh", "Tanh", "torch.tanh",
              "Squashes values into (-1, 1), e.g. for a GAN generator's images.")
RELU6 = _plain("ReLU6", "ReLU6", "F.relu6",
               "min(max(0, x), 6): a ReLU capped at 6, as in MobileNet (robust in low precision).")
HARDSWISH = _plain("Hardswish", "Hard swish", "F.hardswish",
                   "x · relu6(x + 3) / 6: a cheap piecewise-linear SiLU, used by MobileNetV3.")
HARDSIGMOID = _plain("Hardsigmoid", "Hard sigmoid", "F.hardsigmoid",
                     "relu6(x + 3) / 6: a cheap piecewise-linear Sigmoid, e.g. the gate of MobileNetV3's "
                     "squeeze-excitation.")
MISH = _plain("Mish", "Mish", "F.mish",
              "x · tanh(softplus(x)): a smooth ReLU-like curve (YOLOv4, some timm models).")


def _leaky_relu_code(p, ins, out):
    slope = p["negative_slope"]
    return Emission(None, call("F.leaky_relu", X, slope) if slope != 0.01 else "F.leaky_relu({x})")


LEAKY_RELU = BlockSpec(
    "LeakyReLU", "Leaky ReLU", CATEGORY,
    "Like ReLU but lets a small slope through for negatives, so no unit goes silent (GAN critics).",
    infer=_same, emit=_leaky_relu_code, same_shape=True,
    params=(Float("negative_slope", 0.01, 0.0, 1.0, "Slope for negative inputs; 0.2 is common in GANs."),),
    summary=("negative_slope",),
)


def _elu_code(p, ins, out):
    return Emission(None, call("F.elu", X, alpha=p["alpha"]) if p["alpha"] != 1.0 else "F.elu({x})")


ELU = BlockSpec(
    "ELU", "ELU", CATEGORY,
    "Like ReLU for positives, a smooth curve down to -alpha for negatives.",
    infer=_same, emit=_elu_code, same_shape=True,
    params=(Float("alpha", 1.0, 0.0, 10.0, "The value very negative inputs approach (as -alpha)."),),
)


def _gelu_code(p, ins, out):
    approximate = p["approximate"]
    if approximate == "none":
        return Emission(None, "F.gelu({x})")
    return Emission(None, call("F.gelu", X, approximate=approximate))


GELU = BlockSpec(
    "GELU", "GELU", CATEGORY,
    "A smooth ReLU weighted by how likely the input is positive; the usual choice in Transformers.",
    infer=_same, emit=_gelu_code, same_shape=True,
    params=(Choice("approximate", "none", ("none", "tanh"),
                   "none: exact; tanh: the slightly faster approximation used by GPT-2."),),
)


def _softmax_shape(p, ins):
    x, dim = ins["x"], p["dim"]
    if dim == 0:
        raise ShapeError("has dim 0, the batch axis, which would mix different samples: "
                         "use -1 for the last axis", param="dim")
    axis = normalize_axis(dim, len(x))
    if axis is None:
        raise ShapeError(f"has dim {dim}, but its input {format_shape(x)} only has {axes_range(len(x))} "
                         f"(or -1 to -{len(x)} from the end): use -1 for the last axis", param="dim")
    return x


def _softmax_block(type_id: str, title: str, function: str, help: str) -> BlockSpec:
    return BlockSpec(
        type_id, title, CATEGORY, help,
        infer=_softmax_shape, same_shape=True,
        emit=lambda p, ins, out: Emission(None, call(function, X, dim=p["dim"])),
        params=(Int("dim", -1, -8, 8,
                    "Axis whose values are turned into probabilities, counted after the batch from 1; "
                    "-1 is the last."),),
        summary=("dim",),
    )


SOFTMAX = _softmax_block(
    "Softmax", "Softmax", "torch.softmax",
    "Turns scores into probabilities that sum to 1 along one axis. Not before a classification head, "
    "which expects raw scores.")
LOG_SOFTMAX = _softmax_block(
    "LogSoftmax", "Log-softmax", "F.log_softmax",
    "The logarithm of softmax along one axis, computed stably (e.g. for NLL losses).")

BLOCKS = (RELU, LEAKY_RELU, ELU, GELU, SILU, SIGMOID, TANH, RELU6, HARDSWISH, HARDSIGMOID, MISH, SOFTMAX,
          LOG_SOFTMAX)

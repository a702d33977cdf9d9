"""Activation functions: element-wise non-linearities (shape unchanged).

Softmax and LogSoftmax normalise along one axis; their `dim` counts the axes
after the batch from 1 (so it is also torch's dim), and -1 means the last.
"""

from __future__ import annotations

from graph.params import Choice, Float, Int
from graph.pycode import call
from graph.shapes import axes_range, format_shape, normalize_axis
from graph.spec import BlockSpec, Emission, ShapeError

CATEGORY = "Activations"


def _same(p, ins):
    return ins["x"]


def _plain(type_id: str, title: str, help: str) -> BlockSpec:
    """An activation without parameters: nn.<type_id>()."""
    return BlockSpec(type_id, title, CATEGORY, help, infer=_same,
                     emit=lambda p, ins, out: Emission(f"nn.{type_id}()", "{self}({x})"), same_shape=True)


RELU = _plain("ReLU", "ReLU", "max(0, x): the default non-linearity; cheap and trains well.")
SILU = _plain("SiLU", "SiLU (swish)", "x · sigmoid(x): a smooth ReLU used in modern convolutional networks.")
SIGMOID = _plain("Sigmoid", "Sigmoid", "Squashes values into (0, 1), e.g. for probabilities or gates.")
TANH = _plain("Tanh", "Tanh", "Squashes values into (-1, 1), e.g. for a GAN generator's images.")


def _leaky_relu_code(p, ins, out):
    slope = p["negative_slope"]
    return Emission(call("nn.LeakyReLU", slope) if slope != 0.01 else "nn.LeakyReLU()", "{self}({x})")


LEAKY_RELU = BlockSpec(
    "LeakyReLU", "Leaky ReLU", CATEGORY,
    "Like ReLU but lets a small slope through for negatives, so no unit goes silent (GAN critics).",
    infer=_same, emit=_leaky_relu_code, same_shape=True,
    params=(Float("negative_slope", 0.01, 0.0, 1.0, "Slope for negative inputs; 0.2 is common in GANs."),),
    summary=("negative_slope",),
)


def _elu_code(p, ins, out):
    return Emission(call("nn.ELU", alpha=p["alpha"]) if p["alpha"] != 1.0 else "nn.ELU()", "{self}({x})")


ELU = BlockSpec(
    "ELU", "ELU", CATEGORY,
    "Like ReLU for positives, a smooth curve down to -alpha for negatives.",
    infer=_same, emit=_elu_code, same_shape=True,
    params=(Float("alpha", 1.0, 0.0, 10.0, "The value very negative inputs approach (as -alpha)."),),
)


def _gelu_code(p, ins, out):
    approximate = p["approximate"]
    return Emission(call("nn.GELU", approximate=approximate) if approximate != "none" else "nn.GELU()",
                    "{self}({x})")


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


def _softmax_block(type_id: str, title: str, help: str) -> BlockSpec:
    return BlockSpec(
        type_id, title, CATEGORY, help,
        infer=_softmax_shape, same_shape=True,
        emit=lambda p, ins, out: Emission(call(f"nn.{type_id}", dim=p["dim"]), "{self}({x})"),
        params=(Int("dim", -1, -8, 8,
                    "Axis whose values are turned into probabilities, counted after the batch from 1; "
                    "-1 is the last."),),
        summary=("dim",),
    )


SOFTMAX = _softmax_block(
    "Softmax", "Softmax",
    "Turns scores into probabilities that sum to 1 along one axis. Not before a classification head, "
    "which expects raw scores.")
LOG_SOFTMAX = _softmax_block(
    "LogSoftmax", "Log-softmax",
    "The logarithm of softmax along one axis, computed stably (e.g. for NLL losses).")

BLOCKS = (RELU, LEAKY_RELU, ELU, GELU, SILU, SIGMOID, TANH, SOFTMAX, LOG_SOFTMAX)

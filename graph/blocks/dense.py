"""Dense blocks: Linear, Flatten, Reshape, Permute, Embedding."""

from __future__ import annotations

from graph.params import Bool, Int
from graph.pycode import call
from graph.shapes import expect_rank, numel
from graph.spec import BlockSpec, Emission, Port

CATEGORY = "Dense"


def _linear_shape(p, ins):
    x = ins["x"]
    expect_rank(x, (1, 2), "x", "a flat (B, F) input or a sequence (B, T, F)",
                fix="Flatten" if len(x) > 2 else None)
    return (*x[:-1], p["features"])


def _linear_count(p, ins, out):
    return ins["x"][-1] * p["features"] + (p["features"] if p["bias"] else 0)


def _linear_code(p, ins, out):
    extra = {} if p["bias"] else {"bias": False}
    return Emission(call("nn.Linear", ins["x"][-1], p["features"], **extra), "{self}({x})")


LINEAR = BlockSpec(
    "Linear", "Linear", CATEGORY,
    "Fully connected layer: every output is a learned weighted sum of all input features.",
    infer=_linear_shape, emit=_linear_code, count=_linear_count,
    inputs=(Port("x", ranks=(1, 2)),),
    params=(
        Int("features", 64, 1, 10_000_000, "Number of output features."),
        Bool("bias", True, "Learn an offset added to each output."),
    ),
    summary=("features",),
)


def _flatten_shape(p, ins):
    x = ins["x"]
    return (numel(x),)


FLATTEN = BlockSpec(
    "Flatten", "Flatten", CATEGORY,
    "Turns each sample into one flat vector, e.g. (B, 16, 5, 5) into (B, 400), before Linear.",
    infer=_flatten_shape, emit=lambda p, ins, out: Emission("nn.Flatten()", "{self}({x})"),
)

BLOCKS = (LINEAR, FLATTEN)

"""Activation functions: element-wise non-linearities (shape unchanged)."""

from __future__ import annotations

from graph.spec import BlockSpec, Emission

CATEGORY = "Activations"


def _same(p, ins):
    return ins["x"]


RELU = BlockSpec(
    "ReLU", "ReLU", CATEGORY,
    "max(0, x): the default non-linearity; cheap and trains well.",
    infer=_same, emit=lambda p, ins, out: Emission("nn.ReLU()", "{self}({x})"), same_shape=True,
)

BLOCKS = (RELU,)

"""Merge blocks: combine several inputs (residual Add, Concatenate, Multiply)."""

from __future__ import annotations

from graph.params import Int
from graph.shapes import format_shape
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Merge"


def _inputs(ins):
    return [ins[k] for k in sorted(ins, key=lambda k: int(k[2:]))]


def _same_shapes(p, ins):
    shapes = _inputs(ins)
    for i, shape in enumerate(shapes[1:], start=2):
        if shape != shapes[0]:
            raise ShapeError(
                f"needs inputs of the same shape but receives {format_shape(shapes[0])} "
                f"and {format_shape(shape)}: match the channels/sizes of both branches",
                port=f"in{i}")
    return shapes[0]


def _operator_code(op):
    def emit(p, ins, out):
        return Emission(None, f" {op} ".join(f"{{in{i}}}" for i in range(1, p["inputs"] + 1)))
    return emit


ADD = BlockSpec(
    "Add", "Add", CATEGORY,
    "Adds inputs of equal shape element by element: the skip connection of residual networks.",
    infer=_same_shapes, emit=_operator_code("+"), variadic="inputs",
    inputs=(Port("in"),),
    params=(Int("inputs", 2, 2, 16, "How many inputs to add."),),
)

BLOCKS = (ADD,)

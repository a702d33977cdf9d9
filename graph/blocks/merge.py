"""Merge blocks: combine several inputs (residual Add, Concatenate, Multiply).

Add and Multiply broadcast as torch does, within the axes after the batch:
inputs have as many axes, and where sizes differ one of them is 1.
"""

from __future__ import annotations

from graph.params import Int
from graph.shapes import axes_range, axis_name, format_shape, normalize_axis
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Merge"


def _inputs(ins):
    return [ins[k] for k in sorted(ins, key=lambda k: int(k[2:]))]


def _channel_fix(want, got) -> tuple[str, str | None, dict]:
    """Advice, and a block that would repair it, when only the channels or features differ."""
    if len(want) == len(got) == 3 and want[1:] == got[1:]:
        return (f"give this branch {want[0]} channels, e.g. with a 1×1 Conv 2D",
                "Conv2d", {"channels": want[0], "kernel_size": 1})
    if len(want) == len(got) in (1, 2) and want[:-1] == got[:-1]:
        return f"give this branch {want[-1]} features with a Linear", "Linear", {"features": want[-1]}
    return "match the channels/sizes of both branches", None, {}


def _broadcast(a, b):
    """The shape a ⊙ b has when every axis matches or one side is 1 (torch's broadcasting); else None.

    Both shapes hold the axes after the batch, so they must have as many axes: torch would align a
    shorter one with the last axes, putting the batch of one beside an axis of the other.
    """
    if len(a) != len(b) or any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def _broadcast_shapes(p, ins):
    shapes = _inputs(ins)
    out = shapes[0]
    for i, shape in enumerate(shapes[1:], start=2):
        joined = _broadcast(out, shape)
        if joined is None:
            advice, fix, fix_params = _channel_fix(out, shape)
            size_one = "" if len(out) != len(shape) else \
                " (or of size 1 on the axes where they differ, which is repeated along them)"
            raise ShapeError(
                f"needs inputs of the same shape{size_one} but receives {format_shape(out)} "
                f"and {format_shape(shape)}: {advice}",
                port=f"in{i}", fix=fix, fix_params=fix_params)
        out = joined
    return out


def _operator_code(op):
    def emit(p, ins, out):
        return Emission(None, f" {op} ".join(f"{{in{i}}}" for i in range(1, p["inputs"] + 1)))
    return emit


ADD = BlockSpec(
    "Add", "Add", CATEGORY,
    "Adds inputs element by element: the skip connection of residual networks. An input of size 1 "
    "on an axis is repeated along it, e.g. a per-channel (B, C, 1, 1) added to an image (B, C, H, W).",
    infer=_broadcast_shapes, emit=_operator_code("+"), variadic="inputs",
    inputs=(Port("in"),),
    params=(Int("inputs", 2, 2, 16, "How many inputs to add."),),
)

MULTIPLY = BlockSpec(
    "Multiply", "Multiply", CATEGORY,
    "Multiplies inputs element by element, e.g. to gate one branch by another's Sigmoid. An input of "
    "size 1 on an axis is repeated along it: squeeze-excitation's (B, C, 1, 1) weights scale every pixel "
    "of an image (B, C, H, W).",
    infer=_broadcast_shapes, emit=_operator_code("*"), variadic="inputs",
    inputs=(Port("in"),),
    params=(Int("inputs", 2, 2, 16, "How many inputs to multiply."),),
)


def _concat_axis(axis, rank: int) -> int | None:
    """The axis (1..rank) to join along; "auto" joins image channels or the features of the rest."""
    if axis == "auto":
        return 1 if rank == 3 else rank
    return normalize_axis(axis, rank)


def _concat_shape(p, ins):
    shapes = _inputs(ins)
    first, rank = shapes[0], len(shapes[0])
    for i, shape in enumerate(shapes[1:], start=2):
        if len(shape) != rank:
            raise ShapeError(
                f"needs inputs with the same number of axes but receives {format_shape(first)} "
                f"and {format_shape(shape)}: reshape or flatten one branch to match", port=f"in{i}")
    if p["axis"] == 0:
        raise ShapeError("has axis 0, the batch axis, which would join samples into one: "
                         "use 'auto' or an axis from 1", param="axis")
    axis = _concat_axis(p["axis"], rank)
    if axis is None:
        raise ShapeError(
            f"has axis {p['axis']}, but its inputs {format_shape(first)} only have {axes_range(rank)} "
            f"(or -1 to -{rank} from the end): use 'auto' or an axis in that range", param="axis")
    for i, shape in enumerate(shapes[1:], start=2):
        for other in range(1, rank + 1):
            if other != axis and shape[other - 1] != first[other - 1]:
                raise ShapeError(
                    f"joins along {axis_name(axis, rank)}, so every other size must match, but "
                    f"{format_shape(first)} and {format_shape(shape)} differ on {axis_name(other, rank)}: "
                    "make both branches produce the same sizes there", port=f"in{i}")
    joined = sum(shape[axis - 1] for shape in shapes)
    return (*first[: axis - 1], joined, *first[axis:])


def _concat_code(p, ins, out):
    rank = len(out)
    dim = p["axis"]
    if dim == "auto":  # spelled out: channels of images, the last axis otherwise
        dim = 1 if rank in (1, 3) else -1
    return Emission(None, f"torch.cat([{{inputs}}], dim={dim!r})")


CONCATENATE = BlockSpec(
    "Concatenate", "Concatenate", CATEGORY,
    "Joins inputs side by side along one axis: image channels, or the features of vectors and sequences.",
    infer=_concat_shape, emit=_concat_code, variadic="inputs",
    inputs=(Port("in"),),
    params=(
        Int("inputs", 2, 2, 16, "How many inputs to join."),
        Int("axis", "auto", -4, 4,
            "Axis to join along, counted after the batch from 1 (-1 is the last); "
            "auto: channels for images, features otherwise.", specials=("auto",)),
    ),
    summary=("axis",),
)

BLOCKS = (ADD, MULTIPLY, CONCATENATE)

"""Pure shape arithmetic shared by the block shape rules (no torch).

Shapes exclude the batch dimension; `format_shape` adds it back as "B".
The formulas follow the PyTorch documentation of each layer.
"""

from __future__ import annotations

from graph.spec import Shape, ShapeError

RANK_WORDS = {
    0: "a single number per sample (B)",
    1: "a flat vector (B, F)",
    2: "a sequence (B, T, F)",
    3: "an image (B, C, H, W)",
}


def format_shape(shape: Shape | None) -> str:
    """(32, 14, 14) -> "(B, 32, 14, 14)"."""
    if shape is None:
        return "?"
    return "(" + ", ".join(["B", *map(str, shape)]) + ")"


def compact_shape(shape: Shape | None) -> str:
    """(32, 14, 14) -> "32×14×14" for cards on the canvas."""
    if shape is None:
        return "?"
    return "×".join(map(str, shape)) or "scalar"


def describe_rank(rank: int) -> str:
    return RANK_WORDS.get(rank, f"a tensor with {rank} dimensions after the batch")


def expect_rank(shape: Shape, ranks: tuple[int, ...] | int, port: str, what: str | None = None,
                fix: str | None = None) -> None:
    """Raise ShapeError unless len(shape) is one of `ranks`.

    `what` describes the expected input in words ("a flat (B, F) input");
    `fix` names a block type that would repair the mismatch.
    """
    if isinstance(ranks, int):
        ranks = (ranks,)
    if len(shape) in ranks:
        return
    wanted = what or " or ".join(describe_rank(r) for r in ranks)
    hint = f": insert {fix}" if fix else ""
    raise ShapeError(f"expects {wanted} but receives {format_shape(shape)}{hint}", port=port, fix=fix)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_out(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    numerator = size + 2 * padding - kernel
    if ceil_mode:
        out = -(-numerator // stride) + 1
        # the last window must start inside the input or its left padding
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return numerator // stride + 1


def conv_transpose_out(size: int, kernel: int, stride: int = 1, padding: int = 0,
                       output_padding: int = 0, dilation: int = 1) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def positive(shape: Shape, port: str, explain: str) -> Shape:
    """Refuse shapes that shrank to nothing, e.g. a kernel larger than its input."""
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{explain} gives an empty output {format_shape(shape)}", port=port)
    return shape


def numel(shape: Shape) -> int:
    total = 1
    for d in shape:
        total *= d
    return total


# --- helpers for the convolution, pooling and merge catalog ------------------------------

AXIS_NAMES = {
    1: ("features",),
    2: ("steps", "features"),
    3: ("channels", "height", "width"),
}


def axis_name(axis: int, rank: int) -> str:
    """Words for a non-batch axis (1-based): "axis 1 (channels)" for an image."""
    names = AXIS_NAMES.get(rank)
    if names and 1 <= axis <= rank:
        return f"axis {axis} ({names[axis - 1]})"
    return f"axis {axis}"


def normalize_axis(axis: int, rank: int) -> int | None:
    """A non-batch axis as 1..rank: -1 is the last, 1 the first; None when out of range or 0."""
    if 1 <= axis <= rank:
        return axis
    if -rank <= axis <= -1:
        return rank + 1 + axis
    return None


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """How many input positions one window spans: dilation spreads the kernel out."""
    return dilation * (kernel - 1) + 1


def check_window(shape: Shape, spatial: Shape, kernel: int, padding: int, dilation: int = 1,
                 port: str = "x") -> None:
    """Refuse a kernel (or pooling window) larger than its padded input along any spatial axis.

    `shape` is the whole input (for the message), `spatial` the axes the window slides over.
    """
    span = effective_kernel(kernel, dilation)
    smallest = min(spatial)
    if span <= smallest + 2 * padding:
        return
    spread = f" (dilation {dilation} spreads it over {span} positions)" if dilation > 1 else ""
    padded = f" padded by {padding} on each side" if padding else ""
    raise ShapeError(
        f"has kernel_size {kernel}{spread} larger than its input {format_shape(shape)}{padded}, "
        f"whose smallest spatial size is {smallest}: use a smaller kernel_size or more padding, "
        "or remove a pooling or strided layer before it",
        port=port, param="kernel_size")


def axes_range(rank: int) -> str:
    """How to name all non-batch axes of a rank: "axis 1", "axes 1 and 2", "axes 1 to 3"."""
    if rank == 1:
        return "axis 1"
    if rank == 2:
        return "axes 1 and 2"
    return f"axes 1 to {rank}"

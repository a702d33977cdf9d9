"""Pooling blocks: max/average pooling and global (adaptive) pooling.

The 1D variants work on (B, C, L) like Conv 1D, the 2D variants on images.
A stride of 0 means "the same as kernel_size", torch's default, so windows
do not overlap unless asked to.
"""

from __future__ import annotations

from graph.params import Bool, Int
from graph.pycode import call
from graph.shapes import check_window, format_shape, pool_out
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Pooling"

# non-batch rank of the input each pooling dimension expects, with words for messages
_LAYOUT = {1: (2, "channels along a length (B, C, L)"), 2: (3, "an image (B, C, H, W)")}


def _expect_layout(x, dims: int) -> None:
    rank, words = _LAYOUT[dims]
    if len(x) == rank:
        return
    other = "2D" if dims == 1 else "1D"
    hint = f": use the {other} version of this block" if len(x) == _LAYOUT[3 - dims][0] else ""
    raise ShapeError(f"expects {words} but receives {format_shape(x)}{hint}", port="x")


def _pool_params(with_ceil_mode: bool) -> tuple:
    params = (
        Int("kernel_size", 2, 1, 1024, "Size of each pooling window; 2 halves the size."),
        Int("stride", 0, 0, 1024, "Step between windows; 0 means the same as kernel_size."),
        Int("padding", 0, 0, 512, "Padding on each side; at most half of kernel_size."),
    )
    if with_ceil_mode:
        params += (
            Bool("ceil_mode", False, "Keep a last, partial window at the edge instead of dropping it."),
        )
    return params


def _pool_rule(dims: int):
    def infer(p, ins):
        x = ins["x"]
        _expect_layout(x, dims)
        kernel, padding = p["kernel_size"], p["padding"]
        stride = p["stride"] or kernel
        if 2 * padding > kernel:
            raise ShapeError(
                f"has padding {padding}, but padding may be at most half of kernel_size {kernel}: "
                f"lower padding to {kernel // 2} or raise kernel_size", param="padding")
        check_window(x, x[1:], kernel, padding)
        ceil_mode = p.get("ceil_mode", False)
        return (x[0], *(pool_out(s, kernel, stride, padding, ceil_mode) for s in x[1:]))
    return infer


def _pool_code(cls: str):
    def emit(p, ins, out):
        extra = {}
        if p["stride"] not in (0, p["kernel_size"]):
            extra["stride"] = p["stride"]
        if p["padding"]:
            extra["padding"] = p["padding"]
        if p.get("ceil_mode"):
            extra["ceil_mode"] = True
        return Emission(call(cls, p["kernel_size"], **extra), "{self}({x})")
    return emit


def _pool_block(type_id: str, title: str, dims: int, kind: str, help: str) -> BlockSpec:
    rank, words = _LAYOUT[dims]
    return BlockSpec(
        type_id, title, CATEGORY, help,
        infer=_pool_rule(dims), emit=_pool_code(f"nn.{type_id}"),
        inputs=(Port("x", words, ranks=(rank,)),),
        params=_pool_params(with_ceil_mode=kind == "max"),
        summary=("kernel_size",),
    )


MAX_POOL1D = _pool_block("MaxPool1d", "Max pool 1D", 1, "max",
                         "Keeps the largest value of each window along a (B, C, L) input.")
MAX_POOL2D = _pool_block("MaxPool2d", "Max pool 2D", 2, "max",
                         "Keeps the largest value of each window: shrinks an image, keeps strong features.")
AVG_POOL1D = _pool_block("AvgPool1d", "Average pool 1D", 1, "avg",
                         "Averages each window along a (B, C, L) input.")
AVG_POOL2D = _pool_block("AvgPool2d", "Average pool 2D", 2, "avg",
                         "Averages each window: shrinks an image smoothly.")


def _global_shape(p, ins):
    x = ins["x"]
    if len(x) not in (2, 3):
        raise ShapeError(
            f"expects an image (B, C, H, W) or channels along a length (B, C, L) but receives "
            f"{format_shape(x)}" + (": it is already one value per feature, so remove this block"
                                    if len(x) == 1 else ""), port="x")
    return (x[0],)


def _global_code(kind: str):
    def emit(p, ins, out):
        dims = len(ins["x"]) - 1
        return Emission(f"nn.Adaptive{kind}Pool{dims}d(1)", "{self}({x}).flatten(1)")
    return emit


GLOBAL_AVG_POOL = BlockSpec(
    "GlobalAvgPool", "Global average pool", CATEGORY,
    "Averages each channel over all positions: (B, C, H, W) or (B, C, L) becomes (B, C).",
    infer=_global_shape, emit=_global_code("Avg"),
    inputs=(Port("x", "an image (B, C, H, W) or (B, C, L)", ranks=(2, 3)),),
)

GLOBAL_MAX_POOL = BlockSpec(
    "GlobalMaxPool", "Global max pool", CATEGORY,
    "Keeps each channel's largest value over all positions: (B, C, H, W) or (B, C, L) becomes (B, C).",
    infer=_global_shape, emit=_global_code("Max"),
    inputs=(Port("x", "an image (B, C, H, W) or (B, C, L)", ranks=(2, 3)),),
)

BLOCKS = (MAX_POOL1D, MAX_POOL2D, AVG_POOL1D, AVG_POOL2D, GLOBAL_AVG_POOL, GLOBAL_MAX_POOL)

"""Convolution blocks: Conv1d, Conv2d, ConvTranspose2d, Upsample, PixelShuffle, Pad.

Conv1d works on (B, C, L): channels along a length, the layout torch uses.
DeepWire sequences are (B, T, F); a Permute block with dims (2, 1) turns
them into (B, F, T) so a Conv1d slides over time with the features as
channels.
"""

from __future__ import annotations

import math

from graph.params import Bool, Choice, Int, Tuple
from graph.pycode import Raw, call
from graph.shapes import check_window, conv_out, conv_transpose_out, format_shape
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Convolution"

PADDING_HELP = ("Zeros added on each side; 'same' keeps the size (stride 1 only), "
                "'valid' adds none.")


def _conv_params(default_kernel: int = 3) -> tuple:
    return (
        Int("channels", 32, 1, 65_536, "Output channels: how many different filters it learns."),
        Int("kernel_size", default_kernel, 1, 1024, "Size of each filter window."),
        Int("stride", 1, 1, 1024, "Step between windows; 2 halves the size."),
        Int("padding", 0, 0, 1024, PADDING_HELP, specials=("same", "valid")),
        Int("dilation", 1, 1, 1024, "Gap between filter taps; above 1 sees wider without more weights."),
        Int("groups", 1, 1, 65_536,
            "Split channels into independent groups; input and output channels must divide by it."),
        Bool("bias", True, "Learn an offset per output channel (often off right before BatchNorm)."),
    )


def _image_hint(x) -> tuple[str, dict]:
    """Words and Reshape parameters that turn a non-image into a one-channel image."""
    if len(x) == 2:
        return f"insert Reshape with shape (1, {x[0]}, {x[1]}) to make it a one-channel image, " \
            "or use Conv 1D for (B, C, L) inputs", \
            {"shape": (1, *x)}
    if len(x) == 1 and math.isqrt(x[0]) ** 2 == x[0]:
        side = math.isqrt(x[0])
        return f"insert Reshape with shape (1, {side}, {side}) to make it a square image", \
            {"shape": (1, side, side)}
    return "insert Reshape to arrange its values as (channels, height, width)", {}


def _expect_image(x) -> None:
    if len(x) == 3:
        return
    hint, fix_params = _image_hint(x)
    raise ShapeError(f"expects an image (B, C, H, W) but receives {format_shape(x)}: {hint}",
                     port="x", fix="Reshape" if fix_params else None, fix_params=fix_params)


def _expect_channels_by_length(x) -> None:
    if len(x) == 2:
        return
    if len(x) == 1:
        raise ShapeError(
            f"expects channels along a length (B, C, L) but receives a flat vector {format_shape(x)}: "
            f"insert Reshape with shape (1, {x[0]}) to make it one channel",
            port="x", fix="Reshape", fix_params={"shape": (1, x[0])})
    raise ShapeError(
        f"expects channels along a length (B, C, L) but receives {format_shape(x)}: "
        "use Conv 2D for images", port="x")


def _conv_rule(dims: int):
    def infer(p, ins):
        x = ins["x"]
        if dims == 1:
            _expect_channels_by_length(x)
        else:
            _expect_image(x)
        in_channels, spatial = x[0], x[1:]
        groups = p["groups"]
        for what, count in (("input", in_channels), ("output", p["channels"])):
            if count % groups:
                raise ShapeError(
                    f"has groups {groups}, which does not divide its {count} {what} channels: "
                    f"choose groups that divides both {in_channels} and {p['channels']} (1 always does)",
                    port="x", param="groups")
        kernel, stride, dilation = p["kernel_size"], p["stride"], p["dilation"]
        if p["padding"] == "same":
            if stride != 1:
                raise ShapeError(
                    f"uses padding 'same' with stride {stride}, but 'same' only works with stride 1: "
                    f"set stride to 1, or set padding to a number such as {dilation * (kernel - 1) // 2}",
                    param="padding", set_params={"padding": dilation * (kernel - 1) // 2})
            return (p["channels"], *spatial)
        padding = 0 if p["padding"] == "valid" else p["padding"]
        check_window(x, spatial, kernel, padding, dilation)
        return (p["channels"], *(conv_out(s, kernel, stride, padding, dilation) for s in spatial))
    return infer


def _conv_count(dims: int):
    def count(p, ins, out):
        weights = p["channels"] * (ins["x"][0] // p["groups"]) * p["kernel_size"] ** dims
        return weights + (p["channels"] if p["bias"] else 0)
    return count


def _conv_code(cls: str):
    def emit(p, ins, out):
        extra = {}
        if p["stride"] != 1:
            extra["stride"] = p["stride"]
        if p["padding"] not in (0, "valid"):  # torch's default padding is 0, the same as 'valid'
            extra["padding"] = p["padding"]
        if p["dilation"] != 1:
            extra["dilation"] = p["dilation"]
        if p["groups"] != 1:
            extra["groups"] = p["groups"]
        if not p["bias"]:
            extra["bias"] = False
        module = call(cls, ins["x"][0], p["channels"], kernel_size=p["kernel_size"], **extra)
        return Emission(module, "{self}({x})")
    return emit


CONV1D = BlockSpec(
    "Conv1d", "Conv 1D", CATEGORY,
    "Slides learned filters along a (B, C, L) input: it convolves over the last axis and treats the "
    "middle axis as channels. For a sequence (B, T, F), insert Permute with dims (2, 1) first.",
    infer=_conv_rule(1), emit=_conv_code("nn.Conv1d"), count=_conv_count(1),
    inputs=(Port("x", "channels along a length (B, C, L)", ranks=(2,)),),
    params=_conv_params(),
    summary=("channels", "kernel_size", "stride"),
)

CONV2D = BlockSpec(
    "Conv2d", "Conv 2D", CATEGORY,
    "Slides learned filters over an image (B, C, H, W) to detect local patterns such as edges.",
    infer=_conv_rule(2), emit=_conv_code("nn.Conv2d"), count=_conv_count(2),
    inputs=(Port("x", "an image (B, C, H, W)", ranks=(3,)),),
    params=_conv_params(),
    summary=("channels", "kernel_size", "stride"),
)


def _conv_transpose_shape(p, ins):
    x = ins["x"]
    _expect_image(x)
    kernel, stride, padding, extra = p["kernel_size"], p["stride"], p["padding"], p["output_padding"]
    if extra >= stride:
        raise ShapeError(
            f"has output_padding {extra}, which must be smaller than its stride {stride}: "
            f"lower output_padding to {stride - 1} or raise stride", param="output_padding")
    out = (p["channels"], *(conv_transpose_out(s, kernel, stride, padding, extra) for s in x[1:]))
    if min(out) < 1:
        raise ShapeError(
            f"has padding {padding}, which trims away the whole output for input {format_shape(x)}: "
            "lower padding or raise kernel_size", param="padding")
    return out


def _conv_transpose_count(p, ins, out):
    return ins["x"][0] * p["channels"] * p["kernel_size"] ** 2 + (p["channels"] if p["bias"] else 0)


def _conv_transpose_code(p, ins, out):
    extra = {"stride": p["stride"]} if p["stride"] != 1 else {}
    if p["padding"]:
        extra["padding"] = p["padding"]
    if p["output_padding"]:
        extra["output_padding"] = p["output_padding"]
    if not p["bias"]:
        extra["bias"] = False
    module = call("nn.ConvTranspose2d", ins["x"][0], p["channels"], kernel_size=p["kernel_size"], **extra)
    return Emission(module, "{self}({x})")


CONV_TRANSPOSE2D = BlockSpec(
    "ConvTranspose2d", "Transposed conv 2D", CATEGORY,
    "A learned upsampling: kernel_size 2 with stride 2 doubles height and width (decoders, GAN generators).",
    infer=_conv_transpose_shape, emit=_conv_transpose_code, count=_conv_transpose_count,
    inputs=(Port("x", "an image (B, C, H, W)", ranks=(3,)),),
    params=(
        Int("channels", 32, 1, 65_536, "Output channels: how many feature maps it produces."),
        Int("kernel_size", 2, 1, 1024, "Size of each filter window."),
        Int("stride", 2, 1, 1024, "Growth factor: 2 roughly doubles height and width."),
        Int("padding", 0, 0, 1024, "Rows and columns trimmed from each side of the output."),
        Int("output_padding", 0, 0, 1023,
            "Extra rows/columns added on one side to reach an exact size; must be below stride."),
        Bool("bias", True, "Learn an offset per output channel."),
    ),
    summary=("channels", "kernel_size", "stride"),
)

# which interpolation modes fit which input: rank 2 is (C, L), rank 3 an image
_UPSAMPLE_MODES = {2: ("nearest", "linear"), 3: ("nearest", "bilinear")}


def _upsample_shape(p, ins):
    x = ins["x"]
    if len(x) not in _UPSAMPLE_MODES:
        raise ShapeError(f"expects an image (B, C, H, W) or channels along a length (B, C, L) "
                         f"but receives {format_shape(x)}", port="x")
    mode = p["mode"]
    if mode not in _UPSAMPLE_MODES[len(x)]:
        other = "bilinear" if len(x) == 3 else "linear"
        kind = "an image" if len(x) == 3 else "a (B, C, L) input"
        raise ShapeError(f"uses mode '{mode}', which does not fit {kind} {format_shape(x)}: "
                         f"choose '{other}' or 'nearest'", param="mode")
    return (x[0], *(s * p["scale_factor"] for s in x[1:]))


def _upsample_code(p, ins, out):
    extra = {"mode": p["mode"]} if p["mode"] != "nearest" else {}
    return Emission(call("nn.Upsample", scale_factor=p["scale_factor"], **extra), "{self}({x})")


UPSAMPLE = BlockSpec(
    "Upsample", "Upsample", CATEGORY,
    "Enlarges each channel by a whole factor without weights, by repeating or interpolating values.",
    infer=_upsample_shape, emit=_upsample_code,
    inputs=(Port("x", "an image (B, C, H, W) or (B, C, L)", ranks=(2, 3)),),
    params=(
        Int("scale_factor", 2, 1, 64, "How many times larger each spatial size becomes."),
        Choice("mode", "nearest", ("nearest", "bilinear", "linear"),
               "nearest repeats values; bilinear (images) or linear (B, C, L) blends neighbours."),
    ),
    summary=("scale_factor", "mode"),
)



def _pixel_shuffle_shape(p, ins):
    x = ins["x"]
    _expect_image(x)
    factor = p["upscale_factor"]
    if x[0] % (factor * factor):
        need = factor * factor
        raise ShapeError(
            f"has upscale_factor {factor}, so its input needs a multiple of {need} channels "
            f"({factor}×{factor} per output channel) but receives {format_shape(x)}: give the conv before "
            f"it {need * max(1, x[0] // need)} channels or lower upscale_factor",
            port="x", param="upscale_factor")
    return (x[0] // (factor * factor), x[1] * factor, x[2] * factor)


PIXEL_SHUFFLE = BlockSpec(
    "PixelShuffle", "Pixel shuffle", CATEGORY,
    "Rearranges channels into pixels: (B, C·r², H, W) becomes (B, C, H·r, W·r), the learned upsampling "
    "of super-resolution networks (a conv with r² times the channels, then this).",
    infer=_pixel_shuffle_shape,
    emit=lambda p, ins, out: Emission(call("nn.PixelShuffle", p["upscale_factor"]), "{self}({x})"),
    inputs=(Port("x", "an image (B, C·r², H, W)", ranks=(3,)),),
    params=(Int("upscale_factor", 2, 1, 64, "How many times larger height and width become (r)."),),
    summary=("upscale_factor",),
)

PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def _pad_sides(p, x) -> tuple[int, ...]:
    """torch's order for F.pad: (left, right) for (B, C, L); (left, right, top, bottom) for images."""
    pad = p["padding"]
    if len(x) not in (2, 3):
        raise ShapeError(f"expects an image (B, C, H, W) or channels along a length (B, C, L) but receives "
                         f"{format_shape(x)}", port="x")
    sides = 2 * (len(x) - 1)
    if len(pad) == 1:
        return pad * sides
    if len(pad) != sides:
        shown = "(left, right)" if sides == 2 else "(left, right, top, bottom)"
        raise ShapeError(f"has padding {tuple(pad)}, but an input {format_shape(x)} takes one number for "
                         f"every side or {sides}: {shown}", param="padding")
    return tuple(pad)


def _pad_shape(p, ins):
    x = ins["x"]
    sides = _pad_sides(p, x)
    # F.pad's pairs start at the last axis: (left, right) widen W, (top, bottom) H
    spatial = list(x[1:])
    for i in range(len(spatial)):
        before, after = sides[2 * i], sides[2 * i + 1]
        axis = len(spatial) - 1 - i
        # reflect copies from inside the input (at most size - 1 values), circular wraps (at most size)
        limit = {"reflect": spatial[axis] - 1, "circular": spatial[axis]}.get(p["mode"])
        if limit is not None and max(before, after) > limit:
            raise ShapeError(
                f"uses mode '{p['mode']}' with padding {max(before, after)} on an axis of size "
                f"{spatial[axis]}, but it can add at most {limit} there (it copies from inside the input): "
                "lower padding or use mode 'zeros' or 'replicate'", param="padding")
        spatial[axis] += before + after
    return (x[0], *spatial)


def _pad_code(p, ins, out):
    sides = _pad_sides(p, ins["x"])
    mode = PAD_MODES[p["mode"]]
    extra = {} if mode == "constant" else {"mode": mode}
    return Emission(None, call("F.pad", Raw("{x}"), sides, **extra))


PAD = BlockSpec(
    "Pad", "Pad", CATEGORY,
    "Adds rows and columns around an image (or steps around a (B, C, L) input): zeros, or a mirror "
    "image of the border (reflect, used before convs in style transfer and CycleGAN), or repeated "
    "edge values (replicate).",
    infer=_pad_shape, emit=_pad_code,
    inputs=(Port("x", "an image (B, C, H, W) or (B, C, L)", ranks=(2, 3)),),
    params=(
        Tuple("padding", (1,), 0, 1024,
              "One number for every side, or (left, right) for (B, C, L), or (left, right, top, bottom) "
              "for images.", length=(1, 4)),
        Choice("mode", "zeros", tuple(PAD_MODES),
               "zeros: adds zeros; reflect: mirrors the values next to the edge; replicate: repeats the "
               "edge; circular: wraps around from the other side."),
    ),
    summary=("padding", "mode"),
)

BLOCKS = (CONV1D, CONV2D, CONV_TRANSPOSE2D, UPSAMPLE, PIXEL_SHUFFLE, PAD)

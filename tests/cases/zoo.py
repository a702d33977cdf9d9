"""Cases for the blocks public model zoos need (issue 14): ReLU6, Hardswish, Hardsigmoid, Mish, ..."""

from tests.cases import bad, case

IMG = (3, 5, 4)
SEQ = (4, 6)

ACTIVATIONS = [
    case(type_id, {}, x=shape)
    for type_id in ("ReLU6", "Hardswish", "Hardsigmoid", "Mish")
    for shape in ((7,), SEQ, IMG)
]

BROADCAST = [
    case("Multiply", {}, in1=(4, 1, 1), in2=(4, 5, 3)),  # squeeze-excitation
    case("Multiply", {}, in1=(4, 5, 3), in2=(1, 5, 3)),
    case("Add", {"inputs": 3}, in1=(1, 6), in2=(5, 1), in3=(5, 6)),
    case("Add", {}, in1=(1,), in2=(7,)),
    bad("Multiply", {}, error="or of size 1 on the axes where they differ", in1=(4, 2, 2), in2=(3, 2, 2)),
    bad("Add", {}, error="same shape", in1=(4,), in2=(4, 1)),
]

REGULARISE = [
    case("StochasticDepth", {}, x=IMG),
    case("StochasticDepth", {"p": 0.5, "mode": "batch", "scale_by_keep": False}, x=SEQ),
    case("StochasticDepth", {"p": 1.0}, x=(5,)),
    case("Identity", {}, x=IMG),
    case("Identity", {}, x=(3,)),
    case("LayerScale", {}, x=SEQ),
    case("LayerScale", {"axis": "channels", "init": 1e-6}, x=IMG),
    case("LayerScale", {"axis": "channels"}, x=SEQ),
    case("LayerScale", {"init": 0.1}, x=(5,)),
]

NORM = [
    case("BatchNorm2d", {"eps": 1e-3, "momentum": 0.01}, x=IMG),
    case("BatchNorm1d", {"eps": 1e-6}, x=(5,)),
    case("LayerNorm", {"eps": 1e-6}, x=SEQ),
    case("LayerNorm", {"bias": False}, x=SEQ),
    case("LayerNorm", {"affine": False, "bias": False}, x=(5,)),
    case("GroupNorm", {"groups": 3, "eps": 1e-6}, x=IMG),
    case("InstanceNorm2d", {}, x=IMG),
    case("InstanceNorm2d", {"affine": True, "track_running_stats": True, "eps": 1e-3}, x=IMG),
    case("InstanceNorm1d", {}, x=SEQ),
    case("InstanceNorm1d", {"affine": True, "momentum": 0.2}, x=SEQ),
    bad("InstanceNorm2d", {}, error="use Instance norm 1D", x=SEQ),
    bad("InstanceNorm1d", {}, error="use Instance norm 2D", x=IMG),
    bad("InstanceNorm1d", {}, error="channels along a length", x=(5,)),
    bad("InstanceNorm2d", {}, error="has only one per channel", x=(3, 1, 1)),
    bad("InstanceNorm1d", {"affine": True}, error="its variance is undefined", x=(4, 1)),
]

RESAMPLE = [
    case("PixelShuffle", {}, x=(8, 3, 5)),
    case("PixelShuffle", {"upscale_factor": 3}, x=(9, 2, 2)),
    case("PixelShuffle", {"upscale_factor": 1}, x=IMG),
    bad("PixelShuffle", {}, error="needs a multiple of 4 channels", x=(6, 3, 3)),
    bad("PixelShuffle", {}, error="expects an image", x=SEQ),
    case("Pad", {}, x=IMG),
    case("Pad", {"padding": (1, 2, 0, 3), "mode": "reflect"}, x=IMG),
    case("Pad", {"padding": (3,), "mode": "replicate"}, x=(2, 2, 2)),
    case("Pad", {"padding": (2, 0), "mode": "circular"}, x=SEQ),
    case("Pad", {"padding": (5,), "mode": "reflect"}, x=SEQ),
    bad("Pad", {"padding": (4,), "mode": "reflect"}, error="can add at most 3", x=(2, 4, 6)),
    bad("Pad", {"padding": (1, 1)}, error="(left, right, top, bottom)", x=IMG),
    bad("Pad", {"padding": (1, 1, 1, 1)}, error="(left, right)", x=SEQ),
    bad("Pad", {}, error="expects an image", x=(5,)),
]

PIECES = [
    case("Slice", {}, x=IMG),
    case("Slice", {"axis": 1, "start": 1, "end": 3}, x=IMG),
    case("Slice", {"axis": -1, "start": -2}, x=SEQ),
    case("Slice", {"axis": 2, "start": 0, "end": -1, "step": 2}, x=IMG),
    case("Slice", {"axis": 1, "end": 2}, x=(5,)),
    bad("Slice", {"axis": 1, "start": 3, "end": 2}, error="keeps nothing", x=IMG),
    bad("Slice", {"axis": 0}, error="the batch axis", x=IMG),
    bad("Slice", {"axis": 3}, error="only has axes 1 and 2", x=SEQ),
    case("Select", {}, x=SEQ),
    case("Select", {"index": -1}, x=SEQ),
    case("Select", {"axis": -1, "index": 2}, x=IMG),
    case("Select", {"axis": 2, "index": 4}, x=IMG),
    bad("Select", {"index": 4}, error="use 0 to 3, or -1 to -4", x=SEQ),
    bad("Select", {}, error="use Slice with start 0 and end 1", x=(5,)),
    bad("Select", {"axis": -4}, error="only has axes 1 to 3", x=IMG),
]

TRANSFORMERS = [
    case("TransformerEncoderBlock", {"heads": 2, "feedforward": 12, "activation": "relu"}, x=(5, 8)),
    case("TransformerDecoderBlock", {"heads": 2, "feedforward": 6, "activation": "relu", "norm_first": False},
         x=(4, 6), memory=(3, 6)),
]

ATTENTION = [
    case("ScaledDotProductAttention", {}, q=(5, 8), k=(5, 8), v=(5, 8)),
    case("ScaledDotProductAttention", {"causal": True, "dropout": 0.1}, q=(2, 5, 4), k=(2, 5, 4),
         v=(2, 5, 3)),
    case("ScaledDotProductAttention", {"scale": 0.5}, q=(3, 4), k=(6, 4), v=(6, 2)),
    bad("ScaledDotProductAttention", {}, error="k needs q's 8 features", q=(5, 8), k=(5, 6), v=(5, 8)),
    bad("ScaledDotProductAttention", {}, error="one value per key", q=(5, 8), k=(5, 8), v=(4, 8)),
    bad("ScaledDotProductAttention", {}, error="same number of heads", q=(2, 5, 4), k=(3, 5, 4), v=(3, 5, 4)),
    bad("ScaledDotProductAttention", {}, error="same number of axes", q=(2, 5, 4), k=(5, 4), v=(5, 4)),
    bad("ScaledDotProductAttention", {}, error="split into heads", q=(8,), k=(5, 8), v=(5, 8)),
]

CASES = ACTIVATIONS + BROADCAST + REGULARISE + NORM + RESAMPLE + PIECES + TRANSFORMERS + ATTENTION

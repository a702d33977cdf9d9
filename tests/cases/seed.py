"""Cases for the inputs, heads, Linear, Flatten, ReLU and Add."""

from tests.cases import bad, case

CASES = [
    case("ImageInput", {"channels": 3, "height": 5, "width": 7}),
    case("SequenceInput", {"length": 9, "features": 2}),
    case("TokenInput", {"length": 6, "vocab_size": 11}),
    case("VectorInput", {"features": 5}),
    case("NoiseInput", {"size": 16}),
    case("Linear", {"features": 7}, x=(5,)),
    case("Linear", {"features": 3, "bias": False}, x=(4, 6)),
    bad("Linear", {"features": 3}, error="insert Flatten", x=(16, 5, 5)),
    # a channels-last image (B, H, W, C): the last axis at every position, as torch does
    case("Linear", {"features": 5, "per_position": True}, x=(4, 3, 6)),
    case("Linear", {"features": 2, "per_position": True, "bias": False}, x=(3, 2, 7)),
    case("Linear", {"features": 4, "per_position": True}, x=(6,)),
    case("Flatten", {}, x=(16, 5, 5)),
    case("Flatten", {}, x=(4, 6)),
    case("Flatten", {}, x=(6,)),
    case("ReLU", {}, x=(3, 4, 4)),
    case("Add", {}, in1=(4, 3), in2=(4, 3)),
    case("Add", {"inputs": 3}, in1=(2, 3, 3), in2=(2, 3, 3), in3=(2, 3, 3)),
    bad("Add", {}, error="same shape", in1=(4,), in2=(5,)),
    case("ClassificationHead", {"classes": 10}, x=(10,)),
    case("ClassificationHead", {"classes": 5, "label_smoothing": 0.1}, x=(7, 5)),
    bad("ClassificationHead", {"classes": 10}, error="10 class scores", x=(4,)),
    case("SegmentationHead", {"classes": 4}, x=(4, 6, 5)),
    bad("SegmentationHead", {"classes": 4}, error="4 class scores per pixel", x=(3, 6, 5)),
    bad("SegmentationHead", {"classes": 4}, error="(B, classes, H, W)", x=(4,)),
    case("BinaryHead", {}, x=(1,)),
    bad("BinaryHead", {}, error="single score", x=(3,)),
    case("RegressionHead", {"loss": "huber", "delta": 0.5}, x=(3,)),
    case("RegressionHead", {"loss": "l1"}, x=(2, 8, 8)),
    case("Output", {}, x=(1, 8, 8)),
]

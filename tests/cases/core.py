"""Cases for convolution, pooling, normalisation, Reshape/Permute/Embedding, activations and merges.

Good cases mix kernel/stride/padding/dilation/groups on odd sizes; bad cases
cover each kind of refusal, with a piece of the message a student would read.
"""

from tests.cases import bad, case, tokens

IMG = (3, 9, 7)  # odd, non-square image
SEQ = (4, 11)  # (C, L) for the 1D blocks

CONV2D = [
    case("Conv2d", {"channels": 8}, x=IMG),
    case("Conv2d", {"channels": 5, "kernel_size": 1}, x=IMG),
    case("Conv2d", {"channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, x=IMG),
    case("Conv2d", {"channels": 4, "kernel_size": 5, "stride": 3, "padding": 2}, x=(2, 13, 10)),
    case("Conv2d", {"channels": 6, "kernel_size": 3, "dilation": 2}, x=IMG),
    case("Conv2d", {"channels": 6, "kernel_size": 3, "dilation": 3, "padding": 2, "stride": 2}, x=(2, 8, 8)),
    case("Conv2d", {"channels": 6, "kernel_size": 3, "groups": 3}, x=IMG),
    case("Conv2d", {"channels": 4, "kernel_size": 3, "groups": 4, "padding": "same"}, x=(4, 5, 5)),
    case("Conv2d", {"channels": 7, "kernel_size": 3, "padding": "same"}, x=IMG),
    case("Conv2d", {"channels": 7, "kernel_size": 4, "padding": "same"}, x=IMG),  # even kernel
    case("Conv2d", {"channels": 7, "kernel_size": 2, "padding": "same", "dilation": 3}, x=IMG),
    case("Conv2d", {"channels": 2, "kernel_size": 3, "padding": "valid"}, x=IMG),
    case("Conv2d", {"channels": 2, "kernel_size": 7}, x=(1, 7, 7)),  # kernel exactly the input
    case("Conv2d", {"channels": 3, "kernel_size": 9, "padding": 1}, x=(1, 7, 7)),  # fits only with padding
    case("Conv2d", {"channels": 3, "bias": False}, x=IMG),
    case("Conv2d", {"channels": 3, "stride": 4}, x=(2, 6, 17)),
    bad("Conv2d", {"kernel_size": 5}, error="has kernel_size 5 larger than its input", x=(3, 4, 4)),
    bad("Conv2d", {"kernel_size": 3, "dilation": 3}, error="dilation 3 spreads it over 7", x=(1, 6, 6)),
    bad("Conv2d", {"channels": 8, "groups": 3}, error="groups 3, which does not divide its 4 input",
        x=(4, 6, 6)),
    bad("Conv2d", {"channels": 8, "groups": 3}, error="does not divide its 8 output", x=(6, 6, 6)),
    bad("Conv2d", {"padding": "same", "stride": 2}, error="only works with stride 1", x=IMG),
    bad("Conv2d", {}, error="or use Conv 1D", x=(6, 6)),
    bad("Conv2d", {}, error="shape (1, 28, 28)", x=(784,)),
]

CONV1D = [
    case("Conv1d", {"channels": 8}, x=SEQ),
    case("Conv1d", {"channels": 8, "kernel_size": 5, "stride": 2, "padding": 2}, x=SEQ),
    case("Conv1d", {"channels": 6, "kernel_size": 4, "padding": "same"}, x=SEQ),
    case("Conv1d", {"channels": 6, "kernel_size": 3, "dilation": 4, "padding": 1}, x=SEQ),
    case("Conv1d", {"channels": 2, "kernel_size": 2, "groups": 2, "bias": False}, x=SEQ),
    case("Conv1d", {"channels": 3, "kernel_size": 11}, x=SEQ),
    bad("Conv1d", {"kernel_size": 12}, error="larger than its input", x=SEQ),
    bad("Conv1d", {}, error="insert Reshape with shape (1, 10)", x=(10,)),
    bad("Conv1d", {}, error="use Conv 2D for images", x=IMG),
    bad("Conv1d", {"padding": "same", "stride": 3}, error="stride 1", x=SEQ),
]

CONV_TRANSPOSE = [
    case("ConvTranspose2d", {"channels": 4}, x=IMG),
    case("ConvTranspose2d", {"channels": 4, "kernel_size": 4, "stride": 2, "padding": 1}, x=IMG),
    case("ConvTranspose2d", {"channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
         x=(5, 4, 6)),
    case("ConvTranspose2d", {"channels": 3, "kernel_size": 3, "stride": 1, "bias": False}, x=(2, 1, 1)),
    case("ConvTranspose2d", {"channels": 3, "kernel_size": 5, "stride": 3, "output_padding": 2}, x=(2, 3, 2)),
    bad("ConvTranspose2d", {"stride": 2, "output_padding": 2}, error="must be smaller than its stride 2",
        x=IMG),
    bad("ConvTranspose2d", {"kernel_size": 1, "stride": 1, "padding": 2}, error="trims away", x=(2, 3, 3)),
    bad("ConvTranspose2d", {}, error="expects an image", x=(16,)),
]

UPSAMPLE = [
    case("Upsample", {}, x=IMG),
    case("Upsample", {"scale_factor": 3, "mode": "bilinear"}, x=IMG),
    case("Upsample", {"scale_factor": 1}, x=IMG),
    case("Upsample", {"scale_factor": 2, "mode": "linear"}, x=SEQ),
    case("Upsample", {"scale_factor": 4}, x=SEQ),
    bad("Upsample", {"mode": "linear"}, error="choose 'bilinear'", x=IMG),
    bad("Upsample", {"mode": "bilinear"}, error="choose 'linear'", x=SEQ),
    bad("Upsample", {}, error="expects an image", x=(5,)),
]

POOLING = [
    case("MaxPool2d", {}, x=IMG),
    case("MaxPool2d", {"kernel_size": 3, "stride": 2}, x=IMG),
    case("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, x=IMG),
    case("MaxPool2d", {"kernel_size": 2, "ceil_mode": True}, x=IMG),
    case("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, x=(2, 10, 6)),
    case("MaxPool2d", {"kernel_size": 4, "stride": 3, "ceil_mode": True}, x=(1, 8, 5)),
    case("MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, x=(1, 5, 4)),
    case("MaxPool2d", {"kernel_size": 7}, x=(1, 7, 7)),
    case("MaxPool2d", {"kernel_size": 2, "stride": 1}, x=(2, 2, 2)),
    case("MaxPool1d", {}, x=SEQ),
    case("MaxPool1d", {"kernel_size": 3, "stride": 1, "padding": 1}, x=SEQ),
    case("MaxPool1d", {"kernel_size": 4, "ceil_mode": True}, x=SEQ),
    case("AvgPool2d", {}, x=IMG),
    case("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, x=IMG),
    case("AvgPool2d", {"kernel_size": 3, "stride": 3}, x=(2, 3, 3)),
    case("AvgPool1d", {}, x=SEQ),
    case("AvgPool1d", {"kernel_size": 5, "stride": 2, "padding": 2}, x=SEQ),
    bad("MaxPool2d", {"kernel_size": 8}, error="has kernel_size 8 larger than its input", x=IMG),
    bad("MaxPool2d", {"kernel_size": 2, "padding": 2}, error="at most half of kernel_size 2", x=IMG),
    bad("AvgPool1d", {"kernel_size": 3, "padding": 2}, error="lower padding to 1", x=SEQ),
    bad("MaxPool2d", {}, error="use the 1D version", x=SEQ),
    bad("MaxPool1d", {}, error="use the 2D version", x=IMG),
    bad("AvgPool2d", {}, error="expects an image", x=(8,)),
    case("GlobalAvgPool", {}, x=IMG),
    case("GlobalAvgPool", {}, x=SEQ),
    case("GlobalMaxPool", {}, x=IMG),
    case("GlobalMaxPool", {}, x=(5, 1)),
    bad("GlobalAvgPool", {}, error="already one value per feature", x=(8,)),
    bad("GlobalMaxPool", {}, error="already one value per feature", x=(8,)),
]

NORM = [
    case("BatchNorm1d", {}, x=(6,)),
    case("BatchNorm1d", {"momentum": 0.01}, x=SEQ),
    case("BatchNorm1d", {"affine": False}, x=(5,)),
    case("BatchNorm2d", {}, x=IMG),
    case("BatchNorm2d", {"momentum": 0.3, "affine": False}, x=IMG),
    bad("BatchNorm1d", {}, error="use Batch norm 2D for images", x=IMG),
    bad("BatchNorm2d", {}, error="use Batch norm 1D", x=SEQ),
    case("LayerNorm", {}, x=(6,)),
    case("LayerNorm", {}, x=SEQ),
    case("LayerNorm", {"affine": False}, x=IMG),
    case("GroupNorm", {"groups": 2}, x=(4, 5, 5)),
    case("GroupNorm", {"groups": 3, "affine": False}, x=(6, 7)),
    case("GroupNorm", {"groups": 1}, x=(5,)),
    case("GroupNorm", {"groups": 4}, x=(4, 3, 3)),
    bad("GroupNorm", {"groups": 4}, error="groups 4, which does not divide its 6 channels", x=(6, 3, 3)),
    bad("GroupNorm", {"groups": 8}, error="one of 1, 2, 3, 4, 6, 12", x=(12, 2)),
    case("Dropout", {}, x=(6,)),
    case("Dropout", {"p": 0.1}, x=SEQ),
    case("Dropout", {"p": 0.0}, x=IMG),
    case("Dropout2d", {}, x=IMG),
    case("Dropout2d", {"p": 0.25}, x=(2, 1, 1)),
    bad("Dropout2d", {}, error="use Dropout", x=SEQ),
]

DENSE = [
    case("Reshape", {"shape": (1, 4, 4)}, x=(16,)),
    case("Reshape", {"shape": (-1, 4)}, x=(2, 3, 4)),
    case("Reshape", {"shape": (3, -1)}, x=(12,)),
    case("Reshape", {"shape": (-1,)}, x=IMG),
    case("Reshape", {"shape": (2, 1, 3, 2)}, x=(12,)),
    case("Reshape", {"shape": (6, 2)}, x=(3, 2, 2)),
    bad("Reshape", {"shape": (3, 5, 5)}, error="holds 400 values per sample but shape (3, 5, 5) holds 75",
        x=(16, 5, 5)),
    bad("Reshape", {"shape": (-1, 7)}, error="multiply to 7, which does not divide 12", x=(12,)),
    case("Permute", {"dims": (2, 1)}, x=SEQ),
    case("Permute", {"dims": (1, 3, 2)}, x=IMG),
    case("Permute", {"dims": (3, 1, 2)}, x=IMG),
    case("Permute", {"dims": (1,)}, x=(5,)),
    bad("Permute", {"dims": (2, 2)},
        error="axes 1 and 2 of its input (B, 4, 11), each exactly once, e.g. (2, 1); got (2, 2)", x=SEQ),
    bad("Permute", {"dims": (2, 1)}, error="axes 1 to 3", x=IMG),
    bad("Permute", {"dims": (1, 3)}, error="axes 1 and 2", x=SEQ),
    case("Embedding", {"vocab_size": 11, "dim": 5}, x=tokens(6, 11)),
    case("Embedding", {"vocab_size": 40, "dim": 3}, x=tokens(1, 20)),
    bad("Embedding", {}, error="token ids (B, T)", x=IMG),
    bad("Embedding", {}, error="needs no Embedding", x=SEQ),
]

ACTIVATIONS = [
    case("ReLU", {}, x=(5,)),
    case("LeakyReLU", {}, x=IMG),
    case("LeakyReLU", {"negative_slope": 0.2}, x=SEQ),
    case("ELU", {}, x=(5,)),
    case("ELU", {"alpha": 0.5}, x=IMG),
    case("GELU", {}, x=SEQ),
    case("GELU", {"approximate": "tanh"}, x=(5,)),
    case("SiLU", {}, x=IMG),
    case("Sigmoid", {}, x=(1,)),
    case("Tanh", {}, x=IMG),
    case("Softmax", {}, x=(10,)),
    case("Softmax", {"dim": 1}, x=SEQ),
    case("Softmax", {"dim": -2}, x=IMG),
    case("Softmax", {"dim": 3}, x=IMG),
    case("LogSoftmax", {}, x=(10,)),
    case("LogSoftmax", {"dim": 2}, x=SEQ),
    bad("Softmax", {"dim": 0}, error="batch axis", x=(10,)),
    bad("Softmax", {"dim": 3}, error="only has axes 1 and 2", x=SEQ),
    bad("LogSoftmax", {"dim": -4}, error="only has axes 1 to 3", x=IMG),
]

MERGE = [
    case("Multiply", {}, in1=IMG, in2=IMG),
    case("Multiply", {"inputs": 3}, in1=(5,), in2=(5,), in3=(5,)),
    bad("Multiply", {}, error="same shape", in1=(5,), in2=(4,)),
    case("Concatenate", {}, in1=(2, 5, 5), in2=(3, 5, 5)),  # auto: channels
    case("Concatenate", {}, in1=(4, 3), in2=(4, 5)),  # auto: sequence features
    case("Concatenate", {"inputs": 3}, in1=(3,), in2=(4,), in3=(1,)),  # auto: vector features
    case("Concatenate", {"axis": 1}, in1=(4, 3), in2=(2, 3)),  # sequence steps
    case("Concatenate", {"axis": 2}, in1=(2, 5, 4), in2=(2, 1, 4)),
    case("Concatenate", {"axis": 3}, in1=(2, 5, 4), in2=(2, 5, 2)),
    case("Concatenate", {"axis": -1}, in1=(2, 5, 4), in2=(2, 5, 3)),
    case("Concatenate", {"axis": -2}, in1=(2, 5, 4), in2=(2, 6, 4)),
    case("Concatenate", {"axis": -3, "inputs": 3}, in1=(2, 5, 4), in2=(1, 5, 4), in3=(3, 5, 4)),
    bad("Concatenate", {}, error="differ on axis 2 (height)", in1=(2, 5, 5), in2=(2, 4, 5)),
    bad("Concatenate", {"axis": 2}, error="differ on axis 1 (channels)", in1=(2, 5, 5), in2=(3, 4, 5)),
    bad("Concatenate", {}, error="same number of axes", in1=(2, 5, 5), in2=(5,)),
    bad("Concatenate", {"axis": 3}, error="only have axes 1 and 2", in1=(4, 3), in2=(4, 3)),
    bad("Concatenate", {"axis": 0}, error="axis 0, the batch axis", in1=(4,), in2=(4,)),
]

CASES = CONV2D + CONV1D + CONV_TRANSPOSE + UPSAMPLE + POOLING + NORM + DENSE + ACTIVATIONS + MERGE

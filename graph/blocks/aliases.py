"""What PyTorch and Keras call DeepWire's block types, for "did you mean" when a file names a foreign one.

A project file written by hand (or by a script that knows torch.nn or Keras)
may say "Dense", "Unflatten" or "MaxPooling2D". Loading still refuses an
unknown type, since silently mapping it could build a different network; the
error then names the DeepWire block to use instead. Keys are compared
case-insensitively, without underscores and without a module prefix
("nn.", "keras.layers."), so "nn.Conv2D" and "conv_2d" find "Conv2d" too.
Ids that differ from a DeepWire id only by case need no entry here.
"""

from __future__ import annotations

# foreign name -> the DeepWire type ids it corresponds to (the most likely first)
FOREIGN_NAMES: dict[str, tuple[str, ...]] = {
    # dense and reshaping
    "Dense": ("Linear",),
    "LazyLinear": ("Linear",),
    "Unflatten": ("Reshape",),
    "View": ("Reshape",),
    "Transpose": ("Permute",),
    # convolution
    "Convolution2D": ("Conv2d",),
    "LazyConv2d": ("Conv2d",),
    "Convolution1D": ("Conv1d",),
    "Conv2DTranspose": ("ConvTranspose2d",),
    "Conv2dTranspose": ("ConvTranspose2d",),
    "Deconvolution2D": ("ConvTranspose2d",),
    "UpSampling2D": ("Upsample",),
    "UpsamplingNearest2d": ("Upsample",),
    "UpsamplingBilinear2d": ("Upsample",),
    "Interpolate": ("Upsample",),
    # pooling
    "MaxPooling2D": ("MaxPool2d",),
    "MaxPooling1D": ("MaxPool1d",),
    "MaxPool": ("MaxPool2d", "MaxPool1d"),
    "AveragePooling2D": ("AvgPool2d",),
    "AveragePooling1D": ("AvgPool1d",),
    "AvgPool": ("AvgPool2d", "AvgPool1d"),
    "GlobalAveragePooling2D": ("GlobalAvgPool",),
    "GlobalAveragePooling1D": ("GlobalAvgPool",),
    "AdaptiveAvgPool2d": ("GlobalAvgPool",),
    "AdaptiveAvgPool1d": ("GlobalAvgPool",),
    "GlobalMaxPooling2D": ("GlobalMaxPool",),
    "GlobalMaxPooling1D": ("GlobalMaxPool",),
    "AdaptiveMaxPool2d": ("GlobalMaxPool",),
    "AdaptiveMaxPool1d": ("GlobalMaxPool",),
    # normalisation and dropout
    "BatchNormalization": ("BatchNorm2d", "BatchNorm1d"),
    "BatchNorm": ("BatchNorm2d", "BatchNorm1d"),
    "LazyBatchNorm2d": ("BatchNorm2d",),
    "LazyBatchNorm1d": ("BatchNorm1d",),
    "SyncBatchNorm": ("BatchNorm2d", "BatchNorm1d"),
    "LayerNormalization": ("LayerNorm",),
    "GroupNormalization": ("GroupNorm",),
    "SpatialDropout2D": ("Dropout2d",),
    "SpatialDropout1D": ("Dropout",),
    "AlphaDropout": ("Dropout",),
    "DropPath": ("StochasticDepth",),
    # recurrent and attention
    "SimpleRNN": ("RNN",),
    "CuDNNLSTM": ("LSTM",),
    "CuDNNGRU": ("GRU",),
    "MultiheadAttention": ("SelfAttention", "CrossAttention"),
    "MultiHeadAttention": ("SelfAttention", "CrossAttention"),
    "Attention": ("SelfAttention", "CrossAttention"),
    "SDPA": ("ScaledDotProductAttention",),
    "FlashAttention": ("ScaledDotProductAttention",),
    "TransformerEncoderLayer": ("TransformerEncoderBlock",),
    "TransformerEncoder": ("TransformerEncoderBlock",),
    "TransformerDecoderLayer": ("TransformerDecoderBlock",),
    "TransformerDecoder": ("TransformerDecoderBlock",),
    # activations
    "PReLU": ("LeakyReLU",),
    "Swish": ("SiLU",),
    "HSwish": ("Hardswish",),
    "HSigmoid": ("Hardsigmoid",),
    "Hardtanh": ("ReLU6",),
    "Activation": ("ReLU", "GELU", "Sigmoid"),
    # merges
    "Cat": ("Concatenate",),
    "Concat": ("Concatenate",),
    "Mul": ("Multiply",),
    # inputs
    "Input": ("ImageInput", "VectorInput", "SequenceInput", "TokenInput"),
    "InputLayer": ("ImageInput", "VectorInput", "SequenceInput", "TokenInput"),
    # pretrained backbones (torchvision's function names)
    "resnet18": ("ResNet18Backbone",),
    "mobilenet_v3_small": ("MobileNetV3SmallBackbone",),
    # losses: in DeepWire a head block carries its loss
    "CrossEntropyLoss": ("ClassificationHead",),
    "NLLLoss": ("ClassificationHead",),
    "BCEWithLogitsLoss": ("BinaryHead",),
    "BCELoss": ("BinaryHead",),
    "MSELoss": ("RegressionHead",),
    "L1Loss": ("RegressionHead",),
    "HuberLoss": ("RegressionHead",),
}


def alias_key(name: str) -> str:
    """How a foreign name is compared: last dotted part, lower case, no underscores or spaces."""
    return name.rsplit(".", 1)[-1].lower().replace("_", "").replace(" ", "")

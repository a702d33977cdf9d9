"""Source of the pretrained-backbone helper classes (ResNet-18, MobileNetV3-small) for generated code.

Plain PyTorch, no torchvision import: the generated file stays one
self-contained module. The submodule names and shapes are exactly
torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, ... for ResNet-18;
`features.0.0`, `features.1.block.0.0`, ... for MobileNetV3-small), minus
the classifier, so torchvision's published weight files load as they are
(tests/fixtures/torchvision_backbone_keys.json lists every key and shape,
taken from torchvision's own source). Weights are read only from a local
file, never downloaded.
"""

BACKBONE_HELPERS: dict[str, str] = {
    "load_pretrained": '''
def load_pretrained(module, path, file_name, how_to_get, skip_prefix):
    """Load a torchvision weight file into `module` (its classifier left out), from a local file only.

    path: a .pth file, or "torch-cache" for torch's own download folder (~/.cache/torch/hub/checkpoints).
    """
    if path == "torch-cache":
        path = os.path.join(torch.hub.get_dir(), "checkpoints", file_name)
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"pretrained weights not found: {path}. DeepWire never downloads them; get the file once on a "
            f"machine with internet ({how_to_get}) and copy it there, or clear pretrained_weights")
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise ValueError(f"pretrained weights {path}: not a regular, non-empty file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never runs code
    except Exception as err:  # truncated, random bytes, or a pickle that would run code (refused)
        raise ValueError(f"pretrained weights {path}: cannot be read as a weights-only file "
                         f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})"
                         ) from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"pretrained weights {path}: not a state_dict (names -> tensors)")
    state = {k: v for k, v in state.items() if not k.startswith(skip_prefix)}
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise ValueError(f"pretrained weights {path}: no '{key}' in the file ({file_name} expected)")
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"pretrained weights {path}: '{key}' has shape {tuple(state[key].shape)} in the "
                             f"file but {tuple(value.shape)} in the model ({file_name} expected)")
        if state[key].is_floating_point() != value.is_floating_point():
            raise ValueError(f"pretrained weights {path}: '{key}' holds {state[key].dtype} values, "
                             f"the model needs {value.dtype}")
    extra = [k for k in state if k not in own]
    if extra:
        raise ValueError(f"pretrained weights {path}: '{extra[0]}' has no place in the model "
                         f"({file_name} expected)")
    module.load_state_dict(state)
''',
    "ResNetBasicBlock": '''
class ResNetBasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (He et al., 2015); torchvision's BasicBlock."""

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:  # the shortcut must change size too
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)
''',
    "ResNet18Features": '''
class ResNet18Features(nn.Module):
    """ResNet-18 without its classifier: (B, 3, H, W) -> (B, 512, H/32, W/32), or (B, 512) pooled.

    Keys and shapes are torchvision's resnet18 (fc left out), so its ImageNet file loads as it is.
    """

    def __init__(self, pooled=True, weights=""):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(ResNetBasicBlock(64, 64), ResNetBasicBlock(64, 64))
        self.layer2 = nn.Sequential(ResNetBasicBlock(64, 128, 2), ResNetBasicBlock(128, 128))
        self.layer3 = nn.Sequential(ResNetBasicBlock(128, 256, 2), ResNetBasicBlock(256, 256))
        self.layer4 = nn.Sequential(ResNetBasicBlock(256, 512, 2), ResNetBasicBlock(512, 512))
        self.pooled = pooled
        if weights:
            load_pretrained(self, weights, "resnet18-f37072fd.pth",
                            "torchvision.models.resnet18(weights='IMAGENET1K_V1')", "fc.")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3)) if self.pooled else x
''',
    "ConvBNActivation": '''
class ConvBNActivation(nn.Sequential):
    """Convolution, batch norm, activation (None: none); torchvision's Conv2dNormActivation."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, groups=1, activation=nn.Hardswish):
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                            groups=groups, bias=False),
                  nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.01)]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)
''',
    "SqueezeExcitation": '''
class SqueezeExcitation(nn.Module):
    """Channel attention (Hu et al., 2018): scale each channel by a gate from its global average."""

    def __init__(self, channels, squeeze_channels):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)
''',
    "InvertedResidual": '''
class InvertedResidual(nn.Module):
    """MobileNetV3 block: expand (1x1), depthwise conv, optional squeeze-excitation, project (1x1)."""

    def __init__(self, in_channels, kernel_size, expanded, out_channels, squeeze, activation, stride):
        super().__init__()
        layers = []
        if expanded != in_channels:
            layers.append(ConvBNActivation(in_channels, expanded, 1, activation=activation))
        layers.append(ConvBNActivation(expanded, expanded, kernel_size, stride, groups=expanded,
                                       activation=activation))
        if squeeze:
            layers.append(SqueezeExcitation(expanded, max(8, int(expanded // 4 + 4) // 8 * 8)))
        layers.append(ConvBNActivation(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = self.block(x)
        return out + x if self.residual else out
''',
    "MobileNetV3SmallFeatures": '''
class MobileNetV3SmallFeatures(nn.Module):
    """MobileNetV3-small without its classifier: (B, 3, H, W) -> (B, 576, H/32, W/32), or (B, 576) pooled.

    Keys and shapes are torchvision's mobilenet_v3_small (classifier left out).
    """

    # input channels, kernel, expanded, output channels, squeeze-excitation, activation, stride
    SETTING = [(16, 3, 16, 16, True, nn.ReLU, 2), (16, 3, 72, 24, False, nn.ReLU, 2),
               (24, 3, 88, 24, False, nn.ReLU, 1), (24, 5, 96, 40, True, nn.Hardswish, 2),
               (40, 5, 240, 40, True, nn.Hardswish, 1), (40, 5, 240, 40, True, nn.Hardswish, 1),
               (40, 5, 120, 48, True, nn.Hardswish, 1), (48, 5, 144, 48, True, nn.Hardswish, 1),
               (48, 5, 288, 96, True, nn.Hardswish, 2), (96, 5, 576, 96, True, nn.Hardswish, 1),
               (96, 5, 576, 96, True, nn.Hardswish, 1)]

    def __init__(self, pooled=True, weights=""):
        super().__init__()
        layers = [ConvBNActivation(3, 16, 3, 2)]
        layers += [InvertedResidual(*row) for row in self.SETTING]
        layers.append(ConvBNActivation(96, 576, 1))
        self.features = nn.Sequential(*layers)
        self.pooled = pooled
        if weights:
            load_pretrained(self, weights, "mobilenet_v3_small-047dcff4.pth",
                            "torchvision.models.mobilenet_v3_small(weights='IMAGENET1K_V1')", "classifier.")

    def forward(self, x):
        x = self.features(x)
        return x.mean((2, 3)) if self.pooled else x
''',
}

"""Pretrained backbones: ResNet-18 and MobileNetV3-small, as single blocks.

Each takes RGB images (B, 3, H, W) and gives image features: pooled to
(B, C) (C = 512 for ResNet-18, 576 for MobileNetV3-small), or the feature
map (B, C, H', W') where H' and W' are H and W halved five times, rounding
up (a 224x224 image gives 7x7, 32x32 gives 1x1). Their code is plain
PyTorch (graph/backbones_src.py) with torchvision's state_dict names, so a
torchvision weight file loads through `pretrained_weights`: a local path,
or "torch-cache" for torch's download folder. Nothing is ever downloaded.
Weights loaded this way count as pretrained: `pretrained_lr_scale` slows
them down, and freezing the block keeps them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from graph.params import Choice, Text
from graph.spec import BlockSpec, Emission, Port, ShapeError

CATEGORY = "Pretrained"

_OUTPUT = Choice("output", "pooled", ("pooled", "map"),
                 "pooled: one feature vector per image (B, C), ready for a Linear head; "
                 "map: the last feature map (B, C, H/32, W/32)")


def _weights_param(file_name: str, model: str) -> Text:
    return Text("pretrained_weights", "",
                "A local torchvision weight file to start from, e.g. "
                f"~/.cache/torch/hub/checkpoints/{file_name} (get it once with "
                f"torchvision.models.{model}(weights='IMAGENET1K_V1')); 'torch-cache' looks there; "
                "empty: random weights. Never downloaded.")


def torch_hub_checkpoints() -> Path:
    """torch.hub's checkpoints folder, as torch.hub.get_dir() finds it, without importing torch."""
    hub = os.environ.get("TORCH_HUB")
    if not hub:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
        hub = os.path.join(os.environ.get("TORCH_HOME", os.path.join(cache, "torch")), "hub")
    return Path(os.path.expanduser(hub)) / "checkpoints"


def weights_path(text: str, file_name: str, base_dir: Path | None) -> Path:
    """Where a pretrained_weights value points: 'torch-cache', ~ and a path relative to the project."""
    if text == "torch-cache":
        return torch_hub_checkpoints() / file_name
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def _weights_file_check(file_name: str, model: str):
    def check(p, base_dir):
        text = p.get("pretrained_weights", "")
        if not text:
            return []
        path = weights_path(text, file_name, base_dir)
        get = (f"DeepWire never downloads weights: get {file_name} once on a machine with internet "
               f"(torchvision.models.{model}(weights='IMAGENET1K_V1') saves it in "
               f"{torch_hub_checkpoints()}) and copy it there, or clear pretrained_weights to start "
               "from random weights")
        if path.is_dir():
            return [("pretrained_weights", f"pretrained_weights is a folder, not a weight file: {path}")]
        if not path.is_file():
            return [("pretrained_weights", f"pretrained weights not found: {path}. {get}")]
        if not os.access(path, os.R_OK):
            return [("pretrained_weights", f"pretrained weights file cannot be read (no permission): {path}")]
        return []

    return check


def _halve_five_times(size: int) -> int:
    for _ in range(5):  # the stem and four stride-2 stages, each rounding up
        size = math.ceil(size / 2)
    return size


def _shape_rule(title: str, channels: int):
    def infer(p, ins):
        x = ins["x"]
        if len(x) != 3 or x[0] != 3:
            got = f"(B, {', '.join(map(str, x))})" if x else "(B,)"
            fix = " set the Image input's channels to 3" if len(x) == 3 else " feed it images"
            raise ShapeError(f"{title} expects RGB images (B, 3, H, W), but receives {got};{fix}",
                             port="x")
        if p["output"] == "pooled":
            return (channels,)
        return (channels, _halve_five_times(x[1]), _halve_five_times(x[2]))

    return infer


def _emitter(helper: str, helpers: tuple[str, ...]):
    def emit(p, ins, out):
        args = []
        if p["output"] != "pooled":
            args.append("pooled=False")
        if p["pretrained_weights"]:
            args.append(f"weights={p['pretrained_weights']!r}")  # validated text, only ever a literal
        return Emission(f"{helper}({', '.join(args)})", "{self}({x})", helpers=(*helpers, "load_pretrained"))

    return emit


# parameter counts of the feature parts (torchvision's models without their classifiers)
RESNET18_PARAMETERS = 11_176_512
MOBILENET_V3_SMALL_PARAMETERS = 927_008

RESNET18 = BlockSpec(
    "ResNet18Backbone", "ResNet-18 backbone", CATEGORY,
    "ResNet-18's convolutional part (11.2M weights): turns RGB images into 512 features; load "
    "torchvision's ImageNet weights from a local file for transfer learning.",
    infer=_shape_rule("ResNet-18", 512), emit=_emitter("ResNet18Features", ("ResNetBasicBlock",
                                                                            "ResNet18Features")),
    count=lambda p, ins, out: RESNET18_PARAMETERS,
    inputs=(Port("x", "RGB images (B, 3, H, W), e.g. 224x224.", ranks=(3,)),),
    params=(_OUTPUT, _weights_param("resnet18-f37072fd.pth", "resnet18")),
    summary=("output", "pretrained_weights"),
    files=_weights_file_check("resnet18-f37072fd.pth", "resnet18"),
)

MOBILENET_V3_SMALL = BlockSpec(
    "MobileNetV3SmallBackbone", "MobileNetV3-small backbone", CATEGORY,
    "MobileNetV3-small's convolutional part (0.9M weights, fast on a CPU): turns RGB images into 576 "
    "features; load torchvision's ImageNet weights from a local file for transfer learning.",
    infer=_shape_rule("MobileNetV3-small", 576),
    emit=_emitter("MobileNetV3SmallFeatures", ("ConvBNActivation", "SqueezeExcitation", "InvertedResidual",
                                               "MobileNetV3SmallFeatures")),
    count=lambda p, ins, out: MOBILENET_V3_SMALL_PARAMETERS,
    inputs=(Port("x", "RGB images (B, 3, H, W), e.g. 224x224.", ranks=(3,)),),
    params=(_OUTPUT, _weights_param("mobilenet_v3_small-047dcff4.pth", "mobilenet_v3_small")),
    summary=("output", "pretrained_weights"),
    files=_weights_file_check("mobilenet_v3_small-047dcff4.pth", "mobilenet_v3_small"),
)

BLOCKS = (RESNET18, MOBILENET_V3_SMALL)

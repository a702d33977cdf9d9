"""Cases for the pretrained backbones (small images keep these fast: 32x32 gives a 1x1 map)."""

from tests.cases import bad, case

CASES = [
    case("ResNet18Backbone", {}, x=(3, 32, 32)),
    case("ResNet18Backbone", {"output": "map"}, x=(3, 64, 40)),
    bad("ResNet18Backbone", {}, error="expects RGB images (B, 3, H, W), but receives (B, 1, 8, 8)",
        x=(1, 8, 8)),
    case("MobileNetV3SmallBackbone", {}, x=(3, 32, 32)),
    case("MobileNetV3SmallBackbone", {"output": "map"}, x=(3, 36, 33)),
    bad("MobileNetV3SmallBackbone", {}, error="feed it images", x=(12,)),
]

"""Public models of the import corpus, each a function `deepwire import tests/corpus/zoo.py:NAME` opens.

torchvision's classification zoo and timm's small variants with fresh weights
(pretrained=False: nothing is downloaded), and Hugging Face transformers built
from small configs (2 layers). Sizes are cut down (fewer classes, small
images) so the whole corpus imports in minutes on two cores; the layer types
and the code paths are the libraries' own. ENTRIES lists every model with its
input shape and head; tests/corpus/own_models.py holds the hand-written ones.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run by `deepwire import` as a loose file

from torchvision_shim import timm_module, torchvision_models  # noqa: E402

CLASSES = 10


@dataclass(frozen=True)
class Entry:
    name: str  # the function in zoo.py or own_models.py
    shape: str  # --input-shape, without the batch ("input_ids=16" for a named argument)
    head: str = "classification"
    source: str = "zoo"  # zoo | own
    refuse: bool = False  # the import must refuse it, clearly (data-dependent Python)


# --- torchvision ---------------------------------------------------------------------------

def tv_resnet18():
    return torchvision_models().resnet18(num_classes=CLASSES)


def tv_resnet50():
    return torchvision_models().resnet50(num_classes=CLASSES)


def tv_vgg11():
    return torchvision_models().vgg11(num_classes=CLASSES)


def tv_alexnet():
    return torchvision_models().alexnet(num_classes=CLASSES)


def tv_densenet121():
    return torchvision_models().densenet121(num_classes=CLASSES)


def tv_mobilenet_v2():
    return torchvision_models().mobilenet_v2(num_classes=CLASSES)


def tv_mobilenet_v3_small():
    return torchvision_models().mobilenet_v3_small(num_classes=CLASSES)


def tv_efficientnet_b0():
    return torchvision_models().efficientnet_b0(num_classes=CLASSES)


def tv_mnasnet0_5():
    return torchvision_models().mnasnet0_5(num_classes=CLASSES)


def tv_shufflenet_v2_x0_5():
    return torchvision_models().shufflenet_v2_x0_5(num_classes=CLASSES)


def tv_squeezenet1_1():
    return torchvision_models().squeezenet1_1(num_classes=CLASSES)


def tv_regnet_y_400mf():
    return torchvision_models().regnet_y_400mf(num_classes=CLASSES)


def tv_convnext_tiny():
    return torchvision_models().convnext_tiny(num_classes=CLASSES)


def tv_vit_small():
    """torchvision's VisionTransformer class, 2 layers on 32x32 images (vit_b_16 is 86 M parameters)."""
    models = torchvision_models()
    return models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                    mlp_dim=64, num_classes=CLASSES)


def tv_googlenet():
    return torchvision_models().googlenet(num_classes=CLASSES, aux_logits=False, init_weights=True)


# --- timm ----------------------------------------------------------------------------------

def timm_resnet18():
    return timm_module().create_model("resnet18", pretrained=False, num_classes=CLASSES)


def timm_efficientnet_b0():
    return timm_module().create_model("efficientnet_b0", pretrained=False, num_classes=CLASSES)


def timm_mobilenetv3_small():
    return timm_module().create_model("mobilenetv3_small_050", pretrained=False, num_classes=CLASSES)


def timm_convnext_atto():
    return timm_module().create_model("convnext_atto", pretrained=False, num_classes=CLASSES)


def timm_vit_tiny():
    return timm_module().create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES,
                                      img_size=32, patch_size=8, depth=2)


# --- Hugging Face transformers, from small configs (no download) ---------------------------

def _transformers():
    """transformers imports torchvision when it is installed: through the shim first."""
    torchvision_models()
    import transformers
    return transformers


def hf_bert():
    _transformers()
    from transformers import BertConfig, BertForSequenceClassification
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(config)


def hf_gpt2():
    _transformers()
    from transformers import GPT2Config, GPT2LMHeadModel
    config = GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=2, n_head=2, use_cache=False,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


def hf_vit():
    _transformers()
    from transformers import ViTConfig, ViTForImageClassification
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, num_labels=CLASSES)
    return ViTForImageClassification(config)


IMAGE = "3,32,32"
ENTRIES = [Entry(name, IMAGE) for name in (
    "tv_resnet18", "tv_resnet50", "tv_vgg11", "tv_densenet121", "tv_mobilenet_v2", "tv_mobilenet_v3_small",
    "tv_efficientnet_b0", "tv_mnasnet0_5", "tv_shufflenet_v2_x0_5", "tv_squeezenet1_1", "tv_regnet_y_400mf",
    "tv_convnext_tiny", "tv_vit_small", "tv_googlenet", "timm_resnet18", "timm_efficientnet_b0",
    "timm_mobilenetv3_small", "timm_convnext_atto", "timm_vit_tiny")]
ENTRIES[3:3] = [Entry("tv_alexnet", "3,64,64")]  # its features need 63 pixels or more
ENTRIES += [Entry("hf_bert", "input_ids=16"), Entry("hf_gpt2", "input_ids=16"),
            Entry("hf_vit", "pixel_values=3,32,32")]

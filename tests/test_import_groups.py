"""The module hierarchy survives import: blocks land in canvas groups named after the modules (issue 14).

A torchvision ResNet-18 (through tests/corpus/torchvision_shim.py) reads as stem, layer1..layer4, head;
`module_groups` on its own: wrappers holding most of a model are looked into, a Sequential of single
layers stays one group, a module that became one block is no group.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from graph.model import Block, Network
from graph.project_io import load_project
from runtime.importing.importer import run_import
from runtime.importing.module_groups import module_groups
from tests.corpus.torchvision_shim import torchvision_models

CORPUS_ZOO = "tests/corpus/zoo.py"


@pytest.mark.slow  # torchvision comes with the corpus extra, which the README's test command does not install
def test_a_resnet18_imports_as_stem_four_layers_and_head(tmp_path, registry):
    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pt"
    torch.save(torchvision_models().resnet18(num_classes=10).state_dict(), weights)
    # flat: every call a plain block, so the groups hold the layers themselves
    report = run_import(f"{CORPUS_ZOO}:tv_resnet18", tmp_path / "r.dw.json", registry, ["3,32,32"],
                        "classification", str(weights), flat=True)
    assert report.ok
    net = load_project(report.project_path, registry).networks[0]  # the groups are saved with it
    names = [g.name for g in net.groups]
    assert names == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    members = {g.name: [net.blocks[b] for b in g.blocks] for g in net.groups}
    assert [b.type for b in members["stem"]] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [b.type for b in members["head"]] == ["GlobalAvgPool", "Linear", "ClassificationHead"]
    # layer1: 2 BasicBlocks of conv, bn, relu, conv, bn, add, relu; layer2..4 add the 1x1 downsample
    assert Counter(b.type for b in members["layer1"]) == Counter(
        {"Conv2d": 4, "BatchNorm2d": 4, "ReLU": 4, "Add": 2})
    for k in (2, 3, 4):
        assert Counter(b.type for b in members[f"layer{k}"])["Conv2d"] == 5
    # every block of a layer's modules is in that layer's group, and no block is in two groups
    for block in net.blocks.values():
        for k in range(1, 5):
            if block.name.startswith(f"layer{k}_"):
                assert block in members[f"layer{k}"], block.name
    grouped = [b for g in net.groups for b in g.blocks]
    assert len(grouped) == len(set(grouped)) == len(net.blocks) - 1  # all but the image input
    assert not any(g.collapsed for g in net.groups)
    # by default BasicBlock becomes a definition: the same groups hold its instances
    report = run_import(f"{CORPUS_ZOO}:tv_resnet18", tmp_path / "d.dw.json", registry, ["3,32,32"],
                        "classification", str(weights))
    assert report.ok and report.networks[0].blocks == Counter(
        b.type for b in net.blocks.values())  # the report counts the layers inside the definitions
    net = load_project(report.project_path, registry).networks[0]
    assert [g.name for g in net.groups] == names
    layer1 = [net.blocks[b].type for b in next(g for g in net.groups if g.name == "layer1").blocks]
    assert len(layer1) == 2 and len(set(layer1)) == 1 and layer1[0].startswith("BasicBlock")


def _net(*names: str) -> Network:
    return Network("n", [Block(f"b{i}", "ReLU", f"b{i}") for i in range(len(names))])


def _groups(scopes: list[str]):
    net = _net(*scopes)
    found = module_groups(net, {f"b{i}": s for i, s in enumerate(scopes)}, inputs=set())
    return [(g.name, [int(b[1:]) for b in g.blocks]) for g in found]


def test_a_wrapper_holding_most_of_the_model_is_looked_into():
    # Hugging Face's ViTForImageClassification: vit (embeddings, encoder.layer.N, layernorm), classifier
    scopes = ["vit.embeddings.patch", "vit.embeddings", "vit.encoder.layer.0.a", "vit.encoder.layer.0.b",
              "vit.encoder.layer.0", "vit.encoder.layer.1.a", "vit.encoder.layer.1.b", "vit.encoder.layer.1",
              "vit.layernorm", "", "classifier", ""]
    assert _groups(scopes) == [("vit.embeddings", [0, 1]), ("vit.encoder.layer.0", [2, 3, 4]),
                               ("vit.encoder.layer.1", [5, 6, 7]), ("head", [8, 9, 10, 11])]


def test_a_sequential_of_single_layers_stays_one_group_and_lone_modules_none():
    scopes = ["features.0", "features.1", "features.2", "features.3", "avgpool", "classifier.0",
              "classifier.1", ""]
    assert _groups(scopes) == [("features", [0, 1, 2, 3]), ("classifier", [5, 6])]
    assert _groups(["lstm", "fc", ""]) == []  # nothing but one-block modules: no groups at all


def test_a_module_named_stem_keeps_its_name_and_the_stages_are_split():
    # timm's ConvNeXt: stem, stages (most of the model: split into stages.N), a loose pooling
    scopes = ["stem.conv", "stem.norm", "stages.0.a", "stages.0.b", "stages.1.a", "stages.1.b", "pool", ""]
    assert _groups(scopes) == [("stem", [0, 1]), ("stages.0", [2, 3]), ("stages.1", [4, 5]), ("head", [6, 7])]
    # a loose block between two groups stays loose
    scopes = ["a.0", "a.1", "between", "b.0", "b.1"]
    assert _groups(scopes) == [("a", [0, 1]), ("b", [3, 4])]

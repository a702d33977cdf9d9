"""The char_transformer example is one TransformerLayer definition used twice, exported as nanoGPT reads.

The definition is made of catalog primitives (LayerNorm, SelfAttention, Add,
Linear, GELU); the exported file has one class for it, the top model builds
it twice, the trained weights load into the exported class with strict=True
and give the in-app model's outputs, and one edit of the definition changes
both instances.
"""

from __future__ import annotations

import re

import pytest
import torch

from graph.compiler import compile_project
from graph.definition_edits import set_exposed_default, set_inner_param
from graph.examples import resolve_project
from graph.project_io import load_project
from graph.validate import analyse
from runtime.build import build_models, load_source
from runtime.export_project import export_project

LAYERS = ("layer1", "layer2")
PRIMITIVES = ["PortInput", "LayerNorm", "SelfAttention", "Add", "LayerNorm", "Linear", "GELU", "Linear",
              "Add", "PortOutput"]


@pytest.fixture
def project(registry):
    return load_project(resolve_project("char_transformer"), registry)


def _parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_example_is_one_definition_of_primitives_used_twice(project):
    assert project.definitions.names() == ["TransformerLayer"]
    layer = project.definitions.get("TransformerLayer")
    assert [b.type for b in layer.body.blocks.values()] == PRIMITIVES
    assert [p.name for p in layer.params] == ["dim", "heads", "feedforward"]
    assert layer.body.blocks["attention"].params["causal"] is True
    net = project.network()
    instances = [b.name for b in net.blocks.values() if b.type == "TransformerLayer"]
    assert instances == list(LAYERS)
    assert "TransformerEncoderBlock" not in {b.type for b in net.blocks.values()}
    assert "TransformerLayer" in project.description  # the description says what the network is made of


def test_the_export_has_one_class_per_definition_built_twice(project, registry):
    source = compile_project(project, registry).source
    assert re.findall(r"^class (\w+)\(nn\.Module\):", source, re.M) == [
        "SelfAttention", "SinusoidalPositionalEncoding", "TransformerLayer", "CharacterTransformer"]
    assert "    def __init__(self, dim, heads, feedforward):\n" in source
    body = source.split("class TransformerLayer(nn.Module):")[1].split("\nclass ")[0]
    for line in ("self.norm1 = nn.LayerNorm(dim)", "self.attention = SelfAttention(dim, heads, causal=True)",
                 "self.mlp_in = nn.Linear(dim, feedforward)", "self.mlp_out = nn.Linear(feedforward, dim)",
                 "out = self.norm1(x)", "x = x + out", "out = F.gelu(out)", "return x"):
        assert line in body, line
    assert source.count("= TransformerLayer(64, 4, 256)\n") == 2


def test_trained_weights_load_strictly_into_the_exported_class_with_the_same_outputs(project, registry,
                                                                                      tmp_path):
    torch.manual_seed(0)
    model = build_models(project, registry)[0]["model"]
    ids = torch.randint(0, 97, (4, 64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(3):  # a few real steps, so the weights are trained ones, not a fresh initialisation
        loss = torch.nn.functional.cross_entropy(model(ids).reshape(-1, 97), ids.roll(-1, 1).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    state = model.state_dict()
    assert {k for k in state if k.startswith("layer1.")} == {
        "layer1.norm1.weight", "layer1.norm1.bias",
        "layer1.attention.attention.in_proj_weight", "layer1.attention.attention.in_proj_bias",
        "layer1.attention.attention.out_proj.weight", "layer1.attention.attention.out_proj.bias",
        "layer1.norm2.weight", "layer1.norm2.bias", "layer1.mlp_in.weight", "layer1.mlp_in.bias",
        "layer1.mlp_out.weight", "layer1.mlp_out.bias"}
    assert {k.replace("layer2.", "layer1.", 1) for k in state if k.startswith("layer2.")} == {
        k for k in state if k.startswith("layer1.")}
    weights = tmp_path / "trained.pt"
    torch.save(state, weights)

    export_project(project, registry, "python", tmp_path / "gpt.py", weights)
    module = load_source((tmp_path / "gpt.py").read_text(encoding="utf-8"), "exported_gpt")
    exported = module.CharacterTransformer()
    assert isinstance(exported.layer1, module.TransformerLayer)
    assert isinstance(exported.layer2, module.TransformerLayer)
    result = exported.load_state_dict(torch.load(tmp_path / "gpt.pt", weights_only=True), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval(), exported.eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(ids), model(ids), rtol=0, atol=0)
        assert not torch.equal(model.layer1.mlp_in.weight, model.layer2.mlp_in.weight)  # two instances


def test_one_inner_edit_of_the_definition_changes_both_instances(project, registry):
    net = project.network()
    torch.manual_seed(0)
    before = _parameters(build_models(project, registry)[0]["model"])
    assert before == 112_609

    edit = set_inner_param(project.definitions, "TransformerLayer", "mlp_in", "bias", False)
    model = build_models(project, registry)[0]["model"]
    assert model.layer1.mlp_in.bias is None and model.layer2.mlp_in.bias is None
    assert _parameters(model) == before - 2 * 256  # 256 hidden biases less in each of the two layers
    assert compile_project(project, registry).source.count("nn.Linear(dim, feedforward, bias=False)") == 1

    edit.revert()  # one undo step restores both
    assert _parameters(build_models(project, registry)[0]["model"]) == before
    assert analyse(net, registry).ok


def test_one_edit_of_an_exposed_default_changes_both_instances_that_follow_it(project, registry):
    net = project.network()
    layers = [bid for bid, b in net.blocks.items() if b.type == "TransformerLayer"]
    for bid in layers:  # instances that set no feedforward of their own follow the definition's default
        net.set_params(bid, {k: v for k, v in net.blocks[bid].params.items() if k != "feedforward"})

    edit = set_exposed_default(project.definitions, "TransformerLayer", "feedforward", 512)
    analysis = analyse(net, registry)
    assert analysis.ok, analysis.diagnostics
    model = build_models(project, registry)[0]["model"]
    for name in LAYERS:
        layer = getattr(model, name)
        assert tuple(layer.mlp_in.weight.shape) == (512, 64)
        assert tuple(layer.mlp_out.weight.shape) == (64, 512)
    assert _parameters(model) == 112_609 + 2 * (64 * 256 + 256 + 256 * 64)

    edit.revert()
    model = build_models(project, registry)[0]["model"]
    assert tuple(model.layer1.mlp_in.weight.shape) == tuple(model.layer2.mlp_in.weight.shape) == (256, 64)

"""Block definitions: shapes per instance, one edit for all instances, one class per definition,
torchvision state_dict keys, nested definitions through save/load and export, cycles refused."""

import ast
import json

import pytest
import torch
from torch import nn

from graph.compiler import compile_project
from graph.definition_edits import add_inner_block, detach, remove_inner_block, set_inner_param
from graph.definitions import DefinitionError, library_problems, registry_for
from graph.memory import block_weights
from graph.model import Block, Definition, Edge, ExposedParam, Network, Project
from graph.project_io import ProjectFileError, dumps_project, loads_project, project_to_dict
from graph.validate import analyse
from runtime.build import build_models
from tests.definition_support import basic_block, chain, resnet_project


def stage_definition(name="Stage"):
    """conv (channels exposed, kernel 3, padding 1) then ReLU."""
    body = Network(name)
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("conv", "Conv2d", "conv", {"channels": 4, "kernel_size": 3, "padding": 1}))
    body.add_block(Block("act", "ReLU", "act"))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "conv", "act", "out"])
    return Definition(name, body, [ExposedParam("channels", 4, ("conv.channels",))])


def stage_project():
    net = Network("model")
    net.add_block(Block("in", "ImageInput", "image", {"channels": 3, "height": 12, "width": 12}))
    net.add_block(Block("s1", "Stage", "first", {"channels": 8}))
    net.add_block(Block("s2", "Stage", "second", {"channels": 16}))
    net.add_block(Block("pool", "GlobalAvgPool", "pool"))
    net.add_block(Block("fc", "Linear", "fc", {"features": 3}))
    net.add_block(Block("head", "ClassificationHead", "head", {"classes": 3}))
    chain(net, ["in", "s1", "s2", "pool", "fc", "head"])
    project = Project("Stages", [net])
    project.definitions.add(stage_definition())
    project.link()
    return project


def class_names(source):
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]


def test_each_instance_infers_its_own_shapes(registry):
    analysis = analyse(resnet_project().networks[0], registry)
    assert analysis.ok, analysis.diagnostics
    shapes = analysis.shapes
    assert shapes["l1_0"] == shapes["l1_1"] == (8, 16, 16)
    assert shapes["l2_0"] == shapes["l2_1"] == (16, 8, 8)  # the same BasicBlock, now on 16 channels


def test_an_edit_of_the_definition_changes_every_instance_and_undo_restores_all(registry):
    project = stage_project()
    net = project.networks[0]
    before_shapes = dict(analyse(net, registry).shapes)
    before_source = compile_project(project, registry).source
    assert before_shapes["s1"] == (8, 12, 12) and before_shapes["s2"] == (16, 12, 12)

    edit = set_inner_param(project.definitions, "Stage", "conv", "kernel_size", 5)  # padding stays 1
    shapes = analyse(net, registry).shapes
    assert shapes["s1"] == (8, 10, 10) and shapes["s2"] == (16, 8, 8)
    compiled = compile_project(project, registry)
    assert compiled.source.count("kernel_size=5") == 1  # in the one class, used by both
    model = build_models(project, registry)[0]["model"]
    assert model.first.conv.weight.shape == (8, 3, 5, 5)
    assert model.second.conv.weight.shape == (16, 8, 5, 5)
    assert model(torch.zeros(2, 3, 12, 12)).shape == (2, 3)

    edit.revert()  # one undo step for both instances
    assert analyse(net, registry).shapes == before_shapes
    assert compile_project(project, registry).source == before_source
    edit.apply()
    assert analyse(net, registry).shapes["s2"] == (16, 8, 8)


def test_a_problem_inside_names_the_inner_block_the_definition_and_the_instance(registry):
    project = resnet_project()
    net = project.networks[0]
    net.set_param("l1_0", "channels", 12)  # its skip adds 8 input channels to 12: refused inside
    errors = [d for d in analyse(net, registry).diagnostics if d.is_error]
    assert len(errors) == 1
    assert errors[0].block == "l1_0"
    assert "inside BasicBlock (instance 'layer1.0')" in errors[0].message
    assert "'add'" in errors[0].message
    assert errors[0].inside == ("BasicBlock", "add")  # where a definition tab would point


def test_a_problem_two_definitions_deep_names_the_path(registry):
    project = nested_project()
    project.definitions.get("BasicBlock").body.set_param("conv2", "padding", 0)  # its Add now mismatches
    errors = [d for d in analyse(project.networks[0], registry).diagnostics if d.is_error]
    assert [d.block for d in errors] == ["s1"]
    assert errors[0].inside == ("Stage2", "b0", "BasicBlock", "add")
    assert "inside Stage2 (instance 'stage1')" in errors[0].message
    assert "inside BasicBlock (instance 'blocks.0')" in errors[0].message


def test_runs_tell_a_changed_definition_from_the_one_they_trained(registry):
    from graph.network_match import network_differences

    trained, current = stage_project(), stage_project()
    assert network_differences(trained, current) == []
    current.definitions.get("Stage").body.set_param("conv", "kernel_size", 5)
    assert network_differences(trained, current) == [
        "definition 'Stage': block 'conv' has kernel_size 3 in the run, 5 in the project"]


def test_parameter_counts_of_instances_match_torch(registry):
    project = resnet_project()
    net = project.networks[0]
    analysis = analyse(net, registry)
    known = registry_for(net, registry)  # the catalog plus the project's definitions
    counted = sum(block_weights(net, known, analysis.inference, bid) for bid in net.blocks)
    model = build_models(project, registry)[0]["model"]
    assert counted == sum(p.numel() for p in model.parameters())


class RefBasicBlock(nn.Module):
    """torchvision's BasicBlock, written out by hand."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class RefResNet(nn.Module):
    """torchvision's ResNet layout (conv1, bn1, layer1.., avgpool, fc) at a small size."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(RefBasicBlock(8, 8), RefBasicBlock(8, 8))
        shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.layer2 = nn.Sequential(RefBasicBlock(8, 16, 2, shortcut), RefBasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _randomise(model):
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)


def test_exported_resnet_has_one_class_per_definition_and_loads_torchvision_weights_by_name(registry):
    project = resnet_project()
    compiled = compile_project(project, registry)
    assert class_names(compiled.source) == ["BasicBlock", "DownBlock", "ResNet"]
    assert "self.layer1 = nn.Sequential(BasicBlock(8), BasicBlock(8))" in compiled.source
    assert "self.layer2 = nn.Sequential(DownBlock(8, 16, 2), BasicBlock(16))" in compiled.source
    reference = RefResNet()
    _randomise(reference)
    model = build_models(project, registry, compiled)[0]["model"]
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.eval()
    model.eval()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)


def nested_project():
    """Stage2 holds two BasicBlock instances (blocks.0, blocks.1): a block inside a block."""
    body = Network("Stage2")
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("b0", "BasicBlock", "blocks.0", {"channels": 8}))
    body.add_block(Block("b1", "BasicBlock", "blocks.1", {"channels": 8}))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "b0", "b1", "out"])
    stage = Definition("Stage2", body, [ExposedParam("channels", 8, ("b0.channels", "b1.channels"))])
    net = Network("model")
    net.add_block(Block("in", "ImageInput", "image", {"channels": 3, "height": 8, "width": 8}))
    net.add_block(Block("stem", "Conv2d", "stem", {"channels": 6, "padding": 1}))
    net.add_block(Block("s1", "Stage2", "stage1", {"channels": 6}))
    net.add_block(Block("s2", "Stage2", "stage2", {"channels": 6}))
    net.add_block(Block("pool", "GlobalAvgPool", "pool"))
    net.add_block(Block("fc", "Linear", "fc", {"features": 2}))
    net.add_block(Block("head", "ClassificationHead", "head", {"classes": 2}))
    chain(net, ["in", "stem", "s1", "s2", "pool", "fc", "head"])
    project = Project("Nested", [net])
    project.definitions.add(stage)
    project.definitions.add(basic_block())
    project.link()
    return project


def test_nested_definitions_round_trip_through_save_load_and_export(registry, tmp_path):
    project = loads_project(dumps_project(nested_project()), registry)  # every default filled in
    text = dumps_project(project)
    loaded = loads_project(text, registry)
    assert loaded == project and loaded.definitions == project.definitions
    assert dumps_project(loaded) == text
    assert loaded.definitions.names() == ["Stage2", "BasicBlock"]  # as the file lists them
    assert loaded.definitions.get("Stage2").body.blocks["b0"].type == "BasicBlock"
    source = compile_project(project, registry).source
    assert compile_project(loaded, registry).source == source
    assert class_names(source) == ["BasicBlock", "Stage2", "Nested"]
    assert "self.blocks = nn.Sequential(BasicBlock(channels), BasicBlock(channels))" in source
    models = build_models(loaded, registry)[0]
    keys = list(models["model"].state_dict())
    assert "stage1.blocks.1.conv2.weight" in keys and "stage2.blocks.0.bn1.running_mean" in keys
    original = build_models(project, registry)[0]["model"]
    original.load_state_dict(models["model"].state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    original.eval()
    models["model"].eval()
    with torch.no_grad():
        torch.testing.assert_close(original(x), models["model"](x))
    # the exported file is the model: importing it gives the same class and the same keys
    path = tmp_path / "nested.py"
    path.write_text(source)
    from runtime.export_project import import_module_from

    exported = import_module_from(path).Nested()
    exported.load_state_dict(models["model"].state_dict(), strict=True)


def _cyclic_project():
    project = stage_project()
    a, b = stage_definition("A"), stage_definition("B")
    project.definitions.add(a)
    project.definitions.add(b)
    a.body.add_block(Block("inner", "B", "inner"))
    a.body.disconnect(Edge("act", "out", "x"))
    a.body.connect(Edge("act", "inner", "x"))
    a.body.connect(Edge("inner", "out", "x"))
    b.body.add_block(Block("inner", "A", "inner"))
    b.body.disconnect(Edge("act", "out", "x"))
    b.body.connect(Edge("act", "inner", "x"))
    b.body.connect(Edge("inner", "out", "x"))
    project.networks[0].set_params("s1", {})
    return project


def test_cycles_of_definitions_are_refused_with_the_cycle_named(registry):
    project = _cyclic_project()
    problems = library_problems(project.definitions, registry)
    assert any("A -> B -> A" in p for p in problems), problems
    # an instance of one of them says so, and nothing recurses forever
    net = project.networks[0]
    net.add_block(Block("loop", "A", "loop"))
    net.connect(Edge("in", "loop", "x"))
    errors = [d.message for d in analyse(net, registry).diagnostics if d.is_error and d.block == "loop"]
    assert errors and "cycle" in errors[0]
    data = project_to_dict(project)
    with pytest.raises(ProjectFileError, match=r"definitions form a cycle \(A -> B -> A"):
        loads_project(json.dumps(data), registry)
    # the edit that would close a cycle is refused before it changes anything
    fresh = stage_project()
    fresh.definitions.add(stage_definition("Outer"))
    add_inner_block(fresh.definitions, "Outer", Block("st", "Stage", "st"))
    with pytest.raises(DefinitionError, match="Stage -> Outer -> Stage"):
        add_inner_block(fresh.definitions, "Stage", Block("o", "Outer", "o"))
    with pytest.raises(DefinitionError, match="cycle"):
        add_inner_block(fresh.definitions, "Stage", Block("self", "Stage", "self"))
    assert "o" not in fresh.definitions.get("Stage").body.blocks


def _definitions_data():
    return project_to_dict(stage_project())


def _mutate(path, value):
    def apply(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return data
    return apply


_DELETE = object()


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["definitions"].append(dict(d["definitions"][0])) or d, "two definitions are named 'Stage'"),
    (_mutate(["definitions", 0, "name"], "Conv2d"), "already a block type"),
    (lambda d: d["definitions"][0]["blocks"].pop() and d, "no block with id 'out'"),
    (lambda d: (d["definitions"][0]["blocks"].pop(), d["definitions"][0]["edges"].pop()) and d,
     "needs exactly one Definition output"),
    (_mutate(["definitions", 0, "params", 0, "binds"], ["nothing.channels"]), "names no inner block"),
    (_mutate(["definitions", 0, "params", 0, "binds"], ["conv.colour"]), "has no parameter 'colour'"),
    (_mutate(["definitions", 0, "params", 0, "default"], "wide"), "channels"),
    (_mutate(["definitions", 0, "params", 0, "binds"], "conv.channels"), "must be a list"),
    (_mutate(["networks", 0, "blocks", 1, "type"], "Stag"), "block type 'Stag'; did you mean 'Stage'"),
    (_mutate(["networks", 0, "blocks", 1, "params"], {"width": 3}), "has no parameter 'width'"),
    (_mutate(["definitions", 0, "surprise"], 1), "a definition has no field 'surprise'"),
    (_mutate(["definitions", 0, "blocks", 1, "type"], "Nope"),
     "definitions[0] 'Stage' > blocks[1] 'conv' > type: unknown block type 'Nope'"),
    (_mutate(["definitions", 0, "blocks", 0, "name"], "self"), "the port name 'self'"),
    (_mutate(["definitions", 0, "params", 0, "name"], "class"), "the parameter name 'class'"),
    (_mutate(["definitions"], {"Stage": 1}), "'definitions' must be a list"),
])
def test_damaged_definitions_are_refused_with_the_place(change, expected, registry):
    data = change(_definitions_data())
    with pytest.raises(ProjectFileError) as caught:
        loads_project(json.dumps(data), registry)
    assert expected in str(caught.value)


def test_deeply_nested_definitions_are_refused_without_recursing(registry):
    data = _definitions_data()
    template = data["definitions"][0]
    chain_of = []
    for i in range(200):
        entry = json.loads(json.dumps(template))
        entry["name"] = f"D{i}"
        if i:
            entry["blocks"][1] = {"id": "conv", "type": f"D{i - 1}", "name": "conv", "params": {}}
            entry["params"] = []
        chain_of.append(entry)
    data["definitions"] = chain_of
    data["networks"][0]["blocks"][1]["type"] = "D199"
    data["networks"][0]["blocks"][2]["type"] = "D199"
    data["networks"][0]["blocks"][1]["params"] = data["networks"][0]["blocks"][2]["params"] = {}
    with pytest.raises(ProjectFileError, match="nest more than 32 deep"):
        loads_project(json.dumps(data), registry)


def test_remove_inner_block_unbinds_it_and_undo_restores_the_definition(registry):
    project = stage_project()
    definition = project.definitions.get("Stage")
    before = definition.copy()
    edit = remove_inner_block(project.definitions, "Stage", "act")
    assert "act" not in definition.body.blocks
    edit.revert()
    assert definition == before
    edit = remove_inner_block(project.definitions, "Stage", "conv")
    assert definition.params[0].binds == ()
    edit.revert()
    assert definition == before


def test_detach_turns_an_instance_into_a_plain_group_and_undo_puts_it_back(registry):
    project = resnet_project()
    net = project.networks[0]
    before = net.copy()
    shapes = analyse(net, registry).shapes
    model_before = build_models(project, registry)[0]["model"]
    edit = detach(net, "l1_0")
    assert "l1_0" not in net.blocks
    group = next(g for g in net.groups if g.name == "layer1.0")
    assert sorted(net.blocks[b].type for b in group.blocks) == sorted(
        ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "Add", "ReLU"])
    after = analyse(net, registry)
    assert after.ok, after.diagnostics
    assert after.shapes["l1_1"] == shapes["l1_1"] and after.shapes["head"] == shapes["head"]
    model = build_models(project, registry)[0]["model"]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model_before.parameters())
    assert "layer1_0_conv1.weight" in model.state_dict()  # a plain copy: no longer BasicBlock's
    # the definition is untouched; the other instances still follow it
    assert "self.layer1 =" not in compile_project(project, registry).source
    edit.revert()
    assert net == before


# the first ONNX export of a process spends ~10 s importing the exporter: slow suite, as in test_export.py
@pytest.mark.parametrize(("fmt", "name"), [pytest.param("onnx", "m.onnx", marks=pytest.mark.slow),
                                           ("torch-export", "m.pt2")])
def test_export_check_passes_for_a_project_with_instances(fmt, name, registry, tmp_path):
    from runtime.export_project import export_project, verify_export

    exported = export_project(stage_project(), registry, fmt, tmp_path / name)
    results = verify_export(exported)
    assert results and all(r.ok for r in results), results


def test_a_literal_of_forward_that_differs_between_instances_becomes_an_attribute(registry):
    body = Network("Keep")
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("cut", "Slice", "cut", {"axis": 1, "start": 0, "end": 4}))
    body.add_block(Block("fc", "Linear", "fc", {"features": 5}))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "cut", "fc", "out"])
    keep = Definition("Keep", body, [ExposedParam("keep", 4, ("cut.end",)),
                                     ExposedParam("width", 5, ("fc.features",))])
    net = Network("model")
    net.add_block(Block("in", "VectorInput", "v", {"features": 10}))
    net.add_block(Block("a", "Keep", "a", {"keep": 3, "width": 6}))
    net.add_block(Block("b", "Keep", "b", {"keep": 5, "width": 2}))
    net.add_block(Block("h", "RegressionHead", "h"))
    chain(net, ["in", "a", "b", "h"])
    project = Project("K", [net])
    project.definitions.add(keep)
    project.link()
    source = compile_project(project, registry).source
    assert "        self.keep = keep\n" in source and "x = x[:, :self.keep]" in source
    assert "self.a = Keep(3, 6)" in source and "self.b = Keep(5, 2)" in source
    model = build_models(project, registry)[0]["model"]
    x = torch.randn(2, 10)
    assert model.a.fc.in_features == 3 and model.b.fc.in_features == 5
    torch.testing.assert_close(model(x), model.b.fc(model.a.fc(x[:, :3])[:, :5]))


def test_a_parameter_inside_an_instance_can_be_tied_to_another_blocks(registry):
    project = stage_project()
    net = project.networks[0]
    net.set_param("s2", "channels", 8)  # both Stage convolutions now have 8 filters
    net.set_ties({"s2.conv.bias": "s1.conv.bias"})
    analysis = analyse(net, registry)
    assert analysis.ok, analysis.diagnostics
    assert "self.second.conv.bias = self.first.conv.bias" in compile_project(project, registry).source
    model = build_models(project, registry)[0]["model"]
    assert model.second.conv.bias is model.first.conv.bias


def test_a_definition_is_analysed_on_its_own_and_its_uses_are_listed(registry):
    from graph.definitions import instances_of
    from graph.validate import analyse_definition

    project = nested_project()
    analysis = analyse_definition(project.definitions.get("BasicBlock"), registry)
    assert analysis.ok, analysis.diagnostics
    assert analysis.shapes["out"] == (16, 8, 8)  # its example input, at the default channels (16)
    broken = project.definitions.get("BasicBlock")
    broken.body.set_param("conv2", "channels", 4)  # bound by `channels`: the default 16 wins
    assert analyse_definition(broken, registry).ok
    broken.body.set_param("conv2", "padding", 0)
    problems = [d for d in analyse_definition(broken, registry).diagnostics if d.is_error]
    assert [d.block for d in problems] == ["add"]
    assert instances_of(project.networks, project.definitions, "BasicBlock") == [
        ("Stage2", "b0"), ("Stage2", "b1")]
    assert instances_of(project.networks, project.definitions, "Stage2") == [("model", "s1"), ("model", "s2")]


def test_instances_whose_code_differs_in_more_than_values_get_a_class_each(registry):
    """Pooling an image and a sequence are different layers: Pool and Pool2, each instance its own."""
    body = Network("Pool")
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("p", "GlobalAvgPool", "p"))
    body.add_block(Block("fc", "Linear", "fc", {"features": 4}))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "p", "fc", "out"])
    net = Network("model")
    net.add_block(Block("i1", "ImageInput", "img", {"channels": 3, "height": 8, "width": 8}))
    net.add_block(Block("i2", "SequenceInput", "seq", {"length": 5, "features": 3}))
    net.add_block(Block("a", "Pool", "a"))
    net.add_block(Block("b", "Pool", "b"))
    net.add_block(Block("add", "Add", "add"))
    net.add_block(Block("h", "RegressionHead", "h"))
    for edge in (Edge("i1", "a", "x"), Edge("i2", "b", "x"), Edge("a", "add", "in1"), Edge("b", "add", "in2"),
                 Edge("add", "h", "x")):
        net.connect(edge)
    project = Project("V", [net])
    project.definitions.add(Definition("Pool", body, []))
    project.link()
    source = compile_project(project, registry).source
    assert class_names(source) == ["Pool", "Pool2", "V"]
    assert "nn.AdaptiveAvgPool2d(1)" in source and "nn.AdaptiveAvgPool1d(1)" in source
    model = build_models(project, registry)[0]["model"]
    assert type(model.a).__name__ == "Pool" and type(model.b).__name__ == "Pool2"
    assert model(torch.randn(2, 3, 8, 8), torch.randn(2, 5, 3)).shape == (2, 4)

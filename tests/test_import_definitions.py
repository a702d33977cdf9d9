"""Import maps an original model's module classes to block definitions (issue 16).

A class used N times with one structure is one definition with N instances named by module path, so
the exported code has one class per definition and the original state_dict loads into it by name.
"""

from __future__ import annotations

import textwrap

import torch

from graph.definitions import library_problems
from graph.project_io import load_project
from runtime.export import export_python
from runtime.export_project import import_module_from
from runtime.importing.importer import run_import

RESNET = textwrap.dedent('''
    import torch
    from torch import nn


    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)


    class ResNet(nn.Module):
        def __init__(self, widths=(8, 16, 32), classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            self.relu = nn.ReLU(inplace=True)
            layers, inplanes = [], widths[0]
            for i, width in enumerate(widths):
                stride = 1 if i == 0 else 2
                blocks = [BasicBlock(inplanes, width, stride), BasicBlock(width, width)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                inplanes = width
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(widths[-1], classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(torch.flatten(self.avgpool(x), 1))
''')

NESTED = textwrap.dedent('''
    import torch
    from torch import nn


    class Unit(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
            self.norm = nn.BatchNorm2d(channels)

        def forward(self, x):
            return torch.relu(self.norm(self.conv(x))) + x


    class Stage(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.first = Unit(channels)
            self.second = Unit(channels)

        def forward(self, x):
            return self.second(self.first(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 4, 3, padding=1)
            self.stage1 = Stage(4)
            self.stage2 = Stage(4)
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            x = self.stage2(self.stage1(self.stem(x)))
            return self.head(x.mean((2, 3)))
''')

DIFFERENT = textwrap.dedent('''
    from torch import nn


    class Stack(nn.Module):
        def __init__(self, depth):
            super().__init__()
            self.layers = nn.Sequential(*[nn.Linear(8, 8) for _ in range(depth)])

        def forward(self, x):
            return self.layers(x) + x


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*[Stack(d) for d in (1, 2, 3, 4, 5)])

        def forward(self, x):
            return self.blocks(x)
''')


def _import(tmp_path, source: str, name: str, shape: str, registry, **options):
    path = tmp_path / "model.py"
    path.write_text(source)
    report = run_import(f"{path}:{name}", tmp_path / "imported.dw.json", registry, [shape], **options)
    return report, load_project(report.project_path, registry), import_module_from(path)


def test_a_resnet_imports_as_definitions_and_loads_the_original_weights_by_name(registry, tmp_path):
    report, project, module = _import(tmp_path, RESNET, "ResNet", "3,16,16", registry)
    assert report.ok, [(n.problems, n.errors) for n in report.networks]
    # BasicBlock without and with a downsample: two structures, two definitions
    assert project.definitions.names() == ["BasicBlock", "BasicBlock2"]
    assert library_problems(project.definitions, registry) == []
    net = project.networks[0]
    instances = {b.name: b.type for b in net.blocks.values() if b.type in project.definitions}
    assert instances == {"layer1.0": "BasicBlock", "layer1.1": "BasicBlock", "layer2.0": "BasicBlock2",
                         "layer2.1": "BasicBlock", "layer3.0": "BasicBlock2", "layer3.1": "BasicBlock"}
    plain = project.definitions.get("BasicBlock")
    assert sorted(p.name for p in plain.params) == ["planes", "stride"]
    assert sorted(plain.param("planes").binds) == ["conv1.channels", "conv2.channels"]
    assert plain.param("stride").binds == ("conv1.stride",)  # from __init__'s nn.Conv2d(.., stride, ..)
    assert any("2 different structures" in note for note in report.notes)
    layer21 = next(b for b in net.blocks.values() if b.name == "layer2.1")
    assert layer21.params["planes"] == 16

    code = export_python(project, registry, tmp_path / "exported.py")
    text = code.read_text()
    assert text.count("class BasicBlock(nn.Module)") == 1 and text.count("class BasicBlock2(nn.Module)") == 1
    exported = import_module_from(code)
    cls = exported.ResNet  # the network's class, named after the project
    torch.manual_seed(0)
    original = module.ResNet()
    for m in original.modules():  # batch-norm statistics that are not the defaults
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    rebuilt = cls()
    rebuilt.load_state_dict(original.state_dict(), strict=True)
    assert list(rebuilt.state_dict()) == list(original.state_dict())
    original.eval()
    rebuilt.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), original(x), atol=1e-5)


def test_the_imported_weights_are_stored_by_the_original_names(registry, tmp_path):
    report, project, _ = _import(tmp_path, RESNET, "ResNet", "3,16,16", registry)
    state = torch.load(report.weights_path, weights_only=True)["models"]["model"]
    assert "layer1.0.conv1.weight" in state and "layer2.0.downsample.0.weight" in state
    assert report.networks[0].max_abs_diff is not None and report.networks[0].matches


def test_a_definition_is_shown_on_its_own_with_its_first_uses_input_shape(registry, tmp_path):
    from graph.validate import analyse_definition

    _, project, _ = _import(tmp_path, RESNET, "ResNet", "3,16,16", registry)
    shapes = {}
    for name in ("BasicBlock", "BasicBlock2"):
        definition = project.definitions.get(name)
        (port,) = [b for b in definition.body.blocks.values() if b.type == "PortInput"]
        shapes[name] = tuple(port.params["shape"])
        assert analyse_definition(definition, registry).ok  # its own tab analyses cleanly
    # BasicBlock first at layer1.0 (8 channels, 16x16), BasicBlock2 first at layer2.0 (from layer1's 8)
    assert shapes == {"BasicBlock": (8, 16, 16), "BasicBlock2": (8, 16, 16)}


def test_flat_keeps_every_call_a_plain_block(registry, tmp_path):
    report, project, _ = _import(tmp_path, RESNET, "ResNet", "3,16,16", registry, flat=True)
    assert report.ok
    assert len(project.definitions) == 0
    assert sum(b.type == "Conv2d" for b in project.networks[0].blocks.values()) == 1 + 6 * 2 + 2


def test_nested_classes_become_nested_definitions(registry, tmp_path):
    report, project, module = _import(tmp_path, NESTED, "Net", "1,6,6", registry)
    assert report.ok, [(n.problems, n.errors) for n in report.networks]
    assert project.definitions.names() == ["Unit", "Stage"]  # leaves first
    stage = project.definitions.get("Stage")
    assert sorted(b.type for b in stage.body.blocks.values()) == ["PortInput", "PortOutput", "Unit", "Unit"]
    assert sorted(b.name for b in project.networks[0].blocks.values() if b.type == "Stage") == [
        "stage1", "stage2"]
    # a class used once holding most of the network is looked into; Unit's constructor names its parameter
    assert [p.name for p in project.definitions.get("Unit").params] == ["channels"]
    code = export_python(project, registry, tmp_path / "exported.py")
    exported = import_module_from(code)
    torch.manual_seed(1)
    original = module.Net().eval()
    rebuilt = next(getattr(exported, n) for n in ("Net", "Model") if hasattr(exported, n))().eval()
    rebuilt.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), original(x), atol=1e-5)
    # and the project round-trips through export and import again
    again = run_import(str(code), tmp_path / "again.dw.json", registry)
    assert again.ok
    back = load_project(again.project_path, registry)
    assert back.definitions.names() == ["Unit", "Stage"]


def test_a_class_with_too_many_structures_stays_plain_with_a_note(registry, tmp_path):
    report, project, _ = _import(tmp_path, DIFFERENT, "Net", "8", registry)
    assert report.ok
    assert "Stack" not in project.definitions
    assert any("Stack" in note and "5 different structures" in note for note in report.notes)

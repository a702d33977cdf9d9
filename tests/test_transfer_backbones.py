"""Pretrained backbones: torchvision's key names and shapes, weights from a local file only.

The expected keys come from torchvision's own source (tests/fixtures/
make_torchvision_backbone_keys.py made the JSON); torchvision itself is not
needed. Weight files are saved by the tests themselves: nothing is downloaded.
Images are 32x32, so each model runs in a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graph.compiler import compile_project
from graph.model import Project
from graph.training_config import DataSpec, TrainingConfig
from runtime.build import build_models, load_source
from runtime.train import SetupError
from tests.test_train_fixtures import REGISTRY, chain, run_training

EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "torchvision_backbone_keys.json").read_text())
BACKBONES = {  # block type -> (torchvision name, generated class, classifier prefix, features)
    "ResNet18Backbone": ("resnet18", "ResNet18Features", "fc.", 512),
    "MobileNetV3SmallBackbone": ("mobilenet_v3_small", "MobileNetV3SmallFeatures", "classifier.", 576),
}


def _project(type_id: str, **params) -> Project:
    net = chain("model", [("in", "ImageInput", {"channels": 3, "height": 32, "width": 32}),
                          ("backbone", type_id, params), ("fc", "Linear", {"features": 3}),
                          ("head", "ClassificationHead", {"classes": 3})])
    return Project("backbone", [net], DataSpec("digits"), TrainingConfig({"epochs": 1, "batch_size": 8}))


@pytest.mark.parametrize("type_id", sorted(BACKBONES))
def test_state_dict_keys_and_shapes_are_torchvisions(type_id):
    name, _cls, _head, _features = BACKBONES[type_id]
    models, compiled = build_models(_project(type_id), REGISTRY)
    attr = compiled.network().module_names["backbone"]
    own = {k: list(v.shape) for k, v in getattr(models["model"], attr).state_dict().items()}
    assert own == EXPECTED[name]  # same names, same order, same shapes


@pytest.mark.parametrize("type_id", sorted(BACKBONES))
def test_weights_load_from_a_local_file_and_give_the_same_outputs(type_id, tmp_path):
    name, cls, head, features = BACKBONES[type_id]
    module = load_source(compile_project(_project(type_id), REGISTRY).source)
    torch.manual_seed(3)
    reference = getattr(module, cls)().eval()
    for buffer in reference.state_dict().values():  # non-default statistics, so a skipped load shows
        if buffer.is_floating_point():
            buffer.uniform_(0.5, 1.5)
    state = dict(reference.state_dict())
    state[head + "weight"] = torch.zeros(1000, features)  # a torchvision file also holds its classifier
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)

    models, compiled = build_models(_project(type_id, pretrained_weights=str(path)), REGISTRY)
    loaded = getattr(models["model"], compiled.network().module_names["backbone"]).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), reference(x))
    assert f"weights={str(path)!r}" in compiled.source and "import torchvision" not in compiled.source


def test_torch_cache_means_torchs_own_download_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    module = load_source(compile_project(_project("ResNet18Backbone"), REGISTRY).source)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(1)
    reference = module.ResNet18Features()
    torch.save(reference.state_dict(), folder / "resnet18-f37072fd.pth")
    loaded = module.ResNet18Features(weights="torch-cache")
    pairs = zip(loaded.state_dict().values(), reference.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)


def test_a_missing_weight_file_names_the_path_and_how_to_get_it(tmp_path):
    missing = tmp_path / "nowhere" / "resnet18-f37072fd.pth"
    from tests.test_train_fixtures import digits_images

    data = digits_images(32, 16)
    with pytest.raises(SetupError, match=f"pretrained weights not found: {missing}.*never downloads.*"
                                         r"torchvision.models.resnet18\(weights='IMAGENET1K_V1'\)"):
        run_training(_project("ResNet18Backbone", pretrained_weights=str(missing)), data, tmp_path / "run")


def test_a_loaded_backbone_counts_as_pretrained_for_the_gentler_rate(tmp_path):
    from runtime.train.transfer import apply_transfer

    module = load_source(compile_project(_project("MobileNetV3SmallBackbone"), REGISTRY).source)
    torch.save(module.MobileNetV3SmallFeatures().state_dict(), tmp_path / "m.pth")
    project = _project("MobileNetV3SmallBackbone", pretrained_weights=str(tmp_path / "m.pth"))
    models, compiled = build_models(project, REGISTRY)
    plan = apply_transfer(project, models, compiled, [tmp_path])
    assert plan.pretrained == {"model": [compiled.network().module_names["backbone"]]} and plan.frozen == {}
    project.network().set_frozen("backbone", True)
    plan = apply_transfer(project, models, compiled, [tmp_path])
    assert plan.pretrained == {} and plan.frozen == {"model": ["backbone"]}
    assert not any(p.requires_grad for p in models["model"].backbone.parameters())


# --- a missing weight file is a problem on the block, found before anything is built -----------------

def _file_problems(project: Project, base_dir=None) -> list:
    from graph.validate import analyse

    analysis = analyse(project.network(), REGISTRY, base_dir=base_dir)
    return [d for d in analysis.diagnostics if d.code == "file"]


def test_a_missing_weight_file_is_an_error_on_the_block_before_building(tmp_path):
    from graph.compiler import CompileError

    project = _project("ResNet18Backbone", pretrained_weights="weights/r18.pth")
    (problem,) = _file_problems(project, base_dir=tmp_path)
    assert (problem.severity, problem.block, problem.param) == ("error", "backbone", "pretrained_weights")
    assert problem.message.startswith(f"ResNet-18 backbone 'backbone': pretrained weights not found: "
                                      f"{tmp_path / 'weights' / 'r18.pth'}. DeepWire never downloads")
    assert "torchvision.models.resnet18(weights='IMAGENET1K_V1')" in problem.message
    with pytest.raises(CompileError):  # the fuzzer met a FileNotFoundError here, at build time
        compile_project(project, REGISTRY)


def test_a_relative_weight_path_starts_beside_the_project_file(tmp_path):
    (tmp_path / "weights").mkdir()
    torch.save({}, tmp_path / "weights" / "r18.pth")
    project = _project("ResNet18Backbone", pretrained_weights="weights/r18.pth")
    assert _file_problems(project, base_dir=tmp_path) == []
    assert len(_file_problems(project, base_dir=tmp_path / "elsewhere")) == 1
    project.network().set_enabled("backbone", False)  # a disabled block is not built, so reads nothing
    assert _file_problems(project, base_dir=tmp_path / "elsewhere") == []
    folder = _project("ResNet18Backbone", pretrained_weights=str(tmp_path / "weights"))
    (problem,) = _file_problems(folder)
    assert "is a folder, not a weight file" in problem.message


def test_torch_cache_is_checked_in_torch_hubs_checkpoints_folder(tmp_path, monkeypatch):
    from graph.blocks.backbones import torch_hub_checkpoints

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.delenv("TORCH_HUB", raising=False)
    assert torch_hub_checkpoints() == Path(torch.hub.get_dir()) / "checkpoints"
    project = _project("MobileNetV3SmallBackbone", pretrained_weights="torch-cache")
    (problem,) = _file_problems(project)
    assert str(tmp_path / "th" / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth") in problem.message
    (tmp_path / "th" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "th" / "hub" / "checkpoints" / "mobilenet_v3_small-047dcff4.pth").write_bytes(b"x")
    assert _file_problems(project) == []


def test_deepwire_check_reports_the_missing_weight_file_and_exits_1(tmp_path, capsys):
    from graph.project_io import save_project
    from runtime.cli import main

    path = tmp_path / "p.dw.json"
    save_project(_project("ResNet18Backbone", pretrained_weights="r18.pth"), path)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    missing = tmp_path / "r18.pth"
    assert f"error    ResNet-18 backbone 'backbone': pretrained weights not found: {missing}" in out
    torch.save({}, tmp_path / "r18.pth")
    main(["check", str(path)])
    assert "pretrained weights not found" not in capsys.readouterr().out

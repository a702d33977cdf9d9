"""Importing hand-written PyTorch models (tests/import_models.py): blocks, weights, outputs, problems.

Each model gets non-trivial weights (batch-norm statistics included), saved
as a state_dict and imported with --weights; the imported project's model is
then built the way training builds it (compiled source, then the project's
init_checkpoint applied by runtime.train.transfer) and must give the
original's outputs on a fresh batch.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from graph.definition_edits import flattened
from graph.project_io import load_project
from runtime.build import build_models
from runtime.cli import main as cli_main
from runtime.importing.fx_import import ModelImportError
from runtime.importing.importer import run_import
from runtime.importing.source import find_models
from runtime.train.transfer import apply_transfer
from tests import import_models

MODELS_FILE = Path(import_models.__file__)


def _randomised(model: nn.Module) -> nn.Module:
    """Weights and batch-norm statistics away from their initial values, so equality means something."""
    torch.manual_seed(3)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()


def _import(tmp_path, registry, name: str, shape: str, head: str | None = None):
    original = _randomised(getattr(import_models, name)())
    weights = tmp_path / f"{name}.state.pt"
    torch.save(original.state_dict(), weights)
    report = run_import(f"{MODELS_FILE}:{name}", tmp_path / f"{name}.dw.json", registry, [shape], head,
                        str(weights))
    return original, report


def _as_trained(report, registry):
    """The imported project's model as `deepwire train` starts it: compiled, then init_checkpoint applied."""
    project = load_project(report.project_path, registry)
    torch.manual_seed(0)
    models, compiled = build_models(project, registry)
    plan = apply_transfer(project, models, compiled, [report.project_path.parent])
    assert plan.frozen == {}  # imported weights are a starting point, not frozen
    return project, models[project.networks[0].name].eval()


def _max_diff(a: nn.Module, b: nn.Module, *inputs) -> float:
    with torch.no_grad():
        return float((a(*inputs) - b(*inputs)).abs().max())


def _types(project) -> Counter:
    """Block types of the computation: the blocks inside instances of definitions too."""
    return Counter(b.type for b in flattened(project.networks[0]).blocks.values())


def test_a_resnet_in_torchvision_layout_imports_fully_and_computes_the_same(tmp_path, registry):
    original, report = _import(tmp_path, registry, "TinyResNet", "3,16,16", head="classification")

    assert report.ok and not report.networks[0].problems
    project, model = _as_trained(report, registry)
    types = _types(project)
    # BasicBlock's uses, with and without a downsample: two definitions, the blocks named by module path
    assert project.definitions.names() == ["BasicBlock", "BasicBlock2"]
    assert sorted(b.name for b in project.networks[0].blocks.values() if b.type.startswith("BasicBlock")) == [
        "layer1.0", "layer1.1", "layer2.0", "layer2.1"]
    # 4 BasicBlocks: 8 convs + the stem + the downsample's 1x1 conv, each with its batch norm
    assert types["Conv2d"] == 10 and types["BatchNorm2d"] == 10
    assert types["Add"] == 4 and types["MaxPool2d"] == 1 and types["GlobalAvgPool"] == 1
    assert types["Linear"] == 1 and types["ClassificationHead"] == 1 and "Unsupported" not in types
    assert _max_diff(original, model, torch.randn(4, 3, 16, 16)) < 1e-5

    # it reads left to right: every wire goes from a column to one further right
    net = project.networks[0]
    assert all(net.blocks[e.src].position[0] < net.blocks[e.dst].position[0] for e in net.edges)


def test_a_functional_mlp_imports_and_fine_tunes_from_its_weights(tmp_path, registry):
    original, report = _import(tmp_path, registry, "FunctionalMlp", "1,8,8", head="classification")

    assert report.ok
    project, model = _as_trained(report, registry)
    assert _types(project) == Counter({"ImageInput": 1, "Flatten": 1, "Linear": 2, "ReLU": 1, "Dropout": 1,
                                       "ClassificationHead": 1})
    # no data until the user picks some (issue 14, D7); the note names the bundled set that fits
    assert project.training.recipe == "classification" and not project.data.chosen
    assert any("--data digits" in note for note in report.notes)
    assert _max_diff(original, model, torch.randn(5, 1, 8, 8)) < 1e-6


def test_a_vgg_with_an_adaptive_pooling_and_a_view_imports_exactly(tmp_path, registry):
    original, report = _import(tmp_path, registry, "TinyVgg", "3,16,16", head="classification")

    assert report.ok
    project, model = _as_trained(report, registry)
    pool = next(b for b in project.networks[0].blocks.values() if b.type == "AvgPool2d")
    assert pool.params["kernel_size"] == 2  # AdaptiveAvgPool2d((2, 2)) of a 4×4 map
    assert _types(project)["Flatten"] == 1  # x.view(x.size(0), -1)
    assert _max_diff(original, model, torch.randn(3, 3, 16, 16)) < 1e-6


def test_a_transformer_on_torch_layers_imports_onto_deepwire_blocks(tmp_path, registry):
    original, report = _import(tmp_path, registry, "TokenTransformer", "12", head="classification")

    assert report.ok
    project, model = _as_trained(report, registry)
    assert _types(project) == Counter({"TokenInput": 1, "Embedding": 1, "TransformerEncoderBlock": 2,
                                       "LayerNorm": 1, "SelfAttention": 1, "Permute": 1, "GlobalAvgPool": 1,
                                       "Linear": 1, "ClassificationHead": 1})
    tokens = next(b for b in project.networks[0].blocks.values() if b.type == "TokenInput")
    assert tokens.params == {"length": 12, "vocab_size": 50}
    assert project.training.recipe == "classification"  # one score per sequence: not a language model
    assert _max_diff(original, model, torch.randint(0, 50, (3, 12))) < 1e-5


def test_a_layer_used_twice_is_one_module_used_twice(tmp_path, registry):
    original, report = _import(tmp_path, registry, "SharedLayer", "6")

    assert report.ok
    assert not any("is used 2 times" in note for note in report.notes)  # nothing copied to warn about
    project, model = _as_trained(report, registry)
    linears = [b for b in project.networks[0].blocks.values() if b.type == "Linear"]
    assert len(linears) == 2 and linears[1].shares == linears[0].id and linears[0].shares is None
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in original.parameters()) == 42
    assert _max_diff(original, model, torch.randn(3, 6)) < 1e-6


CORPUS_MODELS = Path(__file__).parent / "corpus" / "own_models.py"


def _import_corpus(tmp_path, registry, name, shapes, head):
    from tests.corpus import own_models

    torch.manual_seed(0)
    original = getattr(own_models, name)().eval()
    weights = tmp_path / f"{name}.state.pt"
    torch.save(original.state_dict(), weights)
    report = run_import(f"{CORPUS_MODELS}:{name}", tmp_path / f"{name}.dw.json", registry, shapes, head,
                        str(weights))
    return original, report


def _exported(tmp_path, report, registry):
    """`deepwire export --format python` of the imported project, loaded with the weights it wrote."""
    code = tmp_path / "exported.py"
    weights = report.project_path.with_name(report.project_path.name.replace(".dw.json", ".weights.pt"))
    assert cli_main(["export", str(report.project_path), "--format", "python", "-o", str(code),
                     "--weights", str(weights)]) == 0
    exported = find_models(str(code))[0].model
    exported.load_state_dict(torch.load(code.with_suffix(".pt"), weights_only=True))
    return code, exported.eval()


def test_an_imported_siamese_net_keeps_one_encoder_through_export_and_back(tmp_path, registry):
    original, report = _import_corpus(tmp_path, registry, "Siamese", ["10", "right=10"], "binary")
    assert report.ok, [str(p) for n in report.networks for p in n.problems] + report.networks[0].errors
    project, model = _as_trained(report, registry)
    net = project.networks[0]
    sharing = {b.name: net.blocks[b.shares].name for b in net.blocks.values() if b.shares}
    assert sharing == {"encoder_0_use2": "encoder_0", "encoder_2_use2": "encoder_2"}
    count = sum(p.numel() for p in original.parameters())
    assert sum(p.numel() for p in model.parameters()) == count == 329
    left, right = torch.randn(3, 10), torch.randn(3, 10)
    with torch.no_grad():
        torch.testing.assert_close(model(left, right), original(left, right))
    code, exported = _exported(tmp_path, report, registry)
    assert sum(p.numel() for p in exported.parameters()) == count
    assert "self.encoder_0(left)" in code.read_text() and "self.encoder_0(right)" in code.read_text()
    with torch.no_grad():
        torch.testing.assert_close(exported(left, right), original(left, right))
    # importing the export gives the same sharing again
    again = run_import(str(code), tmp_path / "again.dw.json", registry, ["10", "right=10"], "binary")
    shared_again = [b for b in load_project(again.project_path, registry).networks[0].blocks.values()
                    if b.shares]
    assert len(shared_again) == 2


def test_an_imported_tiny_gpt_keeps_its_head_tied_to_its_embedding(tmp_path, registry):
    original, report = _import_corpus(tmp_path, registry, "TinyGpt", ["idx=12"], "classification")
    assert report.ok, [str(p) for n in report.networks for p in n.problems] + report.networks[0].errors
    project, model = _as_trained(report, registry)
    net = project.networks[0]
    (target, source), = net.ties.items()
    assert net.blocks[target.split(".")[0]].name == "head"
    assert net.blocks[source.split(".")[0]].name == "tokens"
    assert model.head.weight is model.tokens.weight
    torch.testing.assert_close(model.head.weight, original.tokens.weight)
    count = sum(p.numel() for p in original.parameters())
    assert sum(p.numel() for p in model.parameters()) == count == 4496
    code, exported = _exported(tmp_path, report, registry)
    assert exported.head.weight is exported.tokens.weight
    assert "self.head.weight = self.tokens.weight" in code.read_text()
    idx = torch.randint(0, 128, (3, 12))
    with torch.no_grad():
        torch.testing.assert_close(exported(idx), original(idx), rtol=1e-5, atol=1e-5)


def test_a_model_with_two_inputs_takes_one_shape_per_input(tmp_path, registry):
    original = _randomised(import_models.ImageAndTable())
    torch.save(original.state_dict(), tmp_path / "two.pt")
    with pytest.raises(ModelImportError, match="no input shape for 'table'"):
        run_import(f"{MODELS_FILE}:ImageAndTable", tmp_path / "two.dw.json", registry, ["image=1,8,8"])

    report = run_import(f"{MODELS_FILE}:ImageAndTable", tmp_path / "two.dw.json", registry,
                        ["image=1,8,8", "table=3"], "classification", str(tmp_path / "two.pt"))

    assert report.ok
    project, model = _as_trained(report, registry)
    inputs = [b for b in project.networks[0].blocks.values() if b.type.endswith("Input")]
    assert [(b.name, b.type) for b in inputs] == [("image", "ImageInput"), ("table", "VectorInput")]
    assert _types(project)["Concatenate"] == 1
    image, table = torch.randn(3, 1, 8, 8), torch.randn(3, 3)
    with torch.no_grad():
        assert float((original(image, table) - model(image, table)).abs().max()) < 1e-6


def test_training_the_imported_project_starts_from_the_imported_weights(tmp_path, registry, capsys):
    original, report = _import(tmp_path, registry, "FunctionalMlp", "1,8,8", head="classification")
    run = tmp_path / "run"
    # a learning rate so small that one epoch leaves the weights where they started
    code = cli_main(["train", str(report.project_path), "--data", "digits", "--epochs", "1", "--lr", "1e-7",
                     "--quiet", "--out", str(run)])
    assert code == 0, capsys.readouterr().err
    trained = torch.load(run / "best.pt", weights_only=True)["models"]["model"]
    hidden = next(k for k in trained if k.endswith("weight") and trained[k].shape == (32, 64))
    assert torch.allclose(trained[hidden], original.hidden.weight, atol=1e-4)


def test_an_interpolation_becomes_an_upsample_block(tmp_path, registry):
    original, report = _import(tmp_path, registry, "Upsampler", "4,5,5", head="regression")

    assert report.ok
    project, model = _as_trained(report, registry)
    upsample = next(b for b in project.networks[0].blocks.values() if b.type == "Upsample")
    assert upsample.params == {"scale_factor": 2, "mode": "bilinear"}
    assert _max_diff(original, model, torch.randn(2, 4, 5, 5)) < 1e-6


def test_recurrent_models_keep_which_output_they_use(tmp_path, registry):
    original, report = _import(tmp_path, registry, "LstmLastStep", "10,3")
    assert report.ok
    project, model = _as_trained(report, registry)
    lstm = next(b for b in project.networks[0].blocks.values() if b.type == "LSTM")
    assert lstm.params == {"hidden_size": 16, "num_layers": 2, "bidirectional": False, "dropout": 0.0,
                           "output": "last"}  # from out[:, -1, :]
    assert _max_diff(original, model, torch.randn(3, 10, 3)) < 1e-6

    original, report = _import(tmp_path, registry, "BiGruTagger", "7,5")
    assert report.ok
    project, model = _as_trained(report, registry)
    gru = next(b for b in project.networks[0].blocks.values() if b.type == "GRU")
    assert gru.params == {"hidden_size": 6, "num_layers": 1, "bidirectional": True, "dropout": 0.0,
                          "output": "sequence"}
    assert _types(project)["LogSoftmax"] == 1
    assert _max_diff(original, model, torch.randn(3, 7, 5)) < 1e-6


def test_time_first_recurrent_layers_behind_a_swap_become_plain_blocks(tmp_path, registry):
    # x.transpose(0, 1) -> GRU(batch_first=False) -> .transpose(0, 1): one GRU block on (B, T, F)
    original, report = _import(tmp_path, registry, "TimeFirstGru", "7,5")
    assert report.ok and not report.networks[0].problems
    project, model = _as_trained(report, registry)
    assert _types(project) == Counter({"SequenceInput": 1, "GRU": 1, "Linear": 1, "Output": 1})
    gru = next(b for b in project.networks[0].blocks.values() if b.type == "GRU")
    assert gru.params["output"] == "sequence" and gru.params["bidirectional"] is True
    x = torch.randn(3, 7, 5)
    assert _max_diff(original, model, x) < 1e-6

    original, report = _import(tmp_path, registry, "TimeFirstRnnState", "6,4")
    assert report.ok and not report.networks[0].problems
    project, model = _as_trained(report, registry)
    rnn = next(b for b in project.networks[0].blocks.values() if b.type == "RNN")
    assert rnn.params["output"] == "last" and rnn.params["num_layers"] == 2
    assert "Permute" not in _types(project)
    assert _max_diff(original, model, torch.randn(3, 6, 4)) < 1e-6


def test_linear_on_a_channels_last_image_applies_at_every_position(tmp_path, registry):
    original, report = _import(tmp_path, registry, "ChannelsLastMlp", "4,5,6")
    assert report.ok and not report.networks[0].problems
    project, model = _as_trained(report, registry)
    linears = [b for b in project.networks[0].blocks.values() if b.type == "Linear"]
    assert [(b.params["features"], b.params["per_position"]) for b in linears] == [(8, True), (4, True)]
    assert _max_diff(original, model, torch.randn(3, 4, 5, 6)) < 1e-6


def test_a_time_first_layer_without_the_swap_is_a_named_problem(tmp_path, registry):
    _original, report = _import(tmp_path, registry, "TimeFirstUnswapped", "7,5")
    problems = report.networks[0].problems
    assert problems[0].operation == "nn.LSTM"  # (then its [0], which reads an Unsupported block)
    assert "batch_first=False" in problems[0].detail and "transpose(0, 1)" in problems[0].detail


def test_an_operation_without_a_block_becomes_a_named_problem_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "fourier.dw.json"
    code = cli_main(["import", f"{MODELS_FILE}:WithFourier", "--input-shape", "16", "-o", str(out)])
    printed = capsys.readouterr()
    assert code == 1, printed.err
    assert "torch.fft.rfft (block 'fft_rfft') has no DeepWire block" in printed.out
    # its indexing x[:, :8] is a Slice block now; x.abs() still has none
    assert "Tensor.abs (block 'abs_1') has no DeepWire block" in printed.out
    assert "imported with problems" in printed.err
    assert out.is_file() and out.with_name("fourier.weights.pt").is_file()

    assert cli_main(["check", str(out)]) == 1
    checked = capsys.readouterr().out
    assert "stands for 'torch.fft.rfft' of the imported model, which has no DeepWire block" in checked
    # every unsupported operation speaks, even one fed by another problem block
    assert checked.count("stands for '") == 2, checked


def test_the_command_line_imports_a_model_and_says_how_close_it_is(tmp_path, capsys):
    out = tmp_path / "mlp.dw.json"
    code = cli_main(["import", f"{MODELS_FILE}:FunctionalMlp", "--input-shape", "1,8,8", "--head",
                     "classification", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "network 'model' from import_models.py:FunctionalMlp: 7 blocks" in printed
    assert "outputs match the original: largest difference 0.00e+00" in printed
    assert f"wrote {out}" in printed and out.with_name("mlp.weights.pt").is_file()
    assert cli_main(["import", f"{MODELS_FILE}:Nope", "-o", str(out)]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_the_problem_blocks_sit_where_the_operations_were(tmp_path, registry):
    original = import_models.WithFourier()
    torch.save(original.state_dict(), tmp_path / "fourier.pt")
    report = run_import(f"{MODELS_FILE}:WithFourier", tmp_path / "f.dw.json", registry, ["16"],
                        weights=str(tmp_path / "fourier.pt"))
    project = load_project(report.project_path, registry)
    net = project.networks[0]
    by_name = {b.name: b for b in net.blocks.values()}
    fft = by_name["fft_rfft"]
    assert fft.type == "Unsupported" and fft.params["operation"] == "torch.fft.rfft"
    assert tuple(fft.params["shape"]) == (9,)  # rfft of 16 values
    assert [net.blocks[e.src].type for e in net.edges_into(fft.id)] == ["VectorInput"]
    # the weights of the blocks that were imported are kept, by block id, for after the fix
    state = torch.load(report.weights_path, weights_only=True)
    fc = by_name["fc"]
    assert state["block_modules"]["model"] == {fc.id: fc.id}
    assert torch.equal(state["models"]["model"][f"{fc.id}.weight"], original.fc.weight.detach())
    assert report.networks[0].max_abs_diff is None and not report.ok


@pytest.mark.parametrize(("spec", "shapes", "message"), [
    ("{file}:NoSuchNet", [], "defines no 'NoSuchNet' (nn.Module classes there: BasicBlock, TinyResNet"),
    ("{file}:FunctionalMlp", [], "no input shape for 'x': give it with --input-shape"),
    ("{file}:FunctionalMlp", ["3,3"], "running FunctionalMlp on an example batch of x (B, 3, 3) failed"),
    ("{file}:BasicBlock", ["8,4,4"], "BasicBlock() cannot be created without arguments"),
    ("{file}", [], "defines several nn.Module classes (BasicBlock, TinyResNet"),
    ("{file}:FunctionalMlp", ["one,two"], "give whole numbers without the batch"),
    ("{file}:Branchy", ["4"], "torch.fx cannot trace Branchy.forward"),
])
def test_what_cannot_be_imported_is_said_plainly(tmp_path, registry, spec, shapes, message):
    with pytest.raises(ModelImportError) as caught:
        run_import(spec.format(file=MODELS_FILE), tmp_path / "x.dw.json", registry, shapes)
    assert message in str(caught.value)
    assert not (tmp_path / "x.dw.json").exists()


def test_torchvision_models_are_named_with_a_clear_message_when_torchvision_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail here
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(ModelImportError, match=r"install torchvision \(pip install torchvision\)"):
        find_models("torchvision:resnet18")


def test_a_py_file_in_a_folder_with_a_colon_can_be_imported(tmp_path):
    from runtime.importing.source import find_models, split_spec

    folder = tmp_path / "runs:old"
    folder.mkdir()
    model_file = folder / "models.py"
    model_file.write_text(Path(import_models.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    assert split_spec(f"{model_file}:FunctionalMlp") == (str(model_file), "FunctionalMlp")
    assert split_spec(str(model_file)) == (str(model_file), "")
    assert split_spec("torchvision:resnet18") == ("torchvision", "resnet18")
    assert split_spec("pkg.mod:Net") == ("pkg.mod", "Net")
    [candidate] = find_models(f"{model_file}:FunctionalMlp")
    assert candidate.cls.__name__ == "FunctionalMlp"

"""Transfer learning: frozen blocks, starting blocks from a run or a state_dict, a gentler rate for them.

Every training here is a tiny project on a few hundred digits (about a
second each, on one thread). Frozen weights are compared bit for bit.
"""

from __future__ import annotations

import json

import pytest
import torch

from graph.model import Group
from graph.project_io import ProjectFileError, dumps_project, load_project, save_project
from graph.training_config import DataSpec, TrainingConfig
from runtime.train import SetupError
from runtime.train.optim import make_optimizer, make_scheduler
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    REGISTRY,
    chain,
    digits_images,
    digits_vectors,
    mlp,
    project,
    run_training,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _weights(run_dir, which="last.pt"):
    return torch.load(run_dir / which, weights_only=True)["models"]["model"]


# --- the frozen mark in the model and the project file ------------------------------------------

def test_frozen_is_saved_only_when_set_and_read_back(tmp_path):
    net = mlp()
    plain = dumps_project(project(net))
    assert '"frozen"' not in plain  # files without frozen blocks are exactly as before
    changes = []
    net.subscribe(changes.append)
    net.set_frozen("fc1", True)
    net.set_frozen("fc1", True)  # no change, no event
    assert [c.kind for c in changes] == ["block_frozen"]
    save_project(project(net), tmp_path / "p.dw.json")
    data = json.loads((tmp_path / "p.dw.json").read_text())
    entries = {b["id"]: b for b in data["networks"][0]["blocks"]}
    assert entries["fc1"]["frozen"] is True and "frozen" not in entries["fc2"]
    loaded = load_project(tmp_path / "p.dw.json", REGISTRY)
    assert loaded.network().block("fc1").frozen and not loaded.network().block("fc2").frozen


def test_a_frozen_mark_that_is_not_true_or_false_is_refused_with_its_place(tmp_path):
    save_project(project(mlp()), tmp_path / "p.dw.json")
    data = json.loads((tmp_path / "p.dw.json").read_text())
    data["networks"][0]["blocks"][1]["frozen"] = "yes"
    (tmp_path / "p.dw.json").write_text(json.dumps(data))
    with pytest.raises(ProjectFileError, match="fc1.*frozen.*must be true or false"):
        load_project(tmp_path / "p.dw.json", REGISTRY)


# --- frozen blocks while training ----------------------------------------------------------------

def test_frozen_blocks_stay_bit_identical_and_keep_their_batch_norm_statistics(tmp_path):
    data = digits_images(train=96, val=32)
    run_training(project(small_cnn(), epochs=1), data, tmp_path / "source")
    net = small_cnn()
    net.set_frozen("conv", True)
    net.set_frozen("bn", True)
    proj = project(net, epochs=2, init_checkpoint=str(tmp_path / "source"), init_blocks="conv, bn",
                   freeze_init=False)
    _, events = run_training(proj, data, tmp_path / "target")
    before, after = _weights(tmp_path / "source", "best.pt"), _weights(tmp_path / "target")
    for key in ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                "bn.num_batches_tracked"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert events.of("started")[0].parameters["model"] == 8 * 4 * 4 * 10 + 10  # only fc learns
    assert any("frozen (kept fixed): conv, bn" in w.message for w in events.of("warning"))


def test_frozen_blocks_without_weights_to_start_from_are_warned_about(tmp_path):
    net = mlp()
    net.set_frozen("fc1", True)
    _, events = run_training(project(net, epochs=1), digits_vectors(64, 32), tmp_path / "run")
    expected = "the frozen block(s) fc1 start from random weights"
    assert any(w.message.startswith(expected) for w in events.of("warning"))


def test_everything_frozen_is_a_clear_error(tmp_path):
    net = mlp()
    for block_id in ("fc1", "fc2"):
        net.set_frozen(block_id, True)
    with pytest.raises(SetupError, match="nothing to train: every block is frozen"):
        run_training(project(net), digits_vectors(64, 32), tmp_path / "run")


# --- a gentler learning rate for the pretrained part ----------------------------------------------

def test_pretrained_blocks_get_their_own_parameter_group_and_schedules_follow_both():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    config = TrainingConfig({"lr": 0.01, "pretrained_lr_scale": 0.1, "schedule": "onecycle", "epochs": 2})
    optimizer = make_optimizer(model.parameters(), config, pretrained=model[0].parameters())
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, pytest.approx(0.001)]
    assert optimizer.param_groups[1]["params"][0] is model[0].weight
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=5)
    peak = [g["max_lr"] for g in optimizer.param_groups]
    assert peak == [0.01, pytest.approx(0.001)]
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    ratio = optimizer.param_groups[1]["lr"] / optimizer.param_groups[0]["lr"]
    assert ratio == pytest.approx(0.1)  # one-cycle keeps the groups in proportion
    cosine = TrainingConfig({"lr": 0.01, "pretrained_lr_scale": 0.5, "schedule": "cosine"})
    optimizer = make_optimizer(model.parameters(), cosine, pretrained=model[0].parameters())
    scheduler = make_scheduler(optimizer, cosine, steps_per_epoch=5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.5 * optimizer.param_groups[0]["lr"])
    single = make_optimizer(model.parameters(), TrainingConfig(), pretrained=model[0].parameters())
    assert len(single.param_groups) == 1  # scale 1: nothing to separate


def test_copied_blocks_learn_at_the_scaled_rate_and_a_resumed_run_continues(tmp_path):
    data = digits_vectors(train=128, val=32)
    run_training(project(mlp(), epochs=1), data, tmp_path / "source")
    proj = project(mlp(), epochs=1, lr=0.01, init_checkpoint=str(tmp_path / "source" / "best.pt"),
                   init_blocks="fc1", freeze_init=False, pretrained_lr_scale=0.1)
    _, events = run_training(proj, data, tmp_path / "target")
    state = torch.load(tmp_path / "target" / "last.pt", weights_only=True)["resume"]["optimizers"]["model"]
    assert [g["lr"] for g in state["param_groups"]] == [0.01, pytest.approx(0.001)]
    assert events.of("epoch")[0].lr == 0.01  # the reported rate is the new part's
    longer = project(mlp(), epochs=2, lr=0.01, init_checkpoint=str(tmp_path / "source" / "best.pt"),
                     init_blocks="fc1", freeze_init=False, pretrained_lr_scale=0.1)
    summary, _ = run_training(longer, data, tmp_path / "target", resume=True)
    assert summary["epochs"] == 2 and summary["reason"] == "completed"


# --- choosing what to copy, from a run or a plain state_dict ---------------------------------------

def test_init_blocks_takes_block_names_and_group_names(tmp_path):
    data = digits_vectors(train=128, val=32)
    run_training(project(mlp(), epochs=1), data, tmp_path / "source")
    trained = _weights(tmp_path / "source", "best.pt")
    net = mlp()
    net.rename_block("fc1", "encoder")
    net.set_groups([Group("g1", "backbone", ("fc1", "act"))])
    proj = project(net, epochs=1, init_checkpoint=str(tmp_path / "source"), init_blocks="backbone")
    run_training(proj, data, tmp_path / "by_group")
    assert torch.equal(_weights(tmp_path / "by_group")["encoder.weight"], trained["fc1.weight"])
    proj = project(net, epochs=1, init_checkpoint=str(tmp_path / "source"), init_blocks="encoder")
    run_training(proj, data, tmp_path / "by_name")
    assert torch.equal(_weights(tmp_path / "by_name")["encoder.weight"], trained["fc1.weight"])

    # a project built anew: other block ids, same block names -> matched by the generated name
    rebuilt = chain("model", [("i", "VectorInput", {"features": 64}), ("x1", "Linear", {"features": 32}),
                              ("x2", "ReLU", {}), ("x3", "Linear", {"features": 10}),
                              ("x4", "ClassificationHead", {"classes": 10})])
    rebuilt.rename_block("x1", "fc1")
    proj = project(rebuilt, epochs=1, init_checkpoint=str(tmp_path / "source"), init_blocks="fc1")
    run_training(proj, data, tmp_path / "rebuilt")
    assert torch.equal(_weights(tmp_path / "rebuilt")["fc1.weight"], trained["fc1.weight"])


def test_a_plain_state_dict_is_matched_by_name_or_by_key_map(tmp_path):
    torch.manual_seed(5)
    own = {"fc1.weight": torch.randn(32, 64), "fc1.bias": torch.randn(32), "other.weight": torch.randn(3)}
    torch.save(own, tmp_path / "weights.pth")
    data = digits_vectors(train=64, val=32)
    proj = project(mlp(), epochs=1, init_checkpoint=str(tmp_path / "weights.pth"))
    run_training(proj, data, tmp_path / "by_name")
    assert torch.equal(_weights(tmp_path / "by_name")["fc1.weight"], own["fc1.weight"])  # frozen copy

    # someone else's model: its layers live under "encoder.0"; wrapped like many training scripts do
    theirs = {"encoder.0.weight": own["fc1.weight"], "encoder.0.bias": own["fc1.bias"]}
    torch.save({"state_dict": theirs, "epoch": torch.tensor(3)}, tmp_path / "theirs.pt")
    proj = project(mlp(), epochs=1, init_checkpoint=str(tmp_path / "theirs.pt"), init_blocks="fc1",
                   init_key_map="encoder.0=fc1")
    run_training(proj, data, tmp_path / "by_map")
    assert torch.equal(_weights(tmp_path / "by_map")["fc1.bias"], own["fc1.bias"])


def test_state_dict_problems_name_the_block_the_key_and_what_the_file_holds(tmp_path):
    data = digits_vectors(train=64, val=32)
    torch.save({"fc1.weight": torch.zeros(16, 64), "fc1.bias": torch.zeros(16)}, tmp_path / "small.pth")
    proj = project(mlp(), init_checkpoint=str(tmp_path / "small.pth"))
    expected = r"block 'fc1' weight 'weight' has shape \(16, 64\) in the checkpoint but \(32, 64\) here"
    with pytest.raises(SetupError, match=expected + r" \(key 'fc1.weight'\)"):
        run_training(proj, data, tmp_path / "a")
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "other.pth")
    proj = project(mlp(), init_checkpoint=str(tmp_path / "other.pth"))
    with pytest.raises(SetupError, match=r"no key of this state_dict matches a block.*holds features "
                                         r"\(1 tensor\).*fc1: fc1"):
        run_training(proj, data, tmp_path / "b")
    proj = project(mlp(), init_checkpoint=str(tmp_path / "other.pth"), init_blocks="fc2")
    with pytest.raises(SetupError, match="no weights for block 'fc2'.*'fc2.'.*init_key_map"):
        run_training(proj, data, tmp_path / "c")


class Payload:
    """Any pickled object: loading it could run code, so it must be refused."""


def test_a_file_with_pickled_objects_is_never_unpickled(tmp_path):
    torch.save({"fc1.weight": Payload()}, tmp_path / "evil.pt")
    proj = project(mlp(), init_checkpoint=str(tmp_path / "evil.pt"))
    with pytest.raises(SetupError, match="cannot be read as a weights-only file"):
        run_training(proj, digits_vectors(64, 32), tmp_path / "run")


# --- the digits source's smaller tasks ------------------------------------------------------------

def test_digits_can_keep_some_classes_relabelled_and_a_few_samples_each():
    from runtime.data import load_dataset

    spec = DataSpec("digits", {"classes": "5-7, 9", "per_class": 20})
    data = load_dataset(spec, TrainingConfig({"val_fraction": 0.25}), seed=0, input_shape=(1, 8, 8))
    assert data.num_classes == 4 and data.class_names == ["5", "6", "7", "9"]
    labels = torch.as_tensor(list(data.train.targets) + list(data.val.targets))
    assert len(labels) == 80 and torch.bincount(labels).tolist() == [20, 20, 20, 20]
    with pytest.raises(Exception, match="there is no class 12"):
        load_dataset(DataSpec("digits", {"classes": "3,12"}), TrainingConfig(), seed=0, input_shape=(1, 8, 8))


# --- the exported training script keeps frozen blocks fixed too ------------------------------------

@pytest.mark.slow  # runs the script in a new Python (a few seconds of start-up)
def test_exported_script_freezes_the_same_blocks_and_starts_from_init_weights(tmp_path):
    import os
    import subprocess
    import sys

    from runtime.export_script import write_training_script

    net = small_cnn()
    net.set_frozen("conv", True)
    net.set_frozen("bn", True)
    proj = project(net, epochs=1)
    script = write_training_script(proj, REGISTRY, tmp_path / "train.py", dataset=digits_images(128, 32))
    text = script.read_text()
    assert "FROZEN = ['conv', 'bn']" in text
    assert "make_optimizer([p for p in net.parameters() if p.requires_grad])" in text

    torch.manual_seed(7)
    from runtime.build import build_models

    start = build_models(proj, REGISTRY)[0]["model"].state_dict()
    for value in start.values():
        if value.is_floating_point():
            value.uniform_(0.5, 1.5)  # a recognisable pretrained start, batch-norm statistics included
    torch.save(start, tmp_path / "pretrained.pt")
    done = subprocess.run([sys.executable, str(script), "--init", str(tmp_path / "pretrained.pt")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr
    after = torch.load(tmp_path / "train.pt", weights_only=True)
    for key in ("conv.weight", "bn.weight", "bn.running_mean", "bn.running_var"):
        assert torch.equal(after[key], start[key]), key
    assert not torch.equal(after["fc.weight"], start["fc.weight"])


@pytest.mark.slow  # runs the script in a new Python, three times
def test_exported_script_refuses_init_weights_it_cannot_use_with_a_message(tmp_path):
    import os
    import subprocess
    import sys

    from runtime.export_script import write_training_script

    net = small_cnn()
    net.set_frozen("conv", True)
    script = write_training_script(project(net, epochs=1), REGISTRY, tmp_path / "train.py",
                                   dataset=digits_images(64, 16))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "other.pt")
    torch.save({"conv.weight": torch.zeros(1, 1, 1, 1)}, tmp_path / "shapes.pt")
    expected = {"garbage.pt": "cannot read these weights", "other.pt": "none of its 1 weights belong",
                "shapes.pt": "these weights are for another network"}
    for name, message in expected.items():
        done = subprocess.run([sys.executable, str(script), "--init", str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert done.returncode == 1 and message in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
    assert not (tmp_path / "train.pt").exists()  # nothing trained on a wrong start


# --- the bundled example: pretrain on digits 0-4, reuse the frozen convolutions for 5-9 --------------

def test_the_digits_transfer_example_reuses_the_frozen_convolutions(tmp_path, monkeypatch):
    from graph.examples import example_path
    from runtime.train.data import load_project_data

    pre = load_project(example_path("digits_pretrain"), REGISTRY)
    target = load_project(example_path("digits_transfer"), REGISTRY)
    frozen = [b.name for b in target.network().blocks.values() if b.frozen]
    assert frozen == ["conv1", "norm1", "conv2", "norm2"] and target.training.init_blocks == "features"
    assert target.training.init_checkpoint == "runs/digits_pretrain"
    pre.data.options["per_class"] = 40  # a smaller pretraining keeps the test quick
    pre.training = pre.training.replace(epochs=1)
    monkeypatch.chdir(tmp_path)  # the example names runs/digits_pretrain relative to where you run it
    run_training(pre, load_project_data(pre, REGISTRY), tmp_path / "runs" / "digits_pretrain")
    target.training = target.training.replace(epochs=3)
    data = load_project_data(target, REGISTRY)
    assert data.class_names == ["5", "6", "7", "8", "9"] and len(data.train) == 50
    summary, _ = run_training(target, data, tmp_path / "runs" / "transfer")
    before = _weights(tmp_path / "runs" / "digits_pretrain", "best.pt")
    after = _weights(tmp_path / "runs" / "transfer")
    for key in ("conv1.weight", "norm1.running_mean", "conv2.weight", "norm2.running_var"):
        assert torch.equal(before[key], after[key]), key
    assert summary["final"]["accuracy"] > 0.4  # three steps of a new head on frozen features; chance 0.2


# --- the command line ------------------------------------------------------------------------------

def test_cli_check_marks_frozen_blocks_and_train_takes_init_and_from_scratch(tmp_path, capsys):
    from runtime.cli import main

    source, path = project(mlp(), epochs=1), tmp_path / "p.dw.json"
    save_project(source, tmp_path / "source.dw.json")
    assert main(["train", str(tmp_path / "source.dw.json"), "--out", str(tmp_path / "pre"), "--quiet",
                 "--device", "cpu"]) == 0
    net = mlp()
    net.set_frozen("fc1", True)
    save_project(project(net, epochs=1), path)
    assert main(["check", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "fc1 (frozen)" in shown and "Total parameters: 2,410 (2,080 frozen, 330 trained)" in shown
    assert main(["train", str(path), "--init", str(tmp_path / "pre"), "--init-blocks", "fc1", "--out",
                 str(tmp_path / "tuned"), "--quiet", "--device", "cpu"]) == 0
    pretrained = _weights(tmp_path / "pre", "best.pt")["fc1.weight"]
    assert torch.equal(_weights(tmp_path / "tuned")["fc1.weight"], pretrained)
    assert main(["train", str(path), "--from-scratch", "--out", str(tmp_path / "scratch"), "--quiet",
                 "--device", "cpu"]) == 0
    snapshot = json.loads((tmp_path / "scratch" / "project.dw.json").read_text())
    assert not any(b.get("frozen") for b in snapshot["networks"][0]["blocks"])
    # unfrozen and random, with the source's seed and settings: fc1 learns exactly as it did there
    assert torch.equal(_weights(tmp_path / "scratch", "best.pt")["fc1.weight"], pretrained)


def test_a_new_head_of_another_size_starts_fresh_while_the_rest_is_copied(tmp_path):
    """Fine-tuning for other classes: without init_blocks, the resized classifier is left out."""
    from runtime.build import build_models
    from runtime.train.transfer import apply_transfer

    data = digits_images(train=64, val=32)
    run_training(project(small_cnn(), epochs=1), data, tmp_path / "source")
    net = small_cnn()
    net.block("fc").params["features"] = 5
    net.block("head").params["classes"] = 5
    target = project(net, init_checkpoint=str(tmp_path / "source"), freeze_init=True)
    models, compiled = build_models(target, REGISTRY)
    fresh_fc = models["model"].fc.weight.detach().clone()
    plan = apply_transfer(target, models, compiled, [tmp_path])
    source = _weights(tmp_path / "source", "best.pt")
    assert torch.equal(models["model"].conv.weight, source["conv.weight"])
    assert torch.equal(models["model"].fc.weight, fresh_fc)  # random, as built
    assert plan.resized == ["fc"] and plan.frozen == {"model": ["conv", "bn"]}
    assert "fc differ in size from the file's and start from random weights" in plan.describe()
    # named explicitly, the same mismatch is an error that says what differs
    named = project(net, init_checkpoint=str(tmp_path / "source"), init_blocks="conv, fc")
    models, compiled = build_models(named, REGISTRY)
    with pytest.raises(SetupError, match=r"block 'fc' weight 'weight' has shape \(10, 128\)"):
        apply_transfer(named, models, compiled, [tmp_path])

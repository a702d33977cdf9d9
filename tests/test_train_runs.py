"""The run folder, checkpoints, per-block statistics and transfer learning by block id."""

from __future__ import annotations

import json

import pytest
import torch

from graph.project_io import loads_project
from runtime.build import load_source
from runtime.train.checkpoint import FORMAT
from runtime.train.runs import read_metrics
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    REGISTRY,
    digits_images,
    digits_vectors,
    mlp,
    project,
    run_training,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("runs") / "digits"
    data = digits_vectors(train=256, val=64, test=64)
    summary, events = run_training(project(mlp(), epochs=3, seed=7, lr=0.01), data, run_dir)
    return run_dir, summary, events


def test_run_folder_holds_snapshot_code_metrics_summary_and_checkpoints(finished_run):
    run_dir, _, _ = finished_run
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "best.pt", "last.pt", "metrics.jsonl", "model.py", "project.dw.json", "summary.json"]
    snapshot = loads_project((run_dir / "project.dw.json").read_text(), REGISTRY)
    assert snapshot.training.epochs == 3 and snapshot.seed == 7
    module = load_source((run_dir / "model.py").read_text())
    model = module.TestProject()
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True)["models"]["model"])
    assert model(torch.zeros(2, 64)).shape == (2, 10)


def test_metrics_jsonl_has_a_line_per_logged_step_epoch_and_validation(finished_run):
    run_dir, _, events = finished_run
    records = read_metrics(run_dir)
    kinds = [r["type"] for r in records]
    assert kinds.count("epoch") == 3 and kinds.count("validation") == 3
    steps = [r for r in records if r["type"] == "step"]
    assert [r["step"] for r in steps] == [e.step for e in events.of("step")]
    assert [r["step"] for r in steps][:2] == [5, 8]  # every log_every=5 steps, and at each epoch's end
    assert all(r["loss"] > 0 for r in steps)
    assert [r["accuracy"] for r in records if r["type"] == "validation"] == \
        [v.metrics["accuracy"] for v in events.of("validation")]


def test_summary_has_final_best_test_speed_device_and_versions(finished_run):
    run_dir, summary, events = finished_run
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["reason"] == "completed" and saved["epochs"] == 3 and saved["steps"] == 24
    assert saved["final"] == events.of("validation")[-1].metrics
    assert saved["best_epoch"] in (1, 2, 3) and saved["monitor"] == "accuracy"
    assert 0.5 < saved["test"]["accuracy"] <= 1.0  # measured on 64 held-out samples with the best weights
    assert saved["samples_per_second"] > 0 and saved["wall_seconds"] >= saved["train_seconds"] > 0
    assert saved["device"] == "cpu" and set(saved["versions"]) >= {"torch", "python", "deepwire"}


def test_checkpoints_are_weights_only_with_models_block_ids_and_resume_state(finished_run):
    run_dir, summary, _ = finished_run
    last = torch.load(run_dir / "last.pt", weights_only=True)
    best = torch.load(run_dir / "best.pt", weights_only=True)
    assert last["format"] == FORMAT and last["epoch"] == 3 and last["step"] == 24
    assert set(last["models"]) == {"model"}
    assert set(last["models"]["model"]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert last["block_modules"] == {"model": {"fc1": "fc1", "fc2": "fc2"}}  # blocks with a submodule
    assert set(last["resume"]) >= {"optimizers", "rng", "batch_in_epoch", "best_metric"}
    assert "resume" not in best and best["epoch"] == summary["best_epoch"]


def test_block_stats_every_n_steps_keyed_by_block_id(tmp_path):
    _, events = run_training(project(small_cnn(), epochs=2, stats_every=4), digits_images(256, 64),
                             tmp_path / "run")
    stats = events.of("block_stats")
    assert [s.step for s in stats] == [4, 8, 12, 16]  # 8 steps per epoch, 2 epochs
    first = stats[0]
    assert set(first.grad_norm) == {"conv", "bn", "fc"}  # the blocks with weights
    assert all(v > 0 for v in first.grad_norm.values()) and all(v > 0 for v in first.weight_norm.values())
    # blocks generated as submodules (ReLU and Flatten are plain expressions, with nothing to hook)
    assert set(first.activation) == {"conv", "bn", "pool", "fc"}
    assert first.activation["bn"]["mean"] == pytest.approx(0.0, abs=0.1)  # batch norm centres...
    assert first.activation["bn"]["std"] == pytest.approx(1.0, abs=0.1)  # ... and scales its output
    assert first.activation["pool"]["zeros"] > 0.05  # max of ReLU outputs: some windows are all zero


def test_stats_off_means_no_hooks_and_no_events(tmp_path):
    _, events = run_training(project(mlp(), stats_every=0), digits_vectors(128, 32), tmp_path / "run")
    assert events.of("block_stats") == []


def test_transfer_learning_copies_chosen_blocks_by_id_and_freezes_them(tmp_path):
    data = digits_vectors(train=256, val=64)
    source_dir = tmp_path / "source"
    run_training(project(mlp(), epochs=2, seed=1), data, source_dir)
    trained = torch.load(source_dir / "best.pt", weights_only=True)["models"]["model"]

    # the new project renames fc1 (so its submodule attribute differs) but keeps its block id
    net = mlp()
    net.rename_block("fc1", "features")
    proj = project(net, epochs=2, seed=2, init_checkpoint=str(source_dir / "best.pt"), init_blocks="fc1")
    run_training(proj, data, tmp_path / "target")
    after = torch.load(tmp_path / "target" / "last.pt", weights_only=True)["models"]["model"]

    assert torch.equal(after["features.weight"], trained["fc1.weight"])  # copied and frozen: unchanged
    assert torch.equal(after["features.bias"], trained["fc1.bias"])
    fresh = torch.load(tmp_path / "target" / "last.pt", weights_only=True)
    assert not torch.equal(after["fc2.weight"], trained["fc2.weight"])  # trained on, from its own start
    assert fresh["block_modules"]["model"]["fc1"] == "features"


def test_transfer_without_freezing_lets_the_copied_block_learn(tmp_path):
    data = digits_vectors(train=128, val=32)
    run_training(project(mlp(), epochs=1), data, tmp_path / "source")
    trained = torch.load(tmp_path / "source" / "best.pt", weights_only=True)["models"]["model"]
    proj = project(mlp(), epochs=1, init_checkpoint=str(tmp_path / "source" / "best.pt"), freeze_init=False)
    _, events = run_training(proj, data, tmp_path / "target")
    after = torch.load(tmp_path / "target" / "last.pt", weights_only=True)["models"]["model"]
    assert not torch.equal(after["fc1.weight"], trained["fc1.weight"])
    assert events.of("started")[0].parameters["model"] == 64 * 32 + 32 + 32 * 10 + 10


def test_transfer_names_a_block_the_project_lacks(tmp_path):
    from runtime.train import SetupError

    run_training(project(mlp(), epochs=1), digits_vectors(128, 32), tmp_path / "source")
    proj = project(mlp(), init_checkpoint=str(tmp_path / "source" / "best.pt"), init_blocks="fc1, nope")
    with pytest.raises(SetupError, match="init_blocks: 'nope' is no block id, block name or group name"):
        run_training(proj, digits_vectors(128, 32), tmp_path / "target")


def test_transfer_refuses_a_block_whose_sizes_changed(tmp_path):
    from runtime.train import SetupError

    run_training(project(mlp(hidden=32), epochs=1), digits_vectors(128, 32), tmp_path / "source")
    proj = project(mlp(hidden=16), init_checkpoint=str(tmp_path / "source" / "best.pt"), init_blocks="fc1")
    expected = "block 'fc1' weight 'weight' has shape \\(32, 64\\) in the checkpoint but \\(16, 64\\) here"
    with pytest.raises(SetupError, match=expected):
        run_training(proj, digits_vectors(128, 32), tmp_path / "target")


def test_a_new_run_refuses_a_folder_that_already_holds_a_run(finished_run):
    from runtime.train import SetupError

    run_dir, _, _ = finished_run
    with pytest.raises(SetupError, match="already holds files"):
        run_training(project(mlp()), digits_vectors(64, 32), run_dir)

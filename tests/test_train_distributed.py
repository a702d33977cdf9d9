"""Training in two processes (torchrun, gloo on CPU) reaches the weights one process reaches.

The reference is a single-process run with batch size 24; the distributed
runs use two processes with 12 each (the same global batch), the same seed
and a model without batch norm or dropout, so after 10 steps the weights must
agree to floating-point rounding. Both `deepwire train --nproc 2` and the
exported script under torchrun are checked, and so is what rank 1 must not
do (write files) and what the logs must hold (the global losses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.model import Project
from graph.project_io import save_project
from graph.training_config import DataSpec, TrainingConfig
from runtime.export_project import import_module_from
from runtime.export_script import write_training_script
from runtime.train.data import load_project_data
from runtime.train.distributed import Cluster, shard, steps_per_epoch
from runtime.train.errors import SetupError
from runtime.train.runs import read_metrics
from tests.test_train_fixtures import REGISTRY, chain, run_training

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
RUN_FILES = {"best.pt", "last.pt", "metrics.jsonl", "model.py", "project.dw.json", "summary.json"}


def iris_project() -> Project:
    """Iris (120 training samples): 5 steps of 24 per epoch, 2 epochs; no batch norm, no dropout."""
    net = chain("model", [("in", "VectorInput", {"features": 4}), ("fc1", "Linear", {"features": 16}),
                          ("act", "ReLU", {}), ("fc2", "Linear", {"features": 3}),
                          ("head", "ClassificationHead", {"classes": 3})])
    settings = {"epochs": 2, "batch_size": 24, "lr": 0.01, "log_every": 1, "stats_every": 0}
    return Project("iris ddp", [net], DataSpec("iris"), TrainingConfig(settings), 3)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The single-process run: (run folder, summary, events)."""
    proj = iris_project()
    run_dir = tmp_path_factory.mktemp("single") / "run"
    torch.set_num_threads(1)
    summary, events = run_training(proj, load_project_data(proj, REGISTRY), run_dir)
    return run_dir, summary, events


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["models"]["model"]


def _torchrun(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env=dict(ENV, **env), cwd=cwd)


def test_deepwire_train_on_two_processes_reaches_the_single_process_weights(tmp_path, reference):
    ref_dir, ref_summary, _ = reference
    project_file = tmp_path / "iris.dw.json"
    save_project(iris_project(), project_file)
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    done = _torchrun("-m", "runtime.cli", "train", str(project_file), "--nproc", "2", "--batch-size", "12",
                     "--out", str(work / "run"), "--quiet", cwd=work, TMPDIR=str(scratch))
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(scratch.iterdir()) == []  # torchrun's torchelastic_* folders went with it

    ours, theirs = _weights(work / "run" / "last.pt"), _weights(ref_dir / "last.pt")
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.allclose(ours[key], theirs[key], atol=1e-5), key

    # rank 1 wrote nothing: one run folder, holding exactly what one process writes
    assert sorted(p.name for p in work.iterdir()) == ["run"]
    assert {p.name for p in (work / "run").iterdir()} == RUN_FILES

    # the logged losses are the global ones: the single-process run's, step by step
    steps = [r for r in read_metrics(work / "run") if r["type"] == "step"]
    ref_steps = [r for r in read_metrics(ref_dir) if r["type"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, 11))
    assert [r["loss"] for r in steps] == pytest.approx([r["loss"] for r in ref_steps], abs=1e-5)
    summary = json.loads((work / "run" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["batch_size"] == 12 and summary["global_batch_size"] == 24
    assert summary["final"]["accuracy"] == pytest.approx(ref_summary["final"]["accuracy"])
    assert summary["final"]["loss"] == pytest.approx(ref_summary["final"]["loss"], abs=1e-5)


@pytest.mark.slow  # two torch start-ups (about 8 s on an idle machine)
def test_exported_script_under_torchrun_reaches_the_single_process_weights(tmp_path, monkeypatch):
    proj = iris_project()
    script = write_training_script(proj, REGISTRY, tmp_path / "train_iris.py")
    text = script.read_text()
    assert "DistributedSampler(" in text and "DistributedDataParallel(" in text

    # one process, in this process: the script's own main()
    module = import_module_from(script)
    monkeypatch.setattr(sys, "argv", ["train_iris.py", "--out", str(tmp_path / "single.pt")])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch.set_num_threads(1)
    module.main()

    done = _torchrun("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
                     "--batch-size", "12", "--out", str(tmp_path / "two.pt"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # only rank 0 prints: one line per epoch, with the global training loss
    assert done.stdout.count("epoch 2/2") == 1 and done.stdout.count("saved the weights") == 1

    single = torch.load(tmp_path / "single.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    for key in single:
        assert torch.allclose(single[key], two[key], atol=1e-5), key


# --- the pieces, without starting processes ---------------------------------------------------------

def test_cluster_reads_torchrun_variables_and_refuses_nonsense():
    assert Cluster.from_env({}) == Cluster(0, 1, 0)
    assert not Cluster.from_env({}).distributed
    c = Cluster.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (c.rank, c.world_size, c.local_rank, c.distributed, c.is_main) == (3, 4, 1, True, False)
    with pytest.raises(SetupError, match="RANK=4, WORLD_SIZE=4"):
        Cluster.from_env({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    with pytest.raises(SetupError, match="whole numbers"):
        Cluster.from_env({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_shards_of_a_global_batch_are_distributed_sampler_order_and_cover_it_once():
    from torch.utils.data import DistributedSampler

    order = torch.randperm(48, generator=torch.Generator().manual_seed(0))
    shards = [shard(order[:24], Cluster(r, 3, r)) for r in range(3)]
    assert sorted(torch.cat(shards).tolist()) == sorted(order[:24].tolist())
    # rank r's first 8 samples are what DistributedSampler gives rank r from the same permutation
    for r in range(3):
        sampler = DistributedSampler(range(48), num_replicas=3, rank=r, shuffle=False)
        assert shards[r].tolist() == [order[i].item() for i in list(sampler)[:8]]
    assert shard(order, Cluster()).equal(order)


@pytest.mark.parametrize("samples, batch, world, steps", [
    (120, 24, 2, 5), (121, 24, 1, 5), (122, 24, 1, 6), (123, 24, 2, 5), (124, 24, 2, 6), (10, 24, 1, 1)])
def test_steps_per_epoch_leave_out_a_last_batch_too_small_for_every_process(samples, batch, world, steps):
    assert steps_per_epoch(samples, batch, world) == steps


def test_gpus_asks_for_what_the_machine_has():
    from runtime.cli import build_parser
    from runtime.commands.launch import processes_wanted, torchrun_command

    parser = build_parser()
    args = parser.parse_args(["train", "p.dw.json", "--gpus", "4"])
    assert "only 2" in processes_wanted(args, cuda_devices=2)
    assert "--nproc N" in processes_wanted(args, cuda_devices=0)
    assert processes_wanted(args, cuda_devices=8) == 4
    args = parser.parse_args(["train", "p.dw.json", "--nproc", "3", "--epochs", "2", "--batch-size", "8"])
    assert processes_wanted(args) == 3
    command = torchrun_command(args, 3, "runs/x")
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3"]
    assert command[5:] == ["-m", "runtime.cli", "train", "p.dw.json", "--device", "cpu", "--epochs", "2",
                           "--batch-size", "8", "--out", "runs/x"]
    args = parser.parse_args(["train", "p.dw.json", "--nproc", "2", "--device", "cuda"])
    assert "--gpus" in processes_wanted(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "p.dw.json", "--nproc", "2", "--gpus", "2"])


def test_every_train_option_reaches_the_processes_torchrun_starts():
    """A new `deepwire train` option must be passed on to the processes, or be decided by the launcher."""
    import argparse

    from runtime.commands.launch import DECIDED_HERE, FLAGS_PASSED_ON, PASSED_ON, torchrun_command
    from runtime.commands.train import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = {action.dest for action in parser._actions}
    assert options - DECIDED_HERE == set(PASSED_ON) | set(FLAGS_PASSED_ON)
    args = parser.parse_args(["p.dw.json", "--nproc", "2", "--init", "runs/pre", "--init-blocks", "conv1",
                              "--from-scratch", "--quiet"])
    command = torchrun_command(args, 2, "runs/x")
    assert command[command.index("--init") + 1] == "runs/pre"
    assert command[command.index("--init-blocks") + 1] == "conv1"
    assert "--from-scratch" in command and "--quiet" in command


def test_gpus_without_cuda_is_refused_with_a_clear_message(tmp_path, monkeypatch, capsys):
    from runtime.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA GPUs")  # the refusal is for machines without
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", "digits_cnn", "--gpus", "2"]) == 2
    err = capsys.readouterr().err
    assert "asks for CUDA GPUs" in err and "--nproc N" in err
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written

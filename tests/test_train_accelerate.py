"""Accelerator choices (precision, layout, compile fallback, workers) and the memory estimate, on CPU.

The CUDA-only rules are pure functions of what the machine offers, so they
are checked here with the facts passed in. The memory estimate is checked
against what training really allocates: parameter, gradient and optimizer
state bytes exactly, and the activations against the bytes autograd saves
at the full batch size (counted with saved-tensor hooks).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from runtime.build import build_models
from runtime.train import memory
from runtime.train.accelerate import (
    CompiledOrEager,
    mixed_precision_dtype,
    needs_grad_scaler,
    threads_per_process,
    wants_channels_last,
)
from runtime.train.device import Precision
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    REGISTRY,
    digits_images,
    project,
    run_training,
    single_thread,
    small_cnn,
)


@pytest.mark.parametrize("device, wanted, bf16, dtype", [
    ("cuda", True, True, torch.bfloat16), ("cuda", True, False, torch.float16), ("cuda", False, True, None),
    ("cpu", True, True, None), ("mps", True, True, None)])
def test_mixed_precision_is_bf16_where_supported_else_fp16_with_a_scaler(device, wanted, bf16, dtype):
    assert mixed_precision_dtype(device, wanted, bf16) == dtype
    assert needs_grad_scaler(dtype) == (dtype == torch.float16)


def test_precision_on_cpu_is_plain_float32():
    precision = Precision(torch.device("cpu"), True)
    assert not precision.enabled and precision.new_scaler() is None and precision.describe() == "float32"


def test_channels_last_only_for_convolutions_on_cuda():
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    dense = nn.Sequential(nn.Linear(4, 4))
    assert wants_channels_last("cuda", conv)
    assert not wants_channels_last("cpu", conv) and not wants_channels_last("cuda", dense)


def test_threads_are_the_cores_shared_by_the_processes():
    assert threads_per_process(1, cpu_count=16) == 16
    assert threads_per_process(4, cpu_count=16) == 4
    assert threads_per_process(3, cpu_count=2) == 1


def test_compile_failure_falls_back_to_the_plain_network_with_a_warning():
    model = nn.Linear(3, 2)
    warnings: list[str] = []

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("backend exploded\nlong compiler log")

    wrapped = CompiledOrEager(model, "encoder", warnings.append, compile_fn=lambda m: Broken())
    x = torch.randn(4, 3)
    assert torch.equal(wrapped(x), model(x))
    assert torch.equal(wrapped(x), model(x))
    assert warnings == ["torch.compile failed for network 'encoder' (RuntimeError: backend exploded); "
                        "training it without compilation, which gives the same results, only slower per step"]
    assert wrapped.failed == "RuntimeError: backend exploded"
    assert wrapped.make_loss if hasattr(model, "make_loss") else wrapped.weight is model.weight


def test_a_model_error_after_compiling_worked_is_not_hidden():
    calls = []

    def compiled(x):
        calls.append(1)
        if len(calls) > 1:
            raise ValueError("shapes do not match")  # not the compiler's: the model's own fault
        return x

    wrapped = CompiledOrEager(nn.Identity(), "m", lambda text: None, compile_fn=lambda m: compiled)
    wrapped(torch.ones(1))
    with pytest.raises(ValueError, match="shapes do not match"):
        wrapped(torch.ones(1))


def test_the_trainer_warns_and_trains_when_compilation_fails(tmp_path):
    def broken_compile(model):
        def run(*args):
            raise RuntimeError("no C compiler found")
        return run

    proj = project(small_cnn(), epochs=1, compile=True)
    summary, events = run_training(proj, digits_images(96, 32), tmp_path / "run", compile_fn=broken_compile)
    warnings = [e.message for e in events.of("warning")]
    assert any("torch.compile failed for network 'model' (RuntimeError: no C compiler found)" in w
               for w in warnings), warnings
    assert summary["reason"] == "completed" and summary["steps"] == 3


# --- memory -----------------------------------------------------------------------------------------

def test_memory_estimate_matches_what_training_allocates(tmp_path):
    proj = project(small_cnn(), epochs=1, batch_size=32, optimizer="adam")
    summary, events = run_training(proj, digits_images(96, 32), tmp_path / "run")
    estimate = summary["memory"]["estimate"]
    assert summary["memory"]["peak"] is None  # CPU: PyTorch has no peak counter
    started = events.of("started")[0]
    assert started.memory_estimate == estimate
    assert estimate["total"] == sum(estimate[part] for part in memory.PARTS)

    torch.manual_seed(0)
    model = build_models(proj, REGISTRY)[0]["model"]
    params = [p for p in model.parameters()]
    x = torch.randn(32, 1, 8, 8)
    assert estimate["weights"] == sum(p.numel() * 4 for p in params) + sum(b.numel() * b.element_size()
                                                                           for b in model.buffers())
    measured = memory.saved_activation_bytes(lambda: model(x), exclude=params)
    # measure what one step really leaves: gradients and Adam's two averages per parameter
    optimizer = torch.optim.Adam(model.parameters())
    nn.CrossEntropyLoss()(model(x), torch.zeros(32, dtype=torch.long)).backward()
    optimizer.step()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in params)
    state = sum(t.numel() * t.element_size() for s in optimizer.state.values() for k, t in s.items()
                if k != "step")
    assert estimate["gradients"] == grads
    assert estimate["optimizer"] == state
    assert abs(estimate["activations"] - measured) <= 0.25 * measured, (estimate["activations"], measured)


def test_measuring_activations_changes_nothing_about_the_model():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    size = memory.activation_bytes(model, ["VectorInput"], [(4,)], 64, torch.device("cpu"))
    assert size > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


@pytest.mark.parametrize("optimizer, momentum, count", [
    ("adam", 0.9, 2), ("adamw", 0.9, 2), ("sgd", 0.9, 1), ("sgd", 0.0, 0), ("rmsprop", 0.0, 1),
    ("rmsprop", 0.9, 2)])
def test_optimizer_state_per_parameter(optimizer, momentum, count):
    assert memory.optimizer_state_count(optimizer, momentum) == count


def test_summary_json_holds_the_memory_figures(tmp_path):
    proj = project(small_cnn(), epochs=1)
    run_training(proj, digits_images(64, 16), tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(saved["memory"]["estimate"]) == {*memory.PARTS, "total"}
    assert saved["processes"] == 1 and saved["global_batch_size"] == 32
    assert memory.format_bytes(1536) == "1.5 KB" and memory.format_bytes(None) == "not measured"


# --- bench/bench_gpu.py runs (on CPU here) ----------------------------------------------------------

def _bench_gpu():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("deepwire_bench_gpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("single_thread")
def test_bench_gpu_compares_twins_and_counts_transformer_flops():
    bench = _bench_gpu()
    cpu = torch.device("cpu")
    cnn = bench.Case("digits_cnn", cpu, 8)
    assert cnn.parameters == 29_258  # generated and hand-written: the same network
    row = bench.compare(cnn, None, False, steps=1, pairs=1)
    assert row["generated"] > 0 and row["hand"] > 0 and row["ratio"] == row["generated"] / row["hand"]
    gpt = bench.Case("char_transformer", cpu, 2)
    flops = bench.step_flops(gpt, None)
    # matrix multiplies alone: forward 2 x params x tokens, backward twice that (embedding is a lookup)
    dense = gpt.parameters - 97 * 64
    assert 0.8 * 6 * dense * 2 * 64 < flops < 2.0 * 6 * dense * 2 * 64
    assert bench.peak_flops(cpu, None) is None


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("example, batch", [("digits_cnn", 128), ("char_transformer", 16)])
def test_memory_estimate_is_within_a_quarter_of_the_measured_peak_of_a_step(example, batch):
    """The whole estimate against the most memory one Adam step really held (CPU allocator, profiled)."""
    from graph.compiler import compile_project
    from graph.examples import resolve_project
    from graph.project_io import load_project

    proj = load_project(resolve_project(example), REGISTRY)
    info = compile_project(proj, REGISTRY).networks[proj.networks[0].name]
    torch.manual_seed(0)
    model = build_models(proj, REGISTRY)[0][proj.networks[0].name]
    if info.input_types[0] == "TokenInput":
        x, y = torch.randint(0, 97, (batch, 64)), torch.randint(0, 97, (batch, 64))
    else:
        x, y = torch.randn(batch, *info.input_shapes[0]), torch.randint(0, 10, (batch,))
    saved, transient = memory.activation_profile(model, info.input_types, info.input_shapes, batch,
                                                 torch.device("cpu"), sample=x[:4])
    estimate = memory.estimate({"m": model}, {"m": saved}, "adam", 0.9, transient=transient)
    optimizer = torch.optim.Adam(model.parameters())

    def step():
        out = model(x)
        loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # the optimizer's state exists from here on, like the weights
    measured = estimate["weights"] + estimate["optimizer"] + memory.profiled_peak_bytes(step)
    assert 0.75 * measured <= estimate["total"] <= 1.25 * measured, (estimate, measured)

"""Accelerator benchmark: the generated models against hand-written ones, with and without AMP and compile.

For the digits CNN and the character Transformer examples it measures the
training samples/s of
  generated   the class DeepWire's compiler emits (what the app trains and exports)
  hand        the same network written by hand in plain PyTorch (same layers, same
              parameter count), trained by the same loop
in every mode the device supports: float32, mixed precision (bfloat16 where the
GPU has it, else float16 with a gradient scaler), each with and without
`torch.compile`. Convolutional networks use channels_last on CUDA (both
models). The two models are timed in turns several times and the ratio is
the median of the per-pair ratios (target: generated >= 0.98x hand).

Also: the speed-up of mixed precision over float32, and the Transformer's
model FLOP utilisation (MFU) in its fastest mode: FLOPs of one training step counted with
torch.utils.flop_counter.FlopCounterMode, times steps per second, divided by
the GPU's peak dense throughput for the precision used (a table of known GPUs;
unknown GPUs and CPUs get no MFU, only achieved FLOP/s).

Data are random tensors of the examples' shapes kept on the device (the speed
of a step does not depend on the values). On a GPU the clock is wall time
(synchronised); on a CPU it is this process's CPU time, which other
processes sharing the machine disturb far less.

    python bench/bench_gpu.py [--quick] [--json results.json]
    from bench.bench_gpu import measure; measure(quick=True)   # a dict of the figures
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from graph.blocks import default_registry  # noqa: E402
from graph.examples import resolve_project  # noqa: E402
from graph.project_io import load_project  # noqa: E402
from runtime.build import build_models  # noqa: E402
from runtime.train.accelerate import mixed_precision_dtype, needs_grad_scaler, wants_channels_last  # noqa: E402

# peak dense tensor throughput in TFLOP/s by GPU name fragment: (bf16/fp16, tf32/fp32 as PyTorch runs it)
PEAK_TFLOPS = {"H200": (989.0, 494.5), "H100": (989.0, 494.5), "A100": (312.0, 156.0), "L40S": (362.0, 183.0),
               "A10G": (70.0, 35.0), "L4": (121.0, 60.0), "V100": (125.0, 15.7), "T4": (65.0, 8.1),
               "RTX 4090": (165.0, 82.6), "RTX 3090": (71.0, 35.6)}


# --- the hand-written models ------------------------------------------------------------------------

class HandDigitsCnn(nn.Module):
    """The digits CNN as one would write it: two conv-bn-relu, pool, dropout, linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(1024, 10))

    def forward(self, x):
        return self.head(self.features(x))


class HandCharTransformer(nn.Module):
    """A GPT-style character model: embedding + sine positions, 2 pre-norm causal layers, norm, scores."""

    def __init__(self, vocab=97, dim=64, heads=4, feedforward=256, length=64, layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        position = torch.arange(length).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(length, dim)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("table", table, persistent=False)
        layer = nn.TransformerEncoderLayer(dim, heads, feedforward, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.scores = nn.Linear(dim, vocab)

    def forward(self, ids):
        x = self.embedding(ids) + self.table[: ids.shape[1]]
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1], device=ids.device, dtype=x.dtype)
        return self.scores(self.norm(self.encoder(x, mask=mask, is_causal=True)))


# --- one benchmark case ------------------------------------------------------------------------------

class Case:
    """An example: its generated model, the hand-written twin, random data and the loss."""

    def __init__(self, example: str, device: torch.device, batch: int):
        registry = default_registry()
        project = load_project(resolve_project(example), registry)
        self.name, self.device, self.batch = example, device, batch
        self.lr = project.training.lr
        torch.manual_seed(0)
        self.generated = build_models(project, registry)[0][project.networks[0].name]
        if example == "digits_cnn":
            self.hand = HandDigitsCnn()
            self.x = torch.randn(batch, 1, 8, 8, device=device)
            self.y = torch.randint(0, 10, (batch,), device=device)
        else:
            self.hand = HandCharTransformer()
            self.x = torch.randint(0, 97, (batch, 64), device=device)
            self.y = torch.randint(0, 97, (batch, 64), device=device)
        count = [sum(p.numel() for p in m.parameters()) for m in (self.generated, self.hand)]
        if count[0] != count[1]:
            raise RuntimeError(f"{example}: the hand-written model has {count[1]} parameters, the generated "
                               f"one {count[0]}; they must be the same network")
        self.parameters = count[0]

    def loss(self, out: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]).float(), self.y.reshape(-1))

    def trainer(self, model: nn.Module, dtype: torch.dtype | None, compiled: bool):
        """A function running `steps` training steps of `model` in the given mode."""
        model = model.to(self.device).train()
        x = self.x
        if wants_channels_last(self.device.type, model):
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        forward = torch.compile(model) if compiled else model
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr)
        scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(dtype) else None

        def step():
            with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
                loss = self.loss(forward(x))
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()

        return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _samples_per_second(step, steps: int, batch: int, device: torch.device) -> float:
    # on a CPU, this process's CPU time: far steadier than wall time on a machine shared with others
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    _sync(device)
    start = clock()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch / (clock() - start)


def compare(case: Case, dtype, compiled: bool, steps: int, pairs: int) -> dict:
    """Generated vs hand in one mode: samples/s of each (median over pairs) and the median ratio."""
    runners = {"generated": case.trainer(case.generated, dtype, compiled),
               "hand": case.trainer(case.hand, dtype, compiled)}
    for run in runners.values():  # warm-up: cuDNN autotuning, compilation, allocator
        for _ in range(3):
            run()
    speeds: dict[str, list[float]] = {"generated": [], "hand": []}
    for _ in range(pairs):
        for name, run in runners.items():
            speeds[name].append(_samples_per_second(run, steps, case.batch, case.device))
    ratios = [g / h for g, h in zip(speeds["generated"], speeds["hand"])]
    return {"generated": statistics.median(speeds["generated"]), "hand": statistics.median(speeds["hand"]),
            "ratio": statistics.median(ratios), "samples": speeds}


def step_flops(case: Case, dtype) -> int:
    """FLOPs of one training step (forward and backward) of the generated model."""
    from torch.utils.flop_counter import FlopCounterMode

    model = case.generated.to(case.device).train()
    counter = FlopCounterMode(display=False)
    with counter, torch.autocast(case.device.type, dtype=dtype, enabled=dtype is not None):
        case.loss(model(case.x)).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def peak_flops(device: torch.device, dtype) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (low, full) in PEAK_TFLOPS.items():
        if fragment in name:
            return (low if dtype is not None else full) * 1e12
    return None


def _compile_works(device: torch.device) -> str | None:
    """None when torch.compile can build a kernel here, else why not (first line)."""
    try:
        f = torch.compile(lambda t: t * 2 + 1)
        f(torch.ones(4, device=device))
        return None
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def measure(quick: bool = False) -> dict:
    """The figures as rows for bench/run.py's table, with every detail beside them."""
    from bench.figures import budget_row, speed_row

    result = figures(quick)
    on = result["device"]
    rows = []
    for example, entry in result["cases"].items():
        for mode, row in entry["modes"].items():
            judged = speed_row(
                f"gpu.{example}.{mode.replace(' + ', '+')}",
                f"generated vs hand-written training step, {example}, {mode}, "
                f"batch {entry['batch_size']}, {on}",
                "samples/s", row["samples"]["generated"], row["samples"]["hand"], "hand-written", 0.98, True)
            if not result["gpu"]:  # the target is about GPUs; CPU figures are shown, not judged
                judged["passed"] = None
            rows.append(judged)
        if "amp_speedup" in entry:
            rows.append(budget_row(f"gpu.{example}.amp_speedup",
                                   f"mixed precision vs float32, {example}, {on}", "x",
                                   [entry["amp_speedup"]], None))
        if entry.get("mfu") is not None:
            rows.append(budget_row(f"gpu.{example}.mfu",
                                   f"model FLOP utilisation ({entry['mfu_mode']}), {on}", "%",
                                   [100 * entry["mfu"]], None))
        if "achieved_tflops" in entry:
            rows.append(budget_row(f"gpu.{example}.tflops", f"achieved TFLOP/s ({entry['mfu_mode']}), {on}",
                                   "TFLOP/s", [entry["achieved_tflops"]], None))
    return {"rows": rows, "details": result}


def figures(quick: bool = False) -> dict:
    """Every figure of this benchmark as a dict (see the module docstring)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.type == "cuda"
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True  # what "float32" means for speed on tensor-core GPUs
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    low = mixed_precision_dtype(device.type, True, on_gpu and torch.cuda.is_bf16_supported())
    modes = [("float32", None)] + ([(str(low).replace("torch.", ""), low)] if low is not None else [])
    compile_modes = [False]
    compile_note = None
    if on_gpu or not quick:
        compile_note = _compile_works(device)
        if compile_note is None:
            compile_modes.append(True)
    elif quick:
        compile_note = "skipped in --quick on CPU (compiling takes minutes on a small CPU)"
    steps, pairs = (10, 5) if quick else (50, 7)
    if on_gpu:
        steps, pairs = (30, 3) if quick else (200, 5)
    batches = {"digits_cnn": 512 if on_gpu else 64, "char_transformer": 128 if on_gpu else 16}
    result: dict = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "gpu": on_gpu,
        "note": None if on_gpu else "no GPU present: CPU figures only; mixed precision applies to CUDA only",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "quick": quick,
        "steps_per_timing": steps, "pairs": pairs, "compile": compile_note or "used", "cases": {},
    }
    for example, batch in batches.items():
        case = Case(example, device, batch)
        rows = {}
        for mode, dtype in modes:
            for compiled in compile_modes:
                key = mode + (" + compile" if compiled else "")
                rows[key] = compare(case, dtype, compiled, steps, pairs)
        entry = {"batch_size": batch, "parameters": case.parameters, "modes": rows}
        if low is not None:
            entry["amp_speedup"] = rows[modes[1][0]]["generated"] / rows["float32"]["generated"]
        if example == "char_transformer":
            best_mode = max(rows, key=lambda key: rows[key]["generated"])  # the fastest way it trains
            best_dtype = dict(modes)[best_mode.replace(" + compile", "")]
            flops = step_flops(case, best_dtype)
            achieved = flops * rows[best_mode]["generated"] / batch
            peak = peak_flops(device, best_dtype)
            entry["flops_per_step"] = flops
            entry["achieved_tflops"] = achieved / 1e12
            entry["mfu_mode"] = best_mode
            entry["peak_tflops"] = peak / 1e12 if peak else None
            entry["mfu"] = achieved / peak if peak else None
        result["cases"][example] = entry
    return result


def _report(result: dict) -> str:
    lines = [f"device: {result['device']}  (torch {result['torch']}, {result['threads']} threads)"]
    if result["note"]:
        lines.append(f"note: {result['note']}")
    if result["compile"] != "used":
        lines.append(f"torch.compile: {result['compile']}")
    for example, entry in result["cases"].items():
        lines.append(f"\n{example}  (batch {entry['batch_size']}, {entry['parameters']:,} parameters)")
        lines.append(f"  {'mode':<22}{'generated/s':>14}{'hand/s':>14}{'ratio':>8}")
        for mode, row in entry["modes"].items():
            lines.append(f"  {mode:<22}{row['generated']:>14,.0f}{row['hand']:>14,.0f}{row['ratio']:>8.3f}")
        if "amp_speedup" in entry:
            lines.append(f"  mixed precision speed-up: {entry['amp_speedup']:.2f}x")
        if "flops_per_step" in entry:
            known = entry["mfu"] is not None
            mfu = f"{entry['mfu']:.1%}" if known else "unknown (no peak known for this device)"
            lines.append(f"  FLOPs per step {entry['flops_per_step']:,}; achieved "
                         f"{entry['achieved_tflops']:.3f} TFLOP/s ({entry['mfu_mode']}); MFU {mfu}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run, a minute on a CPU)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to this JSON file")
    args = parser.parse_args()
    result = figures(quick=args.quick)
    print(_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training throughput: DeepWire's trainer against a minimal hand-written PyTorch loop.

Target (issue): `deepwire train` reaches at least 0.95x the samples/s of the
hand-written loop on the same model, data and batch size. Both train the
digits CNN example: the same generated model class, the same initial weights
(same seed), the same in-memory tensors and batch size, the same optimizer.
The two are interleaved several times, since the machine is shared and noisy,
and the ratio is taken per pair; the median ratio is the result (judged on
CPU time, the steady figure on a shared machine; wall time is shown beside).

Figures per run, each in wall-clock and in CPU time of this process (CPU
time is far steadier while other processes share the machine):
  train     samples/s of the batch loops alone (for the trainer including its
            step events, NaN checks and block statistics)
  overall   samples/s over everything each does: for the trainer also set-up,
            validation, metrics.jsonl, checkpoints; for the hand loop also a
            validation pass per epoch

    python bench/bench_train.py [--example digits_cnn] [--epochs 5] [--pairs 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.figures import format_table, interleave, speed_row  # noqa: E402
from graph.blocks import default_registry  # noqa: E402
from graph.examples import resolve_project  # noqa: E402
from graph.project_io import load_project  # noqa: E402
from runtime.build import build_models  # noqa: E402
from runtime.train import Trainer, TrainOptions  # noqa: E402
from runtime.train.data import load_project_data  # noqa: E402

TARGET = 0.95  # deepwire samples/s / hand-written samples/s


class Clock:
    """Wall and CPU seconds (CPU time is what this process itself used: steadier on a busy machine)."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self._start = None

    def start(self):
        self._start = (time.perf_counter(), time.process_time())

    def stop(self):
        wall, cpu = self._start
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self._start = None


def hand_written(project, registry, dataset, epochs: int) -> dict:
    """Samples/s of the plainest correct PyTorch loop (train loop alone, and with its validation)."""
    torch.manual_seed(project.seed)
    models, _ = build_models(project, registry)
    model = models[project.networks[0].name]
    x = torch.from_numpy(dataset.train.inputs)
    y = torch.from_numpy(dataset.train.targets)
    x_val, y_val = torch.from_numpy(dataset.val.inputs), torch.from_numpy(dataset.val.targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=project.training.lr)
    batch_size = project.training.batch_size
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(project.seed)
    train, overall, samples = Clock(), Clock(), 0
    overall.start()
    for _ in range(epochs):
        train.start()
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            samples += len(index)
        train.stop()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
    overall.stop()
    assert accuracy > 0.5
    return _speeds(samples, train, overall)


class TrainLoopClock:
    """Listener timing the trainer's batch loops: from the start (or last checkpoint) to each epoch."""

    def __init__(self):
        self.clock = Clock()

    def on_event(self, event):
        if event.kind == "started" or (event.kind == "checkpoint" and event.which == "last"):
            self.clock.start()
        elif event.kind == "epoch":
            self.clock.stop()


def deepwire(project, registry, dataset, epochs: int) -> dict:
    project.training = project.training.replace(epochs=epochs, device="cpu")
    loop = TrainLoopClock()
    overall = Clock()
    with tempfile.TemporaryDirectory() as folder:
        overall.start()
        summary = Trainer(project, registry, dataset, TrainOptions(Path(folder) / "run"), [loop]).run()
        overall.stop()
    samples = round(summary["samples_per_second"] * summary["train_seconds"])
    return _speeds(samples, loop.clock, overall)


def _speeds(samples: int, train: Clock, overall: Clock) -> dict:
    return {"train_wall": samples / train.wall, "train_cpu": samples / train.cpu,
            "overall_wall": samples / overall.wall, "overall_cpu": samples / overall.cpu}


def measure(quick: bool = False, example: str = "digits_cnn", epochs: int | None = None,
            pairs: int | None = None, threads: int = 1) -> dict:
    """Rows for bench/run.py: trainer / hand-written loop samples/s, by CPU time (judged: the steady
    one on a shared machine), by wall time, and overall (set-up, validation, files included)."""
    epochs = epochs or (1 if quick else 3)
    pairs = pairs or (3 if quick else 8)
    torch.set_num_threads(threads)
    registry = default_registry()
    path = resolve_project(example)
    dataset = load_project_data(load_project(path, registry), registry, path.parent)
    # warm-up: the first optimizer construction imports torch._dynamo (seconds), kernels get cached
    hand_written(load_project(path, registry), registry, dataset, 1)
    deepwire(load_project(path, registry), registry, dataset, 1)
    runs = interleave({
        "deepwire": lambda: deepwire(load_project(path, registry), registry, dataset, epochs),
        "hand": lambda: hand_written(load_project(path, registry), registry, dataset, epochs),
    }, pairs)
    batch = load_project(path, registry).training.batch_size
    setting = f"{example}, batch {batch}, {epochs} epoch(s) a run"

    def row(key: str, what: str, judged: bool) -> dict:
        result = speed_row(f"train.{key}", f"`deepwire train`'s Trainer vs a minimal hand-written loop, "
                           f"{what}, {setting}", "samples/s", [r[key] for r in runs["deepwire"]],
                           [r[key] for r in runs["hand"]], "hand-written loop", TARGET, higher_is_faster=True)
        if not judged:
            result["passed"] = None
        return result

    return {
        "rows": [row("train_cpu", "batch loops, samples per CPU second", True),
                 row("train_wall", "batch loops, samples per wall second", False),
                 row("overall_cpu", "everything (set-up, validation, checkpoints), per CPU second", False)],
        "details": {"example": example, "training_samples": len(dataset.train), "batch": batch,
                    "epochs": epochs, "pairs": pairs, "threads": threads, "runs": runs},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="digits_cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest for this small model on a busy machine)")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = parser.parse_args()
    result = measure(example=args.example, epochs=args.epochs, pairs=args.pairs, threads=args.threads)
    details = result["details"]
    for pair, (ours, hand) in enumerate(zip(details["runs"]["deepwire"], details["runs"]["hand"]), 1):
        print(f"pair {pair:2d}: train samples/s (wall) hand {hand['train_wall']:6.0f} deepwire "
              f"{ours['train_wall']:6.0f} ratio {ours['train_wall'] / hand['train_wall']:.3f} | "
              f"(cpu) ratio {ours['train_cpu'] / hand['train_cpu']:.3f} | overall (cpu) ratio "
              f"{ours['overall_cpu'] / hand['overall_cpu']:.3f}")
    print(f"\n{args.example}, {details['training_samples']} training samples, batch {details['batch']}, "
          f"{args.epochs} epochs x {args.pairs} interleaved pairs, {args.threads} thread(s)\n")
    print(format_table(result["rows"]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if result["rows"][0]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

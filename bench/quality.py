"""Quality bars of the bundled examples, trained the way `deepwire train` trains them.

    python bench/quality.py [--only digits_cnn sine_lstm ...] [--out /tmp/deepwire-quality] [--threads 1]

Bars (issue "Training"):
  digits_cnn        best validation accuracy >= 98% within 20 s of training on the CPU
  sine_lstm         validation MSE well under the variance of the target (we ask for < 10%)
  char_transformer  validation loss clearly below the unigram entropy of its text (we ask for 0.5 nats)
  digits_gan        the fixed-noise sample grid changes from noise to digit-like strokes: the grids are
                    saved as PNGs (first and last epoch, and real digits) for a person to look at;
                    measured here: the samples' pixel histogram and their distance to the nearest
                    real digit must both at least halve between the first and the last epoch
Every run folder is kept under --out. Exit code 0 when every measured bar holds.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from graph.blocks import default_registry  # noqa: E402
from graph.examples import resolve_project  # noqa: E402
from graph.project_io import load_project  # noqa: E402
from runtime.train import Collector, Trainer, TrainOptions  # noqa: E402
from runtime.train.data import load_project_data  # noqa: E402


def train_example(name: str, out: Path, **changes):
    registry = default_registry()
    path = resolve_project(name)
    project = load_project(path, registry)
    project.training = project.training.replace(device="cpu", **changes)
    dataset = load_project_data(project, registry, path.parent)
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)
    events = Collector()
    started = time.perf_counter()
    summary = Trainer(project, registry, dataset, TrainOptions(run_dir), [events]).run()
    return project, dataset, summary, events, time.perf_counter() - started


def digits_cnn(out: Path) -> bool:
    _, _, summary, events, wall = train_example("digits_cnn", out)
    best = summary["best_metric"]
    # training seconds until the best epoch: the sum of the epoch loop times up to it
    seconds = sum(e.seconds for e in events.of("epoch") if e.epoch <= summary["best_epoch"])
    first_98 = next((v.epoch for v in events.of("validation") if v.metrics["accuracy"] >= 0.98), None)
    to_98 = sum(e.seconds for e in events.of("epoch") if first_98 and e.epoch <= first_98)
    ok = best >= 0.98 and summary["train_seconds"] < 20
    print(f"digits_cnn: best val accuracy {best:.4f} at epoch {summary['best_epoch']} "
          f"({seconds:.1f} s of training to get there); >= 98% first at epoch {first_98} "
          f"after {to_98:.1f} s; "
          f"all {summary['epochs']} epochs: {summary['train_seconds']:.1f} s training, {wall:.1f} s wall "
          f"-> {'PASS' if ok else 'FAIL'} (>= 0.98 within 20 s)")
    return ok


def sine_lstm(out: Path) -> bool:
    _, dataset, summary, _, wall = train_example("sine_lstm", out)
    variance = float(np.var(dataset.val.targets))
    mse = summary["final"]["loss"]
    best = min(summary["best_metric"], mse)
    ok = best < 0.1 * variance
    print(f"sine_lstm: val MSE {mse:.5f} (best {summary['best_metric']:.5f}) vs target variance "
          f"{variance:.4f} = {best / variance:.1%} of it; {summary['train_seconds']:.1f} s training, "
          f"{wall:.1f} s wall "
          f"-> {'PASS' if ok else 'FAIL'} (< 10% of the variance)")
    return ok


def unigram_entropy(tokens: np.ndarray) -> float:
    counts = np.bincount(tokens.reshape(-1))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def char_transformer(out: Path, epochs: int | None) -> bool:
    changes = {"epochs": epochs} if epochs else {}
    _, dataset, summary, events, wall = train_example("char_transformer", out, **changes)
    entropy = unigram_entropy(dataset.train.targets)
    loss = summary["final"]["loss"]
    ok = loss < entropy - 0.5
    sample = events.of("samples")[-1].text if events.of("samples") else ""
    print(f"char_transformer: val loss {loss:.3f} nats (perplexity {math.exp(loss):.2f}) vs unigram entropy "
          f"{entropy:.3f} nats of the training text; {summary['epochs']} epochs, "
          f"{summary['train_seconds']:.0f} s training, {wall:.0f} s wall -> {'PASS' if ok else 'FAIL'} "
          f"(at least 0.5 nats below)\n  last sample: {sample[-200:]!r}")
    return ok


def grid_samples(png: bytes, count: int, side: int, value_range: tuple[float, float]) -> np.ndarray:
    """The (count, side, side) images back out of a sample grid PNG (cells of 32 px, 1 px borders)."""
    from runtime.train.images import decode_png

    pixels = decode_png(png).astype(np.float32) / 255.0
    zoom = math.ceil(32 / side)
    cell = side * zoom
    images = []
    for i in range(count):
        row, column = divmod(i, 8)
        top, left = 1 + row * (cell + 1), 1 + column * (cell + 1)
        images.append(pixels[top:top + cell:zoom, left:left + cell:zoom])
    low, high = value_range
    return np.stack(images) * (high - low) + low


def digit_likeness(fakes: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """(pixel-histogram distance, mean squared distance to the nearest real digit): lower is more
    digit-like."""
    histogram = float(np.mean(np.abs(np.sort(fakes.ravel()) - np.sort(real[:len(fakes)].ravel()))))
    flat_fake, flat_real = fakes.reshape(len(fakes), -1), real.reshape(len(real), -1)
    distances = ((flat_fake[:, None, :] - flat_real[None, :, :]) ** 2).mean(axis=2)
    return histogram, float(distances.min(axis=1).mean())


def digits_gan(out: Path, epochs: int | None) -> bool:
    changes = {"epochs": epochs} if epochs else {}
    _, dataset, summary, events, wall = train_example("digits_gan", out, **changes)
    from runtime.train.images import encode_png, grid

    grids = events.of("samples")
    first, last = grids[0], grids[-1]
    (out / "gan_first_epoch.png").write_bytes(first.png)
    (out / "gan_last_epoch.png").write_bytes(last.png)
    real = dataset.train.inputs.reshape(-1, 8, 8)
    (out / "gan_real_digits.png").write_bytes(encode_png(grid(real[:64], 8, (-1.0, 1.0))))
    value_range = (float(real.min()), float(real.max()))
    before = digit_likeness(grid_samples(first.png, 64, 8, value_range), real)
    after = digit_likeness(grid_samples(last.png, 64, 8, value_range), real)
    ok = after[0] < 0.5 * before[0] and after[1] < 0.5 * before[1]
    train = summary["train"]
    print(f"digits_gan: {summary['epochs']} epochs in {summary['train_seconds']:.0f} s training, "
          f"{wall:.0f} s wall; final d_loss {train['d_loss']:.3f}, g_loss {train['g_loss']:.3f}, "
          f"D(real) {train['d_real']:.2f}, D(fake) {train['d_fake']:.2f}\n"
          f"  fixed-noise samples, epoch {first.epoch} -> {last.epoch}: pixel-histogram distance to real "
          f"digits {before[0]:.3f} -> {after[0]:.3f}, mean squared distance to the nearest real digit "
          f"{before[1]:.3f} -> {after[1]:.3f} -> {'PASS' if ok else 'FAIL'} (both at least halved)\n"
          f"  look at: {out / 'gan_first_epoch.png'}, {out / 'gan_last_epoch.png'}, "
          f"real digits {out / 'gan_real_digits.png'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*",
                        default=["digits_cnn", "sine_lstm", "char_transformer", "digits_gan"])
    parser.add_argument("--out", default="/tmp/deepwire-quality")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lm-epochs", type=int, help="override the char_transformer example's epochs")
    parser.add_argument("--gan-epochs", type=int, help="override the digits_gan example's epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.only:
        if name == "char_transformer":
            results[name] = char_transformer(out, args.lm_epochs)
        elif name == "digits_gan":
            results[name] = digits_gan(out, args.gan_epochs)
        else:
            results[name] = {"digits_cnn": digits_cnn, "sine_lstm": sine_lstm}[name](out)
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

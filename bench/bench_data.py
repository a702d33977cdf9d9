"""Data at scale: streamed image folders and memory-mapped arrays against hand-written PyTorch.

Every run is a fresh child process (`--child`), so peak memory (ru_maxrss of
the training process) and time to the first step are its own. DeepWire and
the reference alternate round by round. The image folders are generated
once under /tmp (32x32 RGB PNGs, 10 classes; 40,000 take minutes on 2
cores) and reused; the 5k folder holds hard links to the first 5,000 files.

- images.rss_growth: peak RSS of one epoch on 40k images / on 5k (target < 1.15).
- images.first_step_warm: seconds from before loading to the end of the
  first step, 40k images, index in the cache (target < 2 s).
- images.first_step_cold: the same with an empty cache, as a ratio to the
  hand-written loop's time (target: within 1.2x).
- images.samples_per_s: steady samples/s over the epoch after the first
  step, 40k images, same worker count as the reference (>= 0.95x).
- digits.samples_per_s: "no regression on digits" means against the code
  before streaming, so the reference is pinned: commit PRE_STREAMING (the
  last main commit before the streaming work was merged), extracted with
  `git archive` into a temporary folder. Both run `deepwire train digits_cnn
  --epochs 10 --threads 1` alternately in this one run; samples/s from each
  summary (the batch loop alone), ratio per pair (>= 1.0x). Without git or
  without that commit the row is left out (said in details). Comparing a
  checkout against /work/main, as before, measured nothing once main held
  the same code.
- arrays.1.2M: a 1.2M x 64 float32 .npy (307 MB) and a 120k-row one, both
  run with DEEPWIRE_IN_MEMORY_BYTES=0 so that both really take the
  memory-mapped, streamed path (307 MB is under the 512 MB in-memory line,
  so without it the big file was read whole); a child that did not stream
  fails the bench. Trained for 4 s each: peak anonymous memory (RssAnon,
  sampled; file pages of the map are page cache the kernel reclaims), 1.2M
  against 120k.

The reference is a plain DataLoader loop: an os.scandir index, PIL decode
in `__getitem__`, DataLoader(batch 64, shuffle, the same num_workers), the
same small CNN and Adam; it uses fixed normalisation constants (DeepWire
computes its statistics, which it counts in its time).

    python bench/bench_data.py [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEEPWIRE_BENCH_DATA", "/tmp/deepwire-bench-data"))
BATCH = 64
WORKERS = max(1, min(4, (os.cpu_count() or 2) - 1))  # DeepWire's default, given to both explicitly


# --- data ---------------------------------------------------------------------------------------

def image_folder(count: int) -> Path:
    """/tmp/.../img<count>: `count` 32x32 PNGs in 10 classes (made once; 5k links into 40k's files)."""
    folder = DATA / f"img{count}"
    if (DATA / f"img{count}.done").is_file():
        return folder
    import numpy as np
    from PIL import Image

    if count < 40_000:
        big = image_folder(40_000)
        shutil.rmtree(folder, ignore_errors=True)
        for c in range(10):
            (folder / f"c{c}").mkdir(parents=True)
            for name in sorted(os.listdir(big / f"c{c}"))[: count // 10]:
                os.link(big / f"c{c}" / name, folder / f"c{c}" / name)
    else:
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (10, 32, 32, 3)).astype(np.int16)
        for c in range(10):
            (folder / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = np.clip(base[i % 10] + rng.integers(-40, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"c{i % 10}" / f"{i:06d}.png", compress_level=1)
    (DATA / f"img{count}.done").write_text(str(count))
    return folder


def array_file(rows: int) -> Path:
    import numpy as np

    path = DATA / f"rows{rows}.npy"
    if not path.is_file():
        DATA.mkdir(parents=True, exist_ok=True)
        x = np.lib.format.open_memmap(path.with_suffix(".tmp"), "w+", np.float32, (rows, 64))
        for start in range(0, rows, 100_000):
            part = np.random.default_rng(start).normal(size=(min(100_000, rows - start), 64))
            x[start:start + len(part)] = part
        x.flush()
        del x
        labels = (np.arange(rows) % 10).astype(np.int64)
        np.save(DATA / f"rows{rows}-labels.npy", labels)
        os.replace(path.with_suffix(".tmp"), path)
    return path


# --- child runs -----------------------------------------------------------------------------------

class AnonPeak:
    """Peak RssAnon of this process, sampled every 20 ms (anonymous memory: not the map's file pages)."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while not self._stop.wait(0.02):
            self.sample()

    def sample(self):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)

    def stop(self) -> int:
        self._stop.set()
        self.sample()
        return self.peak


def _cnn_project(seed: int = 0, **training):
    from graph.model import Block, Edge, Network, Project
    from graph.training_config import DataSpec, TrainingConfig

    blocks = [("in", "ImageInput", {"channels": 3, "height": 32, "width": 32}),
              ("conv", "Conv2d", {"channels": 8, "padding": 1}), ("act", "ReLU", {}),
              ("pool", "MaxPool2d", {}), ("flat", "Flatten", {}), ("fc", "Linear", {"features": 10}),
              ("head", "ClassificationHead", {"classes": 10})]
    return _project(blocks, seed, training, DataSpec, Block, Edge, Network, Project, TrainingConfig)


def _mlp_project(**training):
    from graph.model import Block, Edge, Network, Project
    from graph.training_config import DataSpec, TrainingConfig

    blocks = [("in", "VectorInput", {"features": 64}), ("fc1", "Linear", {"features": 64}),
              ("act", "ReLU", {}), ("fc2", "Linear", {"features": 10}),
              ("head", "ClassificationHead", {"classes": 10})]
    return _project(blocks, 0, training, DataSpec, Block, Edge, Network, Project, TrainingConfig)


def _project(blocks, seed, training, DataSpec, Block, Edge, Network, Project, TrainingConfig):  # noqa: N803
    net = Network("model")
    for block_id, type_id, params in blocks:
        net.add_block(Block(block_id, type_id, block_id, dict(params)))
    for (src, *_), (dst, *_) in zip(blocks, blocks[1:]):
        net.connect(Edge(src, dst, "x"))
    settings = {"epochs": 1, "batch_size": BATCH, "stats_every": 0, "val_fraction": 0.0,
                **training}
    return Project("bench", [net], DataSpec("digits"), TrainingConfig(settings), seed)


def _timed_trainer(limit: int, flag):
    """A Trainer whose recipe notes the time after every training step (and asks to stop after `limit`).

    Step events come every log_every steps (10), so the bench times the steps themselves: this
    wraps the recipe's train_step once set-up is done, and changes nothing else.
    """
    from runtime.train import Trainer

    class TimedTrainer(Trainer):
        times: list[float] = []

        def _train(self):
            step = self.recipe.train_step

            def timed(x, y):
                values = step(x, y)
                TimedTrainer.times.append(time.perf_counter())
                if limit and len(TimedTrainer.times) >= limit:
                    flag.set()
                return values

            self.recipe.train_step = timed
            return super()._train()

    return TimedTrainer


def child_deepwire(source: str, path: str, steps: int, max_seconds: float | None) -> dict:
    import torch

    from graph.blocks import default_registry
    from graph.training_config import DataSpec
    from runtime.train import StopFlag, TrainOptions
    from runtime.train.data import load_project_data

    torch.set_num_threads(1)
    anon = AnonPeak()
    registry = default_registry()
    if source == "image_folder":
        project = _cnn_project()
        project.data = DataSpec("image_folder", {"path": path})
    else:
        project = _mlp_project()
        project.data = DataSpec("arrays", {"path": path, "labels": path.replace(".npy", "-labels.npy")})
    start = time.perf_counter()
    dataset = load_project_data(project, registry)
    loaded = time.perf_counter()
    flag = StopFlag()
    trainer = _timed_trainer(steps, flag)
    with tempfile.TemporaryDirectory() as run_dir:
        options = TrainOptions(run_dir=Path(run_dir), stop=flag, handle_signals=False, workers=WORKERS,
                               max_seconds=max_seconds)
        trainer(project, registry, dataset, options).run()
    times = trainer.times
    return {"load_s": loaded - start, "first_step_s": times[0] - start, "steps": len(times),
            "samples_per_s": (len(times) - 1) * BATCH / (times[-1] - times[0]) if len(times) > 1 else 0.0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak_anon": anon.stop(),
            "streamed": type(dataset.train.inputs).__name__}


def child_hand(path: str, steps: int) -> dict:
    """The reference: what a PyTorch user writes for an image folder."""
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    torch.set_num_threads(1)
    start = time.perf_counter()

    class Folder(Dataset):
        def __init__(self, root):
            classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
            self.items = [(os.path.join(root, c, f.name), i) for i, c in enumerate(classes)
                          for f in sorted(os.scandir(os.path.join(root, c)), key=lambda f: f.name)]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            path, label = self.items[i]
            with Image.open(path) as image:
                x = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
            return torch.from_numpy((x - 127.5) / 64.0), label

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 16 * 16, 10))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loader = DataLoader(Folder(path), batch_size=BATCH, shuffle=True, num_workers=WORKERS,
                        persistent_workers=True, prefetch_factor=4)
    times = []
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()  # DeepWire reads losses back too (every log_every steps)
        times.append(time.perf_counter())
        if steps and len(times) >= steps:
            break
    return {"first_step_s": times[0] - start, "steps": len(times),
            "samples_per_s": (len(times) - 1) * BATCH / (times[-1] - times[0]) if len(times) > 1 else 0.0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _child(args: list[str]) -> dict:
    kind = args[0]
    if kind == "hand":
        return child_hand(args[1], int(args[2]))
    return child_deepwire(args[1], args[2], int(args[3]), float(args[4]) or None)


def run_child(*args, home: str | None = None, env_extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    if home:
        env["DEEPWIRE_HOME"] = home
    done = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


PRE_STREAMING = "6fcd13d6ddc206831625b0629f8026a56ff17271"  # main just before 'Merge branch w15stream'
DIGITS_EPOCHS = 10  # 3 epochs (~1.5 s of batches) swung +-10 % between runs of the same code


def pre_streaming_tree(into: Path) -> Path | None:
    """The code of PRE_STREAMING extracted into `into` (None when git or the commit is not there)."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", PRE_STREAMING], capture_output=True,
                                 timeout=120)
        if archive.returncode != 0:
            return None
        into.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return into


def digits_run(code: Path) -> float:
    """samples/s of `deepwire train digits_cnn` (DIGITS_EPOCHS) with the code in `code`, from its summary."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as out:
        env["DEEPWIRE_HOME"] = out
        done = subprocess.run([sys.executable, "-m", "runtime.cli", "train", "digits_cnn",
                               "--epochs", str(DIGITS_EPOCHS), "--quiet", "--threads", "1",
                               "--out", f"{out}/run", "--seed", "0"],
                              cwd=code, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"digits_cnn with {code}: {done.stderr[-2000:]}")
        summary = json.loads(Path(out, "run", "summary.json").read_text())
    return float(summary["samples_per_second"])


# --- the rows --------------------------------------------------------------------------------------

def measure(quick: bool = False) -> dict:
    from bench.figures import budget_row, speed_row, stats

    rounds = 1 if quick else 3
    small, big = image_folder(5_000), image_folder(40_000)
    homes = Path(tempfile.mkdtemp(prefix="deepwire-bench-home-"))
    warm_home = str(homes / "warm")
    run_child("deepwire", "image_folder", big, 1, 0, home=warm_home)  # builds the index once; warms the files
    runs: dict[str, list[dict]] = {k: [] for k in ("dw5k", "dw40k", "warm", "hand5k", "hand40k")}
    for r in range(rounds):
        cold = str(homes / f"cold{r}")
        runs["hand40k"].append(run_child("hand", big, 0))
        runs["dw40k"].append(run_child("deepwire", "image_folder", big, 0, 0, home=cold))  # cold index
        runs["dw5k"].append(run_child("deepwire", "image_folder", small, 0, 0, home=cold))
        runs["hand5k"].append(run_child("hand", small, 0))
        runs["warm"].append(run_child("deepwire", "image_folder", big, 3, 0, home=warm_home))
    growth = [b["peak_rss"] / a["peak_rss"] for a, b in zip(runs["dw5k"], runs["dw40k"])]
    hand_growth = [b["peak_rss"] / a["peak_rss"] for a, b in zip(runs["hand5k"], runs["hand40k"])]
    rows = []
    row = budget_row("data.images.rss_growth", "peak RSS of one epoch (main process), 40k / 5k 32x32 PNGs",
                     "x", growth, 1.15, hand_growth, "hand-written DataLoader's growth")
    rows.append(row)
    rows.append(budget_row("data.images.first_step_warm", "seconds to the first step, 40k images, index "
                           "cached (load, statistics, set-up, workers, first batch)", "s",
                           [r["first_step_s"] for r in runs["warm"]], 2.0))
    cold = speed_row("data.images.first_step_cold", "time to the first step, 40k images, empty cache (index "
                     "built) vs the hand-written loop", "s", [r["first_step_s"] for r in runs["dw40k"]],
                     [r["first_step_s"] for r in runs["hand40k"]], "hand-written DataLoader", 1 / 1.2,
                     higher_is_faster=False)
    cold["target"]["text"] = "within 1.2x of its time"
    rows.append(cold)
    rows.append(speed_row("data.images.samples_per_s", f"steady samples/s over one epoch of 40k images, "
                          f"{WORKERS} worker(s) each", "samples/s",
                          [r["samples_per_s"] for r in runs["dw40k"]],
                          [r["samples_per_s"] for r in runs["hand40k"]], "hand-written DataLoader", 0.95,
                          higher_is_faster=True))
    digits = {"ours": [], "pre_streaming": []}
    pre = pre_streaming_tree(homes / "pre-streaming")
    if pre is not None:
        for r in range(rounds + 1):
            pair = [("pre_streaming", pre), ("ours", ROOT)]
            for key, code in pair if r % 2 == 0 else pair[::-1]:
                digits[key].append(digits_run(code))
        rows.append(speed_row("data.digits.samples_per_s", f"digits_cnn (in memory), {DIGITS_EPOCHS} epochs: "
                              f"this checkout vs commit {PRE_STREAMING[:10]} (the path before streaming)",
                              "samples/s", digits["ours"], digits["pre_streaming"],
                              f"pre-streaming {PRE_STREAMING[:7]}", 1.0, higher_is_faster=True))
    else:
        digits["left_out"] = f"git archive {PRE_STREAMING[:10]} failed: no git or no such commit here"
    million, tenth = array_file(1_200_000), array_file(120_000)
    arrays = {"1.2M": [], "120k": []}
    for _ in range(rounds):
        for key, path in (("120k", tenth), ("1.2M", million)):
            run = run_child("deepwire", "arrays", path, 0, 4.0, env_extra={"DEEPWIRE_IN_MEMORY_BYTES": "0"})
            if run["streamed"] == "ndarray":
                raise RuntimeError(f"arrays {key}: read into memory, not streamed; the row would be invalid")
            arrays[key].append(run)
    anon = [b["peak_anon"] / a["peak_anon"] for a, b in zip(arrays["120k"], arrays["1.2M"])]
    row = budget_row("data.arrays.1.2M_anon_growth", "peak anonymous memory training 4 s on a memory-mapped, "
                     "streamed 1.2M x 64 float32 .npy (307 MB) / on a 120k-row one "
                     "(DEEPWIRE_IN_MEMORY_BYTES=0)", "x", anon, 1.15)
    rows.append(row)
    rows.append(budget_row("data.arrays.1.2M_first_step", "seconds to the first step on the 1.2M-row map "
                           "(NaN check in chunks, statistics of a 20k sample)", "s",
                           [r["first_step_s"] for r in arrays["1.2M"]], None))
    shutil.rmtree(homes, ignore_errors=True)
    return {"rows": rows, "details": {"runs": runs, "digits": digits, "arrays": arrays, "workers": WORKERS,
                                      "rounds": rounds, "data": str(DATA),
                                      "rss_mb": {k: stats([r["peak_rss"] / 2**20 for r in v])
                                                 for k, v in runs.items()}}}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2:])))
        return 0
    from bench.figures import format_table

    result = measure(quick="--quick" in sys.argv)
    print(format_table(result["rows"]))
    print(json.dumps(result["details"], indent=1, default=str))
    return 0 if all(row["passed"] is not False for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())

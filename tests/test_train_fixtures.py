"""Shared set-up for the training tests: tiny data sets and small projects built in code.

No tests here. Data comes from scikit-learn's bundled digits (offline) or
is generated, and is kept tiny so each recipe trains end to end in about
a second. Torch runs on one thread in these tests: on a shared 2-core
machine two threads fighting other processes are many times slower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graph.blocks import default_registry
from graph.model import Block, Edge, Network, Project
from graph.training_config import DataSpec, TrainingConfig
from runtime.data.base import Dataset, Split
from runtime.train import Collector, Trainer, TrainOptions

REGISTRY = default_registry()


@pytest.fixture
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- data ---------------------------------------------------------------------------------------

def _digits(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))[:limit]
    return x[order], y[order]


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def digits_vectors(train: int = 400, val: int = 200, test: int = 0) -> Dataset:
    x, y = _digits(train + val + test)
    xs = _standardise(x[:train], x[train:train + val], x[train + val:])
    return Dataset("digits", Split(xs[0], y[:train]), Split(xs[1], y[train:train + val]),
                   Split(xs[2], y[train + val:]) if test else None, (64,), "vector", "class", 10,
                   class_names=[str(i) for i in range(10)])


def digits_images(train: int = 400, val: int = 200) -> Dataset:
    ds = digits_vectors(train, val)
    for split in (ds.train, ds.val):
        split.inputs = split.inputs.reshape(-1, 1, 8, 8)
    ds.input_shape, ds.input_kind = (1, 8, 8), "image"
    return ds


def digits_binary(train: int = 200, val: int = 100) -> Dataset:
    """0 or 1 digits only, as a yes/no problem."""
    x, y = _digits()
    keep = y < 2
    x, y = x[keep][:train + val], y[keep][:train + val]
    xs = _standardise(x[:train], x[train:])
    return Dataset("digits01", Split(xs[0], y[:train]), Split(xs[1], y[train:]), None, (64,), "vector",
                   "class", 2)


def digits_pixels(train: int = 300, val: int = 100, low: float = 0.0) -> Dataset:
    """Unlabelled 8x8 digit images scaled to [low, 1] (autoencoders: 0, GANs: -1)."""
    x, _ = _digits(train + val)
    x = (low + x * (1.0 - low)).reshape(-1, 1, 8, 8).astype(np.float32)
    return Dataset("digits", Split(x[:train], None), Split(x[train:], None), None, (1, 8, 8), "image", "none")


def sine_sequences(train: int = 300, val: int = 100, length: int = 16) -> Dataset:
    """Windows of noisy sine waves (T, 1); the target is the value after the window."""
    rng = np.random.default_rng(1)
    n = train + val
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    freq = rng.uniform(0.2, 0.4, (n, 1))
    t = np.arange(length + 1)[None, :]
    waves = np.sin(phase + freq * t).astype(np.float32)
    x, y = waves[:, :length, None], waves[:, length:]
    return Dataset("sine", Split(x[:train], y[:train]), Split(x[train:], y[train:]), None, (length, 1),
                   "sequence", "value")


TEXT = ("the quick brown fox jumps over the lazy dog. " * 40
        + "a stitch in time saves nine; look before you leap. " * 30)


def char_tokens(length: int = 12, text: str = TEXT) -> Dataset:
    vocab = sorted(set(text))
    ids = np.array([vocab.index(c) for c in text], dtype=np.int64)
    starts = np.arange(0, len(ids) - length - 1, 3)
    x = np.stack([ids[s:s + length] for s in starts])
    y = np.stack([ids[s + 1:s + length + 1] for s in starts])
    cut = int(len(x) * 0.8)
    return Dataset("text", Split(x[:cut], y[:cut]), Split(x[cut:], y[cut:]), None, (length,), "tokens",
                   "tokens", len(vocab), vocab=vocab)


# --- projects -----------------------------------------------------------------------------------

def chain(name: str, blocks: list[tuple[str, str, dict]]) -> Network:
    """A straight network: each block (id, type, params) feeds the next one's input 'x'."""
    net = Network(name)
    for block_id, type_id, params in blocks:
        net.add_block(Block(block_id, type_id, block_id, dict(params)))
    for (src, *_), (dst, *_) in zip(blocks, blocks[1:]):
        net.connect(Edge(src, dst, "x"))
    return net


def project(networks: list[Network] | Network, seed: int = 0, **training) -> Project:
    networks = networks if isinstance(networks, list) else [networks]
    settings = {"epochs": 2, "batch_size": 32, "log_every": 5, "stats_every": 0, **training}
    return Project("test project", networks, DataSpec("digits"), TrainingConfig(settings), seed)


def mlp(features: int = 64, hidden: int = 32, classes: int = 10) -> Network:
    return chain("model", [("in", "VectorInput", {"features": features}),
                           ("fc1", "Linear", {"features": hidden}), ("act", "ReLU", {}),
                           ("fc2", "Linear", {"features": classes}),
                           ("head", "ClassificationHead", {"classes": classes})])


def small_cnn() -> Network:
    return chain("model", [("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
                           ("conv", "Conv2d", {"channels": 8, "padding": 1}), ("bn", "BatchNorm2d", {}),
                           ("act", "ReLU", {}), ("pool", "MaxPool2d", {}), ("flat", "Flatten", {}),
                           ("fc", "Linear", {"features": 10}),
                           ("head", "ClassificationHead", {"classes": 10})])


def run_training(proj: Project, dataset: Dataset, run_dir: Path, **options) -> tuple[dict, Collector]:
    """Train and return (summary, every event)."""
    events = Collector()
    summary = Trainer(proj, REGISTRY, dataset, TrainOptions(run_dir=run_dir, handle_signals=False, **options),
                      [events]).run()
    return summary, events


def comparable(records: list[dict]) -> list[dict]:
    """metrics.jsonl records without the timing fields that differ between any two runs."""
    timing = {"samples_per_second", "seconds", "eta_seconds"}
    return [{k: v for k, v in r.items() if k not in timing} for r in records]

"""Streamed data: the same batches and numbers as the in-memory path, resume, sharding, bad files.

A source streams its inputs (a memory-mapped array, an image store) when they
are large; DEEPWIRE_IN_MEMORY_BYTES=0 makes any data set stream, so small
data can be compared with its in-memory run. Fast tests use the training
process itself (no DataLoader workers); the slow ones start workers, train
from a streamed image folder and run two gloo processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError, load_dataset
from runtime.data.base import Split
from runtime.data.image_index import IndexCancelledError, index_folder
from runtime.data.normalize import ChunkedStats, ScaledStore, choose_scaling, standardise_stats
from runtime.data.store import SampleStore, in_memory
from runtime.train import distributed as dist
from runtime.train.device import DeviceSplit
from runtime.train.loader import StreamSplit
from runtime.train.runs import read_metrics
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    REGISTRY,
    comparable,
    mlp,
    project,
    run_training,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def streamed(monkeypatch):
    """Every source streams, however small its data."""
    monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")


@pytest.fixture
def digits_npy(tmp_path):
    """600 generated 8x8 'digits' (a pattern per class plus noise, pixels 0..16) as two .npy files."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 600)
    patterns = rng.uniform(0, 16, (10, 1, 8, 8))
    images = np.clip(patterns[labels] + rng.normal(0, 3, (600, 1, 8, 8)), 0, 16).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels.astype(np.int64))
    return DataSpec("arrays", {"path": str(tmp_path / "x.npy"), "labels": str(tmp_path / "y.npy")})


def _load(spec, shape=(1, 8, 8), kind="image", **settings):
    config = TrainingConfig({"val_fraction": 0.2, **settings})
    return load_dataset(spec, config, 0, shape, kind, num_classes=10)


def _png(path: Path, value: int, size=(8, 8), mode="L") -> None:
    from PIL import Image

    Image.new(mode, size, value).save(path)


def _folder(root: Path, per_class: int = 4, classes=("cats", "dogs")) -> Path:
    for class_id, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _png(root / name / f"{i:03d}.png", 40 * class_id + 7 * i)
    return root


# --- splitting and scaling ------------------------------------------------------------------------

def test_streamed_load_keeps_a_memory_map_and_scales_per_batch(digits_npy, streamed):
    stream = _load(digits_npy)
    assert isinstance(stream.train.inputs, ScaledStore) and not in_memory(stream.train.inputs)
    os.environ.pop("DEEPWIRE_IN_MEMORY_BYTES")
    memory = _load(digits_npy)
    assert in_memory(memory.train.inputs)
    np.testing.assert_array_equal(stream.mean, memory.mean)  # all rows in one chunk: the same arithmetic
    np.testing.assert_array_equal(stream.std, memory.std)
    for name in ("train", "val"):
        a, b = getattr(stream, name), getattr(memory, name)
        np.testing.assert_array_equal(a.inputs[np.arange(len(a))], b.inputs)  # bit for bit
        np.testing.assert_array_equal(a.targets, b.targets)


def test_chunked_statistics_match_the_whole_array():
    rng = np.random.default_rng(3)
    scale = np.array([1.0, 10.0, 0.1])[None, :, None, None]
    x = (rng.normal(5.0, 3.0, (1000, 3, 4, 4)) * scale).astype(np.float32)
    stats = ChunkedStats("image")
    for start in range(0, len(x), 77):  # uneven chunks
        stats.add(x[start:start + 77])
    mean, std = standardise_stats(x, "image")
    np.testing.assert_allclose(stats.mean.reshape(-1, 1, 1), mean, rtol=1e-6)
    np.testing.assert_allclose(stats.std().reshape(-1, 1, 1), std, rtol=1e-5)
    np.testing.assert_array_equal(stats.low, x.min(axis=(0, 2, 3)))
    np.testing.assert_array_equal(stats.high, x.max(axis=(0, 2, 3)))


class _Rows(SampleStore):
    """An in-memory array behind the store interface (streamed, as far as the pipeline knows)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype

    def read(self, index):
        return self.array[index]


def test_gan_range_of_a_streamed_split_equals_in_memory():
    x = np.random.default_rng(0).normal(size=(300, 5)).astype(np.float32)
    assert [a.tolist() for a in choose_scaling(_Rows(x), "vector", "gan", True, None)] == \
        [a.tolist() for a in choose_scaling(x, "vector", "gan", True, None)]


# --- the trainer's batches ----------------------------------------------------------------------

def _splits(rows=100):
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    y = np.arange(rows, dtype=np.int64)
    cpu = torch.device("cpu")
    return DeviceSplit(Split(x, y), cpu), StreamSplit(Split(_Rows(x), y), cpu, 0)


@pytest.mark.parametrize("rank", [0, 1])
def test_stream_feed_gives_the_in_memory_batches_from_a_resumed_batch_and_shard(rank):
    memory, stream = _splits()
    order = torch.randperm(100, generator=torch.Generator().manual_seed(5))
    cluster = dist.Cluster(rank, 2, rank)
    shard = lambda index: dist.shard(index, cluster)  # noqa: E731
    expected = list(memory.feed(order, range(2, 7), 16, shard))  # from batch 2 on, as after a resume
    got = list(stream.feed(order, range(2, 7), 16, shard, epoch=1))
    assert len(got) == len(expected) == 5
    for batch, ((x, y), (ex, ey)) in enumerate(zip(got, expected), start=2):
        assert torch.equal(x, ex) and torch.equal(y, ey)
        assert y.tolist() == order[batch * 16:(batch + 1) * 16].tolist()[rank::2]  # this rank's shard


def test_streamed_training_gives_the_in_memory_metrics(digits_npy, tmp_path, monkeypatch):
    proj = project(mlp(), val_fraction=0.2, epochs=2, batch_size=16)
    proj.data = digits_npy
    memory = _load(digits_npy, shape=(64,), kind="vector")
    run_training(proj, memory, tmp_path / "memory")
    monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    stream = _load(digits_npy, shape=(64,), kind="vector")
    assert not in_memory(stream.train.inputs)
    run_training(proj, stream, tmp_path / "stream")
    a, b = comparable(read_metrics(tmp_path / "memory")), comparable(read_metrics(tmp_path / "stream"))
    assert len(a) > 10 and a == b  # every step loss and validation metric, exactly


# --- arrays: memory maps ------------------------------------------------------------------------

def test_npz_members_are_mapped_or_extracted_once(tmp_path, streamed):
    from runtime.data.arrays import map_npz_member

    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.savez(tmp_path / "plain.npz", x=x, y=np.zeros(20, np.int64))
    mapped = map_npz_member(tmp_path / "plain.npz", "x", "plain.npz")
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, x)
    np.savez_compressed(tmp_path / "packed.npz", x=x, y=np.zeros(20, np.int64))
    first = map_npz_member(tmp_path / "packed.npz", "x", "packed.npz")
    assert np.array_equal(first, x) and Path(first.filename).is_relative_to(os.environ["DEEPWIRE_HOME"])
    stamp = os.stat(first.filename).st_mtime_ns
    assert os.stat(map_npz_member(tmp_path / "packed.npz", "x", "packed.npz").filename).st_mtime_ns == stamp
    np.savez_compressed(tmp_path / "packed.npz", x=x + 1, y=np.zeros(20, np.int64))  # changed: extracted anew
    assert np.array_equal(map_npz_member(tmp_path / "packed.npz", "x", "packed.npz"), x + 1)
    spec = DataSpec("arrays", {"path": str(tmp_path / "plain.npz")})
    ds = load_dataset(spec, TrainingConfig({"val_fraction": 0.0}), 0, (3,), "vector")
    assert not in_memory(ds.train.inputs) and len(ds.train) == 20


def test_streamed_npy_with_nan_is_refused_by_a_chunked_check(tmp_path, streamed, monkeypatch):
    from runtime.data import arrays

    monkeypatch.setattr(arrays, "CHECK_CHUNK_BYTES", 64)  # many chunks
    x = np.ones((50, 4), np.float32)
    x[37, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.zeros(50, np.int64))
    spec = DataSpec("arrays", {"path": str(tmp_path / "x.npy"), "labels": str(tmp_path / "y.npy")})
    with pytest.raises(DataError, match="input sample 37 holds NaN"):
        load_dataset(spec, TrainingConfig(), 0, (4,), "vector")


# --- image folders: index, cache, progress ------------------------------------------------------

def test_index_is_cached_and_rebuilt_when_a_class_folder_changes(tmp_path):
    root = _folder(tmp_path / "pets")
    first = index_folder(root)
    assert not first.cached and first.names.tolist()[:2] == ["cats/000.png", "cats/001.png"]
    again = index_folder(root)
    assert again.cached and again.names.tolist() == first.names.tolist()
    assert again.labels.tolist() == [0] * 4 + [1] * 4 and again.fingerprint == first.fingerprint != []
    _png(root / "dogs" / "new.png", 9)
    rebuilt = index_folder(root)
    assert not rebuilt.cached and "dogs/new.png" in rebuilt.names.tolist()
    assert not any(root.rglob("*.npz")) and not any(root.rglob("*.json"))  # nothing beside the data


def _counting_decodes(monkeypatch) -> list[str]:
    """Every image decoded from now on, by path (the store calls images.decode_image)."""
    import runtime.data.images as images

    decoded: list[str] = []
    real = images.decode_image

    def counted(path, *args):
        decoded.append(path)
        return real(path, *args)

    monkeypatch.setattr(images, "decode_image", counted)
    return decoded


def test_statistics_are_cached_with_the_index_and_recomputed_when_anything_changes(tmp_path, monkeypatch,
                                                                                    streamed):
    root = _folder(tmp_path / "pets", per_class=6)
    decoded = _counting_decodes(monkeypatch)
    settings = {"normalize": True}
    first = _image_data(root, **settings)
    assert isinstance(first.train.inputs, ScaledStore) and len(decoded) == 12  # every training image
    # the same mean and std as the whole folder decoded in memory
    whole = np.stack([np.asarray(__import__("PIL.Image").Image.open(root / n), np.float32)
                      for n in sorted(str(q.relative_to(root)) for q in root.rglob("*.png"))])
    assert np.isclose(float(first.mean.ravel()[0]), whole.mean(), rtol=1e-5)
    assert np.isclose(float(first.std.ravel()[0]), whole.std(), rtol=1e-5)

    decoded.clear()
    again = _image_data(root, **settings)
    assert decoded == []  # warm: statistics from the cache, nothing decoded before the first batch
    assert np.array_equal(again.mean, first.mean) and np.array_equal(again.std, first.std)

    held_out = _image_data(root, val_fraction=0.25, **settings)  # another training split: computed anew
    assert len(decoded) == len(held_out.train) == 8  # 2 of each class's 6 held out
    decoded.clear()
    _image_data(root, val_fraction=0.25, **settings)
    assert decoded == []
    load_dataset(DataSpec("image_folder", {"path": str(root)}),  # another seed: another split
                 TrainingConfig({"val_fraction": 0.25, **settings}), 1, (1, 8, 8), "image")
    assert len(decoded) == 8
    decoded.clear()
    _image_data(root, shape=(1, 4, 4), **settings)  # decoded at another size: computed anew
    assert len(decoded) == 12

    decoded.clear()
    _png(root / "dogs" / "late.png", 250)  # the folder changed: index and statistics are rebuilt
    changed = _image_data(root, **settings)
    assert len(decoded) == 13 and float(changed.mean.ravel()[0]) > float(first.mean.ravel()[0])

    decoded.clear()
    folder_time = os.stat(root / "cats").st_mtime_ns
    _png(root / "cats" / "000.png", 255)  # rewritten in place: the folder's mtime stays, the file's not
    os.utime(root / "cats", ns=(folder_time, folder_time))
    os.utime(root / "cats" / "000.png", ns=(folder_time + 10**9, folder_time + 10**9))
    rewritten = _image_data(root, **settings)
    assert len(decoded) == 13  # the index is still valid, the statistics of its files are not
    assert float(rewritten.mean.ravel()[0]) > float(changed.mean.ravel()[0])


def test_statistics_of_a_memory_map_are_cached_by_its_file(digits_npy, streamed, monkeypatch, tmp_path):
    import runtime.data.normalize as normalize

    calls = []
    real = normalize.read_checked
    monkeypatch.setattr(normalize, "read_checked", lambda *a: calls.append(1) or real(*a))
    first = _load(digits_npy)
    assert calls and not isinstance(first.mean, type(None))
    calls.clear()
    again = _load(digits_npy)
    assert calls == [] and np.array_equal(again.mean, first.mean) and np.array_equal(again.std, first.std)
    x = np.load(tmp_path / "x.npy")
    np.save(tmp_path / "x.npy", x * 2)  # rewritten: size equal, mtime not, statistics computed again
    os.utime(tmp_path / "x.npy", ns=(1, 1))
    doubled = _load(digits_npy)
    assert calls and np.allclose(doubled.mean, 2 * first.mean, rtol=1e-4)


def test_a_read_only_cache_still_trains_and_computes_statistics(tmp_path, monkeypatch, streamed):
    from runtime.data import cache

    root = _folder(tmp_path / "pets", per_class=3)
    monkeypatch.setattr(cache.CacheEntry, "prepare", lambda self: (_ for _ in ()).throw(OSError("read-only")))
    decoded = _counting_decodes(monkeypatch)
    first = _image_data(root, normalize=True)
    second = _image_data(root, normalize=True)
    assert len(decoded) == 12 and np.array_equal(first.mean, second.mean)  # nothing cached, nothing broke


def test_index_progress_is_reported_and_can_cancel(tmp_path, monkeypatch):
    from runtime.data import image_index

    monkeypatch.setattr(image_index, "PROGRESS_EVERY", 3)
    root = _folder(tmp_path / "pets")
    calls = []
    index_folder(root, lambda what, done, total: calls.append((what, done, total)))
    assert calls[0] == ("indexing pets", 3, None) and calls[-1] == ("indexing pets", 8, 8)
    other = _folder(tmp_path / "more")

    def cancel(what, done, total):
        raise IndexCancelledError()

    with pytest.raises(IndexCancelledError):
        index_folder(other, cancel)
    assert not index_folder(other).cached  # a cancelled index was never sealed


def test_index_of_a_folder_changing_while_read_is_not_kept(tmp_path, monkeypatch):
    from runtime.data import image_index

    monkeypatch.setattr(image_index, "PROGRESS_EVERY", 1)
    root = _folder(tmp_path / "pets")
    added = []

    def add_a_file(what, done, total):
        if not added:
            added.append(_png(root / "cats" / "late.png", 3))

    index_folder(root, add_a_file)
    assert not index_folder(root).cached  # rebuilt, and this time it sees late.png
    assert "cats/late.png" in index_folder(root).names.tolist()


def test_cli_progress_line(capsys):
    import io

    from runtime.train.data import IndexProgress

    stream = io.StringIO()
    progress = IndexProgress(stream)
    progress("indexing pets", 2048, None)
    progress("indexing pets", 3000, 3000)
    assert stream.getvalue() == "\rindexing pets: 2,048 files\rindexing pets: 3,000 files (done)\n"


# --- image folders: bad input -----------------------------------------------------------------

def _image_data(root, shape=(1, 8, 8), **settings):
    return load_dataset(DataSpec("image_folder", {"path": str(root)}),
                        TrainingConfig({"val_fraction": 0.0, **settings}), 0, shape, "image")


@pytest.mark.parametrize("mode", ["memory", "streamed"])
def test_bad_files_are_skipped_counted_and_named(tmp_path, monkeypatch, mode):
    if mode == "streamed":
        monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    root = _folder(tmp_path / "pets")
    (root / "dogs" / "empty.png").write_bytes(b"")
    (root / "dogs" / "notes.txt").write_text("not a picture")
    (root / "dogs" / "loop.png").symlink_to("loop.png")
    (root / "dogs" / "gone.png").symlink_to("nowhere.png")
    (root / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all")
    data = _image_data(root)
    message = " ".join(data.extra["warnings"])
    # found by the index (the listing and the links, no stat per file)
    assert "skipped 3 file(s) that are not usable images" in message
    for name, why in (("notes.txt", "not an image file"), ("loop.png", "a loop of symbolic links"),
                      ("gone.png", "a link to a file that does not exist")):
        assert f"{name} ({why}" in message
    if mode == "memory":  # decoded now: the empty and the broken file are left out at once
        assert "skipped 2 file(s) that could not be read as images" in message
        assert "empty.png (empty, 0 bytes)" in message and "broken.jpg" in message and len(data.train) == 8
        return
    assert "empty.png" not in message
    assert len(data.train) == 10  # decoded per batch: found when read, dropped from its batch
    split = StreamSplit(data.train, torch.device("cpu"), 0)
    order = torch.arange(10)
    batches = list(split.feed(order, range(1), 10, lambda i: i))
    assert len(batches[0][0]) == 8 and len(batches[0][1]) == 8
    assert split.skipped_count == 2
    assert sorted(Path(s.split(" (")[0]).name for s in split.skipped) == ["broken.jpg", "empty.png"]
    assert any(s.endswith("empty.png (empty, 0 bytes)") for s in split.skipped), split.skipped


def test_decompression_bomb_is_refused_not_decoded(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 40x40 image counts as a bomb here
    root = _folder(tmp_path / "pets")
    _png(root / "cats" / "bomb.png", 1, size=(40, 40))
    data = _image_data(root)
    assert "bomb.png (a decompression bomb" in " ".join(data.extra["warnings"]) and len(data.train) == 8


def test_folder_layouts_that_cannot_work_say_why(tmp_path):
    root = _folder(tmp_path / "a")
    (root / "loop").symlink_to("loop")
    with pytest.raises(DataError, match="loop: a symbolic link that leads back to itself"):
        _image_data(root)
    root = _folder(tmp_path / "b")
    (root / "all").symlink_to(root)
    with pytest.raises(DataError, match="a link back to the data folder itself"):
        _image_data(root)
    root = _folder(tmp_path / "c")
    (root / "birds").mkdir()
    (root / "birds" / "notes.txt").write_text("no picture")
    with pytest.raises(DataError, match=r"'birds' holds no images .*1 file\(s\) skipped: .*notes.txt"):
        _image_data(root)
    (root / "birds" / "empty.png").write_bytes(b"")  # indexed (no stat per file), found empty when decoded
    with pytest.raises(DataError, match=r"class 'birds' could be read \(.*empty.png \(empty, 0 bytes\)"):
        _image_data(root)


def test_run_warns_about_files_skipped_while_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    root = _folder(tmp_path / "pets", per_class=20)
    (root / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    net = small_cnn()
    net.blocks["head"].params["classes"] = 2
    net.blocks["fc"].params["features"] = 2
    proj = project(net, epochs=1, batch_size=8, val_fraction=0.0)
    _summary, events = run_training(proj, _image_data(root), tmp_path / "run")
    warnings = [e.message for e in events.events if e.kind == "warning"]
    assert any("skipped 1 file(s)" in w and "broken.png" in w for w in warnings), warnings


# --- slow: workers, resume, a real folder, two processes -----------------------------------------

@pytest.mark.slow
def test_image_folder_streamed_with_workers_trains_like_in_memory(tmp_path, monkeypatch):
    root = _folder(tmp_path / "pets", per_class=100, classes=tuple(f"c{i}" for i in range(10)))  # 800 rows
    # to train: statistics from every one of them (a sample above STATS_DECODED_ROWS), as in memory
    proj = project(small_cnn(), epochs=2, batch_size=32, val_fraction=0.2)
    run_training(proj, _image_data(root, val_fraction=0.2), tmp_path / "memory")
    monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    stream = _image_data(root, val_fraction=0.2)
    assert not in_memory(stream.train.inputs)
    run_training(proj, stream, tmp_path / "stream", workers=2)
    a, b = comparable(read_metrics(tmp_path / "memory")), comparable(read_metrics(tmp_path / "stream"))
    assert len(a) > 10 and a == b


@pytest.mark.slow
def test_resume_mid_epoch_on_streamed_data_continues_the_same_order(digits_npy, tmp_path, streamed):
    from runtime.train import Collector, StopFlag, Trainer, TrainOptions
    from tests.test_train_resume import StopAt

    proj = project(mlp(), epochs=2, batch_size=32, val_fraction=0.2)
    data = _load(digits_npy, shape=(64,), kind="vector")
    run_training(proj, data, tmp_path / "whole", workers=2)
    flag = StopFlag()
    stopped = Trainer(proj, REGISTRY, data, TrainOptions(run_dir=tmp_path / "broken", stop=flag,
                                                         handle_signals=False, workers=2),
                      [StopAt(flag, step=17), Collector()]).run()
    assert stopped["reason"] == "stopped" and stopped["steps"] < 40  # in the middle of epoch 1
    Trainer(proj, REGISTRY, data, TrainOptions(run_dir=tmp_path / "broken", resume=True,
                                               handle_signals=False, workers=2)).run()
    whole = comparable(read_metrics(tmp_path / "whole"))
    broken = comparable(read_metrics(tmp_path / "broken"))
    assert [r for r in whole if r["type"] != "step"] == [r for r in broken if r["type"] != "step"]
    losses = [[r["loss"] for r in records if r["type"] == "step"] for records in (whole, broken)]
    assert len(losses[0]) > 5 and losses[0] == losses[1]


class CountingRows(SampleStore):
    """Rows of an array; every row asked for is appended to a file (one line per read)."""

    def __init__(self, array, log: str):
        self.array, self.log, self.shape, self.dtype = array, log, array.shape, array.dtype

    def read(self, index):
        with open(self.log, "a") as out:
            out.write(json.dumps([int(i) for i in index]) + "\n")
        return self.array[index]


def _sharded_worker(rank: int, world: int, folder: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from runtime.data.base import Dataset
    from runtime.train import Trainer, TrainOptions

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 64)).astype(np.float32)
    y = rng.integers(0, 10, 200).astype(np.int64)
    log = f"{folder}/reads-{rank}.jsonl"
    data = Dataset("counted", Split(CountingRows(x, log), y), None, None, (64,), "vector", "class", 10)
    proj = project(mlp(), epochs=1, batch_size=16, val_fraction=0.0)
    Trainer(proj, REGISTRY, data, TrainOptions(run_dir=Path(folder) / "run", handle_signals=False,
                                               cluster=dist.Cluster(rank, world, rank), workers=0)).run()


@pytest.mark.slow
def test_two_gloo_processes_each_read_only_their_shard(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_sharded_worker, args=(2, str(tmp_path), port), nprocs=2, join=True)
    order = torch.randperm(200, generator=torch.Generator().manual_seed(0))
    steps = dist.steps_per_epoch(200, 32, 2)
    read = {}
    for rank in (0, 1):
        lines = [json.loads(line) for line in (tmp_path / f"reads-{rank}.jsonl").read_text().splitlines()]
        lines = [line for line in lines if line != [0, 1, 2, 3]]  # the memory estimate's trial rows
        read[rank] = [row for line in lines for row in line]
        expected = [row for b in range(steps) for row in order[b * 32:(b + 1) * 32][rank::2].tolist()]
        assert read[rank] == expected  # exactly its shard of every batch, in order
    assert not set(read[0]) & set(read[1]) and len(read[0]) == len(read[1]) == 100


def test_cli_prints_the_skipped_files_even_when_quiet(tmp_path, capsys):
    from graph.project_io import save_project
    from runtime.cli import main

    root = _folder(tmp_path / "pets", per_class=10)
    (root / "cats" / "empty.png").write_bytes(b"")
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    net = small_cnn()
    net.blocks["head"].params["classes"] = 2
    net.blocks["fc"].params["features"] = 2
    proj = project(net, epochs=1, batch_size=8, val_fraction=0.0)
    proj.data = DataSpec("image_folder", {"path": str(root)})
    path = tmp_path / "pets.dw.json"
    save_project(proj, path)
    assert main(["train", str(path), "--quiet", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 file(s) that could not be read as images" in err, err
    assert "empty.png (empty, 0 bytes)" in err and "broken.png" in err, err


# --- memory: nothing per row beyond the order itself ------------------------------------------------

class _Zeros(SampleStore):
    """2M rows of zeros, made when asked for (a stand-in for a big streamed split)."""

    def __init__(self, rows: int = 2_000_000):
        self.shape = (rows, 4)

    def read(self, index):
        return np.zeros((len(index), 4), np.float32)


def test_slices_and_batch_plans_of_a_big_split_allocate_nothing_per_row():
    import tracemalloc

    from runtime.train.loader import LazyRows, _BatchPlan

    store = _Zeros()
    order = torch.randperm(len(store), generator=torch.Generator().manual_seed(0))
    tracemalloc.start()
    try:
        assert store[:4].shape == (4, 4) and store[10:20:5].shape == (2, 4)
        assert LazyRows(store)[:4].shape == (4, 4)
        plan = _BatchPlan(order, range(31_250), 64, lambda part: part)
        first = list(zip(range(3), plan))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # an arange of 2M rows (16 MB) sliced, or a list of 31,250 batch arrays (~19 MB), would show here
    assert peak < 256 * 1024, peak
    assert len(plan) == 31_250
    for b, batch in first:
        assert batch.dtype == np.int64 and batch.tolist() == order[b * 64:(b + 1) * 64].tolist()


def test_statistics_read_in_threads_equal_one_read_even_with_a_broken_file(tmp_path, monkeypatch, streamed):
    import runtime.data.normalize as normalize

    root = _folder(tmp_path / "pets", per_class=9)
    (root / "dogs" / "004.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")  # dropped from the statistics
    data = _image_data(root, normalize=False)
    monkeypatch.setattr(normalize, "_save_stats", lambda *a: None)  # computed each time, not cached
    threads = []
    real = normalize.read_checked
    monkeypatch.setattr(normalize, "read_checked",
                        lambda *a: threads.append(__import__("threading").current_thread().name) or real(*a))
    together = normalize.streamed_stats(data.train.inputs, "image")
    assert len(threads) == 4 and all(name.startswith("stats-read") for name in threads)
    monkeypatch.setattr(normalize, "STATS_READ_THREADS", 1)
    alone = normalize.streamed_stats(data.train.inputs, "image")
    assert together.count == alone.count == 17 * 64  # 17 readable 8x8 images
    for name in ("mean", "m2", "low", "high"):
        assert np.array_equal(getattr(together, name), getattr(alone, name)), name

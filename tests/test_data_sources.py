"""Data sources load with the declared shapes, dtypes, classes and reproducible splits."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.training_config import DataSpec, TrainingConfig
from runtime.data import (
    ASCII_VOCAB,
    ASCII_VOCAB_SIZE,
    SOURCES,
    DataError,
    load_dataset,
    load_npz_dataset,
    probe,
    source_info,
    write_npz,
)
from runtime.data.split import split_indices

CONFIG = TrainingConfig({"val_fraction": 0.2, "test_fraction": 0.1})

# name -> (sample shape, total samples, classes)
BUNDLED = {
    "digits": ((1, 8, 8), 1797, 10),
    "iris": ((4,), 150, 3),
    "wine": ((13,), 178, 3),
    "breast_cancer": ((30,), 569, 2),
}


def _total(dataset) -> int:
    return sum(len(part) for part in (dataset.train, dataset.val, dataset.test) if part is not None)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_source_shapes_dtypes_and_classes(name):
    shape, total, classes = BUNDLED[name]
    dataset = load_dataset(DataSpec(name), CONFIG, seed=0)
    assert dataset.input_shape == shape
    assert dataset.num_classes == classes and len(dataset.class_names) == classes
    assert dataset.target_kind == "class"
    assert _total(dataset) == total
    assert len(dataset.val) == pytest.approx(0.2 * total, abs=classes)
    assert len(dataset.test) == pytest.approx(0.1 * total, abs=classes)
    for part in (dataset.train, dataset.val, dataset.test):
        assert part.inputs.dtype == np.float32 and part.inputs.shape[1:] == shape
        assert part.targets.dtype == np.int64 and part.targets.shape == (len(part),)
        assert set(np.unique(part.targets)) == set(range(classes))  # stratified: every class everywhere


@pytest.mark.parametrize("name", BUNDLED)
def test_probe_agrees_with_load(name):
    dataset = load_dataset(DataSpec(name), CONFIG, seed=0)
    assert probe(DataSpec(name), recipe="classification") == (
        dataset.input_shape, dataset.input_kind, dataset.target_kind, dataset.num_classes)


@pytest.mark.parametrize("name, shape, recipe", [
    ("sine", (20, 1), "regression"),
    ("sine_classes", (12, 1), "classification"),
    ("pydoc_text", (16,), "language_model"),
])
def test_probe_agrees_with_load_for_generated_and_text(name, shape, recipe):
    spec = DataSpec(name, {"samples": 60} if name.startswith("sine") else {"max_chars": 5000})
    dataset = load_dataset(spec, CONFIG.replace(recipe=recipe), seed=0, input_shape=shape)
    assert probe(spec, shape, recipe=recipe) == (
        dataset.input_shape, dataset.input_kind, dataset.target_kind, dataset.num_classes)
    assert dataset.train.inputs.shape[1:] == shape


def test_same_seed_same_split_and_other_seed_other_split():
    first = load_dataset(DataSpec("iris"), CONFIG, seed=3)
    again = load_dataset(DataSpec("iris"), CONFIG, seed=3)
    other = load_dataset(DataSpec("iris"), CONFIG, seed=4)
    np.testing.assert_array_equal(first.train.inputs, again.train.inputs)
    np.testing.assert_array_equal(first.val.targets, again.val.targets)
    assert not np.array_equal(first.train.inputs, other.train.inputs)


def test_bundled_split_is_stratified():
    dataset = load_dataset(DataSpec("digits"), CONFIG, seed=1)
    counts = np.bincount(dataset.val.targets, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~180 samples per class * 0.2


@settings(max_examples=60, deadline=None)
@given(count=st.integers(20, 300), val=st.floats(0.0, 0.45), test=st.floats(0.0, 0.45),
       classes=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_split_indices_are_disjoint_cover_everything_and_keep_class_shares(count, val, test, classes, seed):
    labels = np.arange(count) % classes
    train_idx, val_idx, test_idx = split_indices(count, val, test, seed, labels=labels)
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert sorted(together.tolist()) == list(range(count))  # disjoint and complete
    assert len(train_idx) >= 1
    assert (val > 0 or len(val_idx) == 0) and (test > 0 or len(test_idx) == 0)
    for part, fraction in ((val_idx, val), (test_idx, test)):
        for c in range(classes):  # each class keeps its share, up to rounding
            in_class = int((labels == c).sum())
            assert abs(int((labels[part] == c).sum()) - in_class * fraction) <= 1.5
    again = split_indices(count, val, test, seed, labels=labels)
    assert all(np.array_equal(a, b) for a, b in zip((train_idx, val_idx, test_idx), again))


def test_too_few_samples_to_split_says_so():
    with pytest.raises(DataError, match="only 2 sample"):
        split_indices(2, 0.4, 0.4, seed=0, labels=np.array([0, 1]))


def test_reshape_to_network_input_keeps_the_values():
    config = CONFIG.replace(normalize=False)
    images = load_dataset(DataSpec("digits"), config, seed=0, input_shape=(1, 8, 8))
    vectors = load_dataset(DataSpec("digits"), config, seed=0, input_shape=(64,))
    rows = load_dataset(DataSpec("digits"), config, seed=0, input_shape=(8, 8))
    assert (vectors.input_kind, rows.input_kind, images.input_kind) == ("vector", "sequence", "image")
    np.testing.assert_array_equal(vectors.train.inputs, images.train.inputs.reshape(-1, 64))
    np.testing.assert_array_equal(rows.train.inputs, images.train.inputs.reshape(-1, 8, 8))
    # normalisation off: images are still scaled from 0..16 to [0, 1]
    assert images.train.inputs.min() == 0.0 and images.train.inputs.max() == 1.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(DataError) as error:
        load_dataset(DataSpec("digits"), CONFIG, seed=0, input_shape=(3, 32, 32))
    assert str(error.value).startswith(
        "the digits images are 1x8x8 = 64 values per sample but the network's input block expects "
        "(B, 3, 32, 32)")
    with pytest.raises(DataError, match=r"\(B, 1, 8, 8\)"):
        probe(DataSpec("digits"), (3, 32, 32))


def test_normalisation_statistics_come_from_the_training_split():
    dataset = load_dataset(DataSpec("iris"), CONFIG, seed=0)
    assert dataset.mean.shape == (4,) and dataset.std.shape == (4,)
    np.testing.assert_allclose(dataset.train.inputs.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(dataset.train.inputs.std(axis=0), 1.0, atol=1e-5)
    assert np.abs(dataset.val.inputs.mean(axis=0)).max() > 1e-3  # val was not used for the statistics
    from sklearn.datasets import load_iris

    every_row = {tuple(np.round(row, 4)) for row in load_iris().data.astype(np.float32)}
    for part in (dataset.train, dataset.val, dataset.test):
        raw = part.inputs * dataset.std + dataset.mean
        assert all(tuple(np.round(row, 4)) in every_row for row in raw)
    raw_train = dataset.train.inputs * dataset.std + dataset.mean
    np.testing.assert_allclose(dataset.mean, raw_train.mean(axis=0), rtol=1e-5)


def test_image_statistics_are_per_channel():
    dataset = load_dataset(DataSpec("digits"), CONFIG, seed=0, input_shape=(1, 8, 8))
    assert dataset.mean.shape == (1, 1, 1)
    assert dataset.train.inputs.mean() == pytest.approx(0.0, abs=1e-5)
    assert dataset.train.inputs.std() == pytest.approx(1.0, abs=1e-4)


def test_autoencoder_and_gan_scaling_and_no_targets():
    auto = load_dataset(DataSpec("digits"), CONFIG.replace(recipe="autoencoder"), seed=0)
    gan = load_dataset(DataSpec("digits"), CONFIG.replace(recipe="gan"), seed=0)
    assert auto.target_kind == gan.target_kind == "none"
    assert auto.train.targets is None and gan.val.targets is None
    assert (auto.train.inputs.min(), auto.train.inputs.max()) == (0.0, 1.0)
    assert (gan.train.inputs.min(), gan.train.inputs.max()) == (-1.0, 1.0)
    tabular = load_dataset(DataSpec("wine"), CONFIG.replace(recipe="gan"), seed=0)
    assert tabular.train.inputs.min(axis=0) == pytest.approx(-np.ones(13))  # per feature, from train
    assert tabular.train.inputs.max(axis=0) == pytest.approx(np.ones(13))


def test_sine_target_is_the_next_clean_value():
    spec = DataSpec("sine", {"samples": 50, "noise": 0.0})
    dataset = load_dataset(spec, CONFIG.replace(recipe="regression", normalize=False, val_fraction=0.0,
                                                test_fraction=0.0), seed=0, input_shape=(10, 1))
    x, y = dataset.train.inputs[:, :, 0].astype(np.float64), dataset.train.targets
    assert y.shape == (50, 1) and y.dtype == np.float32
    # a clean sine obeys x[t+1] = 2 cos(w) x[t] - x[t-1]; fit cos(w) per sample from the window
    cos_w = ((x[:, 2:] + x[:, :-2]) * x[:, 1:-1]).sum(1) / (2 * (x[:, 1:-1] ** 2).sum(1))
    predicted = 2 * cos_w * x[:, -1] - x[:, -2]
    np.testing.assert_allclose(predicted, y[:, 0], atol=1e-4)
    noisy = load_dataset(DataSpec("sine", {"samples": 50}), CONFIG.replace(recipe="regression"), seed=0)
    assert noisy.input_shape == (32, 1) and noisy.input_kind == "sequence"


def test_sine_classes_are_balanced_and_square_waves_are_flat_topped():
    spec = DataSpec("sine_classes", {"samples": 90, "noise": 0.0})
    dataset = load_dataset(spec, CONFIG.replace(normalize=False, val_fraction=0.0, test_fraction=0.0),
                           seed=0, input_shape=(24, 1))
    labels, x = dataset.train.targets, dataset.train.inputs[:, :, 0]
    assert np.bincount(labels).tolist() == [30, 30, 30]
    assert dataset.class_names == ["sine", "square", "sawtooth"]
    square = np.abs(x[labels == 1])
    np.testing.assert_allclose(square, square[:, :1].repeat(24, axis=1), rtol=1e-5)
    assert np.ptp(np.abs(x[labels == 0]), axis=1).min() > 0.1  # a sine is not flat-topped
    same = load_dataset(spec, CONFIG.replace(normalize=False, val_fraction=0.0, test_fraction=0.0),
                        seed=5, input_shape=(24, 1))
    assert np.array_equal(np.sort(x, axis=None), np.sort(same.train.inputs[:, :, 0], axis=None))


def test_pydoc_text_windows_and_ascii_vocabulary():
    from pydoc_data.topics import topics

    spec = DataSpec("pydoc_text", {"max_chars": 20_000})
    dataset = load_dataset(spec, CONFIG.replace(recipe="language_model"), seed=0, input_shape=(32,))
    assert ASCII_VOCAB_SIZE == 97 and dataset.vocab == ASCII_VOCAB and dataset.num_classes == 97
    train = dataset.train
    assert train.inputs.dtype == np.int64 and train.targets.dtype == np.int64
    assert train.inputs.shape[1:] == (32,) and train.targets.shape == train.inputs.shape
    np.testing.assert_array_equal(train.targets[:, :-1], train.inputs[:, 1:])
    np.testing.assert_array_equal(train.inputs[1:, 0], train.targets[:-1, -1])  # non-overlapping windows
    first_topic = topics[sorted(topics)[0]]
    decoded = "".join(dataset.vocab[i] for i in train.inputs[0])
    assert decoded == first_topic[:32]
    assert len(dataset.val) == (4000 - 1) // 32 and len(dataset.test) == (2000 - 1) // 32
    assert dataset.mean is None


def test_text_file_stride_and_all_vocabulary(tmp_path):
    (tmp_path / "poem.txt").write_text("abcabcabcab\r\nbca", encoding="utf-8")
    spec = DataSpec("text_file", {"path": "poem.txt", "stride": 2})
    config = CONFIG.replace(recipe="language_model", val_fraction=0.0, test_fraction=0.0)
    dataset = load_dataset(spec, config, seed=0, input_shape=(4,), base_dir=tmp_path)
    assert dataset.vocab == ["\n", "a", "b", "c"]
    assert probe(spec, (4,), recipe="language_model", base_dir=tmp_path).num_classes == 4
    text = "abcabcabcab\nbca"
    starts = range(0, len(text) - 4, 2)
    assert ["".join(dataset.vocab[i] for i in row) for row in dataset.train.inputs] == [
        text[s:s + 4] for s in starts]
    assert ["".join(dataset.vocab[i] for i in row) for row in dataset.train.targets] == [
        text[s + 1:s + 5] for s in starts]


def test_text_ascii_vocabulary_folds_rare_characters(tmp_path):
    (tmp_path / "quotes.txt").write_text("\u201chi\u201d \u00e9\tok\n", encoding="utf-8")
    spec = DataSpec("text_file", {"path": str(tmp_path / "quotes.txt"), "vocab": "ascii"})
    config = CONFIG.replace(recipe="language_model", val_fraction=0.0, test_fraction=0.0)
    dataset = load_dataset(spec, config, seed=0, input_shape=(9,))
    decoded = "".join(dataset.vocab[i] for i in dataset.train.inputs[0])
    assert decoded == '"hi" \ufffd ok'
    assert dataset.vocab[dataset.train.targets[0][-1]] == "\n"


def test_csv_with_text_labels_and_chosen_columns(tmp_path):
    (tmp_path / "pets.csv").write_text(
        "weight,height,name,kind\n4.0,30,Tom,cat\n30,60,Rex,dog\n\n5.5,25,Kit,cat\n3,35,Bo,bird\n")
    spec = DataSpec("csv", {"path": str(tmp_path / "pets.csv"), "label": "kind", "features": "weight, 1"})
    config = CONFIG.replace(val_fraction=0.0, test_fraction=0.0, normalize=False)
    dataset = load_dataset(spec, config, seed=0)
    assert dataset.class_names == ["bird", "cat", "dog"] and dataset.num_classes == 3
    assert dataset.input_shape == (2,) and dataset.extra["feature_names"] == ["weight", "height"]
    order = np.argsort(dataset.train.inputs[:, 0])
    np.testing.assert_array_equal(dataset.train.inputs[order], [[3, 35], [4, 30], [5.5, 25], [30, 60]])
    np.testing.assert_array_equal(dataset.train.targets[order], [0, 1, 1, 2])
    assert probe(spec) == ((2,), "vector", "class", 3)


def test_csv_regression_numeric_labels_and_no_header(tmp_path):
    (tmp_path / "h.csv").write_text("1;2;10\n3;4;20\n5;6;30\n7;8;40\n")
    spec = DataSpec("csv", {"path": str(tmp_path / "h.csv"), "header": False, "delimiter": ";"})
    regression = load_dataset(spec, CONFIG.replace(recipe="regression", val_fraction=0.25, test_fraction=0.0,
                                                   normalize=False), seed=0)
    assert regression.target_kind == "value" and regression.train.targets.shape == (3, 1)
    assert regression.train.targets.dtype == np.float32
    pairs = np.concatenate([regression.train.inputs, regression.train.targets], axis=1)
    assert {tuple(row) for row in pairs} <= {(1, 2, 10), (3, 4, 20), (5, 6, 30), (7, 8, 40)}
    classes = load_dataset(DataSpec("csv", {**spec.options, "label": "0"}),
                           CONFIG.replace(val_fraction=0.0, test_fraction=0.0), seed=0)
    assert classes.class_names == ["1", "3", "5", "7"] and classes.input_shape == (2,)


def test_csv_with_quoted_fields_uses_the_csv_rules(tmp_path):
    (tmp_path / "q.csv").write_text('name,size,label\r\n"Smith, J",3,"a"\r\n\r\n"Lee",4,b\r\n"Ng",x,a\r\n')
    spec = DataSpec("csv", {"path": str(tmp_path / "q.csv"), "features": "size"})
    with pytest.raises(DataError, match=r"q\.csv, row 5, column 'size': 'x' is not a number"):
        load_dataset(spec, CONFIG, seed=0)
    (tmp_path / "q.csv").write_text('name,size,label\n"Smith, J",3,"a"\n"Lee",4,b\n')
    dataset = load_dataset(spec, CONFIG.replace(val_fraction=0.0, test_fraction=0.0, normalize=False), seed=0)
    assert sorted(dataset.train.inputs[:, 0].tolist()) == [3.0, 4.0] and dataset.class_names == ["a", "b"]


def _write_png(path, size, colour, mode="RGB"):
    from PIL import Image

    Image.new(mode, size, colour).save(path)


def test_image_folder_resizes_and_converts(tmp_path):
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / name).mkdir()
        for i in range(3):
            _write_png(tmp_path / name / f"{i}.png", (10 + i, 6), colour)
    (tmp_path / "red" / "notes.txt").write_text("not an image, skipped")
    config = CONFIG.replace(val_fraction=0.0, test_fraction=0.0, normalize=False)
    spec = DataSpec("image_folder", {"path": str(tmp_path)})
    rgb = load_dataset(spec, config, seed=0, input_shape=(3, 8, 8))
    assert rgb.class_names == ["blue", "red"] and rgb.train.inputs.shape == (6, 3, 8, 8)
    red = rgb.train.inputs[rgb.train.targets == 1]
    np.testing.assert_allclose(red[:, 0], 1.0)
    np.testing.assert_allclose(red[:, 2], 0.0)
    grey = load_dataset(spec, config, seed=0, input_shape=(1, 4, 5))
    assert grey.train.inputs.shape == (6, 1, 4, 5)
    assert probe(spec) == ((3, 6, 10), "image", "class", 2)
    assert probe(spec, (1, 28, 28)) == ((1, 28, 28), "image", "class", 2)


def test_arrays_npz_and_npy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 1, 4, 4)).astype(np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "pics.npz", x=x, y=y)
    spec = DataSpec("arrays", {"path": str(tmp_path / "pics.npz")})
    dataset = load_dataset(spec, CONFIG.replace(recipe="autoencoder"), seed=0, input_shape=(16,))
    assert dataset.input_shape == (16,) and dataset.target_kind == "none"
    assert dataset.train.inputs.min() >= 0.0 and dataset.train.inputs.max() <= 1.0  # uint8 -> pixels
    assert probe(spec, (16,)) == ((16,), "vector", "class", 4)
    np.save(tmp_path / "inputs.npy", rng.normal(size=(30, 3)))
    np.save(tmp_path / "labels.npy", rng.normal(size=30))
    npy = DataSpec("arrays", {"path": str(tmp_path / "inputs.npy"), "labels": str(tmp_path / "labels.npy")})
    regression = load_dataset(npy, CONFIG.replace(recipe="regression"), seed=0)
    assert regression.target_kind == "value" and regression.train.targets.shape == (21, 1)
    np.savez(tmp_path / "other.npz", a=np.ones((5, 2)), b=np.array([0, 1, 0, 1, 1]))
    first_two = load_dataset(DataSpec("arrays", {"path": str(tmp_path / "other.npz")}),
                             CONFIG.replace(val_fraction=0.0, test_fraction=0.0), seed=0)
    assert first_two.num_classes == 2 and sorted(first_two.train.targets.tolist()) == [0, 0, 1, 1, 1]


class _FakeCifar:
    """Stands in for torchvision.datasets.CIFAR10: (N, H, W, C) uint8 data, a list of targets."""

    classes = [f"class{i}" for i in range(10)]

    def __init__(self, root, train, download):
        assert train is True and download is False
        if not (Path(root) / "cifar-10-batches-py").is_dir():
            raise RuntimeError("Dataset not found or corrupted.")
        self.data = np.zeros((20, 32, 32, 3), dtype=np.uint8)
        self.data[..., 1] = 51  # green channel
        self.targets = [i % 10 for i in range(20)]


def test_torchvision_source_with_a_stand_in_package(tmp_path, monkeypatch):
    import runtime.data.vision as vision

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(CIFAR10=_FakeCifar)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    monkeypatch.setattr(vision.importlib.util, "find_spec", lambda name: object())
    spec = DataSpec("torchvision", {"dataset": "CIFAR10", "root": str(tmp_path), "limit": 15})
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_dataset(spec, CONFIG, seed=0)
    (tmp_path / "cifar-10-batches-py").mkdir()
    dataset = load_dataset(spec, CONFIG.replace(normalize=False, val_fraction=0.0, test_fraction=0.0), seed=0)
    assert dataset.train.inputs.shape == (15, 3, 32, 32) and dataset.class_names[0] == "class0"
    np.testing.assert_allclose(dataset.train.inputs[:, 1], 0.2)
    np.testing.assert_allclose(dataset.train.inputs[:, 0], 0.0)
    assert probe(spec) == ((3, 32, 32), "image", "class", 10)


def test_npz_round_trip(tmp_path):
    dataset = load_dataset(DataSpec("digits"), CONFIG, seed=0)
    path = write_npz(dataset, tmp_path / "out" / "data.npz")
    with np.load(path, allow_pickle=False) as raw:  # what the exported script does
        assert raw["train_inputs"].shape == dataset.train.inputs.shape
        assert str(raw["input_kind"]) == "image" and int(raw["num_classes"]) == 10
    loaded = load_npz_dataset(path)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(loaded, part).inputs, getattr(dataset, part).inputs)
        np.testing.assert_array_equal(getattr(loaded, part).targets, getattr(dataset, part).targets)
    np.testing.assert_array_equal(loaded.mean, dataset.mean)
    np.testing.assert_array_equal(loaded.std, dataset.std)
    assert (loaded.name, loaded.input_shape, loaded.input_kind, loaded.target_kind, loaded.num_classes,
            loaded.class_names) == ("digits", (1, 8, 8), "image", "class", 10, dataset.class_names)


def test_npz_round_trip_text_without_test_split(tmp_path):
    spec = DataSpec("pydoc_text", {"max_chars": 3000})
    dataset = load_dataset(spec, TrainingConfig({"recipe": "language_model"}), seed=0, input_shape=(16,))
    loaded = load_npz_dataset(write_npz(dataset, tmp_path / "text.npz"))
    assert loaded.test is None and loaded.mean is None and loaded.vocab == dataset.vocab
    np.testing.assert_array_equal(loaded.val.targets, dataset.val.targets)


def test_every_source_declares_help_and_params():
    for name, source in SOURCES.items():
        assert source_info(name) is source and source.help and "\n" not in source.help
        for param in source.params:
            assert param.help, f"{name}.{param.name} has no help"
    assert [p.name for p in source_info("csv").params][:3] == ["path", "label", "features"]

"""Every recipe end to end on tiny data: it learns, reports the right metrics and writes its samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.train.images import decode_png_size
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    chain,
    char_tokens,
    digits_binary,
    digits_images,
    digits_pixels,
    digits_vectors,
    mlp,
    project,
    run_training,
    sine_sequences,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def test_classification_learns_and_reports_accuracy_topk_and_confusion(tmp_path):
    summary, events = run_training(project(mlp(), epochs=4, lr=0.01), digits_vectors(), tmp_path / "run")
    validations = events.of("validation")
    assert [v.epoch for v in validations] == [1, 2, 3, 4]
    last = validations[-1]
    assert last.metrics["accuracy"] > 0.8  # chance is 0.1
    assert last.metrics["top5_accuracy"] >= last.metrics["accuracy"]
    matrix = np.array(last.confusion)
    assert matrix.shape == (10, 10)
    assert matrix.sum() == 200  # every validation sample counted once
    assert np.trace(matrix) / matrix.sum() == pytest.approx(last.metrics["accuracy"])
    assert last.class_names == [str(i) for i in range(10)]
    epochs = events.of("epoch")
    assert epochs[-1].metrics["loss"] < epochs[0].metrics["loss"]
    assert summary["reason"] == "completed" and summary["monitor"] == "accuracy"
    assert summary["best_metric"] == max(v.metrics["accuracy"] for v in validations)


def test_image_classifier_with_batch_norm_trains(tmp_path):
    summary, events = run_training(project(small_cnn(), epochs=3, lr=0.01), digits_images(),
                                   tmp_path / "run")
    assert events.of("validation")[-1].metrics["accuracy"] > 0.8
    assert summary["final"]["accuracy"] == events.of("validation")[-1].metrics["accuracy"]


def test_binary_head_reports_accuracy_and_two_by_two_confusion(tmp_path):
    net = chain("model", [("in", "VectorInput", {"features": 64}), ("fc", "Linear", {"features": 1}),
                          ("head", "BinaryHead", {})])
    _, events = run_training(project(net, epochs=3, lr=0.01), digits_binary(), tmp_path / "run")
    last = events.of("validation")[-1]
    assert last.metrics["accuracy"] > 0.95  # 0 versus 1 is easy
    assert np.array(last.confusion).shape == (2, 2) and np.array(last.confusion).sum() == 100


def test_sequence_regression_reports_mae_and_rmse(tmp_path):
    net = chain("model", [("in", "SequenceInput", {"length": 16, "features": 1}),
                          ("lstm", "LSTM", {"hidden_size": 16, "output": "last"}),
                          ("fc", "Linear", {"features": 1}), ("head", "RegressionHead", {})])
    data = sine_sequences()
    summary, events = run_training(project(net, recipe="regression", epochs=6, lr=0.02), data,
                                   tmp_path / "run")
    last = events.of("validation")[-1].metrics
    assert set(last) == {"loss", "mae", "rmse"}
    assert last["rmse"] == pytest.approx(math.sqrt(last["loss"]), rel=1e-4)  # MSE loss: rmse = sqrt(loss)
    assert last["loss"] < 0.5 * float(np.var(data.val.targets))
    assert summary["monitor"] == "loss"


def test_language_model_reports_perplexity_and_samples_text(tmp_path):
    data = char_tokens()
    vocab = len(data.vocab)
    net = chain("model", [("in", "TokenInput", {"length": 12, "vocab_size": vocab}),
                          ("emb", "Embedding", {"vocab_size": vocab, "dim": 16}),
                          ("lstm", "LSTM", {"hidden_size": 32}),
                          ("fc", "Linear", {"features": vocab}),
                          ("head", "ClassificationHead", {"classes": vocab})])
    summary, events = run_training(project(net, recipe="language_model", epochs=2, lr=0.02, sample_length=30),
                                   data, tmp_path / "run")
    last = events.of("validation")[-1].metrics
    assert last["perplexity"] == pytest.approx(math.exp(last["loss"]))
    assert last["loss"] < math.log(vocab) - 1.0  # far better than guessing uniformly
    samples = events.of("samples")
    assert len(samples) == 2 and samples[0].png is None
    prompt = "".join(data.vocab[i] for i in data.val.inputs[0])
    assert samples[-1].text.startswith(prompt) and len(samples[-1].text) == len(prompt) + 30
    assert set(samples[-1].text) <= set(data.vocab)
    assert (tmp_path / "run" / "samples" / "epoch_002.txt").read_text() == samples[-1].text


def test_autoencoder_reconstructs_and_previews_inputs_above_outputs(tmp_path):
    net = chain("model", [("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
                          ("flat", "Flatten", {}), ("enc", "Linear", {"features": 16}), ("act", "ReLU", {}),
                          ("dec", "Linear", {"features": 64}), ("shape", "Reshape", {"shape": (1, 8, 8)}),
                          ("head", "RegressionHead", {})])
    _, events = run_training(project(net, recipe="autoencoder", epochs=4, lr=0.01), digits_pixels(),
                             tmp_path / "run")
    validations = [v.metrics["loss"] for v in events.of("validation")]
    assert validations[-1] < validations[0]
    preview = events.of("samples")[-1]
    width, height = decode_png_size(preview.png)
    assert (width, height) == (8 * 33 + 1, 2 * 33 + 1)  # 8 columns, 2 rows of 32-pixel cells
    assert (tmp_path / "run" / "samples" / "epoch_004.png").read_bytes() == preview.png


def gan_networks():
    generator = chain("generator", [("z", "NoiseInput", {"size": 8}), ("g1", "Linear", {"features": 32}),
                                    ("g_act", "ReLU", {}), ("g2", "Linear", {"features": 64}),
                                    ("g_shape", "Reshape", {"shape": (1, 8, 8)}), ("g_tanh", "Tanh", {}),
                                    ("fake", "Output", {})])
    discriminator = chain("discriminator", [("img", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
                                            ("flat", "Flatten", {}), ("d1", "Linear", {"features": 32}),
                                            ("d_act", "LeakyReLU", {"negative_slope": 0.2}),
                                            ("d2", "Linear", {"features": 1}), ("score", "BinaryHead", {})])
    return [generator, discriminator]


def test_gan_alternates_two_optimizers_and_renders_a_grid_each_epoch(tmp_path):
    proj = project(gan_networks(), recipe="gan", epochs=2, lr=2e-4, beta1=0.5, d_lr=1e-4)
    summary, events = run_training(proj, digits_pixels(low=-1.0), tmp_path / "run")
    steps = events.of("step")
    assert set(steps[0].values) == {"g_loss", "d_loss", "d_real", "d_fake"}
    assert 0.0 < steps[-1].values["d_real"] < 1.0
    assert events.of("validation") == []  # a GAN has nothing to validate
    grids = events.of("samples")
    assert [g.epoch for g in grids] == [1, 2]
    assert decode_png_size(grids[0].png) == (8 * 33 + 1, 8 * 33 + 1)  # 64 fixed-noise samples, 8 x 8
    assert grids[0].png != grids[1].png  # the generator changed
    saved = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert saved == ["epoch_001.png", "epoch_002.png"]
    assert summary["train"]["d_loss"] > 0 and summary["best_metric"] is None

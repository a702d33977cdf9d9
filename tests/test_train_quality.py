"""The quality bars on the bundled examples (slow: about two minutes on a busy 2-core CPU).

    pytest -m slow tests/test_train_quality.py

Each test runs the matching measurement of bench/quality.py, which prints
the figures (shown by pytest when a bar fails) and says PASS or FAIL.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

QUALITY = Path(__file__).resolve().parent.parent / "bench" / "quality.py"


def _quality():
    spec = importlib.util.spec_from_file_location("deepwire_bench_quality", QUALITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def quality(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _quality(), tmp_path
    torch.set_num_threads(before)


@pytest.mark.slow
def test_digits_cnn_reaches_98_percent_within_20_seconds_of_training(quality):
    module, out = quality
    assert module.digits_cnn(out)


@pytest.mark.slow
def test_sine_lstm_error_is_far_below_the_target_variance(quality):
    module, out = quality
    assert module.sine_lstm(out)


@pytest.mark.slow
def test_char_transformer_beats_the_unigram_entropy_of_its_text(quality):
    module, out = quality
    assert module.char_transformer(out, epochs=None)


@pytest.mark.slow
def test_gan_samples_move_from_noise_towards_digits(quality):
    module, out = quality
    assert module.digits_gan(out, epochs=None)
    assert (out / "gan_last_epoch.png").is_file()

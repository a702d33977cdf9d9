"""Generated sequences for sequence models, made fresh from a seed (nothing is stored).

sine: noisy sine waves with random frequency, phase and amplitude; the input is
a window of T noisy values (T, 1), the target the next clean value (1,) —
a regression task for an RNN, a 1-D convolution or a small transformer.
sine_classes: sine, square and sawtooth waves with noise and random frequency
and phase, (T, 1); the task is to tell the three shapes apart (3 classes).

The waves are generated with the option `data_seed`, not the training seed,
so every run of a project sees the same data (as with the bundled sets).
T comes from the network's Sequence input (option `length` when there is none).
"""

from __future__ import annotations

import numpy as np

from graph.params import Float, Int
from runtime.data.source import Context, Natural, RawData, Source

WAVE_NAMES = ["sine", "square", "sawtooth"]

# Periods between 8 and 40 time steps: several cycles fit a 32-step window, none aliases.
_FREQUENCY_RANGE = (1 / 40, 1 / 8)
_AMPLITUDE_RANGE = (0.5, 1.5)


def _params(noise: float) -> tuple:
    return (
        Int("samples", 2000, 10, 1_000_000, "How many sequences to generate."),
        Float("noise", noise, 0.0, 10.0, "Standard deviation of the Gaussian noise added to each value."),
        Int("length", 32, 1, 100_000,
            "Time steps per sequence when the network does not fix it (its Sequence input does)."),
        Int("data_seed", 0, 0, 2**31 - 1, "Seed of the generator: the same seed gives the same waves."),
    )


def _length(options: dict, context: Context) -> int:
    return context.shape[0] if context.shape else options["length"]


def _random_phases(rng: np.random.Generator, count: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles 2*pi*f*t + phase of shape (count, steps) and amplitudes (count, 1)."""
    frequency = rng.uniform(*_FREQUENCY_RANGE, size=(count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1))
    amplitude = rng.uniform(*_AMPLITUDE_RANGE, size=(count, 1))
    return 2 * np.pi * frequency * np.arange(steps) + phase, amplitude


def _natural_sine(options: dict, context: Context) -> Natural:
    return Natural((options["length"], 1), "sequence", "value", None, "the sine waves", "length")


def _read_sine(options: dict, context: Context) -> RawData:
    rng = np.random.default_rng(options["data_seed"])
    steps = _length(options, context)
    count = options["samples"]
    angle, amplitude = _random_phases(rng, count, steps + 1)
    clean = amplitude * np.sin(angle)  # (N, T + 1)
    noisy = clean[:, :steps] + options["noise"] * rng.standard_normal((count, steps))
    inputs = noisy.astype(np.float32).reshape((count, *context.shape))
    targets = clean[:, steps:].astype(np.float32)  # (N, 1): the next clean value
    return RawData(inputs, targets, "value", origin="sine",
                   description=f"{count} noisy sine waves of {steps} steps; predict the next value.")


def _natural_classes(options: dict, context: Context) -> Natural:
    return Natural((options["length"], 1), "sequence", "class", 3, "the waves", "length")


def _read_classes(options: dict, context: Context) -> RawData:
    rng = np.random.default_rng(options["data_seed"])
    steps = _length(options, context)
    count = options["samples"]
    labels = rng.permutation(np.arange(count) % 3)  # balanced classes in random order
    angle, amplitude = _random_phases(rng, count, steps)
    sine = np.sin(angle)
    shapes = {
        0: sine,
        1: np.where(sine >= 0, 1.0, -1.0),  # square
        2: 2 * ((angle / (2 * np.pi)) % 1.0) - 1,  # sawtooth
    }
    waves = np.select([labels[:, None] == k for k in shapes], list(shapes.values()))
    noisy = amplitude * waves + options["noise"] * rng.standard_normal((count, steps))
    inputs = noisy.astype(np.float32).reshape((count, *context.shape))
    return RawData(inputs, labels.astype(np.int64), "class", origin="sine_classes", num_classes=3,
                   class_names=list(WAVE_NAMES),
                   description=f"{count} noisy waves of {steps} steps: sine, square or sawtooth.")


SOURCES = (
    Source("sine", "Noisy sine waves", "Predict the next value of a noisy sine wave (regression, (T, 1)).",
           _params(0.1), _natural_sine, _read_sine),
    Source("sine_classes", "Wave shapes",
           "Tell noisy sine, square and sawtooth waves apart (3 classes, (T, 1)).",
           _params(0.2), _natural_classes, _read_classes),
)

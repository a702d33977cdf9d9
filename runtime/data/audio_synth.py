"""Synthesised sound classes for the bundled audio example, and writing clips as WAV files.

Five classes, each clip made from its own seed (data_seed, index), so any
clip can be generated alone, in any order, in any DataLoader worker:

    low_tone       a pure tone between 200 and 500 Hz
    high_tone      a pure tone between 1200 and 2400 Hz
    rising_chirp   a linear sweep from 300-600 Hz up to 1500-2500 Hz
    falling_chirp  the same sweep downwards
    noise          white (Gaussian) noise

with a random amplitude (0.3 to 0.9; noise at the same loudness, RMS),
random phase and Gaussian background noise of standard deviation `noise`.
The two chirps cover the same band, so only the order in time tells them
apart: a model must keep where in the clip a frequency occurs.

`write_wav` writes 16-bit PCM with the stdlib `wave` module (tests, and for
anyone who wants the set as a folder for the `audio_folder` source).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

CLASS_NAMES = ["low_tone", "high_tone", "rising_chirp", "falling_chirp", "noise"]
MIN_SAMPLE_RATE = 6000  # the highest frequency, 2500 Hz, stays below the Nyquist frequency


def clip(kind: int, rng: np.random.Generator, sample_rate: int, length: int, noise: float) -> np.ndarray:
    """One clip of class `kind` (an index into CLASS_NAMES), float32 (length,)."""
    t = np.arange(length) / sample_rate
    amplitude = rng.uniform(0.3, 0.9)
    phase = rng.uniform(0.0, 2 * np.pi)
    name = CLASS_NAMES[kind]
    if name == "noise":
        wave_ = rng.standard_normal(length) * amplitude / np.sqrt(2.0)  # a sine's RMS
    elif name.endswith("tone"):
        frequency = rng.uniform(200.0, 500.0) if name == "low_tone" else rng.uniform(1200.0, 2400.0)
        wave_ = amplitude * np.sin(2 * np.pi * frequency * t + phase)
    else:
        low, high = rng.uniform(300.0, 600.0), rng.uniform(1500.0, 2500.0)
        start, end = (low, high) if name == "rising_chirp" else (high, low)
        span = length / sample_rate
        # instantaneous frequency start + (end - start) * t / span: the phase is its integral
        wave_ = amplitude * np.sin(2 * np.pi * (start * t + (end - start) * t * t / (2 * span)) + phase)
    if noise:
        wave_ = wave_ + noise * rng.standard_normal(length)
    return wave_.astype(np.float32)


def clip_rng(data_seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(data_seed), int(index)])


def labels(count: int, data_seed: int) -> np.ndarray:
    """Balanced class ids in a random order fixed by the seed."""
    return np.random.default_rng(int(data_seed)).permutation(np.arange(count) % len(CLASS_NAMES))


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())


def write_folder(folder: Path, per_class: int, sample_rate: int = 8000, duration: float = 0.5,
                 noise: float = 0.05, data_seed: int = 0) -> Path:
    """The synthesised classes as folder/<class>/<n>.wav, one sub-folder per class."""
    length = int(round(duration * sample_rate))
    for kind, name in enumerate(CLASS_NAMES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            samples = clip(kind, clip_rng(data_seed, kind * per_class + n), sample_rate, length, noise)
            write_wav(folder / name / f"{n:04d}.wav", samples, sample_rate)
    return folder

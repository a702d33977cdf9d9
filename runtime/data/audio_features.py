"""From decoded audio to what the network sees: resampling, fixed length, log-mel spectrograms.

- `resample`: polyphase filtering (scipy.signal.resample_poly, a Kaiser-
  windowed low-pass FIR) by the reduced ratio of the two rates; frequencies
  are kept and content above the new Nyquist frequency is filtered out.
- `fix_length`: a clip longer than the wanted length keeps its centre (the
  same crop for training, validation and test, so every run of a project sees
  the same samples); a shorter one is padded with silence at the end.
- `log_mel`: torch.stft (Hann window, centred frames) -> power spectrum ->
  a triangular mel filterbank (HTK mel scale, 0 Hz to the Nyquist frequency,
  built in `mel_filterbank`) -> natural log of (power + 1e-6).
  Frames = 1 + length // hop_length.

`Features` bundles the options and turns a batch of clips (n, length) into
(n, *shape): (length, 1) waveforms or (1, mels, frames) spectrograms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_FLOOR = 1e-6  # keeps log() finite on silence; far below the power of any audible sound


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `rate` Hz resampled to `target` Hz (float32); unchanged if the rates are equal."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(samples.astype(np.float64), target // g, rate // g).astype(np.float32)


def resampled_length(frames: int, rate: int, target: int) -> int:
    """How many samples `resample` gives for `frames` samples (resample_poly rounds up)."""
    g = math.gcd(int(rate), int(target))
    up, down = target // g, rate // g
    return -(-frames * up // down)


def fix_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Exactly `length` samples: the centre of a longer clip, a shorter one padded with zeros at the end."""
    n = len(samples)
    if n >= length:
        start = (n - length) // 2
        return samples[start:start + length]
    out = np.zeros(length, dtype=np.float32)
    out[:n] = samples
    return out


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, mels: int) -> np.ndarray:
    """(mels, n_fft // 2 + 1) triangular filters, evenly spaced in mel from 0 Hz to sample_rate / 2.

    Filter m rises from 0 at edge m to 1 at edge m + 1 and falls back to 0 at
    edge m + 2 (mels + 2 edges), evaluated at each FFT bin's frequency.
    """
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), mels + 2))
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - low) / (centre - low)
    falling = (high - bins[None, :]) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def mel_centres(sample_rate: int, mels: int) -> np.ndarray:
    """The frequency (Hz) where each mel filter peaks."""
    return mel_to_hz(np.linspace(0.0, hz_to_mel(sample_rate / 2), mels + 2))[1:-1]


def frames_for(length: int, hop_length: int) -> int:
    return 1 + length // hop_length


@dataclass(frozen=True)
class Features:
    """What a batch of fixed-length clips becomes; picklable (DataLoader workers get a copy)."""

    sample_rate: int
    length: int  # samples per clip
    kind: str  # "waveform" or "log_mel"
    n_fft: int = 512
    hop_length: int = 160
    mels: int = 40

    @property
    def shape(self) -> tuple[int, ...]:
        if self.kind == "waveform":
            return (self.length, 1)
        return (1, self.mels, frames_for(self.length, self.hop_length))

    def apply(self, clips: np.ndarray) -> np.ndarray:
        """(n, length) float32 clips -> (n, *shape) float32."""
        if self.kind == "waveform":
            return clips.reshape(len(clips), self.length, 1).astype(np.float32, copy=False)
        return log_mel(clips, self.sample_rate, self.n_fft, self.hop_length, self.mels)[:, None]


def log_mel(clips: np.ndarray, sample_rate: int, n_fft: int, hop_length: int, mels: int) -> np.ndarray:
    """(n, length) clips -> (n, mels, frames) log-mel power spectrograms (float32)."""
    import torch

    signal = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
    window = torch.hann_window(n_fft)
    spectrum = torch.stft(signal, n_fft, hop_length=hop_length, window=window, center=True,
                          return_complex=True)  # (n, n_fft // 2 + 1, frames)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    bank = torch.from_numpy(mel_filterbank(sample_rate, n_fft, mels))
    return torch.log(torch.matmul(bank, power) + LOG_FLOOR).numpy()

"""Data sources: bundled sets, generated sequences, text, and the user's own files.

    from runtime.data import load_dataset, probe, SOURCES, source_info
    dataset = load_dataset(DataSpec("digits"), TrainingConfig(), seed=0, input_shape=(1, 8, 8))

Sources (options in `SOURCES[name].params`):
    digits, iris, wine, breast_cancer   scikit-learn's bundled sets (offline)
    sine, sine_classes                  generated waves (T, 1): next value / wave shape
    pydoc_text, text_file               characters for language models; pydoc_text's
                                        default "ascii" vocabulary has 97 ids
                                        (TokenInput.vocab_size = 97)
    csv, image_folder, arrays           the user's CSV table, image folder, .npz/.npy
    audio_folder, audio_tones           the user's .wav/.flac per class folder, synthesised
                                        sound classes: waveforms (T, 1) or log-mel (1, mels, frames)
    shapes, mask_folder                 segmentation: generated circles/squares/triangles
                                        with a class mask each; the user's images + masks
    torchvision                         MNIST / FashionMNIST / CIFAR10 from a local
                                        folder (optional torchvision package)

Importing this package never imports torch: `probe` must stay fast for
`deepwire check`. `augment_batch` (torch) is loaded on first use.
"""

from __future__ import annotations

from runtime.data.base import INPUT_KINDS, TARGET_KINDS, DataError, Dataset, Split
from runtime.data.npz import load_npz_dataset, write_npz
from runtime.data.pipeline import load_dataset
from runtime.data.registry import SOURCES, NoDataError, parse_data_option, probe, source_info
from runtime.data.source import Probe, Source
from runtime.data.text import ASCII_VOCAB, ASCII_VOCAB_SIZE

__all__ = [
    "ASCII_VOCAB", "ASCII_VOCAB_SIZE", "INPUT_KINDS", "SOURCES", "TARGET_KINDS", "DataError", "Dataset",
    "NoDataError", "Probe", "Source", "Split", "augment_batch", "load_dataset", "load_npz_dataset",
    "parse_data_option", "probe", "source_info", "write_npz",
]


def __getattr__(name: str):
    if name == "augment_batch":  # imports torch: only when someone asks for it
        from runtime.data.augment import augment_batch

        return augment_batch
    raise AttributeError(f"module 'runtime.data' has no attribute {name!r}")

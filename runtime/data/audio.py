"""Audio sources: `audio_folder` (your .wav/.flac files, one sub-folder per class) and `audio_tones`.

    sounds/dog/001.wav, sounds/dog/002.flac, sounds/cat/001.wav ...

Class ids follow the sorted sub-folder names. Every clip is made mono,
resampled to `sample_rate`, cut or padded to `duration` seconds (see
audio_features.py: the centre of a longer clip, for every split; a shorter
one padded with silence at the end, and counted), then given to the network
as one of two `features`:

    waveform   (B, T, 1), T = duration x sample_rate: a Sequence input
               (length T, features 1); a Permute (2, 1) after it makes the
               (B, 1, T) a Conv 1D slides along.
    log_mel    (B, 1, mels, frames), frames = 1 + T // hop_length: an Image
               input (1 channel, height mels, width frames) for Conv 2D.

The network's input block must match exactly (a spectrogram is never
silently reshaped). With `normalize` on, samples are standardised with one
mean and std from the training split (mean shape (1,) for waveforms, (1, 1, 1)
for spectrograms, as runtime/data/base.py documents).

Samples are decoded when asked for: the inputs are a `SampleStore`
(runtime/data/store.py) holding file names, never the decoded set. The
folder's headers are read once and the index (frames, rate, or why a file
cannot be read) kept in the per-user cache (runtime/data/cache.py), rebuilt
when a file's size or time changes. Files that cannot be read (0 bytes,
not audio, a WAV encoding other than PCM/float, broken headers) are skipped,
counted and named in `extra["warnings"]`; files that are not .wav/.flac are
ignored and counted the same way; a class folder with no readable clip
stops with a DataError naming it.

`audio_tones` is the same pipeline over the synthesised classes of
audio_synth.py, generated per sample from a seed: nothing is stored anywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graph.params import Choice, Float, Int, Text
from runtime.data import audio_synth
from runtime.data.audio_decode import AUDIO_SUFFIXES, AudioFileError, read_audio, read_info
from runtime.data.audio_features import Features, fix_length, resample, resampled_length
from runtime.data.base import DataError
from runtime.data.cache import cache_entry, fingerprint
from runtime.data.files import existing_path
from runtime.data.source import Context, Natural, RawData, Source
from runtime.data.store import SampleStore

NAMED = 3  # how many skipped files a message names before "and N more"
ADJUST = ", or change the data source's duration, sample_rate, features, hop_length or mels to fit it"


def feature_params(sample_rate: int, duration: float, n_fft: int, hop_length: int, mels: int) -> tuple:
    return (
        Int("sample_rate", sample_rate, 1000, 384_000, "Samples per second (Hz) every clip is resampled to."),
        Float("duration", duration, 0.0001, 3600.0,
              "Seconds per clip: a longer clip keeps its centre, a shorter one is padded with silence."),
        Choice("features", "waveform", ("waveform", "log_mel"),
               "waveform: the samples (B, T, 1) for a Sequence input; log_mel: a log-mel spectrogram "
               "(B, 1, mels, frames) for an Image input."),
        Int("n_fft", n_fft, 8, 65_536, "log_mel: FFT window length in samples."),
        Int("hop_length", hop_length, 1, 65_536, "log_mel: samples between spectrogram frames."),
        Int("mels", mels, 1, 1024, "log_mel: mel bands (the spectrogram's height)."),
    )


def features_for(options: dict, source: str) -> Features:
    """The Features the options describe; DataError names an option that cannot work."""
    length = int(round(options["duration"] * options["sample_rate"]))
    if length < 1:
        raise DataError(f"data source '{source}': duration {options['duration']:g} s at "
                        f"{options['sample_rate']} Hz is less than one sample; raise duration")
    features = Features(options["sample_rate"], length, options["features"], options["n_fft"],
                        options["hop_length"], options["mels"])
    if features.kind == "log_mel":
        if features.n_fft > length:
            raise DataError(f"data source '{source}', option 'n_fft': {features.n_fft} samples is longer "
                            f"than a clip ({length} samples); lower n_fft or raise duration")
        if features.mels > features.n_fft // 2 + 1:
            raise DataError(f"data source '{source}', option 'mels': {features.mels} mel bands need more "
                            f"than the {features.n_fft // 2 + 1} frequency bins of n_fft {features.n_fft}; "
                            f"lower mels or raise n_fft")
    return features


def _natural_for(features: Features, what: str, classes: int) -> Natural:
    kind = "sequence" if features.kind == "waveform" else "image"
    return Natural(features.shape, kind, "class", classes, what, "exact", ADJUST)


def _sample_words(features: Features) -> str:
    seconds = features.length / features.sample_rate
    return f"{seconds:g} s clips at {features.sample_rate} Hz"


# --- audio_folder --------------------------------------------------------------------------------------


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


@dataclass
class _Listing:
    classes: list[str]
    files: list[Path]  # every .wav/.flac in a class folder, class by class, sorted
    labels: list[int]
    ignored: list[Path]  # files in class folders that are not .wav/.flac
    empty: list[Path]  # class folders without one audio file


def _list(folder: Path) -> _Listing:
    try:
        return _list_classes(folder)
    except OSError as exc:  # a class folder that cannot be opened (permissions, vanished while listing)
        where = exc.filename or folder
        raise DataError(f"{where}: the folder cannot be listed ({exc.strerror or exc}); check its "
                        f"permissions") from None


def _list_classes(folder: Path) -> _Listing:
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    subfolders = [p for p in entries if p.is_dir()]
    if not subfolders:
        found = f", only files such as '{entries[0].name}'" if entries else " (it is empty)"
        raise DataError(f"{folder}: the folder has no class sub-folders{found}; put the clips into one "
                        f"sub-folder per class (e.g. dog/ and cat/)")
    listing = _Listing([], [], [], [], [])
    for class_id, sub in enumerate(subfolders):
        listing.classes.append(sub.name)
        inside = sorted(p for p in sub.iterdir() if _visible(p) and p.is_file())
        audio = [p for p in inside if p.suffix.lower() in AUDIO_SUFFIXES]
        listing.ignored += [p for p in inside if p.suffix.lower() not in AUDIO_SUFFIXES]
        if not audio:
            listing.empty.append(sub)
        listing.files += audio
        listing.labels += [class_id] * len(audio)
    return listing


def _header(path: Path) -> list:
    """[frames, rate, channels, None] or [0, 0, 0, reason] for a file that cannot be read."""
    try:
        info = read_info(path)
    except AudioFileError as exc:
        return [0, 0, 0, str(exc)]
    return [info.frames, info.rate, info.channels, None]


def _index(folder: Path, files: list[Path]) -> list[list]:
    """Each file's header, from the cache when no file changed since it was read."""
    try:
        current = hashlib.sha256(json.dumps(fingerprint(files)).encode()).hexdigest()
    except OSError:  # a file vanished while listing: read the headers afresh
        return [_header(p) for p in files]
    entry = cache_entry(folder, "audio-index")
    if entry.valid(current):
        try:
            headers = json.loads((entry.folder / "index.json").read_text(encoding="utf-8"))
            if len(headers) == len(files):
                return headers
        except (OSError, ValueError):
            pass
    headers = [_header(p) for p in files]
    try:
        entry.prepare()
        (entry.folder / "index.json").write_text(json.dumps(headers), encoding="utf-8")
        entry.seal(current, files=len(files))
    except OSError:
        pass  # a cache that cannot be written only costs reading the headers again next time
    return headers


def _names(paths: list[Path], folder: Path, reasons: list[str] | None = None) -> str:
    shown = []
    for n, path in enumerate(paths[:NAMED]):
        name = str(path.relative_to(folder))
        shown.append(f"{name} ({reasons[n]})" if reasons else name)
    more = f" and {len(paths) - NAMED} more" if len(paths) > NAMED else ""
    return ", ".join(shown) + more


def centre_segment(frames: int, rate: int, target: int, length: int) -> tuple[int, int, int] | None:
    """(start, count, offset): the input frames to read so a clip's centre comes out exactly as if the
    whole file had been resampled and then cut (`offset`: where the clip starts in the resampled part).

    The start is a whole number of resampling periods, so the output samples
    fall on the same instants; a margin on each side keeps the filter's edges
    out of the part kept. None: read the whole file (it is not much longer).
    """
    g = math.gcd(int(rate), int(target))
    up, down = target // g, rate // g
    centre = (resampled_length(frames, rate, target) - length) // 2  # first output sample kept
    if centre <= 0:
        return None
    margin = 0 if up == down else 10 * -(-rate // target) + 16  # resample_poly's filter reach, in frames
    start = max(0, centre * down // up - margin) // down * down
    end = -(-(centre + length) * down // up) + margin
    if end >= frames or (start == 0 and end > frames // 2):
        return None
    return start, end - start, centre - start // down * up


class AudioFolderStore(SampleStore):
    """Clips of a folder decoded on demand: (N, *features.shape) float32.

    headers: [frames, rate, ...] per file from the index, so only the part of
    a long recording that the clip keeps is read.
    """

    def __init__(self, files: list[str], headers: list[list], features: Features):
        self.files, self.features = files, features
        self.segments = [centre_segment(h[0], h[1], features.sample_rate, features.length) for h in headers]
        self.shape = (len(files), *features.shape)
        self.dtype = np.dtype(np.float32)

    def read(self, index: np.ndarray) -> np.ndarray:
        length = self.features.length
        clips = np.zeros((len(index), length), dtype=np.float32)
        for row, i in enumerate(index):
            path, segment = Path(self.files[int(i)]), self.segments[int(i)]
            try:
                samples, rate = read_audio(path, segment[0], segment[1]) if segment else read_audio(path)
            except AudioFileError as exc:  # it was readable when the folder was indexed
                raise DataError(f"{path}: {exc} (the file changed after the folder was read); "
                                f"replace or delete that file") from None
            samples = resample(samples, rate, self.features.sample_rate)
            if segment:  # the clip starts at the segment's offset
                part = samples[segment[2]:segment[2] + length]
                clips[row, :len(part)] = part
            else:
                clips[row] = fix_length(samples, length)
        return self.features.apply(clips)


def _natural_folder(options: dict, context: Context) -> Natural:
    folder = existing_path(context, options["path"], "audio_folder", "path", folder=True)
    features = features_for(options, "audio_folder")
    classes = _list(folder).classes
    return _natural_for(features, f"the {_sample_words(features)} from {folder.name}", len(classes))


def _read_folder(options: dict, context: Context) -> RawData:
    folder = existing_path(context, options["path"], "audio_folder", "path", folder=True)
    features = features_for(options, "audio_folder")
    listing = _list(folder)
    for sub in listing.empty:
        raise DataError(f"{sub}: the class folder '{sub.name}' holds no audio files "
                        f"({', '.join(AUDIO_SUFFIXES)}); add some or remove the folder")
    headers = _index(folder, listing.files)
    good = [n for n, h in enumerate(headers) if h[3] is None]
    bad = [n for n, h in enumerate(headers) if h[3] is not None]
    labels = np.asarray(listing.labels, dtype=np.int64)
    for class_id, name in enumerate(listing.classes):
        mine = [n for n in bad if labels[n] == class_id]
        if len(mine) == int((labels == class_id).sum()):
            raise DataError(
                f"{folder / name}: none of the {len(mine)} file(s) of class '{name}' can be read as audio: "
                f"{_names([listing.files[n] for n in mine], folder, [headers[n][3] for n in mine])}; "
                f"replace them or remove the folder")
    warnings = []
    if bad:
        warnings.append(
            f"{folder}: skipped {len(bad)} of {len(headers)} audio files that cannot be read: "
            f"{_names([listing.files[n] for n in bad], folder, [headers[n][3] for n in bad])}; "
            f"replace or delete them")
    if listing.ignored:
        warnings.append(f"{folder}: ignored {len(listing.ignored)} file(s) that are not "
                        f"{' or '.join(AUDIO_SUFFIXES)}: {_names(listing.ignored, folder)}")
    short = [n for n in good
             if resampled_length(headers[n][0], headers[n][1], features.sample_rate) < features.length]
    if short:
        warnings.append(f"{folder}: {len(short)} of {len(good)} clips are shorter than "
                        f"{features.length / features.sample_rate:g} s and are padded with silence at "
                        f"the end: {_names([listing.files[n] for n in short], folder)}")
    store = AudioFolderStore([str(listing.files[n]) for n in good], [headers[n] for n in good], features)
    description = (f"{len(good)} clips of {len(listing.classes)} classes from {folder.name}, "
                   f"{_sample_words(features)} as {features.kind}.")
    if bad:
        description += f" {len(bad)} unreadable file(s) skipped."
    extra = {"warnings": warnings, "skipped": len(bad), "ignored": len(listing.ignored),
             "padded": len(short), "sample_rate": features.sample_rate, "features": features.kind}
    return RawData(store, labels[good], "class", origin=str(folder),
                   num_classes=len(listing.classes), class_names=listing.classes,
                   description=description, extra=extra)


# --- audio_tones ---------------------------------------------------------------------------------------


class ToneStore(SampleStore):
    """The synthesised classes, each clip generated from (data_seed, index) when asked for."""

    def __init__(self, kinds: np.ndarray, data_seed: int, noise: float, features: Features):
        self.kinds, self.data_seed, self.noise, self.features = kinds, data_seed, noise, features
        self.shape = (len(kinds), *features.shape)
        self.dtype = np.dtype(np.float32)

    def read(self, index: np.ndarray) -> np.ndarray:
        f = self.features
        clips = np.stack([
            audio_synth.clip(int(self.kinds[i]), audio_synth.clip_rng(self.data_seed, int(i)),
                             f.sample_rate, f.length, self.noise) for i in index
        ]) if len(index) else np.empty((0, f.length), np.float32)
        return f.apply(clips)


def _tone_features(options: dict) -> Features:
    if options["sample_rate"] < audio_synth.MIN_SAMPLE_RATE:
        raise DataError(f"data source 'audio_tones', option 'sample_rate': the tones reach 2500 Hz, so the "
                        f"rate must be at least {audio_synth.MIN_SAMPLE_RATE} Hz")
    return features_for(options, "audio_tones")


def _natural_tones(options: dict, context: Context) -> Natural:
    features = _tone_features(options)
    return _natural_for(features, f"the synthesised {_sample_words(features)}",
                        len(audio_synth.CLASS_NAMES))


def _read_tones(options: dict, context: Context) -> RawData:
    features = _tone_features(options)
    kinds = audio_synth.labels(options["samples"], options["data_seed"])
    store = ToneStore(kinds, options["data_seed"], options["noise"], features)
    names = audio_synth.CLASS_NAMES
    return RawData(store, kinds.astype(np.int64), "class", origin="audio_tones",
                   num_classes=len(names), class_names=list(names),
                   description=f"{options['samples']} synthesised {_sample_words(features)} as "
                               f"{features.kind}: {', '.join(names)}.",
                   extra={"sample_rate": features.sample_rate, "features": features.kind})


# Flipping a spectrogram left-right (or a waveform end to end) plays the clip backwards: a rising chirp
# becomes a falling one, another class; shifting it up or down moves its pitch. Refused, never applied.
NO_AUGMENT = ("sounds (waveforms or log-mel spectrograms): augmentation flips each sample left-right, "
              "which plays a clip backwards (a rising chirp becomes a falling one), and shifts it up or "
              "down, which changes a spectrogram's pitch")

SOURCES = (
    Source("audio_folder", "Audio folder",
           "Your sounds (.wav, .flac), one sub-folder per class, as waveforms or log-mel spectrograms.",
           (Text("path", "", "The folder with one sub-folder of .wav/.flac clips per class, e.g. 'sounds'."),
            *feature_params(16000, 1.0, 512, 160, 40)),
           _natural_folder, _read_folder, required=("path",), no_augment=NO_AUGMENT),
    Source("audio_tones", "Tones, chirps and noise",
           "Synthesised sounds in 5 classes (low/high tones, rising/falling chirps, noise), made offline.",
           (Int("samples", 2000, 10, 1_000_000, "How many clips to generate."),
            Float("noise", 0.05, 0.0, 10.0, "Standard deviation of the background noise on every clip."),
            Int("data_seed", 0, 0, 2**31 - 1, "Seed of the generator: the same seed gives the same clips."),
            *feature_params(8000, 0.5, 256, 128, 32)),
           _natural_tones, _read_tones, no_augment=NO_AUGMENT),
)

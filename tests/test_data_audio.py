"""Audio sources: WAV/FLAC decoding against hand-computed values, resampling, crop/pad, log-mel, bad files.

Every file here is written by the test (stdlib `wave`, hand-built RIFF
chunks, soundfile for FLAC) with sample values chosen so the expected float
is known exactly: int16 v reads as v / 32768, 8-bit u as (u - 128) / 128,
24-bit v as v / 2**23.
"""

from __future__ import annotations

import pickle
import re
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from graph.training_config import DataSpec, TrainingConfig
from runtime.data import DataError, load_dataset, probe
from runtime.data import audio as audio_source
from runtime.data.audio_decode import AudioFileError, read_audio, read_info
from runtime.data.audio_features import (
    fix_length,
    log_mel,
    mel_centres,
    mel_filterbank,
    resample,
    resampled_length,
)
from runtime.data.audio_synth import CLASS_NAMES, write_folder
from runtime.data.registry import SOURCES
from runtime.data.source import Context

RAW = TrainingConfig({"val_fraction": 0.0, "normalize": False})


def _wav(path: Path, frames: np.ndarray, rate: int = 8000, width: int = 2, channels: int = 1) -> Path:
    """frames: integer sample values (n,) or (n, channels), written little-endian with `wave`."""
    frames = np.asarray(frames).reshape(-1, channels)
    if width == 1:
        data = frames.astype(np.uint8).tobytes()
    elif width == 3:
        v = frames.astype(np.int64).reshape(-1) & 0xFFFFFF
        data = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8).tobytes()
    else:
        data = frames.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data)
    return path


def _riff(path: Path, fmt: bytes, data: bytes) -> Path:
    """A WAV file from a hand-made 'fmt ' chunk body and data bytes."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _fmt(code: int, channels: int, rate: int, bits: int, sub: int | None = None) -> bytes:
    align = channels * bits // 8
    head = struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits)
    if sub is None:
        return head
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return head + struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", sub) + guid_tail


def _read(options: dict, shape=None):
    source = SOURCES[options.get("_source", "audio_folder")]
    options = source.check_options({k: v for k, v in options.items() if k != "_source"})
    return source.read(options, Context(shape=shape))


# --- decoding -----------------------------------------------------------------------------------------


def test_pcm_wav_of_every_width_reads_as_hand_computed_floats(tmp_path):
    values16 = np.array([0, 1, -1, 16384, -32768, 32767])
    samples, rate = read_audio(_wav(tmp_path / "a.wav", values16, rate=22050))
    assert rate == 22050 and samples.dtype == np.float32
    np.testing.assert_array_equal(samples, values16 / 32768)
    samples, _ = read_audio(_wav(tmp_path / "b.wav", np.array([0, 128, 255, 64]), width=1))
    np.testing.assert_array_equal(samples, [-1.0, 0.0, 127 / 128, -0.5])
    values24 = np.array([-(2**23), 2**23 - 1, 1, -1, 12345])
    samples, _ = read_audio(_wav(tmp_path / "c.wav", values24, width=3))
    np.testing.assert_allclose(samples, values24 / 2**23, rtol=0, atol=1e-7)
    values32 = np.array([-(2**31), 2**30, -1])
    samples, _ = read_audio(_wav(tmp_path / "d.wav", values32, width=4))
    np.testing.assert_allclose(samples, values32 / 2**31, rtol=0, atol=1e-7)


def test_stereo_is_averaged_into_mono(tmp_path):
    frames = np.array([[1000, -3000], [32767, 32767], [-100, 100]])
    samples, _ = read_audio(_wav(tmp_path / "s.wav", frames, channels=2))
    np.testing.assert_allclose(samples, [-1000 / 32768, 32767 / 32768, 0.0], atol=1e-7)
    assert read_info(tmp_path / "s.wav").channels == 2


def test_extensible_24_bit_and_float_wav_are_read(tmp_path):
    values = np.array([2**22, -(2**22), 7], dtype=np.int64) & 0xFFFFFF
    data = np.stack([values & 0xFF, (values >> 8) & 0xFF, values >> 16], axis=1).astype(np.uint8).tobytes()
    path = _riff(tmp_path / "ext.wav", _fmt(0xFFFE, 1, 48000, 24, sub=1), data)
    samples, rate = read_audio(path)
    assert rate == 48000
    np.testing.assert_allclose(samples, [0.5, -0.5, 7 / 2**23], atol=1e-7)
    floats = np.array([0.25, -0.75, 2.0], dtype="<f4")  # out of range is clipped
    samples, _ = read_audio(_riff(tmp_path / "f.wav", _fmt(3, 1, 8000, 32), floats.tobytes()))
    np.testing.assert_array_equal(samples, [0.25, -0.75, 1.0])


def test_flac_reads_through_soundfile(tmp_path):
    soundfile = pytest.importorskip("soundfile")  # a declared dependency; absent only in odd installs
    values = np.array([0, 1000, -20000, 32767], dtype=np.int16)
    soundfile.write(str(tmp_path / "a.flac"), values, 16000, subtype="PCM_16")
    samples, rate = read_audio(tmp_path / "a.flac")
    assert rate == 16000 and read_info(tmp_path / "a.flac").frames == 4
    np.testing.assert_array_equal(samples, values / 32768)


def _fmt_bytes() -> bytes:
    return _fmt(1, 1, 8000, 16)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "is empty (0 bytes)"),
    (b"hello, this is a text file and not a sound", "is not a WAV file"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", "is a broken WAV file (no 'fmt ' chunk)"),
    (b"RIFF\x12\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "its format chunk is too short"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + _fmt_bytes(), "no 'data' chunk"),
])
def test_files_that_are_not_wav_say_why(tmp_path, content, reason):
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=re.escape(reason)):
        read_info(path)


def test_unsupported_wav_encodings_are_named(tmp_path):
    adpcm = _riff(tmp_path / "adpcm.wav", _fmt(2, 1, 8000, 4), b"\x00" * 64)
    with pytest.raises(AudioFileError, match=r"Microsoft ADPCM \(format code 2\).*pcm_s16le"):
        read_info(adpcm)
    mulaw = _riff(tmp_path / "mu.wav", _fmt(0xFFFE, 1, 8000, 8, sub=7), b"\x00" * 64)
    with pytest.raises(AudioFileError, match=r"mu-law \(format code 7\)"):
        read_info(mulaw)
    twelve = _riff(tmp_path / "12.wav", _fmt(1, 1, 8000, 12), b"\x00" * 64)
    with pytest.raises(AudioFileError, match="12-bit PCM WAV; only 8/16/24/32-bit PCM"):
        read_info(twelve)


def test_flac_without_soundfile_asks_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "soundfile", None)  # import soundfile now raises ImportError
    (tmp_path / "a.flac").write_bytes(b"fLaC" + b"\x00" * 40)
    with pytest.raises(DataError, match="pip install soundfile"):
        read_info(tmp_path / "a.flac")


# --- features -----------------------------------------------------------------------------------------


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_resampling_keeps_a_sines_frequency():
    t = np.arange(44100) / 44100
    sine = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    down = resample(sine, 44100, 16000)
    assert len(down) == resampled_length(44100, 44100, 16000) == 16000
    assert _peak_hz(down, 16000) == pytest.approx(440.0, abs=1.0)
    assert np.abs(down[1000:-1000]).max() == pytest.approx(1.0, abs=0.01)  # the amplitude is kept too
    up = resample(sine[:4410], 44100, 48000)
    assert len(up) == 4800 and _peak_hz(up, 48000) == pytest.approx(440.0, abs=10.0)
    # above the new Nyquist frequency (8 kHz) is filtered out, not folded back as an alias
    high = np.sin(2 * np.pi * 12000.0 * t).astype(np.float32)
    assert np.abs(resample(high, 44100, 16000)[1000:-1000]).max() < 0.01


def test_fix_length_keeps_the_centre_and_pads_the_end():
    clip = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(clip, 6), [2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(fix_length(clip, 7), [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(fix_length(clip[:3], 5), [0, 1, 2, 0, 0])


def test_mel_filterbank_triangles_peak_at_their_centres():
    bank = mel_filterbank(16000, 512, 40)
    assert bank.shape == (40, 257) and bank.min() >= 0 and bank.max() <= 1
    bins = np.linspace(0, 8000, 257)
    centres = mel_centres(16000, 40)
    assert np.all(np.diff(centres) > 0) and centres[0] > 0 and centres[-1] < 8000
    peaks = bins[np.argmax(bank, axis=1)]
    assert np.all(np.abs(peaks - centres) <= 8000 / 256)  # each filter's largest weight: its centre bin


def test_log_mel_shape_and_a_tone_peaks_in_the_right_mel_band():
    rate, length, mels = 16000, 8000, 40
    t = np.arange(length) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    spectrogram = log_mel(np.stack([tone, np.zeros(length, np.float32)]), rate, 512, 160, mels)
    assert spectrogram.shape == (2, mels, 1 + length // 160)
    expected = int(np.argmin(np.abs(mel_centres(rate, mels) - 1000.0)))
    bands = spectrogram[0].mean(axis=1)
    assert int(np.argmax(bands)) == expected
    assert bands[expected] - np.median(bands) > 5  # e^5: the tone stands far above the other bands
    np.testing.assert_allclose(spectrogram[1], np.log(1e-6), atol=1e-4)  # silence sits at the floor


# --- the audio_folder source ----------------------------------------------------------------------------


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "sounds"
    _wav(root / "cat" / "a.wav", np.arange(-5, 5) * 1000)  # 10 samples
    _wav(root / "cat" / "b.wav", np.array([100, 200, 300]))  # 3 samples: padded
    _wav(root / "dog" / "a.wav", np.arange(12) * 100, channels=1)
    return root


def test_folder_reads_labels_and_values_as_computed_by_hand(tmp_path):
    root = _folder(tmp_path)
    raw = _read({"path": str(root), "sample_rate": 8000, "duration": 6 / 8000})
    assert raw.class_names == ["cat", "dog"] and raw.num_classes == 2
    np.testing.assert_array_equal(raw.targets, [0, 0, 1])
    store = raw.inputs
    assert store.shape == (3, 6, 1) and len(store) == 3
    expected = np.array([
        np.arange(-3, 3) * 1000,  # the centre 6 of 10
        [100, 200, 300, 0, 0, 0],  # padded at the end
        np.arange(3, 9) * 100,  # the centre 6 of 12
    ]) / 32768
    np.testing.assert_allclose(store[np.arange(3)][..., 0], expected, atol=1e-7)
    np.testing.assert_allclose(store[2][:, 0], expected[2], atol=1e-7)  # one row
    np.testing.assert_allclose(store.subset(np.array([2, 0]))[np.array([1])][0, :, 0], expected[0], atol=1e-7)
    again = pickle.loads(pickle.dumps(store))  # what a DataLoader worker receives
    np.testing.assert_array_equal(again[np.arange(3)], store[np.arange(3)])
    assert raw.extra["padded"] == 1 and raw.extra["skipped"] == 0
    assert "1 of 3 clips are shorter than 0.00075 s" in raw.extra["warnings"][0]
    assert "cat/b.wav" in raw.extra["warnings"][0]


def test_folder_resamples_every_file_to_the_sample_rate(tmp_path):
    root = tmp_path / "mixed"
    for name, rate in (("a", 8000), ("b", 22050)):
        t = np.arange(rate // 2) / rate
        _wav(root / "tone" / f"{name}.wav", np.round(16000 * np.sin(2 * np.pi * 500 * t)), rate=rate)
    _wav(root / "other" / "c.wav", np.zeros(4000), rate=8000)
    raw = _read({"path": str(root), "sample_rate": 16000, "duration": 0.5})
    clips = raw.inputs[np.arange(3)][..., 0]
    assert clips.shape == (3, 8000) and raw.extra["padded"] == 0
    for row in (1, 2):  # the two tones, read at 8 and 22.05 kHz, both at 500 Hz at 16 kHz
        assert _peak_hz(clips[row], 16000) == pytest.approx(500.0, abs=2.0)


def test_load_dataset_gives_sequences_or_spectrograms_with_one_mean_and_std(tmp_path):
    root = tmp_path / "set"
    write_folder(root, per_class=4, sample_rate=8000, duration=0.25)
    config = TrainingConfig({"val_fraction": 0.25, "test_fraction": 0.0})
    data = load_dataset(DataSpec("audio_folder", {"path": str(root), "sample_rate": 8000, "duration": 0.25}),
                        config, seed=0, input_shape=(2000, 1), input_kind="sequence")
    assert data.input_kind == "sequence" and data.num_classes == 5 and data.class_names == sorted(CLASS_NAMES)
    assert data.train.inputs.shape == (15, 2000, 1) and data.val.inputs.shape == (5, 2000, 1)
    assert data.mean.shape == (1,) and data.std.shape == (1,)
    rows = np.asarray(data.train.inputs[np.arange(len(data.train))])  # a streamed store: read its rows
    assert abs(float(rows.mean())) < 1e-4
    assert float(rows.std()) == pytest.approx(1, abs=1e-3)
    options = {"path": str(root), "sample_rate": 8000, "duration": 0.25, "features": "log_mel",
               "n_fft": 256, "hop_length": 64, "mels": 24}
    assert probe(DataSpec("audio_folder", options), (1, 24, 32), "image").input_shape == (1, 24, 32)
    data = load_dataset(DataSpec("audio_folder", options), config, seed=0, input_shape=(1, 24, 32),
                        input_kind="image")
    assert data.train.inputs.shape == (15, 1, 24, 32) and data.mean.shape == (1, 1, 1)


def test_a_network_that_does_not_match_is_told_the_exact_shape(tmp_path):
    root = _folder(tmp_path)
    options = {"path": str(root), "features": "log_mel"}  # 1 s at 16 kHz, 40 mels, hop 160
    with pytest.raises(DataError) as error:
        probe(DataSpec("audio_folder", options), (1, 101, 40), "image")  # same count, transposed
    message = str(error.value)
    assert "are (B, 1, 40, 101) but the network's input block expects (B, 1, 101, 40)" in message
    assert "change the input block to (B, 1, 40, 101), or change the data source's duration" in message
    with pytest.raises(DataError, match=r"change the input block to \(B, 16000, 1\)"):
        probe(DataSpec("audio_folder", {"path": str(root)}), (8000, 2), "sequence")
    with pytest.raises(DataError, match="option 'n_fft': 512 samples is longer than a clip"):
        probe(DataSpec("audio_folder", {**options, "duration": 0.01}), None)
    with pytest.raises(DataError, match="option 'mels': 300 mel bands"):
        probe(DataSpec("audio_folder", {**options, "mels": 300}), None)


def test_bad_files_are_skipped_counted_and_named(tmp_path):
    root = _folder(tmp_path)
    (root / "cat" / "empty.wav").write_bytes(b"")
    (root / "cat" / "text.wav").write_text("not a sound at all", encoding="utf-8")
    _riff(root / "dog" / "adpcm.wav", _fmt(2, 1, 8000, 4), b"\x00" * 64)
    (root / "dog" / "broken.flac").write_bytes(b"fLaC" + b"\xff" * 100)
    (root / "dog" / "notes.txt").write_text("recorded in the garden", encoding="utf-8")
    (root / "dog" / ".hidden.wav").write_bytes(b"")  # hidden files are not looked at
    raw = _read({"path": str(root), "sample_rate": 8000, "duration": 6 / 8000})
    assert len(raw.inputs) == 3 and raw.extra["skipped"] == 4 and raw.extra["ignored"] == 1
    skipped, ignored = raw.extra["warnings"][:2]
    assert skipped.startswith(f"{root}: skipped 4 of 7 audio files that cannot be read: ")
    assert "cat/empty.wav (is empty (0 bytes))" in skipped
    assert "cat/text.wav (is not a WAV file (no RIFF/WAVE header))" in skipped
    assert "dog/adpcm.wav (is a WAV file in Microsoft ADPCM (format code 2)" in skipped
    assert "and 1 more; replace or delete them" in skipped
    assert ignored == f"{root}: ignored 1 file(s) that are not .wav or .flac: dog/notes.txt"
    assert "4 unreadable file(s) skipped" in raw.description
    np.testing.assert_array_equal(raw.targets, [0, 0, 1])


def test_a_class_folder_without_clips_stops_with_its_name(tmp_path):
    root = _folder(tmp_path)
    (root / "bird").mkdir()
    (root / "bird" / "readme.txt").write_text("to do", encoding="utf-8")
    with pytest.raises(DataError, match=r"bird: the class folder 'bird' holds no audio files \(.wav, .flac"):
        _read({"path": str(root)})
    (root / "bird" / "a.wav").write_bytes(b"")
    (root / "bird" / "b.wav").write_bytes(b"RIFF")
    with pytest.raises(DataError) as error:
        _read({"path": str(root)})
    message = str(error.value)
    assert "none of the 2 file(s) of class 'bird' can be read as audio: bird/a.wav (is empty" in message
    with pytest.raises(DataError, match="has no class sub-folders, only files such as 'a.wav'"):
        _read({"path": str(root / "cat")})


def test_the_header_index_is_cached_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    import os

    root = _folder(tmp_path)
    options = {"path": str(root), "sample_rate": 8000, "duration": 6 / 8000}
    assert _read(options).extra["padded"] == 1
    calls = []
    real = audio_source.read_info
    monkeypatch.setattr(audio_source, "read_info", lambda p: calls.append(p) or real(p))
    assert _read(options).extra["padded"] == 1 and calls == []  # every header came from the cache
    path = root / "cat" / "b.wav"
    _wav(path, np.arange(20))  # now long enough: no padding
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert _read(options).extra["padded"] == 0 and len(calls) == 3
    assert not any(p.name.startswith(("entry", "index")) for p in root.rglob("*"))  # nothing beside the data


# --- audio_tones --------------------------------------------------------------------------------------


def test_tones_are_balanced_and_each_clip_is_the_same_in_any_batch():
    raw = _read({"_source": "audio_tones", "samples": 50, "duration": 0.1})
    assert raw.inputs.shape == (50, 800, 1) and raw.class_names == CLASS_NAMES
    assert np.bincount(raw.targets).tolist() == [10] * 5
    alone = raw.inputs[np.array([7])]
    np.testing.assert_array_equal(raw.inputs[np.array([3, 7, 9])][1], alone[0])
    np.testing.assert_array_equal(_read({"_source": "audio_tones", "samples": 50, "duration": 0.1}).inputs[7],
                                  alone[0])
    with pytest.raises(DataError, match="must be at least 6000 Hz"):
        _read({"_source": "audio_tones", "sample_rate": 4000})


# --- training (slow) ----------------------------------------------------------------------------------


def _train(argv: list[str], run_dir: Path) -> dict:
    import json

    from runtime.cli import main

    # one thread: on a shared, busy machine two threads fighting for cores are many times slower
    assert main(["train", *argv, "--out", str(run_dir), "--quiet", "--device", "cpu", "--threads", "1"]) == 0
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_audio_example_reaches_97_percent_test_accuracy_in_10_epochs(tmp_path):
    """The bundled 1-D CNN on raw waveforms of the five synthesised classes (measured: 99.3 %)."""
    summary = _train(["audio_tones_cnn"], tmp_path / "run")
    assert summary["epochs"] == 10
    assert summary["test"]["accuracy"] >= 0.97, summary["test"]


LOG_MEL_PROJECT = {
    "format": "deepwire-project", "version": 2, "id": "log-mel-test", "name": "Log-mel CNN", "seed": 0,
    "data": {"source": "audio_folder", "options": {
        "path": "sounds", "sample_rate": 8000, "duration": 0.5, "features": "log_mel",
        "n_fft": 256, "hop_length": 128, "mels": 32}},
    "training": {"recipe": "classification", "epochs": 8, "lr": 0.003, "val_fraction": 0.2,
                 "test_fraction": 0.2},
    "networks": [{"name": "model", "blocks": [
        {"id": "b1", "type": "ImageInput", "name": "spectrogram",
         "params": {"channels": 1, "height": 32, "width": 32}, "position": [0, 0]},
        {"id": "b2", "type": "Conv2d", "name": "conv1", "params": {"channels": 16, "kernel_size": 3,
                                                                    "padding": 1}, "position": [200, 0]},
        {"id": "b3", "type": "ReLU", "name": "relu1", "params": {}, "position": [400, 0]},
        {"id": "b4", "type": "MaxPool2d", "name": "pool1", "params": {"kernel_size": 4},
         "position": [600, 0]},
        {"id": "b5", "type": "Flatten", "name": "flatten", "params": {}, "position": [800, 0]},
        {"id": "b6", "type": "Linear", "name": "scores", "params": {"features": 5}, "position": [1000, 0]},
        {"id": "b7", "type": "ClassificationHead", "name": "sound", "params": {"classes": 5},
         "position": [1200, 0]}],
        "edges": [{"from": f"b{n}", "to": f"b{n + 1}", "port": "x"} for n in range(1, 7)]}],
}


@pytest.mark.slow
def test_a_folder_of_wav_files_trains_a_log_mel_cnn(tmp_path):
    """audio_folder end to end: files written, indexed, decoded per sample, log-mel, a 2-D CNN learns them."""
    import json

    write_folder(tmp_path / "sounds", per_class=40, noise=0.3)
    project = tmp_path / "log_mel.dw.json"
    project.write_text(json.dumps(LOG_MEL_PROJECT), encoding="utf-8")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "sounds").rglob("*"))
    summary = _train([str(project)], tmp_path / "run")
    assert summary["test"]["accuracy"] >= 0.9, summary["test"]
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "sounds").rglob("*")) == before


def test_a_long_recording_reads_only_the_centre_it_keeps(tmp_path, monkeypatch):
    rate, seconds = 22050, 30
    t = np.arange(rate * seconds) / rate
    tone = np.round(12000 * np.sin(2 * np.pi * 700 * t))
    path = _wav(tmp_path / "long" / "tone" / "a.wav", tone, rate=rate)
    _wav(tmp_path / "long" / "quiet" / "b.wav", np.zeros(100), rate=rate)
    whole_16k = resample(read_audio(path)[0], rate, 16000)
    expected = fix_length(whole_16k, 4000)
    asked = []
    real = audio_source.read_audio
    monkeypatch.setattr(audio_source, "read_audio", lambda p, *a: asked.append(a) or real(p, *a))
    raw = _read({"path": str(tmp_path / "long"), "sample_rate": 16000, "duration": 0.25})
    clip = raw.inputs[np.array([1])][0, :, 0]
    start, count = asked[0]
    assert count < 6000 and start > 300_000  # a quarter second from the middle, not 30 s
    np.testing.assert_allclose(clip, expected, atol=1e-5)  # as if the whole file had been resampled
    assert _peak_hz(clip, 16000) == pytest.approx(700.0, abs=4.0)


def test_a_class_folder_that_cannot_be_listed_is_named(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    real = Path.iterdir

    def refuse(self):
        if self.name == "dog":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(DataError, match=r"dog: the folder cannot be listed \(Permission denied\)"):
        _read({"path": str(root)})


# --- augmentation: image flips and shifts are refused on sounds ----------------------------------------

def _log_mel_project(tmp_path: Path, augment: bool) -> Path:
    import json

    write_folder(tmp_path / "sounds", per_class=4, noise=0.3)
    spec = json.loads(json.dumps(LOG_MEL_PROJECT))
    spec["training"].update({"augment": augment, "epochs": 1})
    project = tmp_path / "log_mel.dw.json"
    project.write_text(json.dumps(spec), encoding="utf-8")
    return project


def _cli(capsys, *argv: str) -> tuple[int, str]:
    from runtime.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("augment", [True, False])
def test_check_says_augment_does_not_fit_audio(tmp_path, capsys, augment):
    code, text = _cli(capsys, "check", str(_log_mel_project(tmp_path, augment)))
    said = "training setting 'augment' is on, but data source 'audio_folder' gives sounds" in text
    assert said == augment, text
    if augment:
        assert code != 0 and "plays a clip backwards" in text and "turn 'augment' off" in text, text
    else:
        assert code == 0, text


def test_check_json_names_the_setting(tmp_path, capsys):
    import json

    code, text = _cli(capsys, "check", str(_log_mel_project(tmp_path, True)), "--json")
    [problem] = [d for d in json.loads(text)["diagnostics"] if d["param"] == "augment"]
    assert code != 0 and problem["severity"] == "error" and problem["code"] == "data"
    assert "'audio_folder'" in problem["message"]


def test_train_refuses_augment_on_audio_before_the_first_step(tmp_path, capsys):
    code, text = _cli(capsys, "train", str(_log_mel_project(tmp_path, True)), "--out", str(tmp_path / "run"),
                      "--quiet", "--device", "cpu", "--threads", "1")
    assert code != 0 and "training setting 'augment' is on" in text and "audio_folder" in text, text
    assert "Traceback" not in text
    assert not (tmp_path / "run" / "last.pt").exists()  # no step was taken


def test_the_trainer_refuses_augment_on_synthesised_tones_too(tmp_path):
    from graph.blocks import default_registry
    from graph.examples import example_path
    from graph.project_io import load_project
    from runtime.train import SetupError, StopFlag, Trainer, TrainOptions
    from runtime.train.data import load_project_data

    registry = default_registry()
    project = load_project(example_path("audio_tones_cnn"), registry)
    project.training = project.training.replace(augment=True, epochs=1)
    project.data.options = {**project.data.options, "samples": 50}
    dataset = load_project_data(project, registry)
    options = TrainOptions(run_dir=tmp_path / "run", stop=StopFlag(), handle_signals=False, workers=0)
    with pytest.raises(SetupError, match=r"'augment' is on, but data source 'audio_tones' gives sounds"):
        Trainer(project, registry, dataset, options).run()


def test_the_studio_data_panel_shows_the_refusal_on_the_input_block(qtbot, tmp_path):
    from graph.project_io import load_project
    from studio.document import Document
    from studio.training.data_panel import DataPanel
    from tests.test_train_fixtures import REGISTRY

    document = Document(REGISTRY, load_project(_log_mel_project(tmp_path, False), REGISTRY))
    document.path = tmp_path / "log_mel.dw.json"
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.problem == ""
    document.set_training({"augment": True})  # one undo step, as the Training settings panel does
    assert "training setting 'augment' is on" in panel.problem and panel.problem_label.isVisible()
    [problem] = [d for d in document.analysis().diagnostics if d.code == "data"]
    assert problem.is_error and problem.block == "b1" and "audio_folder" in problem.message
    document.undo_stack.undo()
    assert panel.problem == "" and not [d for d in document.analysis().diagnostics if d.code == "data"]

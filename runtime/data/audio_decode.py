"""Reading one audio file: its header (cheap) and its samples as mono float32 in [-1, 1].

WAV is read here with a small RIFF chunk reader and numpy: integer PCM of 8
(unsigned), 16, 24 or 32 bits and IEEE float of 32 or 64 bits, plain or in a
WAVE_FORMAT_EXTENSIBLE header. The stdlib `wave` module would do for plain
PCM, but before Python 3.12 it refuses the extensible header that 24-bit and
multi-channel files commonly carry, and it never reads float. Compressed WAV
encodings (ADPCM, A-law, MP3 ...) are named in the error. FLAC goes through
the `soundfile` package (libsndfile); without it a FLAC file asks for
`pip install soundfile`. Every channel is averaged into one (stereo -> mono).

Errors are `AudioFileError` with a reason a message can show after the file
name; the folder source skips such files and counts them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.data.base import DataError
from runtime.data.files import check_size

AUDIO_SUFFIXES = (".wav", ".flac")

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
# the encodings a WAV format code names, for the message that refuses them
_WAV_ENCODINGS = {
    2: "Microsoft ADPCM", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x31: "GSM 6.10",
    0x50: "MPEG", 0x55: "MP3", 0xFF: "AAC", 0x161: "Windows Media Audio",
}
_CONVERT = "convert it to 16-bit PCM WAV (e.g. ffmpeg -i IN -c:a pcm_s16le OUT.wav)"
SOUNDFILE_MISSING = "reading FLAC needs the soundfile package: pip install soundfile"


class AudioFileError(Exception):
    """A file that cannot be read as audio; str() is the reason, without the file name."""


@dataclass(frozen=True)
class AudioInfo:
    frames: int  # samples per channel
    rate: int  # samples per second
    channels: int


@dataclass(frozen=True)
class _WavLayout:
    info: AudioInfo
    encoding: int  # _PCM or _FLOAT
    bits: int
    data_offset: int
    data_bytes: int  # what the file really holds (a truncated file holds less than its header says)


def read_info(path: Path) -> AudioInfo:
    """Frames, rate and channels from the header alone; AudioFileError if it is not audio we can read."""
    size = _size(path)
    if path.suffix.lower() == ".flac":
        return _flac_info(path)
    return _wav_layout(path, size).info


def read_audio(path: Path, start: int = 0, frames: int | None = None) -> tuple[np.ndarray, int]:
    """(samples, rate): mono float32 samples in [-1, 1] and their rate in Hz.

    start, frames: read only that part (in frames), so a short clip cut from a
    long recording never decodes the whole file.
    """
    size = _size(path)
    if path.suffix.lower() == ".flac":
        return _read_flac(path, start, frames)
    layout = _wav_layout(path, size)
    channels, width = layout.info.channels, layout.bits // 8
    frame_bytes = channels * width
    begin = min(max(0, start) * frame_bytes, layout.data_bytes)
    wanted = layout.data_bytes - begin
    if frames is not None:
        wanted = min(frames * frame_bytes, wanted)
    check_size(path, wanted)
    try:
        with open(path, "rb") as stream:
            stream.seek(layout.data_offset + begin)
            data = stream.read(wanted)
    except OSError as exc:
        raise AudioFileError(f"could not be read ({exc.strerror or exc})") from None
    count = len(data) // frame_bytes
    if count == 0:
        raise AudioFileError("holds no samples")
    values = _decode(data[: count * frame_bytes], layout.encoding, layout.bits).reshape(count, channels)
    return values.mean(axis=1, dtype=np.float64).astype(np.float32), layout.info.rate


def _size(path: Path) -> int:
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise AudioFileError(f"could not be opened ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioFileError("is empty (0 bytes)")
    return size


def _decode(data: bytes, encoding: int, bits: int) -> np.ndarray:
    if encoding == _FLOAT:
        values = np.frombuffer(data, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
        return np.clip(np.nan_to_num(values), -1.0, 1.0)
    if bits == 8:  # 8-bit WAV is unsigned, silence at 128
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if bits == 24:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)  # two's complement sign
        return values / float(1 << 23)
    dtype = "<i2" if bits == 16 else "<i4"
    return np.frombuffer(data, dtype=dtype) / float(1 << (bits - 1))


def _wav_layout(path: Path, size: int) -> _WavLayout:
    """Walk the RIFF chunks to the format and the data; everything that is not PCM or float is refused."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
                raise AudioFileError("is not a WAV file (no RIFF/WAVE header)")
            fmt = None
            position = 12
            while position + 8 <= size:
                stream.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", stream.read(8))
                if chunk_id == b"fmt ":
                    fmt = _format(stream.read(min(chunk_size, 64)))
                elif chunk_id == b"data":
                    if fmt is None:
                        raise AudioFileError("is a broken WAV file (the data comes before its format)")
                    encoding, channels, rate, bits = fmt
                    available = max(0, min(chunk_size, size - position - 8))
                    frames = available // (channels * bits // 8)
                    info = AudioInfo(frames, rate, channels)
                    if frames == 0:
                        raise AudioFileError("holds no samples")
                    return _WavLayout(info, encoding, bits, position + 8, available)
                position += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    except OSError as exc:
        raise AudioFileError(f"could not be read ({exc.strerror or exc})") from None
    except struct.error:
        raise AudioFileError("is a broken WAV file (a chunk header is cut off)") from None
    raise AudioFileError("is a broken WAV file (no 'data' chunk)" if fmt is not None
                         else "is a broken WAV file (no 'fmt ' chunk)")


def _format(body: bytes) -> tuple[int, int, int, int]:
    """(encoding, channels, rate, bits) of a 'fmt ' chunk, or AudioFileError naming what is unsupported."""
    if len(body) < 16:
        raise AudioFileError("is a broken WAV file (its format chunk is too short)")
    code, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
    if code == _EXTENSIBLE and len(body) >= 26:
        code = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the real code
    if code not in (_PCM, _FLOAT):
        name = _WAV_ENCODINGS.get(code, "an encoding DeepWire does not read")
        raise AudioFileError(f"is a WAV file in {name} (format code {code}); only PCM and float WAV "
                             f"are read: {_CONVERT}")
    allowed = (8, 16, 24, 32) if code == _PCM else (32, 64)
    if bits not in allowed:
        kind = "PCM" if code == _PCM else "float"
        raise AudioFileError(f"is {bits}-bit {kind} WAV; only {'/'.join(map(str, allowed))}-bit {kind} "
                             f"is read: {_CONVERT}")
    if channels < 1 or rate < 1:
        raise AudioFileError(f"is a broken WAV file ({channels} channels at {rate} Hz)")
    return code, channels, rate, bits


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the package is there but libsndfile is not
        raise DataError(SOUNDFILE_MISSING) from None
    return soundfile


def _flac_info(path: Path) -> AudioInfo:
    soundfile = _soundfile()
    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # libsndfile reports every kind of bad file as its own error
        raise AudioFileError(f"could not be read as FLAC ({_short(exc)})") from None
    if info.frames <= 0:
        raise AudioFileError("holds no samples")
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels))


def _read_flac(path: Path, start: int, frames: int | None) -> tuple[np.ndarray, int]:
    soundfile = _soundfile()
    try:
        values, rate = soundfile.read(str(path), frames=-1 if frames is None else frames, start=max(0, start),
                                      dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioFileError(f"could not be read as FLAC ({_short(exc)})") from None
    if len(values) == 0:
        raise AudioFileError("holds no samples")
    return values.mean(axis=1, dtype=np.float64).astype(np.float32), int(rate)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]

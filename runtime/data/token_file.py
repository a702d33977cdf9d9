"""Big text files tokenised once into a memory-mapped token file in the cache, read window by window.

A text_file above `stream_bytes()` is never decoded whole. The first run
reads it in blocks of bytes (an incremental UTF-8 decoder, so a character cut
by a block edge is joined again; line ends made "\\n" as the small reader
does) and writes its token ids to

    <cache>/text-tokens-<key>/tokens.bin    uint8, uint16 or int32 ids: the smallest the vocabulary fits
                             entry.json    vocabulary, dtype, id count, the file's size and mtime

("all" vocabularies take two passes over the file: the characters first,
then the ids, which is cheaper than a temporary file of code points). Every
run maps tokens.bin read-only (np.memmap). `TokenWindows` gives the windows
of one part of the text (training, validation, test) as a store: rows are
read through `np.lib.stride_tricks.sliding_window_view` over the memory map
and handed out as int64, the dtype token ids have everywhere else, so a
multi-hundred-MB text never sits in memory.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import numpy as np

from runtime.data.base import DataError
from runtime.data.cache import cache_entry, fingerprint
from runtime.data.store import SampleStore

BLOCK_BYTES = 8 * 2**20


def _dtype(vocab_size: int) -> np.dtype:
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def _blocks(path: Path, max_chars: int, progress: Callable | None, what: str):
    """The text of `path` in blocks, line ends made "\\n", at most `max_chars` characters (0: all)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    size, done, lines, seen, held = path.stat().st_size, 0, 0, 0, ""
    with open(path, "rb") as stream:
        while True:
            data = stream.read(BLOCK_BYTES)
            final = not data
            pending = decoder.getstate()[0]  # bytes of a character cut by the last block's edge
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as exc:
                joined = pending + data
                offset = done - len(pending) + exc.start
                line = lines - pending.count(b"\n") + joined[:exc.start].count(b"\n") + 1
                raise DataError(
                    f"{path.name}: byte {offset} (line {line}) is not valid UTF-8 text (byte value "
                    f"0x{joined[exc.start]:02x}); save the file with UTF-8 encoding (most editors offer "
                    f"it under 'Save as')") from None
            text = held + text
            held = ""
            if text.endswith("\r") and not final:  # a "\r\n" may be cut by the block edge
                text, held = text[:-1], "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if max_chars and seen + len(text) >= max_chars:
                text = text[: max_chars - seen]
                final = True
            seen += len(text)
            done += len(data)
            lines += data.count(b"\n")
            if text:
                yield text
            if progress is not None:
                progress(what, done, size)
            if final:
                return


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def open_tokens(path: Path, options: dict, ascii_vocab: list[str], folds: dict,
                progress: Callable | None = None) -> tuple[Path, np.dtype, int, list[str]]:
    """(token file, its dtype, id count, vocabulary) of the text file, built into the cache once."""
    entry = cache_entry(path, "text-tokens", {"vocab": options["vocab"], "max_chars": options["max_chars"]})
    before = fingerprint([path])
    if not entry.valid(before):
        _build(path, options, ascii_vocab, folds, entry, before, progress)
    info = entry.info()
    return entry.folder / "tokens.bin", np.dtype(info["dtype"]), int(info["count"]), info["vocab"]


def read_tokens(file: Path, dtype: np.dtype, count: int) -> np.ndarray:
    """The token ids as a read-only memory map (an empty file cannot be mapped: an empty array)."""
    if count == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(file, dtype=dtype, mode="r", shape=(count,))


def _build(path: Path, options: dict, ascii_vocab: list[str], folds: dict, entry, before, progress) -> None:
    mode, max_chars, what = options["vocab"], options["max_chars"], f"tokenising {path.name}"
    if mode == "ascii":
        vocab = list(ascii_vocab)
    else:  # the vocabulary is every character of the text: a first pass collects them
        seen: set[int] = set()
        for text in _blocks(path, max_chars, progress, f"reading {path.name}"):
            seen.update(np.unique(_codes(text)).tolist())
        vocab = [chr(code) for code in sorted(seen)]
    table = np.full(0x110000, len(vocab) - 1 if mode == "ascii" else 0, dtype=np.int64)
    table[[ord(ch) for ch in vocab]] = np.arange(len(vocab))
    table = table.astype(_dtype(len(vocab)))
    folder = entry.prepare()
    count = 0
    with open(folder / "tokens.bin", "wb") as out:
        for text in _blocks(path, max_chars, progress, what):
            if mode == "ascii":
                text = text.translate(folds)
            codes = _codes(text)
            if mode != "ascii" and not np.isin(np.unique(codes), list(seen)).all():
                raise _changed(path)  # a character the first pass did not see
            ids = table[codes]
            out.write(ids.tobytes())
            count += len(ids)
    if fingerprint([path]) != before:
        raise _changed(path)
    entry.seal(before, vocab=vocab, dtype=table.dtype.str, count=count)


def _changed(path: Path) -> DataError:
    return DataError(f"{path.name} changed while DeepWire was reading it (its size or modification time "
                     f"differ from the start); wait until it is completely written, then try again")


class TokenWindows(SampleStore):
    """Windows of `steps` ids starting every `stride` ids of tokens[start:stop] (+ `shift`: targets).

    Reads through a sliding-window view over the memory-mapped token file; rows come out int64.
    Picklable for DataLoader workers: the memory map is reopened from its path in each process.
    """

    def __init__(self, file: Path, dtype: np.dtype, count: int, start: int, stop: int, steps: int,
                 stride: int, shift: int):
        self.file, self.file_dtype, self.count = Path(file), np.dtype(dtype), int(count)
        self.start, self.stop = int(start), int(stop)
        self.steps, self.stride, self.shift = int(steps), int(stride), int(shift)
        windows = (self.stop - self.start - (self.steps + 1)) // self.stride + 1
        self.shape = (max(windows, 0), self.steps)
        self.dtype = np.dtype(np.int64)
        self._view = None

    def view(self) -> np.ndarray:
        """The windows of steps + 1 ids, a view over the memory map (nothing is read yet)."""
        if self._view is None:
            tokens = read_tokens(self.file, self.file_dtype, self.count)[self.start:self.stop]
            self._view = np.lib.stride_tricks.sliding_window_view(tokens, self.steps + 1)[::self.stride]
        return self._view

    def read(self, index: np.ndarray) -> np.ndarray:
        order = np.argsort(index, kind="stable")  # forwards through the file, then the asked order
        out = np.empty((len(index), self.steps), dtype=np.int64)
        out[order] = self.view()[index[order], self.shift:self.shift + self.steps]
        return out

    def __getstate__(self):
        return {**self.__dict__, "_view": None}

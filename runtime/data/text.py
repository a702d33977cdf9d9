"""Text for character language models: the pydoc topics every Python carries, or a UTF-8 file.

pydoc_text is the text of `pydoc_data.topics.topics` (the help pages of the
standard library's `help()`), its values joined with a newline in sorted key
order: about 465,000 characters, nothing to download.

Vocabulary (token id -> character), option `vocab`:
- "ascii" (97 ids, the same for every text): id 0 is the newline, ids 1..95
  the printable ASCII characters space..'~' in code order, id 96 the
  "unknown" character U+FFFD that every other character folds into (curly
  quotes and dashes first become their ASCII look-alikes, tabs a space).
  Example projects on pydoc_text set TokenInput.vocab_size = 97.
- "all": every distinct character of the text, in code order (the size depends
  on the text; `probe` reports it as num_classes).
Windows of T + 1 characters, T from the network's Token input, give inputs
ids[:T] and targets ids[1:] (the next character at every step). Windows start
every `stride` characters (0: every T, so they do not overlap). The text is
split into contiguous parts (train first, then validation, then test) before
windowing, so overlapping windows never put validation text into training.

A text_file above `column_store.stream_bytes()` (8 MB) is tokenised once into
a memory-mapped token file in the cache (token_file.py) and its windows are
read from it batch by batch; smaller files and pydoc_text are read into
memory exactly as before.
"""

from __future__ import annotations

import numpy as np

from graph.params import Choice, Int, Text
from runtime.data import token_file
from runtime.data.base import DataError
from runtime.data.column_store import stream_bytes
from runtime.data.files import existing_path, read_text
from runtime.data.source import Context, Natural, RawData, Source

UNKNOWN = "\ufffd"
ASCII_VOCAB = ["\n"] + [chr(code) for code in range(32, 127)] + [UNKNOWN]
ASCII_VOCAB_SIZE = len(ASCII_VOCAB)  # 97
# Characters with a close ASCII look-alike, folded before the rest become UNKNOWN.
ASCII_FOLDS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                              "\u2013": "-", "\u2014": "-", "\t": " "})


def _params(vocab_default: str, with_path: bool) -> tuple:
    params = (
        Int("max_chars", 0, 0, 2**40, "Use at most this many characters of the text (0: all of it)."),
        Int("stride", 0, 0, 1_000_000,
            "Characters between the starts of two windows (0: the window length, no overlap)."),
        Choice("vocab", vocab_default, ("ascii", "all"),
               "ascii: 97 fixed ids (newline, printable ASCII, unknown); all: every character seen."),
        Int("length", 64, 1, 1_000_000,
            "Characters per window when the network does not fix it (its Token input does)."),
    )
    if with_path:
        params = (Text("path", "", "The UTF-8 text file to learn from, e.g. 'shakespeare.txt'."),) + params
    return params


def pydoc_corpus() -> str:
    from pydoc_data.topics import topics

    return "\n".join(str(topics[key]) for key in sorted(topics))


def build_vocab(text: str, mode: str) -> list[str]:
    return list(ASCII_VOCAB) if mode == "ascii" else sorted(set(text))


def encode(text: str, vocab: list[str], mode: str) -> np.ndarray:
    """Token ids (int64) of every character; in "ascii" mode unknown characters become the last id."""
    if mode == "ascii":
        text = text.translate(ASCII_FOLDS)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    table_size = max(int(codes.max(initial=0)), max((ord(ch) for ch in vocab), default=0)) + 1
    table = np.full(table_size, len(vocab) - 1 if mode == "ascii" else -1, dtype=np.int64)
    table[[ord(ch) for ch in vocab]] = np.arange(len(vocab))
    return table[codes]


def _prepare(text: str, options: dict) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[: options["max_chars"]] if options["max_chars"] else text


def windows(ids: np.ndarray, steps: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (N, steps): windows of steps + 1 ids shifted by one."""
    view = np.lib.stride_tricks.sliding_window_view(ids, steps + 1)[::stride]
    return np.ascontiguousarray(view[:, :-1]), np.ascontiguousarray(view[:, 1:])


def _split_bounds(total: int, options: dict, context: Context, origin: str) -> tuple[int, int, list]:
    """(steps, stride, [(start, stop) or None per part]): the contiguous parts of `total` ids."""
    steps = context.shape[0] if context.shape else options["length"]
    stride = options["stride"] or steps
    if total < steps + 1:
        raise DataError(
            f"{origin}: the text has {total} characters, shorter than one window of {steps + 1} "
            f"(the Token input length {steps} plus the next character); use a longer text or a "
            f"shorter Token input length")
    val_count = round(total * context.val_fraction)
    test_count = round(total * context.test_fraction)
    train_count = total - val_count - test_count
    parts = {"training": (0, train_count), "validation": (train_count, train_count + val_count),
             "test": (train_count + val_count, total)}
    wanted = {"training": True, "validation": context.val_fraction > 0, "test": context.test_fraction > 0}
    bounds = []
    for part, (start, stop) in parts.items():
        if not wanted[part]:
            bounds.append(None)
            continue
        if stop - start < steps + 1:
            raise DataError(
                f"{origin}: the {part} part of the text has {stop - start} characters, shorter than "
                f"one window of {steps + 1}; use a longer text, a shorter Token input length or a "
                f"larger {part} fraction")
        bounds.append((start, stop))
    return steps, stride, bounds


def _split_windows(ids: np.ndarray, options: dict, context: Context, origin: str) -> tuple:
    steps, stride, bounds = _split_bounds(len(ids), options, context, origin)
    return tuple(None if b is None else windows(ids[b[0]:b[1]], steps, stride) for b in bounds)


def _raw(text: str, options: dict, context: Context, origin: str, description: str) -> RawData:
    vocab = build_vocab(text, options["vocab"])
    ids = encode(text, vocab, options["vocab"])
    splits = _split_windows(ids, options, context, origin)
    extra = {"unknown_id": len(vocab) - 1} if options["vocab"] == "ascii" else {}
    return RawData(None, None, "tokens", origin=origin, num_classes=len(vocab), vocab=vocab,
                   description=description, splits=splits, extra=extra)


def _natural(options: dict, vocab_size: int, what: str) -> Natural:
    return Natural((options["length"],), "tokens", "tokens", vocab_size, what, "length")


def _natural_pydoc(options: dict, context: Context) -> Natural:
    size = ASCII_VOCAB_SIZE
    if options["vocab"] != "ascii":
        size = len(build_vocab(_prepare(pydoc_corpus(), options), "all"))
    return _natural(options, size, "the pydoc text windows")


def _read_pydoc(options: dict, context: Context) -> RawData:
    text = _prepare(pydoc_corpus(), options)
    return _raw(text, options, context, "pydoc_text",
                f"{len(text):,} characters of Python's built-in help pages (pydoc_data).")


def _big_file(options: dict, context: Context):
    path = existing_path(context, options["path"], "text_file", "path")
    return path, path.stat().st_size > stream_bytes()


def _tokens(path, options: dict, context: Context):
    return token_file.open_tokens(path, options, ASCII_VOCAB, ASCII_FOLDS, getattr(context, "progress", None))


def _natural_file(options: dict, context: Context) -> Natural:
    path, big = _big_file(options, context)
    size = ASCII_VOCAB_SIZE
    if options["vocab"] != "ascii":  # the vocabulary is the file's characters: read it
        size = len(_tokens(path, options, context)[3]) if big else \
            len(build_vocab(_prepare(read_text(path), options), "all"))
    return _natural(options, size, f"the windows of {path.name}")


def _read_file(options: dict, context: Context) -> RawData:
    path, big = _big_file(options, context)
    if big:
        return _read_big_file(path, options, context)
    text = _prepare(read_text(path), options)
    return _raw(text, options, context, path.name, f"{len(text):,} characters of {path.name}.")


def _read_big_file(path, options: dict, context: Context) -> RawData:
    """The windows of a big file as stores over its token file: nothing is read into memory."""
    file, dtype, count, vocab = _tokens(path, options, context)
    steps, stride, bounds = _split_bounds(count, options, context, path.name)
    splits = tuple(None if b is None else tuple(
        token_file.TokenWindows(file, dtype, count, b[0], b[1], steps, stride, shift) for shift in (0, 1))
        for b in bounds)
    extra = {"unknown_id": len(vocab) - 1} if options["vocab"] == "ascii" else {}
    return RawData(None, None, "tokens", origin=path.name, num_classes=len(vocab), vocab=vocab,
                   description=f"{count:,} characters of {path.name} (a token file in the cache).",
                   splits=splits, extra=extra)


SOURCES = (
    Source("pydoc_text", "Python help text",
           "Python's built-in help pages as one text, for character language models (bundled).",
           _params("ascii", with_path=False), _natural_pydoc, _read_pydoc),
    Source("text_file", "Text file", "A UTF-8 text file of your own, for character language models.",
           _params("all", with_path=True), _natural_file, _read_file, required=("path",)),
)

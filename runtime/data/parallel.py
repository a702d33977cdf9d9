"""Pairs of texts for sequence-to-sequence models: a tab-separated file of your own, or generated dates.

parallel_text reads a UTF-8 file with one pair per line, `source<TAB>target`
(e.g. "3 Feb 2021\\t2021-02-03"). dates generates such pairs from a seed: a
date written one of five ways ("3 Feb 2021", "03/02/2021", "February 3, 2021",
"3 February 2021", "03.02.2021", day before month) and its ISO form
"2021-02-03"; the same `data_seed` always gives the same pairs.

Token ids are characters: ids 0-3 are the special tokens PAD, BOS (start of
the decoder's input), EOS (end of the target) and UNK (a character the
training split never had), then every character of the training split's
sources and targets in code order. So the vocabulary is built from training
pairs only, and validation text can hold UNK.

Lengths come from the network (the seq2seq recipe's two Token ids inputs): a
source is padded with PAD to the first input's length S, a target gets EOS
and is padded to the second input's length T (so at most T - 1 characters).
Samples are inputs (N, S) source ids and targets (N, T) target ids; the
recipe makes the decoder's input (BOS + the target without its last id).

Lines that cannot be used are skipped and counted, each reason with its
first lines named (`pairs.tsv:7`): blank lines, lines without exactly one tab
(ragged), an empty side, a side longer than the network takes (overlong), and
bytes that are not UTF-8. The skips become one warning of the training run.
"""

from __future__ import annotations

import datetime

import numpy as np

from graph.params import Int, Text
from runtime.data.base import DataError
from runtime.data.files import existing_path, read_bytes
from runtime.data.source import Context, Natural, RawData, Source
from runtime.data.split import split_indices

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
DEFAULT_SOURCE_LENGTH = 32
DEFAULT_TARGET_LENGTH = 32
NAMED_LINES = 3  # lines named per reason in the skip warning

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
DATE_FORMATS = (
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",  # 3 Feb 2021
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",  # 03/02/2021
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # February 3, 2021
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 3 February 2021
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.02.2021
)
FIRST_DAY, LAST_DAY = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


# --- vocabulary and encoding ----------------------------------------------------------------------

def build_vocab(pairs: list[tuple[str, str]]) -> list[str]:
    """The special tokens, then every character of the pairs in code order."""
    chars = {ch for source, target in pairs for ch in source + target}
    return SPECIALS + sorted(chars)


def encode_text(text: str, index: dict[str, int], length: int, eos: bool = False) -> np.ndarray:
    """Ids of `text` (UNK for unknown characters), EOS appended when asked, padded with PAD to `length`."""
    ids = [index.get(ch, UNK) for ch in text] + ([EOS] if eos else [])
    return np.array((ids + [PAD] * length)[:length], dtype=np.int64)


def decode_ids(ids, vocab: list[str]) -> str:
    """The text of token ids up to the first EOS (PAD and BOS left out, UNK shown as U+FFFD)."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i in (PAD, BOS):
            continue
        out.append("\ufffd" if i == UNK or not 0 <= i < len(vocab) else vocab[i])
    return "".join(out)


# --- shared reading -------------------------------------------------------------------------------

class Skips:
    """Lines passed over, by reason, with their first line numbers."""

    def __init__(self, origin: str):
        self.origin, self.lines = origin, {}

    def add(self, reason: str, line: int) -> None:
        self.lines.setdefault(reason, []).append(line)

    @property
    def count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())

    def text(self) -> str:
        parts = []
        for reason, lines in self.lines.items():
            named = ", ".join(f"{self.origin}:{n}" for n in lines[:NAMED_LINES])
            more = f" and {len(lines) - NAMED_LINES} more" if len(lines) > NAMED_LINES else ""
            parts.append(f"{len(lines)} {reason} ({named}{more})")
        return f"{self.origin}: skipped {self.count} line(s): " + "; ".join(parts)


def _fit(pairs: list[tuple[int, str, str]], source_len: int, target_len: int, skips: Skips) -> list:
    kept = []
    for line, source, target in pairs:
        if len(source) > source_len:
            skips.add(f"with a source longer than the network's {source_len} characters (the first Token "
                      "ids input's length)", line)
        elif len(target) > target_len - 1:
            skips.add(f"with a target longer than {target_len - 1} characters (the second Token ids "
                      f"input's length {target_len}, less one for the end token)", line)
        else:
            kept.append((source, target))
    return kept


def _raw(pairs: list[tuple[str, str]], lengths: tuple[int, int], context: Context, origin: str,
         description: str, skips: Skips) -> RawData:
    source_len, target_len = lengths
    if not pairs:
        why = f": {skips.text()}" if skips.count else ""
        raise DataError(f"{origin}: no usable source<TAB>target pairs{why}; fix the file or the input "
                        "lengths")
    parts = split_indices(len(pairs), context.val_fraction, context.test_fraction, context.seed,
                          origin=origin)
    vocab = build_vocab([pairs[i] for i in parts[0]])
    index = {ch: i for i, ch in enumerate(vocab) if i >= len(SPECIALS)}
    sources = np.stack([encode_text(s, index, source_len) for s, _t in pairs])
    targets = np.stack([encode_text(t, index, target_len, eos=True) for _s, t in pairs])
    wanted = (True, context.val_fraction > 0, context.test_fraction > 0)
    splits = tuple((sources[part], targets[part]) if keep else None for part, keep in zip(parts, wanted))
    warnings = [skips.text()] if skips.count else []
    return RawData(None, None, "translation", origin=origin, num_classes=len(vocab), vocab=vocab,
                   description=description, splits=splits,
                   extra={"unknown_id": UNK, "pad_id": PAD, "bos_id": BOS, "eos_id": EOS,
                          "target_length": target_len, "skipped_lines": skips.count, "warnings": warnings})


def _lengths_of(options: dict, context: Context) -> tuple[int, int]:
    """(source length S, target length T): the network's two Token ids inputs, else the options."""
    return (context.shape[0] if context.shape else options["source_length"],
            context.target_length or options["target_length"])


def _natural(options: dict, vocab_size: int, what: str) -> Natural:
    return Natural((options["source_length"],), "tokens", "translation", vocab_size, what, "length")


# --- parallel_text --------------------------------------------------------------------------------

def parse_pairs(data: bytes, origin: str, skips: Skips) -> list[tuple[int, str, str]]:
    """(line number, source, target) of every usable line; the others go to `skips`."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    pairs, ends = [], data.count(b"\n")
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            skips.add("not valid UTF-8 text (save the file as UTF-8)", number)
            continue
        if not line.strip():
            if number <= ends:  # what follows the last line end is no line
                skips.add("blank", number)
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            skips.add(f"without exactly one tab between source and target (found {len(cells) - 1})"
                      if len(cells) > 2 else "without a tab between source and target", number)
            continue
        source, target = cells
        if not source or not target:
            skips.add("with an empty source or target", number)
            continue
        pairs.append((number, source, target))
    return pairs


def _read_file_pairs(options: dict, context: Context) -> tuple[list, str, Skips]:
    path = existing_path(context, options["path"], "parallel_text", "path")
    skips = Skips(path.name)
    pairs = parse_pairs(read_bytes(path), path.name, skips)
    if options["max_pairs"]:
        pairs = pairs[: options["max_pairs"]]
    return pairs, path.name, skips


def _natural_file(options: dict, context: Context) -> Natural:
    pairs, name, _skips = _read_file_pairs(options, context)
    return _natural(options, len(build_vocab([(s, t) for _n, s, t in pairs])), f"the pairs of {name}")


def _read_file(options: dict, context: Context) -> RawData:
    pairs, name, skips = _read_file_pairs(options, context)
    lengths = _lengths_of(options, context)
    kept = _fit(pairs, *lengths, skips)
    return _raw(kept, lengths, context, name, f"{len(kept):,} source/target pairs of {name}.", skips)


# --- dates ----------------------------------------------------------------------------------------

def date_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (written date, ISO date) pairs, the same for the same seed."""
    rng = np.random.default_rng(seed)
    span = (LAST_DAY - FIRST_DAY).days + 1
    days = rng.integers(0, span, size=count)
    styles = rng.integers(0, len(DATE_FORMATS), size=count)
    pairs = []
    for day, style in zip(days.tolist(), styles.tolist()):
        date = FIRST_DAY + datetime.timedelta(days=day)
        pairs.append((DATE_FORMATS[style](date), date.isoformat()))
    return pairs


def _natural_dates(options: dict, context: Context) -> Natural:
    pairs = date_pairs(min(options["count"], 2000), options["data_seed"])
    return _natural(options, len(build_vocab(pairs)), "the generated dates")


def _read_dates(options: dict, context: Context) -> RawData:
    pairs = date_pairs(options["count"], options["data_seed"])
    lengths = _lengths_of(options, context)
    skips = Skips("dates")
    kept = _fit([(i + 1, s, t) for i, (s, t) in enumerate(pairs)], *lengths, skips)
    return _raw(kept, lengths, context, "dates", f"{len(kept):,} dates written five ways, each with its "
                f"ISO form (data_seed {options['data_seed']}).", skips)


def _length_params(source: int, target: int) -> tuple:
    return (
        Int("source_length", source, 1, 100_000,
            "Characters per source when the network does not fix it (its first Token ids input does)."),
        Int("target_length", target, 2, 100_000,
            "Token ids per target, the end token included, when the network does not fix it (its "
            "second Token ids input does)."),
    )


SOURCES = (
    Source("parallel_text", "Parallel text (tab-separated pairs)",
           "A UTF-8 file of source<TAB>target lines, for sequence-to-sequence models (translation).",
           (Text("path", "", "The tab-separated file, one 'source<TAB>target' pair per line."),
            Int("max_pairs", 0, 0, 100_000_000, "Use at most this many pairs (0: all of them)."),
            *_length_params(DEFAULT_SOURCE_LENGTH, DEFAULT_TARGET_LENGTH)),
           _natural_file, _read_file, required=("path",)),
    Source("dates", "Dates to ISO format (generated)",
           "Dates written five ways ('3 Feb 2021', '03/02/2021', 'February 3, 2021') and their ISO "
           "form '2021-02-03', for sequence-to-sequence models (generated from a seed).",
           (Int("count", 8000, 10, 1_000_000, "How many pairs to generate."),
            Int("data_seed", 0, 0, 2**31 - 1, "Seed of the generator: the same seed gives the same dates."),
            *_length_params(20, 11)),
           _natural_dates, _read_dates),
)

"""Labelled text for text classifiers (sentiment and the like): a text-label CSV, or generated reviews.

Both give token ids (N, T) of characters in the fixed 97-id ASCII vocabulary
of runtime/data/text.py (look-alikes folded, the rest the unknown id), and
one class per text. T comes from the network's Token ids input (option
`length` when there is none). A text longer than T keeps its last T
characters and a shorter one is padded on the left with spaces, so the end
of every text, where a recurrent network's last state looks, is at the last
step; `deepwire predict --text` and the exported encode() do the same.

text_csv   a CSV file of your own: one column of text, one of labels (class
           names in order of first appearance, or integer ids)
reviews    short movie reviews generated from a seed (nothing is stored): a
           subject, an opinion word, sometimes an intensifier, a negation
           ("was not dull" is positive) or a contrast ("..., but the ending was
           weak" takes the second clause's side), with a few typos and 3 % of the
           labels flipped (sarcasm, slips: the best possible accuracy is about 97 %).
           Words alone do not decide the label: their order does.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from graph.params import Choice, Int, Text
from runtime.data.base import DataError
from runtime.data.files import existing_path, read_text
from runtime.data.source import Context, Natural, RawData, Source
from runtime.data.text import ASCII_FOLDS, ASCII_VOCAB, ASCII_VOCAB_SIZE

PAD = ASCII_VOCAB.index(" ")
_INDEX = {ch: i for i, ch in enumerate(ASCII_VOCAB)}


def encode_texts(texts: list[str], length: int) -> np.ndarray:
    """(N, length) int64 ids: the last `length` characters of each text, spaces on the left."""
    ids = np.full((len(texts), length), PAD, dtype=np.int64)
    unknown = ASCII_VOCAB_SIZE - 1
    for row, text in enumerate(texts):
        codes = [_INDEX.get(ch, unknown) for ch in text.translate(ASCII_FOLDS)[-length:]]
        if codes:
            ids[row, length - len(codes):] = codes
    return ids


def _length(options: dict, context: Context) -> int:
    return context.shape[0] if context.shape else options["length"]


def _raw(texts: list[str], labels: np.ndarray, names: list[str], context: Context, options: dict,
         origin: str, description: str) -> RawData:
    ids = encode_texts(texts, _length(options, context))
    # the vocabulary travels with the run (predict --text, the exported encode()); every id is < 97
    extra = {"unknown_id": ASCII_VOCAB_SIZE - 1, "max_token_id": ASCII_VOCAB_SIZE - 1}
    return RawData(ids, labels.astype(np.int64), "class", origin=origin, num_classes=len(names),
                   class_names=names, vocab=list(ASCII_VOCAB), description=description, extra=extra)


# --- a CSV of your own --------------------------------------------------------------------------

CSV_PARAMS = (
    Text("path", "", "The CSV file: one column of text, one of labels, e.g. 'reviews.csv'."),
    Text("text", "", "The text column: its name or index from 0. Empty: the first column."),
    Text("label", "", "The label column: its name or index from 0 (-1 = last). Empty: the last column."),
    Choice("header", "auto", ("auto", "yes", "no"), "Whether the first row names the columns."),
    Int("length", 128, 1, 100_000, "Characters per text when the network does not fix it."),
)


def _column(names: list[str] | None, text: str, default: int, count: int, option: str, file: str) -> int:
    text = text.strip()
    if not text:
        return default % count
    if names is not None and text in names:
        return names.index(text)
    try:
        index = int(text)
    except ValueError:
        shown = ", ".join(names[:10]) if names else f"indices 0..{count - 1}"
        raise DataError(f"{file}: option '{option}' names column '{text}', which does not exist; the "
                        f"columns are: {shown}") from None
    if not -count <= index < count:
        raise DataError(f"{file}: option '{option}' is column {index}, but the rows have {count} columns")
    return index % count


def _read_table(options: dict, context: Context) -> tuple[list[str], list[str], str]:
    path = existing_path(context, options["path"], "text_csv", "path")
    try:
        rows = [row for row in csv.reader(io.StringIO(read_text(path))) if any(c.strip() for c in row)]
    except csv.Error as err:
        raise DataError(f"{path.name}: not a readable CSV file ({err})") from None
    if not rows:
        raise DataError(f"{path.name}: the file has no rows")
    width = len(rows[0])
    if width < 2:
        raise DataError(f"{path.name}: the rows have one column; a text column and a label column are needed")
    header = options["header"] == "yes" or (options["header"] == "auto" and _looks_like_header(rows))
    names = [c.strip() for c in rows[0]] if header else None
    text_col = _column(names, options["text"], 0, width, "text", path.name)
    label_col = _column(names, options["label"], -1, width, "label", path.name)
    if text_col == label_col:
        raise DataError(f"{path.name}: the text and the label are the same column ({text_col}); set "
                        "option 'text' or 'label'")
    texts, labels = [], []
    for line, row in enumerate(rows[1:] if header else rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"{path.name}:{line}: {len(row)} columns where the first row has {width}; fix "
                            "or delete that row")
        if not row[label_col].strip():
            raise DataError(f"{path.name}:{line}: the label is empty; give every text a label")
        texts.append(row[text_col])
        labels.append(row[label_col].strip())
    if not texts:
        raise DataError(f"{path.name}: the file has a header but no rows of text")
    return texts, labels, path.name


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row whose label cell is no label seen again below (e.g. 'sentiment' over 'pos'/'neg')."""
    if len(rows) < 2:
        return False
    first = rows[0][-1].strip()
    return first not in {row[-1].strip() for row in rows[1:]}


def _classes(labels: list[str], file: str) -> tuple[np.ndarray, list[str]]:
    if all(label.lstrip("-").isdigit() for label in labels):  # integer ids as they are
        ids = np.array([int(label) for label in labels], dtype=np.int64)
        if ids.min() < 0:
            raise DataError(f"{file}: label {int(ids.min())} is negative; class ids count from 0")
        return ids, [str(i) for i in range(int(ids.max()) + 1)]
    names = list(dict.fromkeys(labels))  # in order of first appearance
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[label] for label in labels], dtype=np.int64), names


def _natural_csv(options: dict, context: Context) -> Natural:
    texts, labels, file = _read_table(options, context)
    _, names = _classes(labels, file)
    return Natural((options["length"],), "tokens", "class", len(names), f"the texts of {file}", "length")


def _read_csv(options: dict, context: Context) -> RawData:
    texts, labels, file = _read_table(options, context)
    ids, names = _classes(labels, file)
    return _raw(texts, ids, names, context, options, file,
                f"{len(texts)} labelled texts of {file}, {len(names)} classes.")


# --- generated reviews ---------------------------------------------------------------------------

SUBJECTS = ("the film", "this movie", "the plot", "the acting", "the soundtrack", "the ending", "the cast",
            "the script", "the camera work", "the story", "the dialogue", "the pacing")
POSITIVE = ("wonderful", "moving", "brilliant", "funny", "gripping", "beautiful", "clever", "charming",
            "superb", "delightful", "fresh", "tender")
NEGATIVE = ("dull", "boring", "clumsy", "awful", "tedious", "messy", "flat", "predictable", "weak",
            "painful", "bland", "shallow")
INTENSIFIERS = ("", "", "really ", "truly ", "quite ", "very ", "rather ")
CLASS_NAMES = ["negative", "positive"]

REVIEW_PARAMS = (
    Int("samples", 4000, 10, 1_000_000, "How many reviews to generate."),
    Int("length", 96, 1, 100_000, "Characters per review when the network does not fix it."),
    Int("data_seed", 0, 0, 2**31 - 1, "Seed of the generator: the same seed gives the same reviews."),
)


def _clause(rng: np.random.Generator) -> tuple[str, int]:
    """'the plot was not dull' and its sentiment (1 positive, 0 negative)."""
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    positive = bool(rng.integers(2))
    word = (POSITIVE if positive else NEGATIVE)[rng.integers(len(POSITIVE))]
    if rng.random() < 0.3:  # a negation flips the opinion word's side
        return f"{subject} was not {word}", int(not positive)
    return f"{subject} was {INTENSIFIERS[rng.integers(len(INTENSIFIERS))]}{word}", int(positive)


TYPO_RATE = 0.04  # of the words: one letter dropped or doubled, as people type
NOISE_RATE = 0.03  # of the reviews: the label says the opposite (sarcasm, a slip): no model gets 100 %


def _typos(rng: np.random.Generator, text: str) -> str:
    words = text.split(" ")
    for k, word in enumerate(words):
        if len(word) > 3 and rng.random() < TYPO_RATE:
            at = int(rng.integers(1, len(word) - 1))
            words[k] = word[:at] + word[at + 1:] if rng.random() < 0.5 else word[:at] + word[at] + word[at:]
    return " ".join(words)


def generate_reviews(count: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    texts, labels = [], np.empty(count, dtype=np.int64)
    for i in range(count):
        first, label = _clause(rng)
        shape = rng.random()
        if shape < 0.35:  # a contrast: the clause after "but" decides
            second, label = _clause(rng)
            text = f"{first}, but {second}."
        elif shape < 0.5:
            text = f"i thought {first}."
        else:
            text = f"{first}."
        text = _typos(rng, text)
        texts.append(text[0].upper() + text[1:] if rng.random() < 0.5 else text)
        labels[i] = 1 - label if rng.random() < NOISE_RATE else label
    return texts, labels


def _natural_reviews(options: dict, context: Context) -> Natural:
    return Natural((options["length"],), "tokens", "class", 2, "the reviews", "length")


def _read_reviews(options: dict, context: Context) -> RawData:
    texts, labels = generate_reviews(options["samples"], options["data_seed"])
    return _raw(texts, labels, list(CLASS_NAMES), context, options, "reviews",
                f"{len(texts)} generated movie reviews, negative or positive (negations and 'but').")


SOURCES = (
    Source("text_csv", "Labelled text (CSV)",
           "A CSV of texts and labels, for text classifiers (sentiment, topics): characters as token ids.",
           CSV_PARAMS, _natural_csv, _read_csv, required=("path",)),
    Source("reviews", "Movie reviews (generated)",
           "Short generated movie reviews labelled negative or positive, with negations and contrasts.",
           REVIEW_PARAMS, _natural_reviews, _read_reviews),
)

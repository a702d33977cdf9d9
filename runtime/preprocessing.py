"""What a trained network expects of its inputs, recorded so that it travels with every export.

The trainer prepares the data before the network sees it (runtime/data/normalize.py):
inputs scaled as x' = (x - mean) / std with training-split statistics, classes
numbered in the data source's order, characters turned into token ids. Weights
fed anything else give wrong answers (digits_cnn: 99.8 % on standardised pixels,
90.7 % on raw ones), so a `Preprocessing` holds exactly those facts as validated
plain numbers and strings, and goes:

- into checkpoints (best.pt, last.pt) as a dict of lists and strings, which
  `torch.load(..., weights_only=True)` reads (`to_dict` / `from_dict`);
- into the exported Python module as documented MEAN / STD / CLASSES / VOCAB
  constants with preprocess() and predict() helpers (`python_section`). Every
  value reaches the code through repr() of a number or string checked here,
  so no user text (a class name, a character) ever becomes code;
- into ONNX metadata_props and a .pt2 archive's extra files as JSON (`metadata`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from graph.compiler import CompiledNetwork
from graph.shapes import format_shape

INPUT_KINDS = ("image", "sequence", "vector", "tokens")
MAX_ENTRIES = 1_000_000  # far beyond any real vocabulary or feature count; guards absurd files


class PreprocessingError(ValueError):
    """A checkpoint's preprocessing entry is malformed; the message says which field."""


@dataclass(frozen=True)
class Preprocessing:
    network: str  # the network that reads the data
    recipe: str  # classification, regression, language_model, autoencoder, gan, ...
    source: str  # the data source, e.g. "digits"
    input_kind: str  # one of INPUT_KINDS
    input_shape: tuple[int, ...]  # one raw sample, without the batch dimension
    stat_shape: tuple[int, ...] | None = None  # MEAN's and STD's shape: (C, 1, 1) for images, (F,) else
    mean: tuple[float, ...] | None = None  # flattened; None: the inputs were not scaled
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None  # class id -> name
    vocab: tuple[str, ...] | None = None  # token id -> character
    unknown: int | None = None  # the id characters outside the vocabulary become (None: refused)
    folds: tuple[tuple[str, str], ...] = ()  # characters replaced before the lookup
    pixel_range: tuple[float, float] | None = None  # raw image values: 0..255 files, 0..16 digits
    features: tuple[str, ...] | None = None  # a table's feature columns, in the network's order

    # --- made from training data ---------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, dataset, network: str, recipe: str) -> Preprocessing:
        """What load_dataset applied to `dataset` (a runtime.data.Dataset) for `network`."""
        stat_shape = mean = std = None
        if dataset.mean is not None:
            stat_shape = tuple(int(n) for n in dataset.mean.shape)
            mean = tuple(float(v) for v in dataset.mean.reshape(-1))
            std = tuple(float(v) for v in dataset.std.reshape(-1))
        unknown = dataset.extra.get("unknown_id")
        folds: tuple[tuple[str, str], ...] = ()
        if unknown is not None and recipe != "seq2seq":  # the "ascii" vocabulary folds look-alikes first
            from runtime.data.text import ASCII_FOLDS

            folds = tuple((chr(code), str(to)) for code, to in sorted(ASCII_FOLDS.items()))
        classes = dataset.class_names if dataset.target_kind == "class" else None
        return cls.from_dict({
            "network": network, "recipe": recipe, "source": dataset.name,
            "input_kind": dataset.input_kind, "input_shape": list(dataset.input_shape),
            "stat_shape": stat_shape, "mean": mean, "std": std, "classes": classes,
            "vocab": dataset.vocab, "unknown": unknown, "folds": folds,
            "pixel_range": dataset.extra.get("pixel_range"), "features": dataset.extra.get("feature_names"),
        })

    # --- plain data (checkpoints, JSON) --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Only str, int, float, list and None: safe for torch.save / weights_only loading and JSON."""
        def listed(values):
            return None if values is None else list(values)

        return {"network": self.network, "recipe": self.recipe, "source": self.source,
                "input_kind": self.input_kind, "input_shape": list(self.input_shape),
                "stat_shape": listed(self.stat_shape), "mean": listed(self.mean), "std": listed(self.std),
                "classes": listed(self.classes), "vocab": listed(self.vocab), "unknown": self.unknown,
                "folds": [list(pair) for pair in self.folds], "pixel_range": listed(self.pixel_range),
                "features": listed(self.features)}

    @classmethod
    def from_dict(cls, data: Any) -> Preprocessing:
        """Validate a recorded entry (from a checkpoint: not trusted); PreprocessingError names the field."""
        if not isinstance(data, dict):
            raise PreprocessingError(f"expected a dict, found {type(data).__name__}")
        kind = _text(data, "input_kind")
        if kind not in INPUT_KINDS:
            raise PreprocessingError(f"input_kind is {kind!r}; expected one of {', '.join(INPUT_KINDS)}")
        stat_shape = _shape(data, "stat_shape", optional=True)
        mean = _floats(data, "mean")
        std = _floats(data, "std")
        if (mean is None) != (std is None) or (mean is None) != (stat_shape is None):
            raise PreprocessingError("mean, std and stat_shape must be given together")
        if mean is not None:
            size = math.prod(stat_shape)
            if len(mean) != size or len(std) != size:
                raise PreprocessingError(f"mean and std need {size} values for stat_shape {stat_shape}; "
                                         f"found {len(mean)} and {len(std)}")
            if any(s <= 0 for s in std):
                raise PreprocessingError("std must be positive")
        vocab = _texts(data, "vocab")
        unknown = data.get("unknown")
        if unknown is not None and (type(unknown) is not int or vocab is None
                                    or not 0 <= unknown < len(vocab)):
            raise PreprocessingError(f"unknown is {unknown!r}; expected a token id of the vocabulary")
        folds = data.get("folds") or ()
        if not isinstance(folds, (list, tuple)) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(c, str) for c in p)
                for p in folds):
            raise PreprocessingError("folds must be a list of [character, replacement] pairs")
        pixel_range = _floats(data, "pixel_range")  # absent in checkpoints of older versions
        if pixel_range is not None and (len(pixel_range) != 2 or not pixel_range[0] < pixel_range[1]):
            raise PreprocessingError(f"pixel_range must be [low, high] with low < high, found {pixel_range}")
        features = _texts(data, "features")
        return cls(network=_text(data, "network"), recipe=_text(data, "recipe"), source=_text(data, "source"),
                   input_kind=kind, input_shape=_shape(data, "input_shape"), stat_shape=stat_shape,
                   mean=mean, std=std, classes=_texts(data, "classes"), vocab=vocab, unknown=unknown,
                   folds=tuple((a, b) for a, b in folds),
                   pixel_range=None if pixel_range is None else (pixel_range[0], pixel_range[1]),
                   features=features)

    def summary(self) -> str:
        """One line for the export command, e.g. "inputs scaled as x' = (x - mean) / std, 10 class names"."""
        parts = []
        if self.mean is not None:
            parts.append("inputs scaled as x' = (x - mean) / std")
        elif self.input_kind != "tokens":
            parts.append("inputs used as they are")
        if self.classes is not None:
            parts.append(f"{len(self.classes)} class names")
        if self.vocab is not None:
            parts.append(f"a {len(self.vocab)}-character vocabulary")
        return ", ".join(parts)

    # --- ONNX metadata, .pt2 extra files -------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """String key/value pairs: the whole record as JSON, and its main fields one by one."""
        record = self.to_dict()
        pairs = {"preprocessing": json.dumps(record),
                 "scaling": "x' = (x - mean) / std" if self.mean is not None else "none"}
        for key in ("input_kind", "recipe", "source", "network"):
            pairs[key] = record[key]
        for key in ("mean", "std", "stat_shape", "classes", "vocab"):
            if record[key] is not None:
                pairs[key] = json.dumps(record[key])
        return pairs


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or len(value) > 1000:
        raise PreprocessingError(f"{key} must be a short string, found {type(value).__name__}")
    return value


def _shape(data: dict, key: str, optional: bool = False) -> tuple[int, ...] | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if (not isinstance(value, (list, tuple)) or not 0 < len(value) <= 8
            or not all(type(n) is int and 0 < n <= MAX_ENTRIES for n in value)):
        raise PreprocessingError(f"{key} must be a list of positive integers, found {value!r:.80}")
    return tuple(value)


def _floats(data: dict, key: str) -> tuple[float, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) > MAX_ENTRIES
            or not all(type(v) in (int, float) and math.isfinite(v) for v in value)):
        raise PreprocessingError(f"{key} must be a list of finite numbers")
    return tuple(float(v) for v in value)


def _texts(data: dict, key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) > MAX_ENTRIES
            or not all(isinstance(v, str) and len(v) <= 1000 for v in value)):
        raise PreprocessingError(f"{key} must be a list of strings")
    return tuple(value)


# --- the exported module's section ---------------------------------------------------------------

def _listing(values, indent: str = "    ", width: int = 100) -> str:
    """`[v1, v2, ...]` of repr()s, wrapped over lines so long vocabularies stay readable."""
    items = [repr(v) for v in values]
    if sum(len(i) + 2 for i in items) + 20 <= width:
        return "[" + ", ".join(items) + "]"
    lines, line = [], ""
    for item in items:
        if line and len(indent) + len(line) + len(item) + 2 > width:
            lines.append(indent + line.rstrip())
            line = ""
        line += item + ", "
    lines.append(indent + line.rstrip())
    return "[\n" + "\n".join(lines) + "\n]"


def python_section(prep: Preprocessing, info: CompiledNetwork) -> str:
    """Constants and helpers appended to the exported module (after the classes, which stay unchanged)."""
    raw = format_shape(prep.input_shape)
    lines = [
        "# --- how to feed the trained network " + "-" * 60,
        f"# {info.class_name}'s weights were trained on data source {prep.source!r}",
        f"# (recipe {prep.recipe!r}), prepared as below.",
    ]
    if prep.recipe == "seq2seq" and prep.vocab is not None and len(info.input_shapes) == 2:
        lines += _seq2seq_section(prep, info)
    elif prep.input_kind == "tokens" and prep.vocab is not None:
        lines += _token_section(prep, info)
    elif prep.input_kind == "tokens":  # integer ids from arrays: no characters to map
        lines += _ids_section(prep, info)
    else:
        lines += _scaling_section(prep, info, raw)
    return "\n".join(lines) + "\n"


def _scaling_section(prep: Preprocessing, info: CompiledNetwork, raw: str) -> list[str]:
    lines = []
    if prep.mean is not None:
        per = "per channel" if prep.input_kind == "image" else "per feature"
        lines += [
            "# The trainer scaled every input as x' = (x - MEAN) / STD, with statistics of the training",
            f"# split ({per}). The weights only work on inputs scaled the same way: preprocess() does it.",
        ]
    else:
        lines.append("# The trainer fed the inputs as the data source gives them (no scaling).")
    lines += ["#     model = " + info.class_name + "()",
              '#     model.load_state_dict(torch.load("<the .pt file written beside this one>", '
              "weights_only=True))"]
    # class names per input when the first head scores classes per sample: (B, K)
    classify = (prep.classes is not None and info.head_types[:1] == ["ClassificationHead"]
                and len(info.output_shapes[0]) == 1)
    masks = prep.classes is not None and info.head_types[:1] == ["SegmentationHead"]
    if classify:
        lines.append("#     predict(model, raw_inputs)  # one class name per input")
    elif masks:
        lines.append("#     predict(model, raw_inputs)  # a class id per pixel (B, H, W); CLASSES names them")
    elif prep.recipe != "gan":
        lines.append("#     predict(model, raw_inputs)  # the outputs for raw inputs")
    elif prep.mean is not None:
        lines.append("#     to_raw(generator(noise))  # generated samples in the data's own units")
    lines.append("")
    shape = ", ".join(map(str, prep.stat_shape or ()))
    if prep.mean is not None:
        lines.append(f"MEAN = torch.tensor({_listing(prep.mean)}).reshape({shape})")
        lines.append(f"STD = torch.tensor({_listing(prep.std)}).reshape({shape})")
    if prep.classes is not None:
        lines.append(f"CLASSES = {_listing(prep.classes)}  # class id -> name, the order of the scores")
    several = len(info.input_names) > 1  # trained on their values side by side (runtime/train/data.py)
    if several:
        names = ", ".join(info.input_names)
        shapes = [tuple(int(d) for d in shape) for shape in info.input_shapes]
        lines += ["", "", f"def preprocess({names}):",
                  f'    """Raw inputs {names}, prepared the way the trainer prepared them: scaled side by '
                  'side, then one tensor per input again."""',
                  f"    parts = [torch.as_tensor(v, dtype=torch.float32) for v in ({names},)]",
                  "    x = torch.cat([p.reshape(len(p), -1) for p in parts], dim=1)"]
        if prep.mean is not None:
            lines.append("    x = (x - MEAN.to(x.device)) / STD.to(x.device)")
        lines += [f"    shapes = {shapes!r}",
                  "    pieces = torch.split(x, [math.prod(shape) for shape in shapes], dim=1)",
                  "    return tuple(p.reshape(len(p), *shape) for p, shape in zip(pieces, shapes))"]
    else:
        lines += ["", "", "def preprocess(inputs):",
                  f'    """Raw inputs {raw}, as the data source gives them, prepared the way the trainer '
                  'prepared them."""',
                  "    x = torch.as_tensor(inputs, dtype=torch.float32)"]
        lines.append("    return (x - MEAN.to(x.device)) / STD.to(x.device)" if prep.mean is not None
                     else "    return x")
    unscale = prep.mean is not None and prep.recipe in ("gan", "autoencoder")
    if unscale:
        lines += ["", "", "def to_raw(outputs):",
                  '    """Network values back in the data\'s own units (e.g. generated or reconstructed '
                  'pixels)."""',
                  "    return outputs * STD.to(outputs.device) + MEAN.to(outputs.device)"]
    if prep.recipe == "gan":
        return lines
    first = "[0]" if len(info.output_blocks) > 1 else ""
    args = ", ".join(info.input_names) if several else "inputs"
    fed = f"*preprocess({args})" if several else "preprocess(inputs)"
    lines += ["", "", f"def predict(model, {args}):"]
    if classify:
        lines += ['    """The class name of each raw input: preprocess(), the model in eval mode, the best '
                  'score."""',
                  "    model.eval()",
                  "    with torch.no_grad():",
                  f"        scores = model({fed}){first}",
                  "    return [CLASSES[i] for i in scores.argmax(dim=-1).tolist()]"]
    elif masks:
        lines += ['    """The class id of every pixel of each raw input (B, H, W): preprocess(), the model '
                  'in eval mode, the best score per pixel (CLASSES[id] is its name)."""',
                  "    model.eval()",
                  "    with torch.no_grad():",
                  f"        scores = model({fed}){first}",
                  "    return scores.argmax(dim=1)"]
    else:
        back = "to_raw(outputs)" if unscale else "outputs"
        lines += ['    """The model\'s outputs for raw inputs: preprocess(), then the model in eval mode."""',
                  "    model.eval()",
                  "    with torch.no_grad():",
                  f"        outputs = model({fed})",
                  f"    return {back}"]
    return lines


def _ids_section(prep: Preprocessing, info: CompiledNetwork) -> list[str]:
    classify = (prep.classes is not None and info.head_types[:1] == ["ClassificationHead"]
                and len(info.output_shapes[0]) == 1)
    first = "[0]" if len(info.output_blocks) > 1 else ""
    lines = ["# The network reads integer token ids, as the training arrays held them (no vocabulary).",
             "#     predict(model, ids)  # " + ("one class name per row of ids" if classify
                                                else "the outputs for rows of ids"), ""]
    if classify:
        lines.append(f"CLASSES = {_listing(prep.classes)}  # class id -> name, the order of the scores")
    lines += ["", "", "def predict(model, ids):",
              '    """' + ("The class name of each row of token ids." if classify
                           else "The model's outputs for rows of token ids.") + '"""',
              "    model.eval()",
              "    with torch.no_grad():",
              f"        scores = model(torch.as_tensor(ids, dtype=torch.long)){first}"]
    lines.append("    return [CLASSES[i] for i in scores.argmax(dim=-1).tolist()]" if classify
                 else "    return scores")
    return lines


def _token_section(prep: Preprocessing, info: CompiledNetwork) -> list[str]:
    steps = info.input_shapes[0][0] if info.input_shapes and info.input_shapes[0] else 1
    lines = [
        "# The network reads token ids: VOCAB maps each id to its character; encode() turns text into",
        "# ids as the trainer did, decode() turns ids back into text.",
        "#     predict(model, \"def main(\")  # the most likely next character",
        "",
        f"VOCAB = {_listing(prep.vocab)}",
        "TOKEN_IDS = {character: index for index, character in enumerate(VOCAB)}",
    ]
    if prep.unknown is not None:
        lines.append(f"UNKNOWN = {prep.unknown!r}  # the id of every character not in VOCAB")
    if prep.folds:
        lines.append(f"FOLDS = str.maketrans({{{', '.join(f'{a!r}: {b!r}' for a, b in prep.folds)}}})"
                     "  # look-alikes replaced first")
    translate = ".translate(FOLDS)" if prep.folds else ""
    lines += ["", "", "def encode(text):",
              '    """Token ids (1, len(text)) of a string, the way the trainer turned text into ids."""']
    if prep.unknown is not None:
        lines.append(f"    ids = [TOKEN_IDS.get(c, UNKNOWN) for c in text{translate}]")
    else:
        lines += ["    unknown = sorted(set(text) - set(TOKEN_IDS))",
                  "    if unknown:",
                  '        raise ValueError(f"characters not in the vocabulary the model was trained on: '
                  '{unknown}")',
                  f"    ids = [TOKEN_IDS[c] for c in text{translate}]"]
    lines += ["    return torch.tensor([ids], dtype=torch.long)",
              "", "", "def decode(ids):",
              '    """The text of a sequence of token ids."""',
              '    return "".join(VOCAB[i] for i in torch.as_tensor(ids).reshape(-1).tolist())',
              "", "", "def predict(model, text):"]
    first = "[0]" if len(info.output_blocks) > 1 else ""
    # the network reads exactly its last `steps` characters; a shorter text is padded with spaces on the
    # left, as the trainer padded texts and `deepwire predict --text` does
    window = [f"    ids = encode(text)[:, -{steps}:]"]
    if " " in (prep.vocab or ()):
        window.append(f"    pad = torch.full((1, {steps} - ids.shape[1]), TOKEN_IDS[' '], dtype=torch.long)")
        window.append("    ids = torch.cat([pad, ids], dim=1)")
    classify = (prep.recipe != "language_model" and prep.classes is not None
                and info.head_types[:1] == ["ClassificationHead"] and len(info.output_shapes[0]) == 1)
    if classify:
        lines += [f'    """The class name of `text` (the network reads its last {steps} characters)."""',
                  "    model.eval()", *window,
                  "    with torch.no_grad():",
                  f"        scores = model(ids){first}",
                  "    return CLASSES[int(scores[0].argmax())]"]
        lines.insert(lines.index(f"VOCAB = {_listing(prep.vocab)}") + 1,
                     f"CLASSES = {_listing(prep.classes)}  # class id -> name, the order of the scores")
        lines[lines.index('#     predict(model, "def main(")  # the most likely next character')] = \
            '#     predict(model, "the film was not dull")  # the class name of a text'
    else:
        lines += [f'    """The most likely character after `text` (the network reads its last {steps} '
                  'characters)."""',
                  "    model.eval()", *window,
                  "    with torch.no_grad():",
                  f"        scores = model(ids){first}",
                  "    return VOCAB[int(scores[0, -1].argmax())]"]
    return lines


def _seq2seq_section(prep: Preprocessing, info: CompiledNetwork) -> list[str]:
    source_length, target_length = info.input_shapes[0][0], info.input_shapes[1][0]
    first = "[0]" if len(info.output_blocks) > 1 else ""
    return [
        "# The network reads two rows of token ids: the source text and the answer written so far",
        "# (BOS first). VOCAB maps each id to its character (ids 0-3 are the special tokens);",
        "# translate() writes the answer one character at a time, each step's best (greedy decoding).",
        '#     translate(model, "3 Feb 2021")',
        "",
        f"VOCAB = {_listing(prep.vocab)}",
        "TOKEN_IDS = {character: index for index, character in enumerate(VOCAB) if index > 3}",
        "PAD, BOS, EOS, UNK = 0, 1, 2, 3  # padding, start of the answer, end of the answer, unknown",
        f"SOURCE_LENGTH, TARGET_LENGTH = {source_length!r}, {target_length!r}",
        "", "",
        "def encode(text):",
        '    """Token ids (1, SOURCE_LENGTH) of a source text padded with PAD, as the trainer encoded it."""',
        "    if len(text) > SOURCE_LENGTH:",
        '        raise ValueError(f"the model reads at most {SOURCE_LENGTH} characters; got {len(text)}")',
        "    ids = [TOKEN_IDS.get(c, UNK) for c in text]",
        "    return torch.tensor([ids + [PAD] * (SOURCE_LENGTH - len(ids))], dtype=torch.long)",
        "", "",
        "def decode(ids):",
        '    """The text of token ids, up to the first EOS."""',
        "    out = []",
        "    for i in torch.as_tensor(ids).reshape(-1).tolist():",
        "        if i == EOS:",
        "            break",
        "        if i == UNK or i > UNK:",
        '            out.append("\ufffd" if i == UNK else VOCAB[i])',
        '    return "".join(out)',
        "", "",
        "def translate(model, text):",
        '    """The answer the model writes for a source text (greedy decoding)."""',
        "    model.eval()",
        "    source = encode(text)",
        "    decoder = torch.full((1, TARGET_LENGTH), PAD, dtype=torch.long)",
        "    decoder[0, 0] = BOS",
        "    answer = []",
        "    with torch.no_grad():",
        "        for step in range(TARGET_LENGTH):",
        f"            token = int(model(source, decoder){first}[0, step].argmax())",
        "            if token == EOS:",
        "                break",
        "            answer.append(token)",
        "            if step + 1 < TARGET_LENGTH:",
        "                decoder[0, step + 1] = token",
        "    return decode(answer)",
    ]


_DOC_ANCHOR = "B is the batch size. This is plain PyTorch: read it, change it, train it anywhere.\n"


def with_preprocessing(source: str, prep: Preprocessing, info: CompiledNetwork) -> str:
    """The compiled module plus the section, `import torch` ensured, a docstring line pointing at it."""
    section = python_section(prep, info)
    helpers = [f"{name}()" for name in re.findall(r"^def (\w+)\(", section, flags=re.MULTILINE)]
    listed = ", ".join(helpers[:-1]) + f" and {helpers[-1]}" if len(helpers) > 1 else helpers[0]
    if "\nimport torch\n" not in source:
        source = source.replace("\nfrom torch import nn\n", "\nimport torch\nfrom torch import nn\n", 1)
    if "math.prod(" in section and "\nimport math\n" not in source:  # several inputs' preprocess()
        source = source.replace("\nimport torch\n", "\nimport math\n\nimport torch\n", 1)
    source = source.replace(_DOC_ANCHOR, _DOC_ANCHOR + "\nThe trained weights expect inputs prepared as "
                            f"in training: see\n{listed} at the end of this file.\n", 1)
    return source + "\n\n" + section

"""Predictions of a trained run for new inputs (`deepwire predict RUN INPUT...`).

    predictor = open_predictor(Path("runs/Digits-CNN/Digits-CNN-20261204-120000"))
    rows = predictor.predict_paths(["seven.png", "more_digits/"], top=3)

Only the run folder is read: its project snapshot (the network as trained),
its checkpoint (best.pt, else last.pt) and the preprocessing that checkpoint
records (runtime/preprocessing.py) - never the training data, so predicting
on three images of a 40k-image run costs three decodes. Each input is read
the way the run's data source gave its samples:

    image files, folders of them   decoded to the network's (C, H, W), pixels in
                                   the source's own range (0..255 image files, 0..16
                                   for the bundled digits)
    .npy / .npz                    one sample shaped like the input, or a stack of them
    .csv / .tsv                    one sample per row: the training table's feature
                                   columns by name when the file has that header,
                                   else exactly as many numeric columns as features
    text (--text)                  characters of the run's vocabulary (token models); a
                                   seq2seq run writes its answer (greedy, or --beam K)

then scaled exactly as the trainer scaled them and fed in batches, so
memory stays bounded for any number of inputs. A classification head gives
the class names with probabilities (softmax; sigmoid for a binary head), a
language model the next characters, any other head its output values.
Every problem is a PredictError naming the file (and row) and what to do.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.preprocessing import Preprocessing, PreprocessingError

BATCH = 256  # inputs decoded and run at once: bounded memory for a folder of any size
MAX_VALUES_SHOWN = 8  # a regression's or an output block's values, per input, in the table
TABLE_SUFFIXES = (".csv", ".tsv")
ARRAY_SUFFIXES = (".npy", ".npz")


class PredictError(ValueError):
    """An input or a run that cannot be used; the message names it and says what to do."""


@dataclass
class Predictor:
    """A run's trained network with what it needs to read raw inputs."""

    run_dir: Path
    checkpoint: Path
    prep: Preprocessing
    model: torch.nn.Module
    head: str  # the first head's block type
    output_shape: tuple[int, ...]  # the first head's output, without the batch axis
    notes: list[str]

    # --- reading inputs --------------------------------------------------------------------------
    def samples(self, inputs: list[str], text: str | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """(label, raw sample) for every input, one at a time (folders are walked lazily)."""
        if text is not None:
            yield f"text {text[:40]!r}", self.encode(text)
        for given in inputs:
            path = Path(given)
            if path.is_dir():
                found = False
                for file in _image_files(path):
                    found = True
                    yield str(file), self.read_image(file)
                if not found:
                    suffixes = ", ".join(_image_suffixes())
                    raise PredictError(f"{path}: this folder holds no image files ({suffixes}); give image "
                                       "files, a folder of them, a .npy/.npz or a .csv file")
            elif not path.exists():
                raise PredictError(f"{path}: no such file or folder")
            elif not path.is_file():  # a FIFO or a device would block or never end
                raise PredictError(f"{path}: not a regular file; give image, .npy/.npz or .csv files")
            elif path.suffix.lower() in _image_suffixes():
                yield str(path), self.read_image(path)
            elif path.suffix.lower() in ARRAY_SUFFIXES:
                yield from self.read_array(path)
            elif path.suffix.lower() in TABLE_SUFFIXES:
                yield from self.read_table(path)
            else:
                raise PredictError(f"{path}: not an input DeepWire reads (image files "
                                   f"{', '.join(_image_suffixes())}, .npy, .npz, .csv or .tsv)")

    def read_image(self, path: Path) -> np.ndarray:
        prep = self.prep
        if prep.input_kind != "image" or len(prep.input_shape) != 3:
            raise PredictError(f"{path}: an image, but this run's network reads {_kind_text(prep)}; "
                               f"{_what_to_give(prep)}")
        from runtime.data.images import decode_image

        channels, height, width = prep.input_shape
        try:
            pixels = decode_image(str(path), channels, height, width)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a file that is no image
            why = ("more pixels than Pillow's decompression-bomb limit"
                   if type(exc).__name__.startswith("DecompressionBomb") else str(exc).split("\n")[0][:120])
            raise PredictError(f"{path}: cannot be read as an image ({why or type(exc).__name__})") from None
        values = pixels.transpose(2, 0, 1).astype(np.float32)  # (C, H, W), 0..255
        low, high = self.pixel_range()
        if (low, high) != (0.0, 255.0):  # the source's own units, e.g. 0..16 for the bundled digits
            values = low + values * ((high - low) / 255.0)
        return values

    def pixel_range(self) -> tuple[float, float]:
        if self.prep.pixel_range is not None:
            return self.prep.pixel_range
        return 0.0, 255.0

    def read_array(self, path: Path) -> Iterator[tuple[str, np.ndarray]]:
        shape = self.prep.input_shape
        try:
            mmap = "r" if path.suffix.lower() == ".npy" else None  # a big stack is read row by row
            loaded = np.load(path, allow_pickle=False, mmap_mode=mmap)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    names = loaded.files
                    key = next((k for k in ("x", "inputs") if k in names), names[0] if names else None)
                    if key is None:
                        raise PredictError(f"{path}: this .npz holds no arrays")
                    _check_npz_member(path, key)
                    array = loaded[key]
            else:
                array = loaded
        except PredictError:
            raise
        except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for a broken file
            raise PredictError(f"{path}: cannot be read as a numpy array ({str(exc)[:120]})") from None
        if array.dtype.kind not in "biuf":
            raise PredictError(f"{path}: holds {array.dtype} values; expected numbers")
        if tuple(array.shape) == tuple(shape):
            array = array.reshape(1, *shape)
        elif tuple(array.shape[1:]) != tuple(shape):
            dims = ", ".join(map(str, shape))
            raise PredictError(f"{path}: array of shape {tuple(array.shape)}; this network reads samples "
                               f"of shape ({dims}), so give ({dims}) or (N, {dims})")
        for i in range(len(array)):
            yield f"{path}[{i}]", self._checked(np.asarray(array[i]), f"{path}[{i}]")

    def read_table(self, path: Path) -> Iterator[tuple[str, np.ndarray]]:
        prep = self.prep
        if prep.input_kind != "vector" or len(prep.input_shape) != 1:
            raise PredictError(f"{path}: a table, but this run's network reads {_kind_text(prep)}; "
                               f"{_what_to_give(prep)}")
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        try:
            handle = path.open(newline="", encoding="utf-8-sig")
        except OSError as err:
            raise PredictError(f"{path}: cannot be read ({err.strerror or err})") from None
        with handle:
            reader = csv.reader(handle, delimiter=delimiter)
            columns: list[int] | None = None
            width = 0  # the column count every row must have
            try:
                for line, row in enumerate(reader, start=1):
                    if not row or all(not cell.strip() for cell in row):
                        continue
                    if columns is None:
                        columns, width = self._columns(path, row), len(row)
                        if not _numeric(row):
                            continue  # the header
                    if len(row) != width:
                        raise PredictError(f"{path}:{line}: {len(row)} columns where the first row has "
                                           f"{width}; fix or delete that row")
                    cells = [row[i] for i in columns]
                    try:
                        values = np.array([float(cell) for cell in cells], dtype=np.float32)
                    except ValueError:
                        bad = next(cell for cell in cells if not _is_number(cell))
                        raise PredictError(f"{path}:{line}: {bad[:40]!r} is not a number") from None
                    yield f"{path}:{line}", self._checked(values, f"{path}:{line}")
            except UnicodeDecodeError:
                raise PredictError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
            except csv.Error as err:
                raise PredictError(f"{path}: not a readable table ({err})") from None

    def _columns(self, path: Path, first: list[str]) -> list[int]:
        """Which columns of each row are the features, from the first row (a header or data)."""
        count = self.prep.input_shape[0]
        names = [cell.strip() for cell in first]
        if not _numeric(first):  # a header
            features = self.prep.features
            if features is not None and all(name in names for name in features):
                return [names.index(name) for name in features]
            if len(names) == count:
                return list(range(count))
            wanted = (f"the training table's feature columns ({', '.join(features[:8])}"
                      f"{', ...' if len(features) > 8 else ''})" if features else f"{count} columns")
            raise PredictError(f"{path}: its header has {len(names)} columns; give {wanted}")
        if len(first) != count:
            hint = " (add the header line to pick the columns by name)" if self.prep.features else ""
            raise PredictError(f"{path}:1: {len(first)} numbers; this network reads {count} features per "
                               f"row{hint}")
        return list(range(count))

    def _checked(self, values: np.ndarray, where: str) -> np.ndarray:
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise PredictError(f"{where}: holds NaN or infinite values; the network needs finite numbers")
        return values

    def encode(self, text: str) -> np.ndarray:
        prep = self.prep
        if prep.input_kind != "tokens" or prep.vocab is None:
            raise PredictError(f"--text: this run's network reads {_kind_text(prep)}, not text; "
                               f"{_what_to_give(prep)}")
        for before, after in prep.folds:
            text = text.replace(before, after)
        index = {token: i for i, token in enumerate(prep.vocab)}
        missing = sorted({ch for ch in text if ch not in index})
        if missing and prep.unknown is None:
            shown = "".join(missing[:20])
            raise PredictError(f"--text: characters {shown!r} are not in the run's vocabulary of "
                               f"{len(prep.vocab)}; leave them out")
        if not text:
            raise PredictError("--text: the text is empty")
        ids = [index.get(ch, prep.unknown) for ch in text]
        length = prep.input_shape[0]
        fill = index.get(" ", 0)
        return np.array(([fill] * length + ids)[-length:], dtype=np.int64)  # the last `length` characters

    # --- running ---------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, text: str, beam: int = 1) -> str:
        """A seq2seq run's answer for a source text: greedy decoding (beam 1) or beam decoding."""
        from runtime.data.parallel import BOS, EOS, PAD, UNK, decode_ids, encode_text
        from runtime.train.decoding import beam_decode, greedy_decode

        vocab = list(self.prep.vocab or ())
        length = self.prep.input_shape[0]
        if not text:
            raise PredictError("--text: the text is empty")
        if len(text) > length:
            raise PredictError(f"--text: {len(text)} characters; this model reads at most {length} (its "
                               "source input's length)")
        if beam < 1:
            raise PredictError("--beam must be at least 1")
        index = {ch: i for i, ch in enumerate(vocab) if i > UNK}
        source = torch.as_tensor(encode_text(text, index, length)).reshape(1, -1)
        if beam == 1:
            ids = greedy_decode(self.model, source, self.output_shape[0], BOS, EOS, PAD)[0].tolist()
        else:
            ids = beam_decode(self.model, source, self.output_shape[0], BOS, EOS, PAD, beam)[0]
        return decode_ids(ids, vocab)

    @torch.no_grad()
    def predict(self, inputs: list[str], text: str | None = None, top: int = 3,
                beam: int = 1) -> list[dict[str, Any]]:
        if self.prep.recipe == "seq2seq":
            if inputs:
                raise PredictError(f"{inputs[0]}: a seq2seq run translates text; give it with --text")
            if text is None:
                raise PredictError("give the text to translate with --text")
            return [{"input": f"text {text[:40]!r}", "translation": self.translate(text, beam),
                     "beam": beam}]
        rows: list[dict[str, Any]] = []
        labels: list[str] = []
        batch: list[np.ndarray] = []
        for label, sample in self.samples(inputs, text):
            labels.append(label)
            batch.append(sample)
            if len(batch) == BATCH:
                rows += self._run(labels, batch, top)
                labels, batch = [], []
        if batch:
            rows += self._run(labels, batch, top)
        if not rows:
            raise PredictError("no inputs: give image files, folders, .npy/.npz or .csv files, or --text")
        return rows

    def _run(self, labels: list[str], batch: list[np.ndarray], top: int) -> list[dict[str, Any]]:
        prep = self.prep
        if prep.input_kind == "tokens":
            x = torch.as_tensor(np.stack(batch))
            vocab_size = len(prep.vocab or ())
            if vocab_size and int(x.max()) >= vocab_size:
                raise PredictError(f"token ids up to {int(x.max())}; the run's vocabulary has {vocab_size}")
        else:
            x = torch.as_tensor(np.stack(batch).astype(np.float32))
            if prep.mean is not None:
                mean = torch.tensor(prep.mean).reshape(prep.stat_shape)
                std = torch.tensor(prep.std).reshape(prep.stat_shape)
                x = (x - mean) / std
        out = self.model(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out = out.float()
        return [self._interpret(label, scores, top) for label, scores in zip(labels, out)]

    def _interpret(self, label: str, scores: torch.Tensor, top: int) -> dict[str, Any]:
        prep = self.prep
        names = prep.vocab if prep.recipe == "language_model" else prep.classes
        if self.head == "ClassificationHead" and scores.dim() >= 1:
            if scores.dim() == 2:  # per step: the last position predicts what comes next
                scores = scores[-1]
            probabilities = torch.softmax(scores, dim=-1)
            ranked = torch.argsort(probabilities, descending=True)[:max(1, top)].tolist()
            shown = [(_name(names, i), float(probabilities[i])) for i in ranked]
            return {"input": label, "class": shown[0][0], "probability": shown[0][1],
                    "top": [{"class": c, "probability": p} for c, p in shown]}
        if self.head == "BinaryHead":
            p = float(torch.sigmoid(scores.reshape(-1)[0]))
            positive = _name(names, 1)
            negative = _name(names, 0)
            chosen, chance = (positive, p) if p >= 0.5 else (negative, 1 - p)
            return {"input": label, "class": chosen, "probability": chance,
                    "top": [{"class": positive, "probability": p}, {"class": negative, "probability": 1 - p}]}
        if self.head == "SegmentationHead" and scores.dim() == 3:  # (classes, H, W): a class per pixel
            mask = scores.argmax(dim=0)
            counts = torch.bincount(mask.reshape(-1), minlength=scores.shape[0]).tolist()
            total = max(1, mask.numel())
            shares = [{"class": _name(names, c), "share": n / total} for c, n in enumerate(counts)]
            return {"input": label, "pixels": shares, "mask": mask.tolist()}
        values = scores.reshape(-1).tolist()
        return {"input": label, "shape": list(scores.shape), "values": values}


def open_predictor(run_dir: Path) -> Predictor:
    """A run folder's trained network, ready for raw inputs.

    Raises PredictError, ProjectFileError (the snapshot) or WeightsFileError (the checkpoint).
    """
    from graph.blocks import default_registry
    from graph.compiler import CompileError, compile_project
    from graph.project_io import load_project
    from runtime.build import build_models
    from runtime.train.checkpoint import load_checkpoint, load_models
    from runtime.train.runs import BEST, LAST, SNAPSHOT

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PredictError(f"{run_dir}: no such run folder; give a folder written by 'deepwire train'")
    if not (run_dir / SNAPSHOT).is_file():
        raise PredictError(f"{run_dir}: no {SNAPSHOT} here; give a run folder written by 'deepwire train'")
    checkpoint = next((run_dir / name for name in (BEST, LAST) if (run_dir / name).is_file()), None)
    if checkpoint is None:
        raise PredictError(f"{run_dir}: this run saved no checkpoint ({BEST} or {LAST}); train it for at "
                           "least one epoch")
    registry = default_registry()
    project = load_project(run_dir / SNAPSHOT, registry)
    state = load_checkpoint(checkpoint)
    if "preprocessing" not in state:
        raise PredictError(f"{checkpoint} records no input preprocessing (an older DeepWire wrote it), so "
                           "raw inputs cannot be prepared as training prepared them; train the run again")
    try:
        prep = Preprocessing.from_dict(state["preprocessing"])
    except PreprocessingError as err:
        raise PredictError(f"{checkpoint}: its preprocessing entry cannot be used ({err})") from None
    if prep.recipe == "gan":
        raise PredictError(f"{run_dir}: a GAN run generates samples instead of predicting; see its samples "
                           "folder or 'deepwire evaluate'")
    try:
        compiled = compile_project(project, registry)
    except CompileError as err:
        raise PredictError(f"{run_dir / SNAPSHOT}: the run's network does not compile ({err})") from None
    if prep.network not in compiled.networks:
        raise PredictError(f"{checkpoint}: its preprocessing names network '{prep.network}', which the run's "
                           "project does not have")
    torch.manual_seed(project.seed)
    models, compiled = build_models(project, registry, compiled)
    load_models(models, state, str(checkpoint))
    info = compiled.network(prep.network)
    if len(info.input_blocks) != 1 and not (prep.recipe == "seq2seq" and len(info.input_blocks) == 2):
        raise PredictError(f"network '{prep.network}' has {len(info.input_blocks)} inputs; predict feeds "
                           "networks with one input (export it and call predict() from Python)")
    model = models[prep.network]
    model.eval()
    notes = []
    if prep.input_kind == "image" and prep.pixel_range is None:
        notes.append("this run's checkpoint does not record its pixel range (an older DeepWire): image files "
                     "are read as 0..255 pixels")
    return Predictor(run_dir, checkpoint, prep, model, info.head_types[0] if info.head_types else "",
                     tuple(info.output_shapes[0]) if info.output_shapes else (), notes)


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The predictions as an aligned text table."""
    width = min(60, max(len("input"), *(len(_short(r["input"])) for r in rows)))
    lines = []
    if "translation" in rows[0]:
        lines.append(f"{'input':<{width}}  translation")
        lines += [f"{_short(row['input']):<{width}}  {row['translation']}" for row in rows]
    elif "pixels" in rows[0]:  # segmentation: the share of the pixels given to each class (--json: the masks)
        lines.append(f"{'input':<{width}}  pixels per predicted class")
        for row in rows:
            shares = ", ".join(f"{p['class']} {100 * p['share']:.1f}%" for p in row["pixels"])
            lines.append(f"{_short(row['input']):<{width}}  {shares}")
    elif "class" in rows[0]:
        lines.append(f"{'input':<{width}}  {'prediction':<16} {'probability':>11}  next best")
        for row in rows:
            rest = ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in row["top"][1:])
            lines.append(f"{_short(row['input']):<{width}}  {_cell(row['class']):<16} "
                         f"{100 * row['probability']:>10.1f}%  {rest}")
    else:
        lines.append(f"{'input':<{width}}  outputs")
        for row in rows:
            values = row["values"]
            shown = ", ".join(_number(v) for v in values[:MAX_VALUES_SHOWN])
            more = (f", ... ({len(values)} values, shape {tuple(row['shape'])})"
                    if len(values) > MAX_VALUES_SHOWN else "")
            lines.append(f"{_short(row['input']):<{width}}  {shown}{more}")
    return "\n".join(lines)


# --- small helpers ---------------------------------------------------------------------------------

def _image_suffixes() -> tuple[str, ...]:
    from runtime.data.image_index import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def _image_files(folder: Path) -> Iterator[Path]:
    """Image files under `folder`, sorted, sub-folders included; symlinked folders are not followed."""
    import os

    suffixes = _image_suffixes()
    for directory, subdirs, files in os.walk(folder, followlinks=False):
        subdirs.sort()
        for name in sorted(files):
            if name.lower().endswith(suffixes) and not name.startswith("."):
                yield Path(directory) / name


def _check_npz_member(path: Path, key: str) -> None:
    """Refuse an array that would decompress to more than the data size cap (a zip bomb)."""
    from runtime.data.arrays import _member_info
    from runtime.data.files import human_size, max_bytes

    size = _member_info(path, key).file_size
    if size > max_bytes():
        raise PredictError(f"{path}: array '{key}' unpacks to {human_size(size)}, over the "
                           f"{human_size(max_bytes())} limit (DEEPWIRE_MAX_DATA_BYTES); save it as .npy")


def _numeric(row: list[str]) -> bool:
    return all(_is_number(cell) for cell in row if cell.strip())


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _name(names, i: int) -> str:
    if names is not None and 0 <= i < len(names):
        return names[i]
    return str(i)


def _cell(text: str) -> str:
    shown = repr(text)[1:-1] if not text.isprintable() or text.strip() != text else text  # "\n", " "
    return shown[:16]


def _short(text: str) -> str:
    return text if len(text) <= 60 else "..." + text[-57:]


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _kind_text(prep: Preprocessing) -> str:
    shape = "x".join(map(str, prep.input_shape))
    rows = f"rows of {prep.input_shape[0]} numbers" if len(prep.input_shape) == 1 else f"{shape} values"
    return {"image": f"images of {shape} (channels x height x width)", "vector": rows,
            "sequence": f"sequences of {shape} values",
            "tokens": f"text ({prep.input_shape[0]} characters of its vocabulary)",
            }.get(prep.input_kind, shape)


def _what_to_give(prep: Preprocessing) -> str:
    shape = ", ".join(map(str, prep.input_shape))
    return {"image": "give image files or folders of them (or a .npy of raw samples)",
            "vector": "give a .csv of rows (or a .npy)",
            "sequence": f"give a .npy of ({shape}) samples",
            "tokens": "give --text"}.get(prep.input_kind, "give a .npy")

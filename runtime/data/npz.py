"""A whole `Dataset` in one .npz file, for the exported standalone training script.

The script needs only torch and numpy: it reads this file with
`np.load(path)` (no pickles: every array is numeric or unicode text).

Keys (absent when the value is None):
    format          "deepwire-dataset-1"
    name            source name, e.g. "digits"
    description     one line about the data
    input_shape     int64 (one sample, without the batch dimension), e.g. [1, 8, 8]
    input_kind      "image" | "sequence" | "vector" | "tokens"
    target_kind     "class" | "value" | "tokens" | "none"
    num_classes     int64 scalar; -1 when there are no classes
    train_inputs    float32 (N, *input_shape), int64 (N, T) for tokens; already normalised
    train_targets   int64 (N,) classes or (N, T) tokens; float32 (N, ...) values
    val_inputs, val_targets, test_inputs, test_targets   the same for the other splits
    class_names     unicode (K,)
    vocab           unicode (V,): token id -> character
    mean, std       float32, broadcast against one sample: inputs were scaled x' = (x - mean) / std
Plain-numpy reading, e.g.:  data = np.load(path); x = data["train_inputs"]; str(data["input_kind"])
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from graph.atomic import atomic_open
from runtime.data.base import DataError, Dataset, Split

FORMAT = "deepwire-dataset-1"
SPLITS = ("train", "val", "test")


def write_npz(dataset: Dataset, path: str | Path) -> Path:
    """Save every split and what describes it; the file is replaced atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "name": np.array(dataset.name),
        "description": np.array(dataset.description),
        "input_shape": np.array(dataset.input_shape, dtype=np.int64),
        "input_kind": np.array(dataset.input_kind), "target_kind": np.array(dataset.target_kind),
        "num_classes": np.array(-1 if dataset.num_classes is None else dataset.num_classes, dtype=np.int64),
    }
    for name in SPLITS:
        split = getattr(dataset, name)
        if split is None:
            continue
        arrays[f"{name}_inputs"] = _whole(split.inputs)
        if split.targets is not None:
            arrays[f"{name}_targets"] = _whole(split.targets)
    if dataset.class_names is not None:
        arrays["class_names"] = np.array(dataset.class_names, dtype=str)
    if dataset.vocab is not None:
        arrays["vocab"] = np.array(dataset.vocab, dtype=str)
    for name in ("mean", "std"):
        value = getattr(dataset, name)
        if value is not None:
            arrays[name] = np.asarray(value, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as stream:
        np.savez(stream, **arrays)
    return path


def _whole(array) -> np.ndarray:
    """Every row of any input kind (a streamed split is read whole here: the script needs one file)."""
    if isinstance(array, np.ndarray):
        return np.asarray(array)
    return np.asarray(array[np.arange(len(array), dtype=np.int64)])


def load_npz_dataset(path: str | Path) -> Dataset:
    """The Dataset written by `write_npz`; DataError for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: the data file does not exist; export the project's data again")
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: could not be read as a DeepWire data file ({exc})") from None
    except MemoryError:  # a header declaring more than this machine holds
        raise DataError(f"{path}: declares an array larger than this machine's memory; the file is "
                        "damaged or not a DeepWire data file") from None
    if str(contents.get("format", "")) != FORMAT:
        raise DataError(f"{path}: not a DeepWire data file (expected format '{FORMAT}'); "
                        f"write it with runtime.data.write_npz")
    splits = {}
    for name in SPLITS:
        inputs = contents.get(f"{name}_inputs")
        splits[name] = None if inputs is None else Split(inputs, contents.get(f"{name}_targets"))
    classes = int(contents["num_classes"])
    return Dataset(
        name=str(contents["name"]), train=splits["train"], val=splits["val"], test=splits["test"],
        input_shape=tuple(int(d) for d in contents["input_shape"]),
        input_kind=str(contents["input_kind"]), target_kind=str(contents["target_kind"]),
        num_classes=None if classes < 0 else classes,
        class_names=[str(c) for c in contents["class_names"]] if "class_names" in contents else None,
        vocab=[str(c) for c in contents["vocab"]] if "vocab" in contents else None,
        mean=contents.get("mean"), std=contents.get("std"), description=str(contents["description"]),
    )

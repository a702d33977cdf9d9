"""The `arrays` source: numpy arrays saved with `np.savez` or `np.save`.

- `.npz`: the inputs and labels are the arrays named x/y, X/y, inputs/targets
  or data/labels (or the options inputs_key/targets_key), else the first two
  arrays in the file; a file with one array has no labels (autoencoder, GAN).
- `.npy`: the inputs; option `labels` names a second .npy with the labels.
Inputs are (N, ...) numbers: (N, F) tables, (N, T, F) sequences, (N, C, H, W)
images (uint8 inputs count as images with pixels 0..255). Class labels are
whole numbers 0..K-1, (N,) or per step (N, T); regression targets any numbers.
Nothing is ever unpickled: object arrays are refused.

Large inputs are memory-mapped, never read whole: a `.npy` with
np.load(mmap_mode="r"); a `.npz` member stored uncompressed (np.savez) is
mapped at its offset inside the zip file, a compressed one (np.savez_compressed)
is extracted once into the data cache (runtime/data/cache.py) and mapped
there. Inputs that take less than `in_memory_bytes()` as float32 (512 MB,
DEEPWIRE_IN_MEMORY_BYTES) are read into memory exactly as before; bigger ones
are streamed: `MappedRows` reads (and converts to float32) only the rows a
batch asks for, and the NaN check goes through the file in chunks.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graph.params import Choice, Text
from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.source import KIND_BY_RANK, Context, Natural, RawData, Source
from runtime.data.store import SampleStore, data_key

IN_MEMORY_ENV = "DEEPWIRE_IN_MEMORY_BYTES"
IN_MEMORY_BYTES = 512 * 2**20  # decoded (float32) inputs below this are read whole; above, memory-mapped
CHECK_CHUNK_BYTES = 8 * 2**20  # the NaN check of a mapped file reads this much at a time (its mask: 2 MB)


def in_memory_bytes() -> int:
    """The decoded size below which a source reads its inputs into memory (DEEPWIRE_IN_MEMORY_BYTES)."""
    try:
        return int(os.environ.get(IN_MEMORY_ENV, IN_MEMORY_BYTES))
    except ValueError:
        return IN_MEMORY_BYTES

_KEY_PAIRS = (("x", "y"), ("X", "y"), ("inputs", "targets"), ("data", "labels"))
_DTYPE_WORDS = {"U": "text", "S": "bytes", "O": "Python object", "c": "complex-number",
                "M": "date", "m": "time-span", "V": "structured"}

PARAMS = (
    Text("path", "", "A .npz file with inputs and labels, or a .npy file of inputs."),
    Text("labels", "", "With a .npy path: a second .npy file holding the labels (empty: none)."),
    Text("inputs_key", "", "The inputs' name inside the .npz (empty: x, inputs, or the first array)."),
    Text("targets_key", "", "The labels' name inside the .npz (empty: y, targets, or the second array)."),
    Choice("task", "auto", ("auto", "classification", "regression"),
           "What the labels are: classes or numbers. auto follows the recipe, else the labels' type."),
)


@dataclass
class _Arrays:
    file: str
    x_shape: tuple[int, ...]
    x_dtype: np.dtype
    x_path: Path
    x_key: str | None  # the inputs' name in a .npz; None for a .npy (then `x` is already read)
    y: np.ndarray | None
    x: np.ndarray | None = None
    y_file: str = ""  # where the labels came from, for messages

    def load_x(self) -> np.ndarray:
        if self.x is not None:
            return np.asarray(self.x) if isinstance(self.x, np.memmap) else self.x
        with _np_load(self.x_path, self.file) as archive:
            return _member(archive, self.x_key, self.file)

    def map_x(self) -> np.ndarray:
        """The inputs memory-mapped (read-only), never read whole."""
        if self.x is not None:
            return self.x
        return map_npz_member(self.x_path, self.x_key, self.file)


class MappedRows(SampleStore):
    """Rows of a memory-mapped array as float32 samples of `shape`, read only when asked for."""

    def __init__(self, array: np.ndarray, shape: tuple[int, ...], dtype=np.float32):
        self.array = array
        self.shape = (len(array), *shape)
        self.dtype = np.dtype(dtype)  # int64 for the token ids of a Token ids input

    def read(self, index: np.ndarray) -> np.ndarray:
        order = np.argsort(index, kind="stable")  # forwards through the file, then back to the asked order
        out = np.empty((len(index), *self.shape[1:]), dtype=self.dtype)
        out[order] = self.array[index[order]].astype(self.dtype).reshape((len(index), *self.shape[1:]))
        return out

    def cache_key(self):
        """The mapped file's identity (path, size, mtime, offset, dtype) and the sample shape."""
        mapped = data_key(self.array)
        return None if mapped is None else {"mapped": mapped, "sample": list(self.shape[1:])}


def _member_info(path: Path, key: str) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo(key + ".npy")


def map_npz_member(path: Path, key: str, file: str) -> np.ndarray:
    """One .npz member memory-mapped: in place when stored uncompressed, else extracted to the cache once."""
    try:
        info = _member_info(path, key)
        if info.compress_type == zipfile.ZIP_STORED:
            with open(path, "rb") as stream:
                stream.seek(info.header_offset)
                local = stream.read(30)
                name_length = int.from_bytes(local[26:28], "little")
                extra_length = int.from_bytes(local[28:30], "little")
                start = info.header_offset + 30 + name_length + extra_length
                stream.seek(start)
                version = np.lib.format.read_magic(stream)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(stream)
                offset = stream.tell()
            if dtype.hasobject:
                raise ValueError("Object arrays cannot be loaded")
            return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape),
                             order="F" if fortran else "C")
        return _extracted(path, key, info)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise DataError(f"{file}: array '{key}' holds Python objects, which DeepWire never unpickles; "
                            f"save plain numeric arrays instead") from None
        raise DataError(f"{file}: array '{key}' could not be memory-mapped ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{file}: array '{key}' could not be read ({exc})") from None


def _extracted(path: Path, key: str, info: zipfile.ZipInfo) -> np.ndarray:
    """A compressed member copied out (once, to the data cache) as a plain .npy, then mapped."""
    from runtime.data.cache import cache_entry, fingerprint

    entry = cache_entry(path, "npz-member", {"key": key})
    current = fingerprint([path])
    target = entry.folder / "member.npy"
    if not entry.valid(current):
        entry.prepare()
        with zipfile.ZipFile(path) as archive, archive.open(info) as member, open(target, "wb") as out:
            shutil.copyfileobj(member, out, 1 << 22)
        entry.seal(current, member=key)
    return np.load(target, mmap_mode="r", allow_pickle=False)


def _np_load(path: Path, file: str):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise DataError(f"{file} holds Python objects, which DeepWire never unpickles (they can run "
                            f"code); save plain numeric arrays instead") from None
        raise DataError(f"{file} is not a numpy .npy or .npz file (save arrays with np.save or "
                        f"np.savez; pickles are never loaded)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{file}: could not be read as a numpy file ({exc})") from None
    except MemoryError as exc:  # its header declares an array larger than this machine's memory
        raise _too_big(file, exc) from None


def _np_load_mapped(path: Path, file: str):
    """A .npy file memory-mapped (only its header is read now); DataError as for `_np_load`."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "Object arrays" in str(exc) or "allow_pickle" in str(exc):
            raise DataError(f"{file} holds Python objects, which DeepWire never unpickles (they can run "
                            f"code); save plain numeric arrays instead") from None
        if "mmap length is greater than file size" in str(exc):
            raise DataError(f"{file} declares an array larger than the file holds; the file is damaged or "
                            "cut short") from None
        return _np_load(path, file)  # not a .npy after all: the same messages as before
    except (OSError, EOFError) as exc:
        raise DataError(f"{file}: could not be read as a numpy file ({exc})") from None


def _member(archive, key: str, file: str) -> np.ndarray:
    try:
        value = archive[key]
        if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of a member that is no .npy
            raise DataError(f"{file}: member '{key}' is not a numpy array (not written by np.savez); "
                            "save the arrays with np.savez(file, x=..., y=...)")
        return value
    except ValueError:
        raise DataError(f"{file}: array '{key}' holds Python objects, which DeepWire never unpickles; "
                        f"save plain numeric arrays instead") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{file}: array '{key}' could not be read ({exc})") from None
    except MemoryError as exc:
        raise _too_big(f"{file}: array '{key}'", exc) from None


def _too_big(what: str, exc: MemoryError) -> DataError:
    """numpy allocates what a file's header declares before reading: a lie there must not crash."""
    detail = str(exc).split(" for an array")[0].replace("Unable to allocate", "it would need")
    return DataError(f"{what} declares an array larger than this machine's memory "
                     f"({detail or 'out of memory'}); the file is damaged or not meant for training here")


def _npz_header(path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one .npz member without reading its data."""
    with zipfile.ZipFile(path) as archive, archive.open(key + ".npy") as member:
        version = np.lib.format.read_magic(member)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read(member)
    return tuple(shape), np.dtype(dtype)


def _pick_keys(names: list[str], options: dict, file: str) -> tuple[str, str | None]:
    for option in ("inputs_key", "targets_key"):
        if options[option] and options[option] not in names:
            raise DataError(f"{file}: option '{option}' names array '{options[option]}', which is not in "
                            f"the file; its arrays are: {', '.join(names)}")
    if options["inputs_key"]:
        return options["inputs_key"], options["targets_key"] or None
    for x_key, y_key in _KEY_PAIRS:
        if x_key in names:
            return x_key, (y_key if y_key in names else None)
    if not names:
        raise DataError(f"{file} holds no arrays; save the inputs and labels with "
                        f"np.savez(file, x=..., y=...)")
    return names[0], (names[1] if len(names) > 1 else None)


def _check_numeric(dtype: np.dtype, file: str, what: str) -> None:
    if dtype.kind not in "biuf":
        words = _DTYPE_WORDS.get(dtype.kind, str(dtype))
        raise DataError(f"{file}: the {what} hold {words} values (dtype {dtype}); DeepWire needs numbers "
                        f"(int or float arrays)")


def _open_parts(path: Path, options: dict, context: Context) -> _Arrays:
    """A network with several inputs: one array per forward() argument, side by side as one flat
    float32 vector per sample (read into memory: such pairs are small next to an image folder)."""
    file = path.name
    names = [name for name, _shape in context.input_parts]
    wanted = ", ".join(f"{n}=..." for n in names)
    if path.suffix.lower() != ".npz":
        raise DataError(f"{file}: the network has {len(names)} inputs ({', '.join(names)}): save one array "
                        f"per input in a .npz, np.savez(file, {wanted}, y=...)")
    with _np_load(path, file) as archive:
        present = list(archive.files)
        missing = [n for n in names if n not in present]
        if missing:
            raise DataError(f"{file}: no array named {', '.join(repr(n) for n in missing)}; the network's "
                            f"inputs are {', '.join(names)}, so save np.savez(file, {wanted}, y=...) (it "
                            f"holds {', '.join(present) or 'nothing'})")
        y_key = options["targets_key"] or next((k for k in ("y", "targets", "labels") if k in present), None)
        if options["targets_key"] and options["targets_key"] not in present:
            raise DataError(f"{file}: option 'targets_key' names array '{options['targets_key']}', which is "
                            f"not in the file; its arrays are: {', '.join(present)}")
        y = _member(archive, y_key, file) if y_key else None
        columns, count = [], None
        for name, shape in context.input_parts:
            x = _member(archive, name, file)
            _check_numeric(x.dtype, file, f"inputs '{name}'")
            if tuple(x.shape[1:]) != tuple(shape) and int(np.prod(x.shape[1:])) != int(np.prod(shape)):
                raise DataError(f"{file}: array '{name}' holds samples of shape {tuple(x.shape[1:])}, but "
                                f"the network's input '{name}' expects {tuple(shape)}")
            if count is not None and len(x) != count:
                raise DataError(f"{file}: array '{name}' has {len(x)} samples but '{names[0]}' has {count}; "
                                "every input needs one row per sample")
            count = len(x)
            columns.append(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    flat = np.concatenate(columns, axis=1)
    return _Arrays(file, flat.shape, flat.dtype, path, None, y, flat, file if y is not None else "")


def _open(options: dict, context: Context) -> _Arrays:
    path = existing_path(context, options["path"], "arrays", "path")
    file = path.name
    if context.input_parts:
        arrays = _open_parts(path, options, context)
        _check_labels_match(arrays)
        return arrays
    if path.suffix.lower() == ".npz":
        with _np_load(path, file) as archive:
            x_key, y_key = _pick_keys(list(archive.files), options, file)
            y = _member(archive, y_key, file) if y_key else None
        shape, dtype = _npz_header(path, x_key)
        arrays = _Arrays(file, shape, dtype, path, x_key, y, y_file=file)
    else:
        x = _np_load_mapped(path, file)
        if not isinstance(x, np.ndarray):
            raise DataError(f"{file}: expected one array in a .npy file; for several use .npz")
        y, y_file = None, ""
        if options["labels"]:
            label_path = existing_path(context, options["labels"], "arrays", "labels")
            y, y_file = _np_load(label_path, label_path.name), label_path.name
            if not isinstance(y, np.ndarray):
                raise DataError(f"{y_file}: expected one array of labels in a .npy file")
        arrays = _Arrays(file, x.shape, x.dtype, path, None, y, x, y_file)
    _check_numeric(arrays.x_dtype, file, "inputs")
    _check_labels_match(arrays)
    return arrays


def _check_labels_match(arrays: _Arrays) -> None:
    file = arrays.file
    if not arrays.x_shape or arrays.x_shape[0] == 0:
        raise DataError(f"{file}: the inputs hold no samples; expected an array of shape (N, ...)")
    if arrays.y is not None:
        _check_numeric(arrays.y.dtype, arrays.y_file, "labels")
        if arrays.y.ndim == 0 or len(arrays.y) != arrays.x_shape[0]:
            count = len(arrays.y) if arrays.y.ndim else 1
            where = file if arrays.y_file == file else f"{file} and {arrays.y_file}"
            raise DataError(f"{where}: the inputs have {arrays.x_shape[0]} samples but the labels have "
                            f"{count}; they must match one to one")


def _first_bad(values: np.ndarray) -> int | None:
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def _target_kind(arrays: _Arrays, options: dict, context: Context) -> str:
    if arrays.y is None:
        if context.recipe in ("classification", "regression"):
            raise DataError(f"{arrays.file} holds only inputs; for {context.recipe} give the labels too: "
                            f"a second array in the .npz (named y) or option 'labels' with a .npy file")
        return "none"
    task = options["task"]
    if task == "auto":
        if context.recipe in ("classification", "regression"):
            task = context.recipe
        else:
            task = "classification" if arrays.y.dtype.kind in "biu" else "regression"
    return "class" if task == "classification" else "value"


def _class_labels(arrays: _Arrays, context: Context) -> np.ndarray:
    y = arrays.y
    if y.dtype.kind == "f":
        bad = _first_bad(y)
        if bad is None:
            whole = (y == np.round(y)).reshape(len(y), -1).all(axis=1)
            bad = None if whole.all() else int(np.argmax(~whole))
        if bad is not None:
            raise DataError(f"{arrays.y_file}: the label of sample {bad} is not a whole number "
                            f"({y[bad]!r}); class labels must be 0, 1, 2, ... (or use the regression recipe)")
    labels = y.astype(np.int64, copy=False)  # int64 labels are not copied (1.2M of them: 9.6 MB)
    flat = labels.reshape(len(labels), -1)
    limit = context.num_classes
    checks = [(lambda: flat < 0, "is negative")]  # one mask at a time
    if limit:
        why = f"is out of range for the network's {limit} classes (0 to {limit - 1})"
        checks.append((lambda: flat >= limit, why))
    for make_mask, why in checks:
        bad_mask = make_mask()
        if bad_mask.any():
            sample = int(np.argmax(bad_mask.any(axis=1)))
            value = int(flat[sample][bad_mask[sample]][0])
            raise DataError(f"{arrays.y_file}: label {value} of sample {sample} {why}; class labels must be "
                            f"0 to K-1 for K classes")
    return labels


def _natural(options: dict, context: Context) -> Natural:
    arrays = _open(options, context)
    shape = arrays.x_shape[1:] or (1,)
    kind = KIND_BY_RANK.get(len(shape), "image")
    target_kind = _target_kind(arrays, options, context)
    classes = int(_class_labels(arrays, context).max()) + 1 if target_kind == "class" else None
    # (N, T) whole numbers: token ids when the network starts with a Token ids input, else numbers
    ids = arrays.x_dtype.kind in "iu" and len(shape) == 1
    return Natural(shape, kind, target_kind, classes, f"the samples in {arrays.file}", integer_ids=ids)


def _first_bad_chunked(x: np.ndarray) -> int | None:
    """The first sample holding NaN or infinity, reading a mapped file a chunk at a time."""
    row_bytes = max(1, x.itemsize * int(np.prod(x.shape[1:])))
    chunk = max(1, CHECK_CHUNK_BYTES // row_bytes)
    for start in range(0, len(x), chunk):
        bad = _first_bad(np.asarray(x[start:start + chunk]))
        if bad is not None:
            return start + bad
    return None


def _token_ids(arrays: _Arrays) -> tuple[np.ndarray | MappedRows, int]:
    """Integer inputs kept as int64 token ids (an Embedding indexes with them), with the largest id;
    negative ids refused. A chunk of rows at a time: a mapped file is never read whole."""
    small = 8 * int(np.prod(arrays.x_shape, dtype=np.int64)) < in_memory_bytes()
    x = arrays.load_x() if small else arrays.map_x()
    rows = max(1, CHECK_CHUNK_BYTES // max(1, x.itemsize * x.shape[1]))
    largest = 0
    for start in range(0, len(x), rows):
        chunk = np.asarray(x[start:start + rows])
        negative = np.flatnonzero((chunk < 0).any(axis=1))
        if len(negative):
            sample = start + int(negative[0])
            raise DataError(f"{arrays.file}: input sample {sample} holds a negative token id "
                            f"({int(chunk[negative[0]].min())}); token ids count from 0")
        largest = max(largest, int(chunk.max(initial=0)))
    return (x.astype(np.int64) if small else MappedRows(x, tuple(x.shape[1:]), np.int64)), largest


def _read(options: dict, context: Context) -> RawData:
    arrays = _open(options, context)
    if context.input_kind == "tokens":  # fit_shape let integer ids through to a Token ids input
        ids, largest = _token_ids(arrays)
        raw = _labelled(arrays, options, context, ids, None,
                        f"{arrays.x_shape[0]} token-id samples from {arrays.file}.")
        raw.extra["max_token_id"] = largest  # the recipe checks it against the input's vocab_size
        return raw
    decoded = 4 * int(np.prod(arrays.x_shape, dtype=np.int64))
    if decoded < in_memory_bytes() and not context.stream:  # small: read whole, exactly as before
        x = arrays.load_x()
        bad = _first_bad(x.astype(np.float64, copy=False)) if x.dtype.kind == "f" else None
        inputs = None
    else:  # large: memory-mapped, rows read per batch
        x = arrays.map_x()
        # a preview (context.stream) reads a few rows, not the whole file for the NaN check: it shows them
        bad = _first_bad_chunked(x) if x.dtype.kind == "f" and not context.stream else None
        inputs = MappedRows(x, tuple(context.shape))
    if bad is not None:
        raise DataError(f"{arrays.file}: input sample {bad} holds NaN (not a number) or infinite values; "
                        f"remove or fill in that sample")
    pixels = (0.0, 255.0) if x.dtype == np.uint8 else None
    if inputs is None:
        inputs = x.astype(np.float32).reshape((len(x), *context.shape))
    return _labelled(arrays, options, context, inputs, pixels, f"{len(x)} samples from {arrays.file}.")


def _labelled(arrays: _Arrays, options: dict, context: Context, inputs, pixels,
              description: str) -> RawData:
    """The inputs with their targets, as the options and the recipe say (none, values or classes)."""
    target_kind = _target_kind(arrays, options, context)
    if target_kind == "none":
        return RawData(inputs, None, "none", origin=arrays.file, pixel_range=pixels, description=description)
    if target_kind == "value":
        bad = _first_bad(arrays.y.astype(np.float64))
        if bad is not None:
            raise DataError(f"{arrays.y_file}: the target of sample {bad} is NaN (not a number) or infinite; "
                            f"remove or fill in that sample")
        targets = arrays.y.astype(np.float32)
        targets = targets.reshape(len(targets), 1) if targets.ndim == 1 else targets
        return RawData(inputs, targets, "value", origin=arrays.file, pixel_range=pixels,
                       description=description)
    labels = _class_labels(arrays, context)
    classes = max(int(labels.max()) + 1, context.num_classes or 0)
    return RawData(inputs, labels, "class", origin=arrays.file, num_classes=classes,
                   class_names=[str(i) for i in range(classes)], pixel_range=pixels, description=description)


SOURCES = (
    Source("arrays", "Numpy arrays", "Your own numpy arrays: a .npz of inputs and labels, or .npy files.",
           PARAMS, _natural, _read, required=("path",), several_inputs=True),
)

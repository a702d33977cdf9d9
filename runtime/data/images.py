"""The `image_folder` source: a folder of images with one sub-folder per class.

    pets/cats/001.png, pets/cats/002.jpg, pets/dogs/001.png ...

Class ids follow the sorted sub-folder names, which become class_names. Every
image is read with Pillow, converted to grey (1 channel), RGB (3) or RGBA (4)
by the network's Image input, and resized to its height and width; pixel
values are 0..255 before normalisation. Hidden files are ignored.

The folder is indexed once (image_index.py: every file's path and class, by
os.scandir) and the index is kept in the data cache; one load indexes (or
reads the cached index) once, for the sample shape and the read alike.
Files that are not images by their extension and links leading nowhere are
skipped there; files that turn out empty (0 bytes), corrupt, unreadable or
decompression bombs (more than Pillow's MAX_IMAGE_PIXELS) are skipped when
decoded. Skipped files never stop a run: they are counted and
the first names are shown in a warning (Dataset.extra["warnings"] for the
load, a run warning for files met while training).

Small folders are decoded into memory at once, as before; a folder whose
decoded samples take `IMAGE_IN_MEMORY_BYTES` (32 MB as float32, ~2,700
32x32 RGB images) or more is streamed: an `ImageStore` decodes the files of
each batch in DataLoader workers. Measured on 32x32 PNGs (2 shared cores):
one process decodes ~5,400 per second, so decoding 32 MB up front costs
~0.5 s before the first step and a 40k-image folder (490 MB) ~7.5 s, while a
streamed one starts in well under a second; DEEPWIRE_IN_MEMORY_BYTES moves
the line.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from graph.params import Text
from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.image_index import (
    IMAGE_SUFFIXES,
    FolderIndex,
    IndexCancelledError,
    index_folder,
    skipped_text,
)
from runtime.data.source import Context, Natural, RawData, Source
from runtime.data.store import SampleStore

__all__ = ["IMAGE_SUFFIXES", "ImageStore", "IndexCancelledError", "SOURCES", "decode_image"]

_MODE_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
IMAGE_IN_MEMORY_BYTES = 32 * 2**20
_HEADER_TRIES = 20  # files tried for the sample shape before the folder counts as unreadable


def image_in_memory_bytes() -> int:
    from runtime.data.arrays import IN_MEMORY_ENV

    try:
        return int(os.environ.get(IN_MEMORY_ENV, IMAGE_IN_MEMORY_BYTES))
    except ValueError:
        return IMAGE_IN_MEMORY_BYTES


def _image_module():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("data source 'image_folder' needs Pillow to read images; "
                        "install it with: pip install Pillow") from None
    return Image


def decode_image(path: str, channels: int, height: int, width: int) -> np.ndarray:
    """One image as uint8 (height, width, channels); raises (any exception) for a file that is no image."""
    image_module = _image_module()
    resample = getattr(image_module, "Resampling", image_module).BILINEAR
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)  # refused, not decoded
        with image_module.open(path) as image:
            image = image.convert(_MODE_BY_CHANNELS[channels])
            if image.size != (width, height):
                image = image.resize((width, height), resample)
            return np.asarray(image, dtype=np.uint8).reshape(height, width, channels)


def _why(exc: Exception, path: str | None = None) -> str:
    if path is not None and _empty(path):  # the index does not stat files: an empty one is found here
        return "empty, 0 bytes"
    if type(exc).__name__.startswith("DecompressionBomb"):
        return "a decompression bomb: more pixels than Pillow's limit"
    return str(exc).split("\n")[0][:120] or type(exc).__name__


def _empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


class ImageStore(SampleStore):
    """The images of an index, decoded on demand to float32 (C, H, W) pixels 0..255, shaped `sample`."""

    decodes = True  # each row is a file to decode: statistics use a smaller sample (normalize.py)

    def __init__(self, index: FolderIndex, decode_shape: tuple[int, int, int], sample: tuple[int, ...]):
        self.root = str(index.root)
        self.names = index.names
        self.decode_shape = decode_shape  # (channels, height, width) decoded
        self.shape = (len(index.names), *sample)
        self.dtype = np.dtype(np.float32)
        self.fingerprint = index.fingerprint  # [] when the index could not be sealed: nothing is cached

    def cache_key(self):
        """What the rows depend on (the folder's size+mtime, the decode), or None: no statistics cache."""
        if not self.fingerprint:
            return None
        return {"images": self.root, "fingerprint": self.fingerprint, "decode": list(self.decode_shape),
                "sample": list(self.shape[1:]), "files": len(self.names)}

    def stat_rows(self, index: np.ndarray) -> list[tuple[int, int]]:
        """(size, mtime_ns) of the files of rows `index`; (-1, -1) for one that cannot be read."""
        out = []
        for i in index:
            try:
                info = os.stat(os.path.join(self.root, str(self.names[i])))
                out.append((info.st_size, info.st_mtime_ns))
            except OSError:
                out.append((-1, -1))
        return out

    def read_checked(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        channels, height, width = self.decode_shape
        pixels = np.zeros((len(index), height, width, channels), dtype=np.uint8)
        bad = np.zeros(len(index), dtype=bool)
        names = []
        for row, i in enumerate(index):
            path = os.path.join(self.root, str(self.names[i]))
            try:
                pixels[row] = decode_image(path, channels, height, width)
            except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad file
                bad[row] = True
                names.append(f"{path} ({_why(exc, path)})")
        rows = pixels.transpose(0, 3, 1, 2).astype(np.float32).reshape((len(index), *self.shape[1:]))
        return rows, bad, names

    def read(self, index: np.ndarray) -> np.ndarray:
        return self.read_checked(index)[0]


def _index(options: dict, context: Context) -> tuple[Path, FolderIndex]:
    """The folder and its index, indexed (or read from the cache) once per load: `natural` and `read`
    share it through the context."""
    folder = existing_path(context, options["path"], "image_folder", "path", folder=True)
    key = ("image_index", str(folder))
    if key not in context.memo:
        context.memo[key] = index_folder(folder, context.progress)
    return folder, context.memo[key]


def _natural(options: dict, context: Context) -> Natural:
    folder, index = _index(options, context)
    image_module = _image_module()
    first_error = None
    for name in index.names[:_HEADER_TRIES]:
        path = index.root / str(name)
        try:
            with image_module.open(path) as image:  # reads the header only
                width, height = image.size
                channels = 1 if image.mode in _GREY_MODES else 3
            break
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad file
            first_error = first_error or (path, exc)
    else:
        path, exc = first_error
        raise DataError(f"{path}: could not be read as an image ({_why(exc)}), nor could the next "
                        f"{min(len(index.names), _HEADER_TRIES) - 1} files of {folder.name}; check that the "
                        "folder holds images (PNG, JPEG, ...)") from None
    return Natural((channels, height, width), "image", "class", len(index.classes),
                   f"the images in {folder.name}", "image_size")


def _decode_all(store: ImageStore, labels: np.ndarray, folder: Path, classes: list[str]):
    """Every image decoded now (a small folder): rows that fail are dropped, their names returned."""
    rows, bad, names = store.read_checked(np.arange(len(store), dtype=np.int64))
    if bad.any():
        keep = ~bad
        rows, labels = rows[keep], labels[keep]
        for class_id, name in enumerate(classes):
            if not (labels == class_id).any():
                raise DataError(f"{folder / name}: none of the images of class '{name}' could be read "
                                f"({skipped_text(names)}); replace them or remove the folder")
    return rows, labels, names


def _read(options: dict, context: Context) -> RawData:
    folder, index = _index(options, context)
    shape = context.shape
    decode = shape if len(shape) == 3 and shape[0] in _MODE_BY_CHANNELS else _natural(options, context).shape
    store = ImageStore(index, tuple(decode), tuple(context.shape))
    labels = index.labels
    notes = list(index.warnings())
    decoded = 4 * len(store) * int(np.prod(context.shape))
    if decoded < image_in_memory_bytes() and not context.stream:
        inputs, labels, bad = _decode_all(store, labels, folder, index.classes)
        if bad:
            notes.append(f"{folder.name}: skipped {len(bad)} file(s) that could not be read as images: "
                         f"{skipped_text(bad)}")
    else:
        inputs = store  # decoded batch by batch while training
    names = index.classes
    return RawData(inputs, labels, "class", origin=folder.name, num_classes=len(names), class_names=names,
                   pixel_range=(0.0, 255.0),
                   description=f"{len(labels)} images of {len(names)} classes from {folder.name}.",
                   extra={"warnings": notes} if notes else {})


SOURCES = (
    Source("image_folder", "Image folder",
           "Your images, one sub-folder per class (PNG, JPEG, ...), resized to the network's input.",
           (Text("path", "", "The folder holding one sub-folder of images per class, e.g. 'pets'."),),
           _natural, _read, required=("path",)),
)

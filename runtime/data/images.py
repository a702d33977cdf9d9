"""The `image_folder` source: a folder of images with one sub-folder per class.

    pets/cats/001.png, pets/cats/002.jpg, pets/dogs/001.png ...

Class ids follow the sorted sub-folder names, which become class_names. Every
image is read with Pillow, converted to grey (1 channel), RGB (3) or RGBA (4)
by the network's Image input, and resized to its height and width; pixel
values are 0..255 before normalisation. Hidden files and files that are not
images by their extension are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graph.params import Text
from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.source import Context, Natural, RawData, Source

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_MODE_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(folder: Path) -> list[tuple[str, list[Path]]]:
    """(class name, image files) per sub-folder, sorted; DataError for an empty layout."""
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    if not entries:
        raise DataError(f"{folder}: the folder is empty; put one sub-folder per class in it "
                        f"(e.g. cats/ and dogs/), each holding the images of that class")
    subfolders = [p for p in entries if p.is_dir()]
    if not subfolders:
        raise DataError(f"{folder}: the folder has no class sub-folders, only files such as "
                        f"'{entries[0].name}'; move the images into one sub-folder per class "
                        f"(e.g. cats/ and dogs/)")
    classes = []
    for sub in subfolders:
        images = sorted(p for p in sub.iterdir()
                        if _visible(p) and p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"{sub}: the class folder '{sub.name}' holds no images "
                            f"({', '.join(IMAGE_SUFFIXES)}); add some or remove the folder")
        classes.append((sub.name, images))
    return classes


def _unreadable(path: Path, exc: Exception) -> DataError:
    return DataError(f"{path}: could not be read as an image ({exc}); replace or delete that file")


def _image_module():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("data source 'image_folder' needs Pillow to read images; "
                        "install it with: pip install Pillow") from None
    return Image


def _natural(options: dict, context: Context) -> Natural:
    folder = existing_path(context, options["path"], "image_folder", "path", folder=True)
    classes = _class_folders(folder)
    first = classes[0][1][0]
    image_module = _image_module()
    try:
        with image_module.open(first) as image:  # reads the header only
            width, height = image.size
            channels = 1 if image.mode in _GREY_MODES else 3
    except Exception as exc:  # Pillow raises many kinds for a bad file
        raise _unreadable(first, exc) from None
    return Natural((channels, height, width), "image", "class", len(classes),
                   f"the images in {folder.name}", "image_size")


def _read(options: dict, context: Context) -> RawData:
    folder = existing_path(context, options["path"], "image_folder", "path", folder=True)
    classes = _class_folders(folder)
    shape = context.shape
    if not (len(shape) == 3 and shape[0] in _MODE_BY_CHANNELS):
        shape = _natural(options, context).shape  # read as they are, then reshape to the network's
    channels, height, width = shape
    image_module = _image_module()
    resample = getattr(image_module, "Resampling", image_module).BILINEAR
    count = sum(len(files) for _, files in classes)
    pixels = np.empty((count, height, width, channels), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    index = 0
    for class_id, (_, files) in enumerate(classes):
        for path in files:
            try:
                with image_module.open(path) as image:
                    image = image.convert(_MODE_BY_CHANNELS[channels])
                    if image.size != (width, height):
                        image = image.resize((width, height), resample)
                    pixels[index] = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
            except Exception as exc:
                raise _unreadable(path, exc) from None
            labels[index] = class_id
            index += 1
    inputs = pixels.transpose(0, 3, 1, 2).astype(np.float32).reshape((count, *context.shape))
    names = [name for name, _ in classes]
    return RawData(inputs, labels, "class", origin=folder.name, num_classes=len(names), class_names=names,
                   pixel_range=(0.0, 255.0),
                   description=f"{count} images of {len(names)} classes from {folder.name}.")


SOURCES = (
    Source("image_folder", "Image folder",
           "Your images, one sub-folder per class (PNG, JPEG, ...), resized to the network's input.",
           (Text("path", "", "The folder holding one sub-folder of images per class, e.g. 'pets'."),),
           _natural, _read, required=("path",)),
)

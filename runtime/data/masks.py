"""Segmentation data: images with one class id per pixel (a mask), for the segmentation recipe.

shapes: generated offline from a seed (nothing is stored or downloaded):
circles, squares and triangles of random size, place and brightness on a
noisy background, never overlapping (one hidden behind another of the same
brightness could not be told); the mask holds 0 (background), 1 (circle),
2 (square) or 3 (triangle) per pixel. The images
take the network's Image input size (option `size` when there is none) and
its channels (grey, or RGB with a random colour per shape); pixels are 0..1.
The same `data_seed` gives the same images on every run.

mask_folder: the user's images and masks, matched by file name stem:

    images/cat_001.jpg   masks/cat_001.png      (any image format, masks PNG or any lossless one)

A mask is a grey or palette PNG whose pixel values are the class ids (a
palette PNG's indices are its ids, whatever the colours). Images are
resized to the network's input (bilinear) and masks to the same size
(nearest, so ids stay ids). Skipped, counted and named in a warning: an
image without a mask, a mask of another size than its image, an RGB mask
(no ids in it), a mask with a value at or above `classes`, a file that
cannot be decoded. `classes` 0 takes the largest id found + 1. Everything
is decoded into memory when loaded.

Masks are class targets of shape (N, H, W); flips or shifts of the image
alone would leave its mask behind, so the training setting 'augment' is
refused on both sources.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from graph.params import Float, Int, Text
from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.image_index import IMAGE_SUFFIXES, skipped_text
from runtime.data.source import Context, Natural, RawData, Source

SHAPE_NAMES = ["background", "circle", "square", "triangle"]
NO_AUGMENT = "images with masks (a flip or shift of the image alone would leave its mask behind)"
_GREY_MASK_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")


# --- shapes --------------------------------------------------------------------------------------

def _shape_params() -> tuple:
    return (
        Int("samples", 1200, 10, 1_000_000, "How many images to generate."),
        Int("size", 32, 8, 1024, "Height and width when the network's Image input does not fix them."),
        Int("max_shapes", 3, 1, 10, "Each image holds 1 to this many shapes."),
        Float("noise", 0.08, 0.0, 1.0, "Standard deviation of the Gaussian noise added to every pixel."),
        Int("data_seed", 0, 0, 2**31 - 1, "Seed of the generator: the same seed gives the same images."),
    )


def _shapes_natural(options: dict, context: Context) -> Natural:
    size = options["size"]
    return Natural((1, size, size), "image", "class", len(SHAPE_NAMES), "the generated shapes", "image_size")


PLACEMENT_TRIES = 20


def _shape(kind: int, rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, side: int) -> np.ndarray:
    """The pixels (H, W) inside one circle (1), square (2) or triangle (3) of random size and place."""
    height, width = rows.shape
    radius = rng.uniform(0.12, 0.24) * side
    cy, cx = rng.uniform(radius, height - radius), rng.uniform(radius, width - radius)
    if kind == 1:
        return (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
    if kind == 2:  # axis-aligned, half-side 0.85 radius
        return (np.abs(rows - cy) <= radius * 0.85) & (np.abs(cols - cx) <= radius * 0.85)
    down = rng.random() < 0.5  # pointing up or down
    dy = (cy - rows) if down else (rows - cy)  # -radius at the apex .. +radius at the base
    return (np.abs(dy) <= radius) & (np.abs(cols - cx) <= (dy + radius) * 0.6)


def draw_shapes(count: int, channels: int, height: int, width: int, max_shapes: int, noise: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, C, H, W) in 0..1, masks int64 (N, H, W)), the same for the same arguments."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    side = min(height, width)
    images = np.empty((count, channels, height, width), np.float32)
    masks = np.zeros((count, height, width), np.int64)
    for n in range(count):
        background = rng.uniform(0.0, 0.35, size=(channels, 1, 1))
        picture = np.broadcast_to(background, (channels, height, width)).copy()
        mask = masks[n]
        for _ in range(int(rng.integers(1, max_shapes + 1))):
            kind = int(rng.integers(1, 4))
            for _try in range(PLACEMENT_TRIES):  # shapes never overlap: a hidden one could not be told
                inside = _shape(kind, rng, rows, cols, side)
                if not (mask[inside] > 0).any():
                    break
            else:
                continue  # no free place left: the image holds fewer shapes
            brightness = rng.uniform(0.55, 1.0, size=(channels, 1, 1))
            picture = np.where(inside[None], brightness, picture)
            mask[inside] = kind
        picture += noise * rng.standard_normal(picture.shape).astype(np.float32)
        images[n] = np.clip(picture, 0.0, 1.0)
    return images, masks


def _shapes_read(options: dict, context: Context) -> RawData:
    channels, height, width = context.shape
    count = options["samples"]
    images, masks = draw_shapes(count, channels, height, width, options["max_shapes"], options["noise"],
                                options["data_seed"])
    return RawData(images, masks, "class", origin="shapes", num_classes=len(SHAPE_NAMES),
                   class_names=list(SHAPE_NAMES), pixel_range=(0.0, 1.0),
                   description=f"{count} generated {height}x{width} images of circles, squares and "
                               "triangles, with a class mask each (background 0).")


# --- mask_folder ---------------------------------------------------------------------------------

def _image_module():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("data source 'mask_folder' needs Pillow to read images; "
                        "install it with: pip install Pillow") from None
    return Image


def _listing(folder: Path) -> dict[str, str]:
    """stem -> file name of the visible image files of a folder (sorted; the first of a stem wins)."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name[:1] != "." and e.is_file())
    except OSError as exc:
        raise DataError(f"{folder}: the folder cannot be listed ({exc.strerror or exc})") from None
    found: dict[str, str] = {}
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in IMAGE_SUFFIXES and stem not in found:
            found[stem] = name
    return found


class _Pairs:
    """The matched (image, mask) files of a mask_folder source, and what was skipped while matching."""

    def __init__(self, options: dict, context: Context):
        self.images_dir = existing_path(context, options["path"], "mask_folder", "path", folder=True)
        self.masks_dir = existing_path(context, options["masks"], "mask_folder", "masks", folder=True)
        images, masks = _listing(self.images_dir), _listing(self.masks_dir)
        if not images:
            raise DataError(f"{self.images_dir}: no images in this folder ({', '.join(IMAGE_SUFFIXES)}); "
                            "put the images straight in it, each with a mask of the same name in "
                            f"{self.masks_dir.name}")
        self.pairs = [(self.images_dir / images[s], self.masks_dir / masks[s]) for s in images if s in masks]
        self.skipped = [f"{self.images_dir / images[s]} (no mask named {s}.png in {self.masks_dir.name})"
                        for s in images if s not in masks]
        if not self.pairs:
            raise DataError(f"{self.masks_dir}: none of the {len(images)} images of {self.images_dir.name} "
                            f"has a mask here (matched by name: {next(iter(images.values()))} needs e.g. "
                            f"{next(iter(images))}.png); check option 'masks'")


def _pairs(options: dict, context: Context) -> _Pairs:
    key = ("mask_pairs", options["path"], options["masks"])
    if key not in context.memo:
        context.memo[key] = _Pairs(options, context)
    return context.memo[key]


def read_mask(path: Path) -> np.ndarray:
    """Class ids (H, W) int64 of a grey or palette mask; ValueError says why a file is no usable mask."""
    image_module = _image_module()
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)  # refused, never decoded
        with image_module.open(path) as mask:
            if mask.mode not in _GREY_MASK_MODES:
                raise ValueError(f"a {mask.mode} mask has no class ids; save it as a grey or palette PNG "
                                 "whose pixel values are the class ids")
            return np.asarray(mask, dtype=np.int64)


def _why(exc: Exception) -> str:
    text = str(exc).split("\n")[0][:160]
    return text or type(exc).__name__


def _decode_pairs(pairs: _Pairs, shape: tuple[int, ...], classes: int):
    """(images, masks, skipped) decoded at shape (C, H, W); classes 0: any id (counted after)."""
    from runtime.data.images import decode_image

    image_module = _image_module()
    channels, height, width = shape
    images, masks, skipped = [], [], list(pairs.skipped)
    for image_path, mask_path in pairs.pairs:
        try:
            with image_module.open(image_path) as header:
                size = header.size
        except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad file
            skipped.append(f"{image_path} ({_why(exc)})")
            continue
        try:
            mask = read_mask(mask_path)
        except Exception as exc:  # noqa: BLE001
            skipped.append(f"{mask_path} ({_why(exc)})")
            continue
        if (mask.shape[1], mask.shape[0]) != size:
            skipped.append(f"{mask_path} (the mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                           f"{image_path.name} is {size[0]}x{size[1]})")
            continue
        if classes and int(mask.max()) >= classes:
            skipped.append(f"{mask_path} (holds class id {int(mask.max())}, but option 'classes' is "
                           f"{classes}: ids 0 to {classes - 1})")
            continue
        try:
            pixels = decode_image(str(image_path), channels, height, width)
        except Exception as exc:  # noqa: BLE001
            skipped.append(f"{image_path} ({_why(exc)})")
            continue
        if mask.shape != (height, width):
            resample = getattr(image_module, "Resampling", image_module).NEAREST
            mask = np.asarray(image_module.fromarray(mask.astype(np.int32)).resize((width, height), resample),
                              dtype=np.int64)
        images.append(pixels.transpose(2, 0, 1).astype(np.float32))
        masks.append(mask)
    return images, masks, skipped


def _folder_options(options: dict) -> list[str]:
    return [n.strip() for n in options["class_names"].split(",")] if options["class_names"].strip() else []


def _folder_natural(options: dict, context: Context) -> Natural:
    pairs = _pairs(options, context)
    image_module = _image_module()
    try:
        with image_module.open(pairs.pairs[0][0]) as image:
            width, height = image.size
            channels = 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{pairs.pairs[0][0]}: could not be read as an image ({exc}); check that "
                        f"{pairs.images_dir.name} holds images") from None
    classes = options["classes"] or len(_folder_options(options)) or None
    if classes is None:  # the largest id in the masks says it (decoded once, kept for the read)
        key = ("mask_classes", options["masks"])
        if key not in context.memo:
            largest = 0
            for _image, mask_path in pairs.pairs:
                try:
                    largest = max(largest, int(read_mask(mask_path).max()))
                except Exception:  # noqa: BLE001 - skipped (and named) when the data is read
                    continue
            context.memo[key] = largest + 1
        classes = max(2, context.memo[key])
    return Natural((channels, height, width), "image", "class", classes,
                   f"the images in {pairs.images_dir.name}", "image_size")


def _folder_read(options: dict, context: Context) -> RawData:
    pairs = _pairs(options, context)
    names = _folder_options(options)
    classes = options["classes"] or len(names)
    images, masks, skipped = _decode_pairs(pairs, tuple(context.shape), classes)
    if not images:
        raise DataError(f"{pairs.masks_dir}: no image could be used with its mask: {skipped_text(skipped)}")
    masks_array = np.stack(masks)
    count = classes or max(2, int(masks_array.max()) + 1)
    if names and len(names) != count:
        raise DataError(f"data source 'mask_folder', option 'class_names': {len(names)} names for {count} "
                        "classes; give one name per class id, background (0) first")
    names = names or ["background"] + [f"class {c}" for c in range(1, count)]
    inputs = np.stack(images).reshape((len(images), *context.shape))
    notes = [f"{pairs.images_dir.name}: skipped {len(skipped)} image(s) that could not be used with a mask: "
             f"{skipped_text(skipped)}"] if skipped else []
    return RawData(inputs, masks_array, "class", origin=pairs.images_dir.name, num_classes=count,
                   class_names=names, pixel_range=(0.0, 255.0),
                   description=f"{len(inputs)} images of {pairs.images_dir.name} with their masks from "
                               f"{pairs.masks_dir.name}, {count} classes.",
                   extra={"warnings": notes, "skipped_files": skipped} if skipped else {})


SOURCES = (
    Source("shapes", "Shapes (segmentation)",
           "Generated circles, squares and triangles on noisy backgrounds, with a class mask per image "
           "(4 classes, background 0).", _shape_params(), _shapes_natural, _shapes_read,
           no_augment=NO_AUGMENT),
    Source("mask_folder", "Image and mask folders",
           "Your images and their masks (grey or palette PNGs of class ids), matched by file name.",
           (Text("path", "", "The folder of images, e.g. 'photos'."),
            Text("masks", "", "The folder of masks, one per image with the same name, e.g. 'masks'."),
            Int("classes", 0, 0, 100_000, "How many classes, background included (0: the largest id in "
                "the masks + 1)."),
            Text("class_names", "", "Names of the classes in id order, e.g. 'background,cat,dog' "
                 "(empty: background, class 1, ...).")),
           _folder_natural, _folder_read, required=("path", "masks"), no_augment=NO_AUGMENT),
)

"""Pictures of segmentation masks: class colours, and an image beside its true and predicted masks.

    strip = mask_strip(image, true, predicted, value_range=(0, 255))   # uint8 (H*z, 3*W*z + gaps, 3)
    png = encode_png(stack_rows([strip, ...]))

Class 0 (background) is drawn as the image itself; every other class is
blended over it in its own colour, so a mask reads as a coloured overlay.
Pure numpy: the recipe's per-epoch previews and `deepwire evaluate` share it.
"""

from __future__ import annotations

import numpy as np

# class colours (class 0, background, is not tinted); repeated for more classes
PALETTE = np.array([
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
], dtype=np.float32)
ALPHA = 0.55  # how strongly a class colour covers the image
GAP = 2  # pixels between the pictures of a strip
MIN_SIDE = 96  # pictures are enlarged (whole pixels) to at least this height


def class_colour(c: int) -> tuple[int, int, int]:
    """The RGB colour class c is drawn in (class 0: black, drawn as no tint)."""
    if c == 0:
        return (0, 0, 0)
    return tuple(int(v) for v in PALETTE[1 + (c - 1) % (len(PALETTE) - 1)])


def _colours(mask: np.ndarray) -> np.ndarray:
    index = np.where(mask == 0, 0, 1 + (mask - 1) % (len(PALETTE) - 1))
    return PALETTE[index]


def image_rgb(image: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """float32 (H, W, 3) in 0..1 from one image (C, H, W) or (H, W) in `value_range` (None: its own)."""
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image[:3], 0, -1)
    low, high = value_range if value_range is not None else (float(image.min()), float(image.max()))
    span = high - low if high - low > 1e-12 else 1.0
    image = np.clip((image - low) / span, 0.0, 1.0)
    return np.stack([image] * 3, axis=-1) if image.ndim == 2 else image


def overlay(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 (H, W, 3): the image with every non-background pixel tinted in its class colour."""
    tint = _colours(np.asarray(mask, np.int64)) / 255.0
    alpha = np.where(np.asarray(mask)[..., None] > 0, ALPHA, 0.0)
    return rgb * (1 - alpha) + tint * alpha


def mask_strip(image: np.ndarray, true: np.ndarray, predicted: np.ndarray,
               value_range: tuple[float, float] | None = None) -> np.ndarray:
    """uint8 (H*z, 3*W*z + 2*GAP, 3): the image, the true mask over it, the predicted mask over it."""
    rgb = image_rgb(image, value_range)
    parts = [rgb, overlay(rgb, true), overlay(rgb, predicted)]
    height = rgb.shape[0]
    zoom = max(1, -(-MIN_SIDE // height))
    gap = np.full((height * zoom, GAP, 3), 1.0, np.float32)
    pieces = []
    for k, part in enumerate(parts):
        if k:
            pieces.append(gap)
        pieces.append(part.repeat(zoom, axis=0).repeat(zoom, axis=1))
    return (np.concatenate(pieces, axis=1) * 255 + 0.5).astype(np.uint8)


def stack_rows(strips: list[np.ndarray]) -> np.ndarray:
    """Strips one below the other with a white gap between them."""
    width = max(s.shape[1] for s in strips)
    rows = []
    for k, strip in enumerate(strips):
        if k:
            rows.append(np.full((GAP, width, 3), 255, np.uint8))
        if strip.shape[1] < width:
            strip = np.pad(strip, ((0, 0), (0, width - strip.shape[1]), (0, 0)), constant_values=255)
        rows.append(strip)
    return np.concatenate(rows, axis=0)

"""Image grids as PNG bytes, with numpy and zlib only (no Qt, no Pillow).

`grid_png(images)` lays a batch (N, C, H, W) out in rows and columns,
enlarges small images (8x8 digits) with nearest-neighbour pixels so they
are visible, and encodes an 8-bit grey or RGB PNG.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (H, W) grey or (H, W, 3) RGB."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8; got {pixels.dtype}")
    if pixels.ndim == 2:
        colour_type, channels = 0, 1
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type, channels = 2, 3
    else:
        raise ValueError(f"PNG pixels must be (H, W) or (H, W, 3); got {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width * channels)
    # every row starts with filter type 0 (none)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def decode_png(png: bytes) -> np.ndarray:
    """Pixels of a PNG written by `encode_png` (8-bit grey or RGB, no filtering): (H, W) or (H, W, 3)."""
    width, height = decode_png_size(png)
    colour_type = png[25]
    channels = {0: 1, 2: 3}.get(colour_type)
    if channels is None or png[24] != 8:
        raise ValueError("only 8-bit grey or RGB PNG files are read here")
    data, position = b"", 8
    while position < len(png):
        length = struct.unpack(">I", png[position:position + 4])[0]
        tag = png[position + 4:position + 8]
        if tag == b"IDAT":
            data += png[position + 8:position + 8 + length]
        position += 12 + length
    rows = np.frombuffer(zlib.decompress(data), np.uint8).reshape(height, 1 + width * channels)
    if rows[:, 0].any():
        raise ValueError("this PNG uses row filters; only unfiltered files are read here")
    pixels = rows[:, 1:].reshape(height, width, channels)
    return pixels[:, :, 0] if channels == 1 else pixels


def decode_png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG header (enough for tests and for sizing a preview)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", png[16:24])


def grid(images: np.ndarray, columns: int | None = None, value_range: tuple[float, float] | None = None,
         min_size: int = 32, padding: int = 1) -> np.ndarray:
    """uint8 picture of a batch (N, C, H, W) or (N, H, W): a grid with a dark border between cells.

    value_range maps to black..white; None uses the batch's own min and max.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"a grid needs images (N, C, H, W); got shape {images.shape}")
    n, c, h, w = images.shape
    if c not in (1, 3):
        images = images[:, :1]  # show the first channel of multi-channel feature maps
        c = 1
    low, high = value_range if value_range is not None else (float(images.min()), float(images.max()))
    scaled = np.clip((images - low) / max(high - low, 1e-8), 0.0, 1.0)
    scaled = np.nan_to_num(scaled, nan=0.0)
    zoom = max(1, math.ceil(min_size / max(h, w)))
    if zoom > 1:
        scaled = scaled.repeat(zoom, axis=2).repeat(zoom, axis=3)
        h, w = h * zoom, w * zoom
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.full((c, rows * (h + padding) + padding, columns * (w + padding) + padding), 0.15, np.float32)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[:, top:top + h, left:left + w] = scaled[i]
    pixels = (canvas * 255.0 + 0.5).astype(np.uint8)
    return pixels[0] if c == 1 else pixels.transpose(1, 2, 0)


def grid_png(images: np.ndarray, columns: int | None = None,
             value_range: tuple[float, float] | None = None) -> bytes:
    return encode_png(grid(images, columns, value_range))

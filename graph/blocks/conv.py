"""Convolution blocks: Conv1d, Conv2d, ConvTranspose2d, Upsample."""

from __future__ import annotations

CATEGORY = "Convolution"

BLOCKS = ()

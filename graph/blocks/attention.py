"""Attention blocks: self- and cross-attention, Transformer blocks, positional encodings."""

from __future__ import annotations

CATEGORY = "Attention"

BLOCKS = ()

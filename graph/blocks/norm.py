"""Normalisation and regularisation: BatchNorm, LayerNorm, GroupNorm, Dropout."""

from __future__ import annotations

CATEGORY = "Normalization"

BLOCKS = ()

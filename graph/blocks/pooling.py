"""Pooling blocks: max/average pooling and global (adaptive) pooling."""

from __future__ import annotations

CATEGORY = "Pooling"

BLOCKS = ()

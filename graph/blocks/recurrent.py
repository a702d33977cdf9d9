"""Recurrent blocks: RNN, LSTM, GRU."""

from __future__ import annotations

CATEGORY = "Recurrent"

BLOCKS = ()

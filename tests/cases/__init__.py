"""Block test cases: per block type, parameter combinations and input shapes.

Each module here defines CASES, a list of `case(...)` / `bad(...)` entries;
tests/test_block_catalog.py runs every one against real PyTorch. Every
registered block type must have at least one case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tokens:
    """An integer token-id input (B, length) with ids below vocab."""

    length: int
    vocab: int


@dataclass
class Case:
    type_id: str
    params: dict[str, Any]
    inputs: dict[str, Any]  # port -> shape tuple (without batch) or Tokens
    error: str | None = None  # substring the shape error must contain
    id: str = field(default="")

    def __post_init__(self):
        if not self.id:
            shown = ",".join(f"{k}={v}" for k, v in self.params.items())
            self.id = f"{self.type_id}[{shown}]" + ("-bad" if self.error else "")


def case(type_id: str, params: dict | None = None, **inputs) -> Case:
    """A valid combination: inferred shape must equal torch's output shape."""
    return Case(type_id, dict(params or {}), inputs)


def bad(type_id: str, params: dict | None = None, error: str = "", **inputs) -> Case:
    """An invalid combination: shape inference must refuse it with `error` in the message."""
    return Case(type_id, dict(params or {}), inputs, error=error)


def tokens(length: int, vocab: int) -> Tokens:
    return Tokens(length, vocab)

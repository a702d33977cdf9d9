"""Diagnostics: problems found in a network, pointing at a block and port.

Validation returns these instead of raising, so the studio can draw each one
on the block or wire it belongs to, and the CLI can print them as a table.
A `Fix` describes an obvious repair the studio can offer as a quick fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.model import Edge

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Fix:
    """Insert a block of `block_type` (with `params`) into the wire `edge`."""

    title: str
    block_type: str
    edge: Edge
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # ERROR or WARNING
    code: str  # cycle, unconnected, shape, param, unknown_type, bad_port, unreachable,
    #            unused, no_head, no_input, duplicate_name, disabled, token_ids, too_large
    message: str
    block: str | None = None
    port: str | None = None
    param: str | None = None
    network: str | None = None
    fix: Fix | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = f"[{self.network}] " if self.network else ""
        return f"{self.severity}: {where}{self.message}"


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)

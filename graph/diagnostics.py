"""Diagnostics: problems found in a network, pointing at a block and port.

Validation returns these instead of raising, so the studio can draw each one
on the block or wire it belongs to, and the CLI can print them as a table.
A `Fix` describes an obvious repair the studio can offer as a quick fix:
insert a block into a wire, or set some parameters of the block itself.
Every diagnostic whose message names a concrete repair ("set vocab_size to
at least 65") carries it as a Fix, so the repair is one click.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph.model import Edge

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Fix:
    """Insert a block of `block_type` (with `params`) into the wire `edge`; or, when `block` is
    given (and no edge), set `params` on that block."""

    title: str
    block_type: str = ""
    edge: Edge | None = None
    params: tuple[tuple[str, Any], ...] = ()
    block: str | None = None

    @property
    def sets_params(self) -> bool:
        return self.block is not None and self.edge is None


def set_params_fix(block: str, params: dict[str, Any]) -> Fix:
    """The fix "set heads to 4" (or several parameters at once) on one block."""
    title = "Set " + ", ".join(f"{name} to {value!r}" if isinstance(value, str) else f"{name} to {value}"
                               for name, value in params.items())
    return Fix(title, params=tuple(params.items()), block=block)


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # ERROR or WARNING
    code: str  # cycle, unconnected, shape, param, unknown_type, bad_port, unreachable,
    #            unused, no_head, no_input, duplicate_name, disabled, token_ids, file, too_large
    message: str
    block: str | None = None
    port: str | None = None
    param: str | None = None
    network: str | None = None
    fix: Fix | None = field(default=None, compare=False)
    # a problem inside an instance of a block definition: (definition, inner block id, ...) down to the
    # block at fault, deeper pairs for definitions inside definitions; () for a problem of `block` itself
    inside: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def __str__(self) -> str:
        where = f"[{self.network}] " if self.network else ""
        return f"{self.severity}: {where}{self.message}"


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)

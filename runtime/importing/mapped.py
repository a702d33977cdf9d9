"""What one operation of an imported model becomes: a block type with parameters and weights.

The mapping tables (fx_modules, fx_functions, onnx_import) return a `Mapped`
for an operation DeepWire has a block for, or raise `NoBlockError` saying why not;
the importer then puts an Unsupported block there instead, never dropping
the operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class NoBlockError(Exception):
    """This operation (with these settings) has no DeepWire block; str() says why, in a few words."""


@dataclass
class Mapped:
    """One block: its type, its parameters (only those that differ from the defaults are kept),
    the state_dict of the submodule the compiled model will hold for it, and which of the
    operation's arguments feed which input port (None: every tensor argument, in order)."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] | None = None
    inputs: list[Any] | None = None


def single(value, what: str) -> int:
    """An int from a torch setting that may be a tuple of equal ints ((3, 3) -> 3)."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise NoBlockError(f"{what} {tuple(value)} differs per axis; DeepWire blocks use one size "
                               "for all axes")
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise NoBlockError(f"{what} {value!r} is not a whole number")
    return value


def dropout_type(type_id: str, shape) -> str:
    """Dropout2d on what is not an image (B, C, H, W) becomes Dropout, which takes any shape.

    torch drops single entries of a (B, F) input there (its channels are the features), exactly
    what Dropout does; both pass values unchanged at evaluation.
    """
    if type_id == "Dropout2d" and shape is not None and len(shape) != 3:
        return "Dropout"
    return type_id

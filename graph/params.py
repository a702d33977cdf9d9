"""Typed block parameters: declaration, defaults, bounds and value checking.

A `Param` is pure data the palette, inspector, project loader and compiler all
read. `Param.check` turns a raw value (from a file, a text field, a test) into
the validated value or raises `ParamError` saying what was expected.
Validated values are plain Python scalars or tuples, so `repr()` of one is
always a safe Python literal for generated code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "float", "bool", "choice", "tuple", "str")


class ParamError(ValueError):
    """A parameter value was refused; the message says what was expected."""


@dataclass(frozen=True)
class Param:
    """One parameter of a block type.

    kind: "int", "float", "bool", "choice" (one of `choices`), "tuple" (of ints)
        or "str" (free text such as a file path; at most `maximum` characters).
    minimum/maximum bound ints, floats and the items of int tuples.
    specials: extra string values an int parameter also accepts (Conv padding "same").
    length: for tuples, (min_len, max_len).
    """

    name: str
    kind: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    specials: tuple[str, ...] = ()
    length: tuple[int, int] = (1, 8)
    allow_minus_one: bool = False  # tuples: -1 means "infer this dimension" (Reshape)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"parameter {self.name!r}: default not among choices")
        self.check(self.default)  # a declaration with a bad default is a bug

    def _bounds_text(self) -> str:
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"between {lo:g} and {hi:g}"
        if lo is not None:
            return f"at least {lo:g}"
        if hi is not None:
            return f"at most {hi:g}"
        return ""

    def _in_bounds(self, number: float) -> bool:
        return (self.minimum is None or number >= self.minimum) and (
            self.maximum is None or number <= self.maximum
        )

    def check(self, value: Any) -> Any:
        """Return the validated value, or raise ParamError naming what was expected."""
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"'{self.name}' must be true or false, not {value!r}")
        if kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ParamError(
                f"'{self.name}' must be one of {', '.join(self.choices)}; got {value!r}"
            )
        if kind == "int":
            if isinstance(value, str) and value in self.specials:
                return value
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    extra = f" or one of {', '.join(self.specials)}" if self.specials else ""
                    raise ParamError(f"'{self.name}' must be a whole number{extra}; got {value!r}")
            if not self._in_bounds(value):
                raise ParamError(f"'{self.name}' must be {self._bounds_text()}; got {value}")
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"'{self.name}' must be a number; got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ParamError(f"'{self.name}' must be a finite number; got {value}")
            if not self._in_bounds(value):
                raise ParamError(f"'{self.name}' must be {self._bounds_text()}; got {value:g}")
            return value
        if kind == "str":
            limit = int(self.maximum or 4096)
            if not isinstance(value, str):
                raise ParamError(f"'{self.name}' must be text; got {value!r}")
            if len(value) > limit or any(ord(ch) < 32 for ch in value):
                raise ParamError(f"'{self.name}' must be one line of at most {limit} characters")
            return value
        # tuple of ints
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"'{self.name}' must be a list of whole numbers; got {value!r}")
        lo, hi = self.length
        if not lo <= len(value) <= hi:
            raise ParamError(f"'{self.name}' must have {lo} to {hi} entries; got {len(value)}")
        items = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                raise ParamError(f"'{self.name}' must hold whole numbers; got {item!r}")
            if item == -1 and self.allow_minus_one:
                items.append(item)
                continue
            if not self._in_bounds(item):
                raise ParamError(
                    f"every entry of '{self.name}' must be {self._bounds_text()}; got {item}"
                )
            items.append(item)
        if self.allow_minus_one and items.count(-1) > 1:
            raise ParamError(f"'{self.name}' may contain -1 (infer) at most once")
        return tuple(items)


def Int(name, default, minimum=None, maximum=None, help="", specials=()):  # noqa: N802
    return Param(name, "int", default, help, minimum, maximum, specials=tuple(specials))


def Float(name, default, minimum=None, maximum=None, help=""):  # noqa: N802
    return Param(name, "float", float(default), help, minimum, maximum)


def Bool(name, default, help=""):  # noqa: N802
    return Param(name, "bool", default, help)


def Choice(name, default, choices, help=""):  # noqa: N802
    return Param(name, "choice", default, help, choices=tuple(choices))


def Text(name, default="", help="", maximum=4096):  # noqa: N802
    return Param(name, "str", default, help, maximum=maximum)


def Tuple(name, default, minimum=None, maximum=None, help="", length=(1, 8), allow_minus_one=False):  # noqa: N802
    return Param(
        name, "tuple", tuple(default), help, minimum, maximum,
        length=length, allow_minus_one=allow_minus_one,
    )

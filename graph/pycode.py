"""Small helpers for writing Python source safely.

`call` renders a constructor call whose arguments are validated values,
always through `repr()`, so no user text becomes code. `Namespace` hands out
unique, legal identifiers that shadow no keyword, builtin or nn.Module
attribute (the torch.fx approach).
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from typing import Any

# Attributes every nn.Module already has (dir(nn.Module), checked by a test),
# plus names the generated module itself uses.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children
named_modules named_parameters parameters register_backward_hook register_buffer
register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split()) | frozenset(
    # torch.fx.GraphModule's own attributes: torch.export and the ONNX exporter rebuild the model as
    # one, and a submodule called e.g. `code` or `graph` would clash with them there
    "add_submodule code delete_all_unused_submodules delete_submodule graph meta print_readable "
    "recompile to_folder".split()
)

RESERVED = frozenset(
    set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
    | {"self", "torch", "nn", "F", "math", "make_loss"} | MODULE_ATTRIBUTES
)


def call(func: str, *args: Any, **kwargs: Any) -> str:
    """`call("nn.Conv2d", 3, 32, kernel_size=3)` -> "nn.Conv2d(3, 32, kernel_size=3)".

    Positional and keyword values are rendered with repr(); pass `Raw` for
    an expression the caller built from other validated parts.
    """
    parts = [_literal(a) for a in args]
    parts += [f"{k}={_literal(v)}" for k, v in kwargs.items()]
    return f"{func}({', '.join(parts)})"


class Raw(str):
    """A piece of code the caller composed itself; `call` inserts it verbatim."""


def _literal(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, (bool, int, float, str, type(None))):
        return repr(value)
    if isinstance(value, tuple):
        return repr(tuple(value))
    raise TypeError(f"cannot write {type(value).__name__} as a literal")


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)  # camelCase -> camel_Case
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    return text


def to_identifier(text: str, fallback: str = "block") -> str:
    """A snake_case identifier derived from user text (not yet unique)."""
    name = _slug(text) or fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    return name[:40].rstrip("_") or fallback


def to_class_name(text: str, fallback: str = "Model") -> str:
    """A CamelCase class name derived from user text."""
    slug = _slug(text)
    name = "".join(part[:1].upper() + part[1:] for part in slug.split("_") if part)
    if not name or name[0].isdigit():
        name = fallback + name
    if name in RESERVED:
        name += "Model"
    return name[:60]


class Namespace:
    """Unique legal identifiers; asking twice for the same key returns the same name."""

    def __init__(self, reserved: frozenset[str] = RESERVED):
        self._reserved = reserved
        self._taken: set[str] = set()
        self._by_key: dict[Any, str] = {}

    def name(self, wanted: str, key: Any = None, fallback: str = "block") -> str:
        if key is not None and key in self._by_key:
            return self._by_key[key]
        base = to_identifier(wanted, fallback)
        if base in self._reserved:
            base = f"{base}_"
        candidate, n = base, 1
        while candidate in self._taken or candidate in self._reserved:
            n += 1
            candidate = f"{base}_{n}"
        self._taken.add(candidate)
        if key is not None:
            self._by_key[key] = candidate
        return candidate

    def take(self, name: str) -> None:
        """Mark an identifier as used (e.g. one the template hard-codes)."""
        self._taken.add(name)

    def is_free(self, name: str) -> bool:
        return name not in self._taken and name not in self._reserved


def reads_name(source: str, name: str) -> bool:
    """Whether code reads `name.<attribute>`: decides an import, so the same letters in a string
    (a data file called "F.csv") or a comment never add one."""
    import ast

    return any(isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name
               for node in ast.walk(ast.parse(source)))

"""The block catalog: every block type DeepWire knows, declared once each.

`default_registry()` builds a fresh Registry (never a global one) from the
category modules below. Adding a block type means adding one declaration to
one of them.
"""

from __future__ import annotations

from graph.blocks import (
    activations,
    attention,
    backbones,
    conv,
    dense,
    heads,
    imported,
    inputs,
    merge,
    norm,
    pooling,
    recurrent,
)
from graph.blocks.aliases import FOREIGN_NAMES, alias_key
from graph.spec import Registry

# palette order
CATEGORY_MODULES = (inputs, dense, conv, pooling, norm, recurrent, attention, activations, merge, backbones,
                    heads, imported)

# Type ids renamed since format 1: old -> new. Projects saved before still load.
RENAMED: dict[str, str] = {}


def default_registry() -> Registry:
    specs = [spec for module in CATEGORY_MODULES for spec in module.BLOCKS]
    return Registry(specs, renamed=RENAMED, aliases=FOREIGN_NAMES, alias_key=alias_key)

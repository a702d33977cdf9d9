"""Building many objects at once without the cyclic garbage collector's pauses.

Opening a 10,000-block project makes a few hundred thousand objects (blocks,
their parameter dicts, diagnostics, canvas items), none of them garbage. On
CPython 3.11 each 700 new container objects start a collection that walks the
young ones, and older generations are walked again and again as they grow:
about a third of the time to open such a project went there
(bench/bench_canvas.py --blocks 10000). Reference counting still frees
everything as usual meanwhile; only cycles wait until the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_gc_pauses() -> Iterator[None]:
    """Turn the cyclic collector off for the block (nested blocks are fine)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()

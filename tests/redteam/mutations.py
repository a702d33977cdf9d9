"""Property-style mutations of the bundled examples: field by field and byte by byte, seeded.

`field_mutations(name)` walks every field of an example (every key of every
object and every list item, at any depth) and lists, for each, the change
that deletes it and those that replace it by each of WRONG_VALUES, in a
fixed order (`mutate` applies one); `byte_mutations(name, count, seed)` yields the saved file with
one byte flipped, deleted, inserted or the file cut, at seeded offsets.
`sample(items, count, seed)` takes an evenly spread, seeded subset, so the
default suite sees every example and every kind of change.

The wrong values never name special files (FIFOs, /dev/zero): those cases
run in a child process in the specials class, while mutations run in this
process by the thousand.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator

from tests.redteam import projects

WRONG_VALUES = (
    None,
    True,
    False,
    0,
    -1,
    1,
    2**64,
    -(2**63),
    10**7,
    65536,
    1e308,
    -1e-308,
    0.5,
    "",
    "x" * 5000,
    "\x00\x1b[31m\r\n",
    "\u2028\u202e\ufeff",
    "💥",
    "b1",
    "../../../etc/passwd",
    "1e999",
    [],
    [None],
    [[[[[]]]]],
    {},
    {"id": "b1"},
    {"type": "Linear"},
)
_NAN = float("nan")  # json.dumps writes NaN, which JSON readers that follow Python accept
_VALUES = WRONG_VALUES + (_NAN,)


def _fields(node, path=()) -> Iterator[tuple]:
    """Paths (tuples of keys and indices) of every field below `node`."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield path + (key,)
        yield from _fields(child, path + (key,))


def _set(root, path: tuple, value, delete: bool = False):
    root = copy.deepcopy(root)
    node = root
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return root


def _label(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def field_mutations(name: str) -> list[tuple[str, tuple, int | None]]:
    """(description, field path, index into WRONG_VALUES or None to delete) for every field of example
    `name`; `mutate(name, path, index)` makes the project text. Cheap: nothing is copied yet."""
    found = []
    for path in _fields(projects.example(name)):
        found.append((f"{name}: delete {_label(path)}", path, None))
        found += [(f"{name}: {_label(path)} = wrong value #{i}", path, i) for i in range(len(_VALUES))]
    return found


def mutate(name: str, path: tuple, index: int | None) -> str:
    """The text of example `name` with the field at `path` deleted (index None) or set to a wrong value."""
    original = projects.example(name)
    changed = (
        _set(original, path, None, delete=True) if index is None else _set(original, path, _VALUES[index])
    )
    return json.dumps(changed, ensure_ascii=False)


def byte_mutations(name: str, count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """(description, file bytes): `count` single-byte changes of the example's file, seeded."""
    data = json.dumps(projects.example(name), indent=1).encode()
    rng = random.Random(seed)
    for _ in range(count):
        at = rng.randrange(len(data))
        how = rng.choice(("flip", "delete", "insert", "cut", "duplicate", "ascii"))
        if how == "flip":
            changed = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        elif how == "delete":
            changed = data[:at] + data[at + 1 :]
        elif how == "insert":
            changed = data[:at] + bytes([rng.randrange(256)]) + data[at:]
        elif how == "cut":
            changed = data[:at]
        elif how == "duplicate":
            end = min(len(data), at + rng.randrange(1, 200))
            changed = data[:end] + data[at:end] + data[end:]
        else:  # a printable character where the JSON had another: digits grow, quotes move
            changed = data[:at] + rng.choice(b'0123456789"{}[],:-.e ').to_bytes(1, "big") + data[at + 1 :]
        yield f"{name}: {how} byte {at}", changed


def sample(items: list, count: int, seed: int) -> list:
    """`count` items spread over the whole list (every part of every example), seeded."""
    if count >= len(items):
        return list(items)
    rng = random.Random(seed)
    step = len(items) / count
    return [items[min(len(items) - 1, int(i * step + rng.random() * step))] for i in range(count)]

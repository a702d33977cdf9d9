"""Hostile and malformed checkpoint files, each written by `write(kind, path, good, marker)`.

`good` is a real checkpoint (a run's best.pt) the malformed kinds start from;
`marker` is the file a pickle payload creates if anything unpickles it
unsafely. KINDS lists every kind; `truncated@N` (the good file cut to N
bytes) and `flip@N` (one byte of it inverted) take any offset.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import struct
import zipfile
from pathlib import Path

import torch


class RunsCode:
    """Unpickling this calls `function(argument)`: what a hostile checkpoint would do."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _state(good: Path) -> dict:
    return torch.load(good, map_location="cpu", weights_only=True)


def _payload(marker: Path, how: str):
    if how == "system":
        return RunsCode(os.system, f"touch {marker}")
    return RunsCode(exec, f"open({str(marker)!r}, 'w').write('pwned')")


def _with_models(good: Path, change) -> dict:
    state = _state(good)
    state["models"] = {name: change(weights) for name, weights in state["models"].items()}
    return state


def _save(obj, path: Path) -> None:
    torch.save(obj, path)


def _nested(depth: int):
    node: dict = {}
    top = node
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    return top


WRITERS = {
    # code that runs when unpickled the unsafe way
    "pickle os.system": lambda p, g, m: _save({**_state(g), "evil": _payload(m, "system")}, p),
    "pickle exec": lambda p, g, m: _save({**_state(g), "evil": _payload(m, "exec")}, p),
    "pickle in weights": lambda p, g, m: _save(_with_models(g, lambda w: {**w, "x": _payload(m, "exec")}), p),
    "raw pickle": lambda p, g, m: p.write_bytes(pickle.dumps({**_state(g), "evil": _payload(m, "system")})),
    # not a checkpoint at all
    "empty": lambda p, g, m: p.write_bytes(b""),
    "random bytes": lambda p, g, m: p.write_bytes(random.Random(1).randbytes(4096)),
    "text": lambda p, g, m: p.write_text("these are not weights\n"),
    "zip of junk": lambda p, g, m: _zip(p, {"archive/data.pkl": b"\x80\x02junk", "archive/version": b"3"}),
    "empty zip": lambda p, g, m: _zip(p, {}),
    "safetensors junk": lambda p, g, m: p.write_bytes(struct.pack("<Q", 2**62) + b"{}"),
    # the wrong structure
    "list": lambda p, g, m: _save([1, 2, 3], p),
    "tensor": lambda p, g, m: _save(torch.zeros(3), p),
    "int": lambda p, g, m: _save(7, p),
    "string": lambda p, g, m: _save("weights", p),
    "none": lambda p, g, m: _save(None, p),
    "models not a dict": lambda p, g, m: _save({**_state(g), "models": [1, 2]}, p),
    "network not a dict": lambda p, g, m: _save({**_state(g), "models": {"model": 5}}, p),
    "no networks": lambda p, g, m: _save({**_state(g), "models": {}}, p),
    "nested junk": lambda p, g, m: _save({**_state(g), "models": {"model": _nested(200)}}, p),
    "epoch not a number": lambda p, g, m: _save({**_state(g), "epoch": "one", "step": [1]}, p),
    "metrics junk": lambda p, g, m: _save({**_state(g), "metrics": {"accuracy": "high", "loss": [1]}}, p),
    "block_modules junk": lambda p, g, m: _save({**_state(g), "block_modules": {"model": [1, 2]}}, p),
    "bare state_dict": lambda p, g, m: _save(_state(g)["models"]["model"], p),
    "state_dict of junk": lambda p, g, m: _save({"a": 1, "b": "x", "c": None}, p),
    # the right keys, the wrong tensors
    "strings for tensors": lambda p, g, m: _save(_with_models(g, lambda w: {k: "x" for k in w}), p),
    "none for tensors": lambda p, g, m: _save(_with_models(g, lambda w: {k: None for k in w}), p),
    "int tensors": lambda p, g, m: _save(_with_models(g, lambda w: {k: v.long() for k, v in w.items()}), p),
    "complex tensors": lambda p, g, m: _save(
        _with_models(g, lambda w: {k: v.to(torch.complex64) for k, v in w.items()}), p
    ),
    "bool tensors": lambda p, g, m: _save(_with_models(g, lambda w: {k: v.bool() for k, v in w.items()}), p),
    "wrong shapes": lambda p, g, m: _save(
        _with_models(g, lambda w: {k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in w.items()}), p
    ),
    "scalars for tensors": lambda p, g, m: _save(_with_models(g, lambda w: {k: 1.5 for k in w}), p),
    "nan weights": lambda p, g, m: _save(
        _with_models(
            g,
            lambda w: {
                k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in w.items()
            },
        ),
        p,
    ),
    "wrong keys": lambda p, g, m: _save(
        _with_models(g, lambda w: {f"other.{k}": v for k, v in w.items()}), p
    ),
    "missing keys": lambda p, g, m: _save(_with_models(g, lambda w: dict(list(w.items())[:1])), p),
    "extra keys": lambda p, g, m: _save(_with_models(g, lambda w: {**w, "surprise": torch.zeros(2)}), p),
    "tensor keys not text": lambda p, g, m: _save(_with_models(g, lambda w: dict(enumerate(w.values()))), p),
}

CODE_KINDS = ("pickle os.system", "pickle exec", "pickle in weights", "raw pickle")
KINDS = tuple(WRITERS)


def _zip(path: Path, members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def write(kind: str, path: Path, good: Path, marker: Path) -> None:
    """Write the hostile checkpoint `kind` (a name in KINDS, `truncated@N` or `flip@N`) at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind.startswith("truncated@"):
        path.write_bytes(good.read_bytes()[: int(kind.split("@")[1])])
    elif kind.startswith("flip@"):
        data = bytearray(good.read_bytes())
        offset = int(kind.split("@")[1]) % len(data)
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "folder":
        path.mkdir()
    elif kind == "missing":
        pass
    else:
        WRITERS[kind](path, good, marker)


def offsets(good: Path, count: int, seed: int = 0) -> list[int]:
    """`count` byte offsets into the good file: its ends, then spread at random (deterministic)."""
    size = good.stat().st_size
    fixed = [0, 1, 4, 30, 64, size // 2, size - 1]
    rng = random.Random(seed)
    return (fixed + sorted(rng.randrange(size) for _ in range(max(0, count - len(fixed)))))[:count]

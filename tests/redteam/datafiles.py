"""Bad data files, each with the project that reads it: `make(kind, folder, marker) -> project dict`.

Kinds are "<source>: <what is wrong>": csv (ragged rows, quoted newlines,
unterminated quotes, NUL bytes, mixed encodings, ...), arrays (.npz that is
random bytes, truncated, holds a pickled object array with a payload,
declares a shape far larger than the file, ...), text_file (undecodable,
NUL, 0 bytes, ...) and image_folder (a non-image in a class folder, a
truncated PNG, a PNG declaring 60000 x 60000 pixels, a symlink loop, ...).
The projects are tiny (one epoch) so that train reaches the data quickly.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tests.redteam import projects
from tests.redteam.checkpoints import RunsCode

_GOOD_ROWS = "\n".join(f"{5 + i % 3}.1,{3 + i % 2}.5,1.{i % 7},0.{i % 5},{i % 3}" for i in range(30))
GOOD_CSV = "a,b,c,d,label\n" + _GOOD_ROWS + "\n"

CSV = {
    "good": GOOD_CSV.encode(),
    "ragged rows": b"a,b,c,d,label\n1,2,3,4,0\n1,2\n1,2,3,4,5,6,7\n" * 5,
    "quoted newlines": b'a,b,c,d,label\n"1\n2",2,3,4,0\n1,"2\r\n",3,4,1\n' * 5,
    "unterminated quote": b'a,b,c,d,label\n1,2,3,4,0\n"1,2,3,4,1\n' + _GOOD_ROWS.encode(),
    "NUL bytes": GOOD_CSV.encode().replace(b",", b"\x00,", 7),
    "mixed encodings": GOOD_CSV.encode() + "caf\u00e9,1,2,3,0\n".encode("latin-1") + "é,1,2,3,1\n".encode(),
    "utf-16": GOOD_CSV.encode("utf-16"),
    "BOM": b"\xef\xbb\xbf" + GOOD_CSV.encode(),
    "0 bytes": b"",
    "header only": b"a,b,c,d,label\n",
    "newlines only": b"\n\n\n\n",
    "random bytes": random.Random(3).randbytes(3000),
    "words for numbers": b"a,b,c,d,label\n" + b"one,two,three,four,x\n" * 20,
    "nan and inf": b"a,b,c,d,label\n" + b"nan,inf,-inf,1e999,0\n" * 20,
    "huge field": b"a,b,c,d,label\n1,2,3," + b"9" * 2_000_000 + b",0\n" + _GOOD_ROWS.encode(),
    "10000 classes": b"a,b,c,d,label\n" + b"".join(b"1,2,3,4,%d\n" % i for i in range(10_000)),
    "one row": b"a,b,c,d,label\n1,2,3,4,0\n",
    "100000 columns": b",".join(b"c%d" % i for i in range(100_000)) + b"\n" + b"1," * 99_999 + b"1\n",
    "semicolons": GOOD_CSV.replace(",", ";").encode(),
    "CR only": GOOD_CSV.replace("\n", "\r").encode(),
}


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy header declaring `shape` followed by 16 bytes of data: it claims far more than it holds."""
    header = repr({"descr": "<f4", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pickled_npz(marker: Path) -> bytes:
    buffer = io.BytesIO()
    evil = np.empty(2, dtype=object)
    evil[0] = RunsCode(os.system, f"touch {marker}")
    np.savez(buffer, x=evil, y=np.zeros(2))
    return buffer.getvalue()


_X, _Y = np.random.default_rng(0).normal(size=(30, 4)).astype("float32"), np.arange(30) % 3
GOOD_NPZ = _npz(x=_X, y=_Y)

NPZ = {
    "good": lambda m: GOOD_NPZ,
    "random bytes": lambda m: random.Random(4).randbytes(2000),
    "truncated": lambda m: GOOD_NPZ[: len(GOOD_NPZ) // 2],
    "0 bytes": lambda m: b"",
    "pickled object array": _pickled_npz,
    "zip of junk": lambda m: _zip({"x.npy": b"junk", "y.npy": b"\x93NUMPY junk"}),
    "empty zip": lambda m: _zip({}),
    "shape claims 1e12": lambda m: _zip(
        {"x.npy": _npy_claiming((10**12, 4)), "y.npy": _npy_claiming((10**12,))}
    ),
    "lengths differ": lambda m: _npz(x=_X, y=_Y[:7]),
    "0-d arrays": lambda m: _npz(x=np.float32(1), y=np.int64(2)),
    "strings": lambda m: _npz(x=np.array(["a", "b"] * 15), y=np.array(["c"] * 30)),
    "complex": lambda m: _npz(x=_X.astype(np.complex64), y=_Y),
    "nan": lambda m: _npz(x=np.full((30, 4), np.nan, "float32"), y=_Y),
    "wrong keys": lambda m: _npz(a=_X, b=_Y, c=_Y),
    "one array": lambda m: _npz(x=_X),
    "6-d inputs": lambda m: _npz(x=np.zeros((30, 1, 1, 1, 1, 4), "float32"), y=_Y),
    "negative labels": lambda m: _npz(x=_X, y=-_Y - 5),
    "float labels": lambda m: _npz(x=_X, y=_Y + 0.5),
    "zip bomb": lambda m: _zip({"x.npy": _npy_claiming((4,)) + b"\x00" * 50_000_000, "y.npy": b""}),
}

TEXT = {
    "good": ("hello world, this is a small text to learn from.\n" * 100).encode(),
    "undecodable": random.Random(5).randbytes(5000),
    "latin-1": ("caf\u00e9 na\u00efve \u00fcber\n" * 200).encode("latin-1"),
    "NUL bytes": b"abc\x00def\x00" * 500,
    "0 bytes": b"",
    "one character": b"a",
    "utf-16": ("hello world\n" * 200).encode("utf-16"),
    "lone surrogate bytes": b"\xed\xa0\x80abc" * 300,
    "one long line": b"x" * 3_000_000,
}


def _png(width: int, height: int, truncate: bool = False) -> bytes:
    """A grey PNG header declaring width x height (tiny data): a decompression bomb when large."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = zlib.compress(b"\x00" * (min(width, 64) + 1) * min(height, 64))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )
    return png[: len(png) // 2] if truncate else png


IMAGES = {
    "good": {},
    "non-image in a class folder": {"a/notes.png": b"this is not an image"},
    "0-byte png": {"b/empty.png": b""},
    "truncated png": {"a/cut.png": _png(8, 8, truncate=True)},
    "60000 x 60000 png": {"b/bomb.png": _png(60_000, 60_000)},
    "random bytes": {"a/x.jpg": random.Random(6).randbytes(4000)},
    "symlink loop": {"a/loop": "->loop"},
    "folder loop": {"b/up": "->.."},
    "empty class folder": {"c/": None},
    "file for a class": {"d": b"not a folder"},
    "nested folders": {"a/deeper/x.png": _png(8, 8)},
}


def _image_folder(folder: Path, extra: dict) -> None:
    root = folder / "images"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            (root / label / f"{i}.png").write_bytes(_png(8, 8))
    for rel, content in extra.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        elif isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_bytes(content)


def _image_project() -> dict:
    return projects.chain(
        "images",
        [
            ("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
            ("flat", "Flatten", {}),
            ("fc", "Linear", {"features": 2}),
            ("head", "ClassificationHead", {"classes": 2}),
        ],
        {"source": "image_folder", "options": {"path": "images"}},
        {"recipe": "classification", "epochs": 1, "batch_size": 4},
    )


KINDS = (
    [f"csv: {k}" for k in CSV]
    + [f"arrays: {k}" for k in NPZ]
    + [f"text: {k}" for k in TEXT]
    + [f"images: {k}" for k in IMAGES]
)


def make(kind: str, folder: Path, marker: Path) -> dict:
    """Write the data file(s) of `kind` into `folder`; the project (a dict) that reads them."""
    source, what = kind.split(": ", 1)
    if source == "csv":
        (folder / "data.csv").write_bytes(CSV[what])
        return projects.with_data(projects.iris(), "csv", path="data.csv")
    if source == "arrays":
        (folder / "data.npz").write_bytes(NPZ[what](marker))
        return projects.with_data(projects.iris(), "arrays", path="data.npz")
    if source == "text":
        (folder / "data.txt").write_bytes(TEXT[what])
        project = projects.tiny(projects.example("char_transformer"))
        project["data"] = {"source": "text_file", "options": {"path": "data.txt"}}
        return project
    _image_folder(folder, IMAGES[what])
    return _image_project()

"""Where derived data lives: file indexes, column stores, token files.

Streaming sources build something once from a user's data (an index of a
folder's files, a CSV turned into a memory-mapped column store, a text
tokenised to a token file) and reuse it on the next run. Those files go to
`<user data>/cache/data/<key>/`, never beside the data: a data folder may be
read-only, shared, or under version control, and DeepWire never writes into
it. The key hashes the resolved path, what the derived file is and the
options that shape it; `fingerprint` (size and mtime of every file read)
is stored inside the entry, and an entry whose fingerprint no longer matches
is rebuilt.

    entry = cache_entry(path, "csv-columns", {"target": "label"})
    if not entry.valid(fingerprint([path])):
        build into entry.folder, then entry.seal(fingerprint([path]))
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.atomic import write_text
from runtime.run_names import user_data_dir

CACHE_VERSION = 1  # bump when the layout of an entry changes: old entries are then rebuilt
SEAL = "entry.json"


def cache_root() -> Path:
    return user_data_dir() / "cache" / "data"


def fingerprint(paths: Iterable[str | os.PathLike]) -> list[list]:
    """[path, size, mtime_ns] of every path (a folder: of itself, not of its files)."""
    out = []
    for path in paths:
        stat = os.stat(path)
        out.append([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    return out


@dataclass
class CacheEntry:
    folder: Path
    what: str

    def valid(self, current: Any) -> bool:
        """Whether the entry is complete and was built from data that still looks like `current`."""
        try:
            seal = json.loads((self.folder / SEAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return seal.get("version") == CACHE_VERSION and seal.get("fingerprint") == current

    def prepare(self) -> Path:
        """An empty folder to build the entry into (an old or half-built entry is removed)."""
        if self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def seal(self, current: Any, **info: Any) -> None:
        """Mark the entry complete; written last, so a build cut off half way is never used."""
        record = {"version": CACHE_VERSION, "what": self.what, "fingerprint": current, **info}
        write_text(self.folder / SEAL, json.dumps(record, indent=1))

    def info(self) -> dict:
        try:
            return json.loads((self.folder / SEAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def cache_entry(source: str | os.PathLike, what: str, options: dict | None = None) -> CacheEntry:
    """The cache entry for `what` derived from `source` with `options` (JSON-serialisable)."""
    key = json.dumps([str(Path(source).resolve()), what, options or {}], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return CacheEntry(cache_root() / f"{what}-{digest}", what)

"""One case's folders: inputs it must not change, outputs, and its own temporary folder.

root/inputs/   the project, data and checkpoints the case hands the command (hashed
               before and after; special files are listed but never read)
root/out/      where the command writes (after a failure nothing may be left here)
root/tmp/      tempfile's folder and $TMPDIR during the case (must be empty after)
root/logs/     the CLI's crash logs ($DEEPWIRE_LOG_DIR)
root/PWNED     the marker a pickle payload would create
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

HASH_LIMIT = 1 << 31  # a sparse 100 MB+ project is hashed too; nothing bigger is ever made


# Files libraries keep in the temporary folder on purpose and reuse from run to run (not a leftover of a
# DeepWire write): onnxruntime's per-user session id file, and torch.compile's (inductor's) cache.
LIBRARY_CACHES = (".ses", "torchinductor_")

class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.inputs, self.out = self.root / "inputs", self.root / "out"
        self.tmp, self.logs = self.root / "tmp", self.root / "logs"
        self.marker = self.root / "PWNED"
        for folder in (self.inputs, self.out, self.tmp, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        """Empty every folder for the next case (the marker too)."""
        for folder in (self.inputs, self.out, self.tmp, self.logs):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                        if os.path.lexists(entry.path):  # a folder a case made unreadable
                            os.chmod(entry.path, 0o700)
                            shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)
        self.marker.unlink(missing_ok=True)

    def snapshot(self) -> dict[str, str]:
        """relative path -> content hash (or kind, for special files) of everything under inputs/."""
        found = {}
        for folder, dirs, files in os.walk(self.inputs):  # never follows a symlink (loops)
            for name in dirs + files:
                path = Path(folder) / name
                rel = str(path.relative_to(self.inputs))
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_size < HASH_LIMIT:
                    found[rel] = _hash(path, info.st_size)
                elif stat.S_ISDIR(info.st_mode):
                    found[rel] = "folder"
                else:
                    found[rel] = f"special {stat.S_IFMT(info.st_mode):o}"
        return found

    def changed(self, before: dict[str, str], allowed: tuple[str, ...] = ()) -> list[str]:
        """What differs under inputs/, except paths starting with an `allowed` prefix (a run folder
        that evaluate or --resume writes into)."""
        after = self.snapshot()
        before = {p: h for p, h in before.items() if not p.startswith(allowed)} if allowed else before
        after = {p: h for p, h in after.items() if not p.startswith(allowed)} if allowed else after
        return (
            [f"{p} changed" for p in before if p in after and before[p] != after[p]]
            + [f"{p} deleted" for p in before if p not in after]
            + [f"{p} appeared among the inputs" for p in after if p not in before]
        )

    def outputs_left(self) -> list[str]:
        return [
            f"{p.relative_to(self.root)} left after a failure"
            for p in sorted(self.out.rglob("*"))
            if p.is_file()
        ]

    def temporary_leftovers(self, ok: tuple[str, ...] = ()) -> list[str]:
        ok = ok + LIBRARY_CACHES
        return [
            f"temporary {p.relative_to(self.root)} left behind"
            for p in sorted(self.tmp.iterdir())
            if not p.name.startswith(ok)
        ]

    @contextlib.contextmanager
    def as_temporary_folder(self):
        """tempfile and child processes use tmp/ during the case, run from root/ (so that a relative
        path a mutation makes up finds nothing of the repository)."""
        old_dir, old_env, old_cwd = tempfile.tempdir, os.environ.get("TMPDIR"), os.getcwd()
        os.chdir(self.root)
        old_log = os.environ.get("DEEPWIRE_LOG_DIR")
        tempfile.tempdir = str(self.tmp)
        os.environ["TMPDIR"] = str(self.tmp)
        os.environ["DEEPWIRE_LOG_DIR"] = str(self.logs)
        try:
            yield
        finally:
            os.chdir(old_cwd)
            tempfile.tempdir = old_dir
            _restore("TMPDIR", old_env)
            _restore("DEEPWIRE_LOG_DIR", old_log)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _hash(path: Path, size: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    except OSError as err:
        return f"unreadable {err.errno}"
    return f"{size}:{digest.hexdigest()}"

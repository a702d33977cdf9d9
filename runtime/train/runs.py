"""The run folder: everything one training run leaves behind.

    runs/<project>/<project>-<YYYYmmdd-HHMMSS>/   (where: runtime/run_names.py)
        project.dw.json   the project exactly as it was trained (its "id" names the project the run
                          belongs to: the studio lists a project's runs by it)
        model.py          the generated model code (the classes the weights belong to)
        metrics.jsonl     one JSON object per logged step, epoch and validation
        summary.json      final and best metrics, best epoch, samples/s, device, wall time, versions
        last.pt           latest checkpoint: weights + everything needed to resume
        best.pt           weights of the best epoch (by the monitored validation metric)
        samples/          epoch_001.png (GAN grids, autoencoder previews) or epoch_001.txt (text)

Checkpoints are written to a temporary file and renamed, so a crash while
saving never leaves a broken checkpoint behind.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from graph.atomic import clean_temporaries, write_bytes, write_text, write_with
from runtime.run_names import default_run_dir, slug  # noqa: F401 - re-exported for callers
from runtime.train.errors import SetupError, TrainingError
from runtime.train.events import plain_json

LAST = "last.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
SNAPSHOT = "project.dw.json"
MODEL_CODE = "model.py"
SAMPLES = "samples"




def versions() -> dict[str, str]:
    import numpy

    try:
        from importlib.metadata import version

        deepwire = version("deepwire")
    except Exception:  # not installed as a package (running from a source tree)
        deepwire = "unknown"
    return {"deepwire": deepwire, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


class RunFolder:
    """Writes (and, when resuming, reads) one run's folder."""

    def __init__(self, path: Path, resume: bool = False):
        self.path = Path(path)
        if resume:
            if not (self.path / LAST).is_file():
                raise SetupError(f"{self.path}: no {LAST} to resume from; give the folder of a run that "
                                 "saved at least one checkpoint")
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise SetupError(f"{self.path}: this folder already holds files; choose another --out "
                                 "folder, or --resume to continue the run in it")
        try:  # a folder that cannot be made or written (read-only, not a folder, full) is found now
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".deepwire-write-test"
            probe.write_bytes(b"")
            probe.unlink()
            clean_temporaries(self.path)  # a resumed run's folder may hold what a kill left
        except OSError as exc:
            raise SetupError(f"{self.path}: cannot write the run folder ({exc.strerror or exc}); choose "
                             "a folder you can write to (--out DIR)") from None
        self._metrics = None

    def file(self, name: str) -> Path:
        return self.path / name

    # --- the project and its code --------------------------------------------------------------
    def write_snapshot(self, project_json: str) -> None:
        write_text(self.file(SNAPSHOT), project_json)

    def write_model_code(self, source: str) -> None:
        write_text(self.file(MODEL_CODE), source)

    # --- metrics.jsonl --------------------------------------------------------------------------
    def open_metrics(self, keep_until_step: int | None = None) -> None:
        """Open metrics.jsonl for appending; when resuming, drop lines logged after the checkpoint."""
        path = self.file(METRICS)
        if os.path.lexists(path) and not path.is_file():  # a folder, a pipe, a dangling link
            raise SetupError(f"{path}: this run's files are damaged: metrics.jsonl is not a regular file; "
                             "resume another run, or train afresh (--out NEW_DIR)")
        if keep_until_step is not None and path.is_file():
            kept = []
            # a damaged file (cut lines, bytes that are not UTF-8, lines that are not records) must not
            # stop the resume: such lines are dropped, like the lines after the checkpoint
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):  # JSONDecodeError, or a number of 5,000,000 digits
                    continue  # a line cut short by a crash, or junk
                step = record.get("step", 0) if isinstance(record, dict) else None
                if isinstance(step, (int, float)) and not isinstance(step, bool) and step <= keep_until_step:
                    kept.append(line)
            write_text(path, "".join(line + "\n" for line in kept))
        self._metrics = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the whole run

    def log(self, record: dict[str, Any]) -> None:
        line = json.dumps(plain_json(record), separators=(",", ":"), allow_nan=False, default=_plain)
        self._metrics.write(line + "\n")
        self._metrics.flush()

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    # --- checkpoints, samples, summary ----------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any], name: str) -> Path:
        path = self.file(name)
        try:
            write_with(path, lambda tmp: torch.save(state, tmp))
        except OSError as exc:
            raise TrainingError(f"cannot write the checkpoint {path}: {exc.strerror or exc}", "disk",
                                "free some disk space or train into another folder (--out DIR); the "
                                "checkpoints already in the run folder are kept") from exc
        return path

    def save_sample(self, filename: str, png: bytes | None, text: str | None) -> Path:
        folder = self.file(SAMPLES)
        folder.mkdir(exist_ok=True)
        path = folder / filename
        if png is not None:
            write_bytes(path, png)
        else:
            write_text(path, text or "")
        return path

    def write_summary(self, summary: dict[str, Any]) -> None:
        text = json.dumps(plain_json(summary), indent=2, allow_nan=False, default=_plain)
        write_text(self.file(SUMMARY), text + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of a run's metrics.jsonl."""
    lines = (Path(run_dir) / METRICS).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]

"""Per-block parity on the import corpus: every fully imported model matches block by block.

Slow, and needs the `corpus` extra (see tests/test_import_corpus.py). Each
corpus model outside KNOWN_GAPS is imported with its seeded weights (as the
corpus test does), then exported to ONNX and to torch.export with those
weights, and every block's value in both files is compared with the in-app
model's (runtime/parity.py): all must be within tolerance.

Run a few by hand: python -m tests.test_parity_corpus tv_resnet18 GruClassifier
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.corpus.harness import Model, corpus, import_model
from tests.test_import_corpus import KNOWN_GAPS

FORMATS = (("onnx", ".onnx"), ("torch-export", ".pt2"))


def parity(model: Model, folder: Path) -> list[tuple[str, str, int, str]]:
    """(format, network, blocks compared, problem) per export of one imported model ("" problem: all ok)."""
    from graph.blocks import default_registry
    from graph.project_io import load_project
    from runtime.export_project import export_project, verify_export

    _original, project_file, code, text = import_model(model, folder)
    if code != 0:
        return [("import", "-", 0, f"exit {code}: {text.strip().splitlines()[-1:]}")]
    registry = default_registry()
    project = load_project(project_file, registry)
    weights = project_file.with_name("model.weights.pt")
    rows = []
    for fmt, suffix in FORMATS:
        exported = export_project(project, registry, fmt, folder / f"model{suffix}", weights=weights)
        for c in verify_export(exported, explain=True):
            if c.blocks is None:
                why = c.block_note or c.nonfinite or c.note or "no per-block check"
                rows.append((fmt, c.network, 0, why))
                continue
            bad = [f"{b.name} ({b.type}): {b.describe()}" for b in c.blocks.blocks if not b.ok]
            problem = "; ".join(bad[:3]) or ("" if c.ok else f"outputs differ by {c.max_abs_diff:.3g}")
            rows.append((fmt, c.network, len(c.blocks.blocks), problem))
    return rows


def fully_imported() -> list[Model]:
    return [m for m in corpus() if not m.refuse and m.name not in KNOWN_GAPS]


@pytest.mark.slow
def test_every_fully_imported_corpus_model_matches_block_by_block(tmp_path, capsys):
    problems = []
    for model in fully_imported():
        folder = tmp_path / model.name
        folder.mkdir()
        for fmt, network, count, problem in parity(model, folder):
            if problem or count == 0:
                problems.append(f"{model.name} {fmt} {network}: {problem or 'no blocks compared'}")
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    import tempfile

    wanted = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        for entry in fully_imported():
            if wanted and entry.name not in wanted:
                continue
            started = time.perf_counter()
            where = Path(tmp) / entry.name
            where.mkdir()
            for fmt, network, count, problem in parity(entry, where):
                print(f"{entry.name:24} {fmt:13} {network:10} {count:4} blocks  "
                      f"{problem or 'all within tolerance'}  ({time.perf_counter() - started:.0f} s)",
                      flush=True)

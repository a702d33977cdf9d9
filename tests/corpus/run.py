"""`python -m tests.corpus.run [NAME ...]`: the corpus table without pytest (for reading, not judging)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.corpus.harness import corpus, measure, table


def main(names: list[str]) -> int:
    models = [m for m in corpus() if not names or m.name in names]
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            folder = Path(tmp) / model.name
            folder.mkdir()
            rows.append(measure(model, folder))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    should = [r for r, m in zip(rows, models) if not m.refuse]
    full = sum(r.full for r in should)
    print(f"fully imported: {full}/{len(should)} = {100 * full / max(1, len(should)):.0f}%; "
          f"tracebacks: {sum(r.traceback for r in rows)}; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

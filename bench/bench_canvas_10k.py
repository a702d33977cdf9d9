"""The canvas at 10,000 blocks (issue 16): open < 2 s, an edit < 16 ms, pan and zoom frames < 16 ms.

The same measurements as bench/bench_canvas.py (which holds the 1,000-block
targets of issue 4), on a residual CNN stack of 10,001 blocks and 12,499
wires, beside a bare QGraphicsScene of as many items. Fewer rounds than at
1,000 blocks: each open takes seconds.

    QT_QPA_PLATFORM=offscreen python bench/bench_canvas_10k.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_canvas  # noqa: E402
from bench.figures import format_table  # noqa: E402

BLOCKS = 10_000


def measure(quick: bool = False) -> dict:
    return bench_canvas.measure(quick, blocks=BLOCKS, frames=20 if quick else 40, edits=10 if quick else 20,
                                opens=2 if quick else 4)


if __name__ == "__main__":
    result = measure()
    print(format_table(result["rows"]))
    sys.exit(0 if all(row["passed"] is not False for row in result["rows"]) else 1)

"""Shape inference + validation after one edit, on a 1,000-block graph.

Target (issue 2): under 16 ms (one frame at 60 Hz) per re-analysis after a
single edit (median). The graph is a deep residual MLP-like stack using
blocks from every shape-preserving and merging family, so every rule runs.
Each round, in rotating order: disables or enables one block (alternating,
so the memo cache sees a real change) and times `analyse` on the whole
network; removes or restores one wire and times it again; and times a full
analysis with an empty cache, the reference that shows what the cache saves.

    python bench/bench_graph.py [--blocks 1000] [--rounds 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import budget_row, format_table, interleave  # noqa: E402
from graph.blocks import default_registry  # noqa: E402
from graph.model import Block, Edge, Network  # noqa: E402
from graph.validate import AnalysisCache, analyse  # noqa: E402

TARGET_MS = 16.0


def residual_stack(blocks: int, width: int = 32) -> Network:
    """Input -> [Linear -> ReLU -> Add(skip)] * n -> Linear -> head, about `blocks` blocks."""
    net = Network("big")
    net.add_block(Block("in", "VectorInput", "features", {"features": width}))
    prev, n = "in", 0
    while len(net.blocks) < blocks - 3:
        n += 1
        lin, act, add = f"lin{n}", f"act{n}", f"add{n}"
        net.add_block(Block(lin, "Linear", lin, {"features": width, "bias": True}, (n * 660.0, 0.0)))
        net.add_block(Block(act, "ReLU", act, {}, (n * 660.0 + 220, 0.0)))
        net.add_block(Block(add, "Add", add, {"inputs": 2}, (n * 660.0 + 440, 0.0)))
        net.connect(Edge(prev, lin, "x"))
        net.connect(Edge(lin, act, "x"))
        net.connect(Edge(act, add, "in1"))
        net.connect(Edge(prev, add, "in2"))
        prev = add
    net.add_block(Block("logits", "Linear", "logits", {"features": 10, "bias": True}))
    net.add_block(Block("head", "ClassificationHead", "head", {"classes": 10, "label_smoothing": 0.0}))
    net.connect(Edge(prev, "logits", "x"))
    net.connect(Edge("logits", "head", "x"))
    return net


def measure(quick: bool = False, blocks: int = 1000, rounds: int | None = None) -> dict:
    """Rows for bench/run.py: re-analysis after a parameter edit and after a wire edit (budget
    16 ms each), each beside a from-scratch analysis of the same network in the same rounds."""
    rounds = rounds or (40 if quick else 200)
    registry = default_registry()
    net = residual_stack(blocks)
    cache = AnalysisCache()
    first = time.perf_counter()
    analysis = analyse(net, registry, cache)
    cold_ms = (time.perf_counter() - first) * 1000
    assert analysis.ok, analysis.diagnostics[:3]
    middle = f"act{len(net.blocks) // 6}"
    edge = next(e for e in net.edges if e.dst == middle)
    edits = {"param": 0, "wire": 0}

    def param_edit() -> float:
        # one edit: disable/enable a block in the middle (alternating, so the memo sees a change)
        edits["param"] += 1
        net.set_enabled(middle, edits["param"] % 2 == 0)
        return _timed(lambda: analyse(net, registry, cache))

    def wire_edit() -> float:
        # a structural edit (a wire removed, then put back) also redoes the topological order
        edits["wire"] += 1
        (net.disconnect if edits["wire"] % 2 else net.connect)(edge)
        return _timed(lambda: analyse(net, registry, cache))

    def from_scratch() -> float:
        return _timed(lambda: analyse(net, registry, AnalysisCache()))

    samples = interleave({"param": param_edit, "wire": wire_edit, "scratch": from_scratch}, rounds)
    assert analyse(net, registry, cache).ok  # every edit was undone by the next one
    what = f"shapes + problems after one {{}} edit, {len(net.blocks)} blocks"
    scratch = "full analysis from scratch"
    return {
        "rows": [
            budget_row("graph.param_edit", what.format("parameter"), "ms", samples["param"], TARGET_MS,
                       samples["scratch"], scratch),
            budget_row("graph.wire_edit", what.format("wire"), "ms", samples["wire"], TARGET_MS,
                       samples["scratch"], scratch),
        ],
        "details": {"blocks": len(net.blocks), "edges": len(net.edges), "rounds": rounds,
                    "first_analysis_ms": round(cold_ms, 2)},
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(blocks=args.blocks, rounds=args.rounds)
    print(format_table(result["rows"]))
    print(result["details"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(row["passed"] is not False for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())

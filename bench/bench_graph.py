"""Shape inference + validation after one edit, on a 1,000-block graph.

Target (issue 2): under 16 ms (one frame at 60 Hz) per re-analysis after a
single edit. The graph is a deep residual MLP-like stack using blocks from
every shape-preserving and merging family, so every rule runs. Each round
edits one block's parameter (alternating between two values, so the memo
cache sees a real change) and times `analyse` on the whole network.

    python bench/bench_graph.py [--blocks 1000] [--rounds 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.blocks import default_registry  # noqa: E402
from graph.model import Block, Edge, Network  # noqa: E402
from graph.validate import AnalysisCache, analyse  # noqa: E402


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


def measure(blocks: int = 1000, rounds: int = 200) -> dict:
    registry = default_registry()
    net = residual_stack(blocks)
    cache = AnalysisCache()
    first = time.perf_counter()
    analysis = analyse(net, registry, cache)
    cold_ms = (time.perf_counter() - first) * 1000
    assert analysis.ok, analysis.diagnostics[:3]
    middle = f"act{len(net.blocks) // 6}"
    times = []
    for i in range(rounds):
        # one edit: disable/enable a block in the middle
        net.set_enabled(middle, i % 2 == 1)
        start = time.perf_counter()
        analyse(net, registry, cache)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    # a structural edit (a wire removed, then put back) also redoes the topological order
    wired = []
    edge = next(e for e in net.edges if e.dst == middle)
    for i in range(rounds // 4):
        if i % 2:
            net.connect(edge)
        else:
            net.disconnect(edge)
        start = time.perf_counter()
        analyse(net, registry, cache)
        wired.append((time.perf_counter() - start) * 1000)
    wired.sort()
    return {
        "blocks": len(net.blocks),
        "edges": len(net.edges),
        "cold_ms": round(cold_ms, 2),
        "after_edit_median_ms": round(statistics.median(times), 2),
        "after_edit_p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
        "after_wire_edit_median_ms": round(statistics.median(wired), 2),
        "after_wire_edit_p95_ms": round(wired[int(len(wired) * 0.95) - 1], 2),
        "target_ms": 16.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.blocks, args.rounds)
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    worst = max(result["after_edit_p95_ms"], result["after_wire_edit_p95_ms"])
    verdict = "PASS" if worst < result["target_ms"] else "MISS"
    print(f"{'verdict':>24}: {verdict} (p95 after one edit, {worst} ms, vs {result['target_ms']} ms)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

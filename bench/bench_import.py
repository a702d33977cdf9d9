"""`deepwire import` time against the original model's forward time (information, no target).

One import is the whole command's work: trace (torch.fx, or the torch.export
fallback), one run for the shapes, the blocks, compiling the project, the
comparison with the original and writing the project and its weights. The
reference is one forward pass of the original at the comparison's batch of 3,
measured in the same rounds, so the ratio (how many forwards an import costs)
cancels the machine's speed. Models: a ResNet in torchvision's layout
(tests/import_models.py, traced by torch.fx) and a CNN with `len(x)` and an
`assert` in forward() (tests/corpus/own_models.py, captured by torch.export).

    python bench/bench_import.py [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.figures import budget_row, format_table, interleave  # noqa: E402

MODELS = (  # (row name, spec, input shape, what the row says)
    ("import.tiny_resnet", "tests/import_models.py:TinyResNet", "3,16,16",
     "import a 10-conv ResNet (torch.fx), per forward of the original"),
    ("import.len_of_batch", "tests/corpus/own_models.py:LenOfBatch", "1,8,8",
     "import a CNN fx cannot trace (torch.export fallback), per forward of the original"),
)


def _timers(spec: str, shape: str, folder: Path):
    from graph.blocks import default_registry
    from runtime.importing.importer import run_import
    from runtime.importing.source import find_models

    registry = default_registry()
    model = find_models(str(ROOT / spec))[0].model.eval()
    batch = torch.randn(3, *(int(s) for s in shape.split(",")))
    count = iter(range(10_000))

    def do_import() -> float:
        started = time.perf_counter()
        report = run_import(str(ROOT / spec), folder / f"m{next(count)}.dw.json", registry, [shape],
                            "classification")
        seconds = time.perf_counter() - started
        if not report.ok:
            raise RuntimeError(f"{spec} no longer imports fully")
        return seconds * 1000

    def do_forward() -> float:  # the mean of 20 calls: one is too short to time alone
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(20):
                model(batch)
            return (time.perf_counter() - started) * 1000 / 20

    return do_import, do_forward


def measure(quick: bool = False, rounds: int | None = None) -> dict:
    rounds = rounds or (3 if quick else 8)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec, shape, what in MODELS:
            do_import, do_forward = _timers(spec, shape, Path(tmp))
            do_import()  # the first import pays for importing the modules it uses
            times = interleave({"import": do_import, "forward": do_forward}, rounds)
            rows.append(budget_row(name, what, "ms", times["import"], None, times["forward"],
                                   "one forward of the original (batch 3)"))
    return {"rows": rows, "details": {"rounds": rounds, "torch_threads": 1}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(rounds=args.rounds)
    print(format_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

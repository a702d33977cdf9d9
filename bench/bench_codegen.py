"""Generated module vs the same architecture written by hand: forward + backward speed.

Target (issue 2): the generated module runs at least 0.98x as fast as the
hand-written one. Both are measured side by side in one process, in many
short alternating rounds (so machine drift hits both equally); the figure is
the median over rounds of hand_time / generated_time (1.0 = equally fast,
above 1 = generated is faster), in CPU time of this process with one torch
thread (steady on a shared machine; wall time is recorded beside it).

Two architectures: a digits-sized CNN (compute-bound) and a small residual
MLP at batch 16 (where any per-call Python overhead in the generated forward
would show).

    python bench/bench_codegen.py [--rounds 30] [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.figures import format_table, interleave, speed_row  # noqa: E402
from graph.blocks import default_registry  # noqa: E402
from graph.compiler import compile_network  # noqa: E402
from graph.model import Block, Edge, Network  # noqa: E402
from runtime.build import load_source  # noqa: E402

TARGET = 0.98  # generated speed / hand-written speed


def _chain(name: str, blocks: list[tuple[str, str, dict]], extra_edges=()) -> Network:
    net = Network(name)
    for i, (type_id, block_name, params) in enumerate(blocks):
        net.add_block(Block(f"b{i}", type_id, block_name, params))
    skip = {dst for _, dst, _ in extra_edges}
    for i in range(len(blocks) - 1):
        if f"b{i + 1}" not in skip:
            net.connect(Edge(f"b{i}", f"b{i + 1}", "x" if blocks[i + 1][0] != "Add" else "in1"))
    for src, dst, port in extra_edges:
        net.connect(Edge(src, dst, port))
    return net


def cnn_network() -> Network:
    return _chain("cnn", [
        ("ImageInput", "image", {"channels": 1, "height": 28, "width": 28}),
        ("Conv2d", "conv1", {"channels": 32, "kernel_size": 3, "padding": 1}),
        ("BatchNorm2d", "bn1", {}),
        ("ReLU", "relu1", {}),
        ("MaxPool2d", "pool1", {"kernel_size": 2}),
        ("Conv2d", "conv2", {"channels": 64, "kernel_size": 3, "padding": 1}),
        ("BatchNorm2d", "bn2", {}),
        ("ReLU", "relu2", {}),
        ("MaxPool2d", "pool2", {"kernel_size": 2}),
        ("Flatten", "flatten", {}),
        ("Linear", "fc1", {"features": 128}),
        ("ReLU", "relu3", {}),
        ("Linear", "fc2", {"features": 10}),
        ("ClassificationHead", "head", {"classes": 10}),
    ])


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def mlp_network(depth: int = 6, width: int = 64) -> Network:
    blocks = [("VectorInput", "features", {"features": width})]
    edges = []
    for i in range(depth):
        base = len(blocks)
        blocks += [("Linear", f"fc{i}", {"features": width}), ("ReLU", f"act{i}", {}),
                   ("Add", f"skip{i}", {})]
        edges.append((f"b{base - 1}", f"b{base + 2}", "in2"))
        edges.append((f"b{base + 1}", f"b{base + 2}", "in1"))
    blocks += [("Linear", "out", {"features": 10}), ("ClassificationHead", "head", {"classes": 10})]
    return _chain("mlp", blocks, edges)


class HandMLP(nn.Module):
    def __init__(self, depth: int = 6, width: int = 64):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x)) + x
        return self.out(x)


def generated(network: Network) -> nn.Module:
    compiled = compile_network(network, default_registry())
    return getattr(load_source(compiled.source), compiled.network().class_name)()


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Same values in both models (parameters and buffers correspond in order)."""
    with torch.no_grad():
        for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True):
            b.copy_(a)


def _time(model: nn.Module, x: torch.Tensor, steps: int) -> tuple[float, float]:
    """(wall, CPU) ms per forward+backward step."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    return ((time.perf_counter() - start) / steps * 1000, (time.process_time() - cpu) / steps * 1000)


def compare(name: str, gen: nn.Module, hand: nn.Module, x: torch.Tensor, rounds: int, steps: int) -> dict:
    """A table row: ms per forward+backward step of both, in alternating rounds (ratio per round)."""
    _copy_weights(gen, hand)
    gen.eval(), hand.eval()  # batch norm uses running stats, so outputs are comparable
    torch.testing.assert_close(gen(x), hand(x))
    gen.train(), hand.train()
    _time(gen, x, steps), _time(hand, x, steps)  # warm up
    samples = interleave({"generated": lambda: _time(gen, x, steps), "hand": lambda: _time(hand, x, steps)},
                         rounds)
    # judged on CPU time: with one torch thread it is the work done, whatever else shares the cores
    cpu = {who: [c for _wall, c in runs] for who, runs in samples.items()}
    row = speed_row(f"codegen.{name}", f"generated vs hand-written module, forward+backward, "
                    f"{DESCRIPTIONS[name]}, batch {x.shape[0]}, CPU time", "ms/step", cpu["generated"],
                    cpu["hand"], "hand-written", TARGET, higher_is_faster=False)
    wall = {who: [w for w, _cpu in runs] for who, runs in samples.items()}
    wall = speed_row("wall", "", "ms/step", wall["generated"], wall["hand"], "hand-written", TARGET,
                     higher_is_faster=False)
    row["wall_time"] = {key: wall[key] for key in ("measured", "reference", "ratio")}
    return row


DESCRIPTIONS = {"cnn": "digits-size CNN", "mlp": "residual MLP"}


def measure(quick: bool = False, rounds: int | None = None, threads: int | None = 1) -> dict:
    """Rows for bench/run.py: the CNN (compute-bound) and the small MLP (per-call overhead). One torch
    thread by default: on a shared machine, threads waiting on each other swamp what is compared."""
    rounds = rounds or (10 if quick else 40)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    rows = [
        compare("cnn", generated(cnn_network()), HandCNN(), torch.randn(64, 1, 28, 28), rounds, steps=3),
        compare("mlp", generated(mlp_network()), HandMLP(), torch.randn(16, 64), rounds, steps=50),
    ]
    return {"rows": rows, "details": {"rounds": rounds, "torch_threads": torch.get_num_threads()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(rounds=args.rounds, threads=args.threads)
    print(format_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(row["passed"] for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())

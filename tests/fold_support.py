"""Projects for the folding tests: the residual CNN example's ResidualBlock used many times in a chain.

`residual_chain_project(12)` is image → stem conv → norm → ReLU → res1 … res12 → global pool →
scores → digit (19 blocks, so above graph.folding.FOLD_ABOVE), laid out five cards a row as
Auto Layout would. Running this file writes it to a project file (for looking at it in the studio):
`PYTHONPATH=. python tests/fold_support.py /tmp/residual12.dw.json`.
"""

from __future__ import annotations

import sys

from graph.examples import example_path
from graph.model import Block, Edge, Network, Project
from graph.project_io import load_project


def residual_chain_project(registry, count: int = 12, name: str = "Residual chain") -> Project:
    example = load_project(example_path("residual_cnn"), registry)
    definitions = example.definitions.copy()
    net = Network("model")
    layers = [Block("img", "ImageInput", "image", {"channels": 1, "height": 8, "width": 8}),
              Block("stem", "Conv2d", "stem", {"channels": 32, "kernel_size": 3, "padding": 1,
                                               "bias": False}),
              Block("stem_norm", "BatchNorm2d", "stem_norm"),
              Block("stem_relu", "ReLU", "stem_relu")]
    layers += [Block(f"r{i}", "ResidualBlock", f"res{i}", {"channels": 32}) for i in range(1, count + 1)]
    layers += [Block("pool", "GlobalAvgPool", "global_pool"),
               Block("scores", "Linear", "scores", {"features": 10}),
               Block("digit", "ClassificationHead", "digit", {"classes": 10})]
    for i, block in enumerate(layers):
        block.position = (240.0 * (i % 5), 140.0 * (i // 5))
        net.add_block(block)
    for a, b in zip(layers, layers[1:]):
        net.connect(Edge(a.id, b.id, "x"))
    project = Project(name, [net], example.data, example.training, definitions=definitions)
    return project


def residual_ids(count: int = 12) -> list[str]:
    return [f"r{i}" for i in range(1, count + 1)]


if __name__ == "__main__":
    from graph.blocks import default_registry
    from graph.project_io import save_project

    save_project(residual_chain_project(default_registry()), sys.argv[1])
    print("wrote", sys.argv[1])

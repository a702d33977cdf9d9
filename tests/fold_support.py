"""Projects for the folding tests: the residual CNN example's ResidualBlock used many times in a chain.

`residual_chain_project(12)` is image → stem conv → norm → ReLU → res1 … res12 → global pool →
scores → digit (19 blocks, so above graph.folding.FOLD_ABOVE), laid out five cards a row as
Auto Layout would. Running this file writes it to a project file (for looking at it in the studio):
`PYTHONPATH=. python tests/fold_support.py /tmp/residual12.dw.json`.

`transformer_chain_project(12)` is the character Transformer example with its TransformerLayer used
12 times: the README's folded and expanded screenshots
(`PYTHONPATH=. python tests/fold_support.py --transformer /tmp/transformer12.dw.json`, then
`deepwire screenshot /tmp/transformer12.dw.json OUT.png --folds folded|expanded`).
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


def transformer_chain_project(registry, count: int = 12) -> Project:
    from graph.layout import layered_layout

    example = load_project(example_path("char_transformer"), registry)
    net = Network("model")
    old = example.networks[0]
    blocks = [b for b in old.blocks.values() if b.type != "TransformerLayer"]
    before, after = blocks[:3], blocks[3:]  # text, embedding, positions | final norm, scores, head
    layers = [Block(f"t{i}", "TransformerLayer", f"layer{i}", dict(old.block("b4").params))
              for i in range(1, count + 1)]
    chain = [Block(b.id, b.type, b.name, dict(b.params)) for b in before] + layers + \
            [Block(b.id, b.type, b.name, dict(b.params)) for b in after]
    for block in chain:
        net.add_block(block)
    for a, b in zip(chain, chain[1:]):
        net.connect(Edge(a.id, b.id, "x"))
    for bid, position in layered_layout(net).items():
        net.move_block(bid, position)
    return Project(f"Character Transformer x{count}", [net], example.data, example.training,
                   definitions=example.definitions.copy())


def open_chain_view(qtbot, doc):
    """A shown canvas of the chain's network at 100 %, its first cards in sight (the studio tests' view)."""
    from PySide6.QtCore import QPointF

    from studio.canvas.style import LIGHT
    from studio.canvas.view import NetworkView

    view = NetworkView(doc, "model", LIGHT)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    view.setZoom(1.0)
    view.centerOn(QPointF(600, 150))
    return view


def residual_ids(count: int = 12) -> list[str]:
    return [f"r{i}" for i in range(1, count + 1)]


if __name__ == "__main__":
    from graph.blocks import default_registry
    from graph.project_io import save_project

    if sys.argv[1] == "--transformer":
        save_project(transformer_chain_project(default_registry()), sys.argv[2])
    else:
        save_project(residual_chain_project(default_registry()), sys.argv[1])
    print("wrote", sys.argv[-1])

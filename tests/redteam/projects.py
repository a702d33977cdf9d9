"""Project files for the red team, as plain JSON dicts (so a case can break any field).

`example(name)` is a bundled example's JSON; `chain(...)` a one-network
project from a list of blocks; `write(ws, project)` saves it as
inputs/project.dw.json. BOMBS: networks whose parameter or activation memory
is absurd (a Linear of 10^7 x 10^7, ...), which analysis must refuse before
torch allocates anything.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from graph.examples import example_path, list_examples


@cache
def _example_text(name: str) -> str:
    return Path(example_path(name)).read_text(encoding="utf-8")


def example(name: str) -> dict:
    return json.loads(_example_text(name))


def example_names() -> list[str]:
    return sorted(example.name for example in list_examples())


def chain(name: str, blocks: list[tuple[str, str, dict]], data: dict, training: dict) -> dict:
    """A project of one network: blocks (name, type, params) wired one after another."""
    return {
        "format": "deepwire-project",
        "version": 1,
        "name": name,
        "seed": 0,
        "data": data,
        "training": training,
        "networks": [
            {
                "name": "model",
                "blocks": [
                    {"id": f"b{i + 1}", "type": t, "name": n, "params": p, "position": [220 * i, 0]}
                    for i, (n, t, p) in enumerate(blocks)
                ],
                "edges": [{"from": f"b{i}", "to": f"b{i + 1}", "port": "x"} for i in range(1, len(blocks))],
            }
        ],
    }


def tiny(project: dict, epochs: int = 1) -> dict:
    """The same project trained as briefly as possible (one epoch, small batches)."""
    project = copy.deepcopy(project)
    project["training"] = {**project.get("training", {}), "epochs": epochs}
    return project


def write(folder: Path, project: dict | str | bytes, name: str = "project.dw.json") -> Path:
    path = Path(folder) / name
    if isinstance(project, dict):
        path.write_text(json.dumps(project), encoding="utf-8")
    elif isinstance(project, str):
        path.write_text(project, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(project)
    return path


def iris(**training) -> dict:
    project = tiny(example("iris_mlp"))
    project["training"].update(training)
    return project


def with_data(project: dict, source: str, **options) -> dict:
    project = copy.deepcopy(project)
    project["data"] = {"source": source, "options": options}
    return project


def write_images_npz(path: Path) -> None:
    """16 random RGB 32x32 images of 10 classes: data a ResNet-18 backbone project fits."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((16, 3, 32, 32), dtype=np.float32), y=np.arange(16) % 10)


def backbone(weights: str) -> dict:
    """ResNet-18 backbone whose pretrained_weights is `weights`, on images.npz (write_images_npz)."""
    return chain(
        "backbone",
        [
            ("in", "ImageInput", {"channels": 3, "height": 32, "width": 32}),
            ("backbone", "ResNet18Backbone", {"pretrained_weights": weights}),
            ("fc", "Linear", {"features": 10}),
            ("head", "ClassificationHead", {"classes": 10}),
        ],
        {"source": "arrays", "options": {"path": "images.npz"}},
        {"recipe": "classification", "epochs": 1, "batch_size": 8},
    )


_CLASSIFY = {"recipe": "classification", "epochs": 1}
_DIGITS = {"source": "digits", "options": {}}
_IRIS = {"source": "iris", "options": {}}
_HEAD = [("head", "ClassificationHead", {"classes": 3})]
_HEAD10 = [("head", "ClassificationHead", {"classes": 10})]

_SINE = {"source": "sine_classes", "options": {}}


def _image_bomb(conv: dict) -> dict:
    return chain(
        "bomb",
        [
            ("in", "ImageInput", {"channels": 1, "height": 8, "width": 8}),
            ("conv", "Conv2d", conv),
            ("conv2", "Conv2d", conv),
            ("pool", "GlobalAvgPool", {}),
            ("out", "Linear", {"features": 10}),
        ]
        + _HEAD10,
        _DIGITS,
        _CLASSIFY,
    )


def _linear_bomb(*widths: int) -> dict:
    return chain(
        "bomb",
        [("in", "VectorInput", {"features": 4})]
        + [(f"fc{i}", "Linear", {"features": w}) for i, w in enumerate(widths)]
        + [("out", "Linear", {"features": 3})]
        + _HEAD,
        _IRIS,
        _CLASSIFY,
    )


def _sequence_bomb(block: str, **params) -> dict:
    return chain(
        "bomb",
        [
            ("in", "SequenceInput", {"length": 32, "features": 1}),
            ("rnn", block, {"output": "last", **params}),
            ("out", "Linear", {"features": 3}),
        ]
        + _HEAD,
        _SINE,
        _CLASSIFY,
    )


def _embedding_bomb() -> dict:
    project = tiny(example("char_transformer"))
    for block in project["networks"][0]["blocks"]:
        if block["type"] == "Embedding":
            block["params"].update(vocab_size=10**7, dim=65536)
        if block["type"] == "TransformerLayer":  # its width follows, so only the size is wrong
            block["params"].update(dim=65536)
    return project


# within every parameter's bounds, so only a memory estimate can refuse them
BOMBS = {
    "Linear 1e7 x 1e7": _linear_bomb(10**7, 10**7),
    "Linear 2e5 x 2e5": _linear_bomb(200_000, 200_000),
    "Embedding 1e7 x 65536": _embedding_bomb(),
    "LSTM hidden 65536 x 16": _sequence_bomb("LSTM", hidden_size=65536, num_layers=16),
    "GRU hidden 65536": _sequence_bomb("GRU", hidden_size=65536),
    "Conv2d 65536 channels": _image_bomb({"channels": 65536, "kernel_size": 3, "padding": 1}),
    "Conv2d kernel 1024": _image_bomb({"channels": 4096, "kernel_size": 1024, "padding": 512}),
    "image 65536 x 65536": chain(
        "bomb",
        [
            ("in", "ImageInput", {"channels": 3, "height": 65536, "width": 65536}),
            ("conv", "Conv2d", {"channels": 64, "kernel_size": 3}),
            ("pool", "GlobalAvgPool", {}),
            ("out", "Linear", {"features": 10}),
        ]
        + _HEAD10,
        _DIGITS,
        _CLASSIFY,
    ),
}

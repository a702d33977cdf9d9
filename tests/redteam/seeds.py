"""The good files the attacks start from, made once per test session (`make_seeds(folder)`).

iris project    iris_mlp trained for one epoch
iris run        a finished run folder of it (best.pt, last.pt, metrics, summary)
lm run          a finished char_transformer run on a few thousand characters (for sample)
model.py        iris_mlp exported as code (for import)
model.onnx      a small ONNX graph made with onnx.helper (for import; no torch export needed)
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from tests.redteam import projects


@dataclass(frozen=True)
class Seeds:
    folder: Path
    iris_project: Path
    iris_run: Path
    lm_run: Path
    model_py: Path
    model_onnx: Path

    @property
    def checkpoint(self) -> Path:
        return self.iris_run / "best.pt"


def _cli(*argv: str) -> None:
    from runtime.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    assert code == 0, f"making a seed failed: deepwire {' '.join(argv)}\n{out.getvalue()}"


def _onnx(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(size=s).astype("float32"), n)
        for n, s in (("w1", (4, 8)), ("b1", (8,)), ("w2", (8, 3)), ("b2", (3,)))
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def make_seeds(folder: Path) -> Seeds:
    folder.mkdir(parents=True, exist_ok=True)
    iris = projects.write(folder, projects.iris(), "iris.dw.json")
    _cli("train", str(iris), "--quiet", "--threads", "1", "--out", str(folder / "iris_run"))
    lm = projects.tiny(projects.example("char_transformer"))
    lm["data"]["options"] = {"max_chars": 3000}
    lm_path = projects.write(folder, lm, "lm.dw.json")
    _cli("train", str(lm_path), "--quiet", "--threads", "1", "--out", str(folder / "lm_run"))
    _cli("export", str(iris), "--format", "python", "-o", str(folder / "model.py"))
    _onnx(folder / "model.onnx")
    return Seeds(
        folder, iris, folder / "iris_run", folder / "lm_run", folder / "model.py", folder / "model.onnx"
    )

"""Importing ONNX files: DeepWire's own ONNX exports come back as blocks with their weights.

digits_cnn and digits_mlp are exported with `export_project(..., "onnx")`,
imported, and the imported project's model (compiled, init_checkpoint
applied as training does) must give onnxruntime's outputs within 1e-5. An
operator with no block becomes an Unsupported block naming it.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from graph.examples import example_path
from graph.project_io import load_project
from runtime.build import build_models
from runtime.export_project import export_project
from runtime.importing.fx_import import ModelImportError
from runtime.importing.importer import run_import
from runtime.train.transfer import apply_transfer


def _rebuilt(report, registry):
    project = load_project(report.project_path, registry)
    models, compiled = build_models(project, registry)
    apply_transfer(project, models, compiled, [report.project_path.parent])
    return project, models["model"].eval()


@pytest.mark.parametrize(("example", "head", "layers"), [
    ("digits_cnn", None, {"Conv2d": 2, "ReLU": 2, "MaxPool2d": 1, "Flatten": 1, "Linear": 1}),
    ("digits_mlp", "classification", {"Linear": 2, "ReLU": 1}),
])
def test_an_onnx_export_imports_with_its_weights(tmp_path, registry, example, head, layers):
    original = load_project(example_path(example), registry)
    onnx_file = tmp_path / f"{example}.onnx"
    export_project(original, registry, "onnx", onnx_file)

    report = run_import(str(onnx_file), tmp_path / "back.dw.json", registry, head=head)

    assert report.ok and report.networks[0].max_abs_diff <= 1e-5
    project, model = _rebuilt(report, registry)
    types = Counter(b.type for b in project.networks[0].blocks.values())
    assert {t: types[t] for t in layers} == layers and "Unsupported" not in types
    assert types["ClassificationHead" if head else "Output"] == 1

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = torch.randn(5, *original.networks[0].blocks["b1"].params.values())
    want = session.run(None, {name: x.reshape(5, -1).numpy() if example == "digits_mlp" else x.numpy()})[0]
    with torch.no_grad():
        got = model(x.reshape(5, -1) if example == "digits_mlp" else x).numpy()
    assert np.abs(got - want).max() < 1e-5


def _hand_made(tmp_path, last_op: str):
    """x (B, 4) -> Gemm without bias -> last_op -> y (B, 3), written with onnx.helper."""
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, "fc.weight")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight"], ["h"], transB=1, name="fc"),
         helper.make_node(last_op, ["h"], ["y"], name="wave")],
        "sine_net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [weight])
    path = tmp_path / f"{last_op.lower()}_net.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, weight


def test_without_onnxruntime_the_import_works_and_says_it_was_not_compared(tmp_path, registry, monkeypatch):
    path, _ = _hand_made(tmp_path, "Tanh")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a))

    report = run_import(str(path), tmp_path / "tanh.dw.json", registry)

    assert report.ok and math.isnan(report.networks[0].max_abs_diff)
    assert "outputs not compared with the ONNX file: pip install onnxruntime" in report.notes


def test_an_onnx_operator_without_a_block_is_named(tmp_path, registry):
    path, weight = _hand_made(tmp_path, "Sin")

    report = run_import(str(path), tmp_path / "sine_net.dw.json", registry)

    assert not report.ok
    assert [(p.operation, p.name) for p in report.networks[0].problems] == [("ONNX Sin", "wave")]
    project = load_project(report.project_path, registry)
    linear = next(b for b in project.networks[0].blocks.values() if b.type == "Linear")
    assert linear.params["features"] == 3 and linear.params["bias"] is False
    state = torch.load(report.weights_path, weights_only=True)["models"]["model"]
    assert torch.equal(state[f"{linear.id}.weight"], torch.from_numpy(numpy_helper.to_array(weight).copy()))


def test_without_the_onnx_package_the_message_says_what_to_install(tmp_path, registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModelImportError, match="needs the onnx package: pip install onnx"):
        run_import(str(tmp_path / "m.onnx"), tmp_path / "m.dw.json", registry)


def test_repeated_modules_of_an_onnx_export_come_back_as_one_definition(tmp_path, registry):
    """residual_cnn's ResidualBlock, used twice, recorded by the dynamo exporter on every node (its module
    path and class): imported as one definition with two instances, outputs as onnxruntime's."""
    original = load_project(example_path("residual_cnn"), registry)
    onnx_file = tmp_path / "residual.onnx"
    export_project(original, registry, "onnx", onnx_file)

    report = run_import(str(onnx_file), tmp_path / "back.dw.json", registry, head="classification")
    assert report.ok and report.networks[0].max_abs_diff <= 1e-5
    project, model = _rebuilt(report, registry)
    assert project.definitions.names() == ["ResidualBlock"]
    net = project.networks[0]
    assert [b.name for b in net.blocks.values() if b.type == "ResidualBlock"] == ["res1", "res2"]
    body = project.definitions.get("ResidualBlock").body
    # the exporter folds each batch norm into the convolution before it: two Conv2d, the Add, two ReLU
    assert Counter(b.type for b in body.blocks.values()) == {
        "PortInput": 1, "Conv2d": 2, "ReLU": 2, "Add": 1, "PortOutput": 1}
    assert [b.name for b in net.blocks.values() if b.type == "Conv2d"] == ["stem_norm"]  # stem conv + norm
    assert {k.split(".")[0] for k in model.state_dict()} >= {"res1", "res2"}
    assert not torch.equal(model.res1.norm1.weight, model.res2.norm1.weight)  # each instance its weights

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 1, 8, 8)
    want = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(model(x).numpy() - want).max() < 1e-5

    flat = run_import(str(onnx_file), tmp_path / "flat.dw.json", registry, head="classification", flat=True)
    flat_project, _ = _rebuilt(flat, registry)
    assert len(flat_project.definitions) == 0 and flat.networks[0].blocks == report.networks[0].blocks


def test_an_onnx_file_without_module_classes_imports_flat(tmp_path, registry):
    """The TorchScript exporter (opset 17 here) records module paths in node names but no classes."""
    original = load_project(example_path("residual_cnn"), registry)
    onnx_file = tmp_path / "residual17.onnx"
    export_project(original, registry, "onnx", onnx_file, opset=17)
    assert any("/res1/" in n.name for n in onnx.load(str(onnx_file)).graph.node)
    report = run_import(str(onnx_file), tmp_path / "back.dw.json", registry, head="classification")
    assert report.ok and report.networks[0].max_abs_diff <= 1e-5
    project, _ = _rebuilt(report, registry)
    assert len(project.definitions) == 0
    assert Counter(b.type for b in project.networks[0].blocks.values())["Add"] == 2

"""Every export format, loaded back the way a user would, gives the in-app model's outputs.

For each bundled example the in-app model (built from the compiled source)
gets scrambled weights and batch-norm statistics, so "same weights" is a real
claim, and is run in eval mode. Each format is then written and loaded back
independently of DeepWire: the Python module and the training script with
importlib, ONNX with onnxruntime, the .pt2 with torch.export.load. Outputs
must equal the in-app model's on the same input, also at batch sizes other
than the one used for tracing.

The full example-by-format matrix for the slow exporters (ONNX, torch.export)
is marked slow; a representative subset runs by default.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from graph.examples import list_examples, resolve_project
from graph.project_io import load_project
from runtime.build import build_models
from runtime.export import (
    WeightsFileError,
    as_tuple,
    export_onnx,
    export_python,
    export_torch_program,
    export_weights,
    network_path,
    read_state,
    sample_inputs,
    vocab_sizes,
    weights_for,
)

EXAMPLES = [e.name for e in list_examples()]
# default run: convolutions + batch norm, two networks + reshape, recurrent, attention + helpers
FAST = {"digits_cnn", "digits_gan", "sine_lstm", "char_transformer"}
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


def scramble(model: torch.nn.Module, seed: int) -> None:
    """Move every weight and batch-norm statistic away from its initial value, in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(noise + 0.5)  # variances must stay positive
            else:
                tensor.add_((noise - 0.5) * 0.2)


def built(project, registry, seed: int = 1):
    """In-app models with scrambled weights, in eval mode, and the compiled project."""
    torch.manual_seed(project.seed)
    models, compiled = build_models(project, registry)
    for i, model in enumerate(models.values()):
        scramble(model, seed + i)
        model.eval()
    return models, compiled


def import_file(path: Path):
    """Import a .py file as a user would (its `if __name__ == "__main__"` block does not run)."""
    name = f"exported_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reference(project, model, info, batch: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    inputs = sample_inputs(info, batch, vocab_sizes(project, info.network), generator)
    with torch.no_grad():
        return inputs, as_tuple(model(*inputs))


def matrix(slow_formats: tuple[str, ...], fast_formats: tuple[str, ...] = ()):
    params = []
    for name in EXAMPLES:
        for fmt in fast_formats:
            params.append(pytest.param(name, fmt, id=f"{name}-{fmt}"))
        for fmt in slow_formats:
            marks = () if name in FAST else (pytest.mark.slow,)
            params.append(pytest.param(name, fmt, id=f"{name}-{fmt}", marks=marks))
    return params


@pytest.fixture(scope="module")
def projects(registry):
    return {name: load_project(resolve_project(name), registry) for name in EXAMPLES}


@pytest.mark.parametrize("name", EXAMPLES)
def test_python_export_is_the_model(name, projects, registry, tmp_path):
    project = projects[name]
    models, compiled = built(project, registry)
    path = export_python(project, registry, tmp_path / "model.py")
    assert path.read_text(encoding="utf-8") == compiled.source
    module = import_file(path)
    for net, model in models.items():
        info = compiled.network(net)
        exported = getattr(module, info.class_name)()
        exported.load_state_dict(model.state_dict())
        exported.eval()
        assert list(exported.state_dict()) == list(model.state_dict())
        inputs, want = reference(project, model, info, batch=3, seed=0)
        with torch.no_grad():
            got = as_tuple(exported(*inputs))
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize("name", EXAMPLES)
def test_training_script_holds_the_same_model(name, projects, registry, tmp_path):
    from runtime.export_script import write_training_script

    project = projects[name]
    models, compiled = built(project, registry)
    path = tmp_path / "train_model.py"
    write_training_script(project, registry, path)
    module = import_file(path)  # importing must not start training
    for net, model in models.items():
        info = compiled.network(net)
        exported = getattr(module, info.class_name)()
        exported.load_state_dict(model.state_dict())
        exported.eval()
        inputs, want = reference(project, model, info, batch=3, seed=0)
        with torch.no_grad():
            got = as_tuple(exported(*inputs))
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize(("name", "fmt"), matrix(("onnx", "torch-export")))
def test_graph_export_matches_the_in_app_model(name, fmt, projects, registry, tmp_path):
    project = projects[name]
    models, compiled = built(project, registry)
    several = len(models) > 1
    out = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt2")
    for net, model in models.items():
        info = compiled.network(net)
        example = sample_inputs(info, 2, vocab_sizes(project, net))
        path = network_path(out, net, several)
        writer = export_onnx if fmt == "onnx" else export_torch_program
        assert writer(model, info, path, example) == path and path.is_file()
        run = _onnx_runner(path, info) if fmt == "onnx" else _program_runner(path)
        for batch in (1, 5):  # neither is the tracing batch size: the batch dimension is free
            inputs, want = reference(project, model, info, batch, seed=batch)
            got = run(inputs)
            assert len(got) == len(want)
            torch.testing.assert_close(got, want, **TOLERANCE)


def _onnx_runner(path: Path, info):
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == list(info.input_names)
    for value in graph.input:
        assert value.type.tensor_type.shape.dim[0].dim_param, "the batch dimension must be symbolic"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(inputs):
        feed = {name: x.numpy() for name, x in zip(info.input_names, inputs)}
        return tuple(torch.from_numpy(np.asarray(y)) for y in session.run(None, feed))
    return run


def _program_runner(path: Path):
    module = torch.export.load(str(path)).module()

    def run(inputs):
        with torch.no_grad():
            return as_tuple(module(*inputs))
    return run


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_round_trip_without_unpickling_code(suffix, projects, registry, tmp_path):
    project = projects["digits_cnn"]
    models, compiled = built(project, registry, seed=7)
    model, info = models["model"], compiled.network("model")
    path = export_weights(model, tmp_path / f"weights{suffix}")
    if suffix == ".pt":
        state = torch.load(path, weights_only=True)
    else:
        from safetensors.torch import load_file
        state = load_file(str(path))
    assert set(state) == set(model.state_dict())
    fresh, _ = build_models(project, registry)
    fresh["model"].load_state_dict(state)
    fresh["model"].eval()
    inputs, want = reference(project, model, info, batch=4, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(as_tuple(fresh["model"](*inputs)), want, atol=0, rtol=0)
    assert read_state(path).keys() == state.keys()


def test_checkpoint_layouts_are_understood(projects, registry, tmp_path):
    project = projects["digits_gan"]
    models, _ = built(project, registry)
    states = {name: model.state_dict() for name, model in models.items()}
    names = list(states)
    # the trainer's checkpoint: a dict with format, models and resume state
    checkpoint = {"format": "deepwire-checkpoint", "version": 1, "models": states, "epoch": 3,
                  "resume": {"rng": torch.get_rng_state()}}
    torch.save(checkpoint, tmp_path / "best.pt")
    loaded = weights_for(read_state(tmp_path / "best.pt"), names)
    assert set(loaded) == set(names)
    for name in names:
        assert all(torch.equal(loaded[name][k], v) for k, v in states[name].items())
    # a bare state_dict only fits a one-network project
    with pytest.raises(WeightsFileError, match="2 networks"):
        weights_for(states["generator"], names)
    assert set(weights_for(states["generator"], ["generator"])) == {"generator"}
    with pytest.raises(WeightsFileError, match="no weights for network"):
        weights_for({"models": {"generator": states["generator"]}}, names)


def test_unsafe_or_missing_weight_files_are_refused(tmp_path):
    with pytest.raises(WeightsFileError, match="no such weights file"):
        read_state(tmp_path / "missing.pt")
    torch.save({"payload": Path("x")}, tmp_path / "pickled.pt")  # needs unpickling an arbitrary class
    with pytest.raises(WeightsFileError, match="never unpickles code"):
        read_state(tmp_path / "pickled.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(WeightsFileError, match="expected a state_dict"):
        read_state(tmp_path / "list.pt")


def test_per_network_file_names():
    assert network_path(Path("out/model.onnx"), "model", several=False) == Path("out/model.onnx")
    assert network_path(Path("out/gan.onnx"), "generator", several=True) == Path("out/gan.generator.onnx")
    assert network_path(Path("gan.pt2"), "my critic!", several=True) == Path("gan.my_critic.pt2")


def test_several_inputs_and_outputs_keep_their_order(registry, tmp_path):
    """Two inputs and two heads: names and order survive ONNX and torch.export."""
    from graph.compiler import compile_project
    from graph.model import Block, Edge, Network, Project

    net = Network("model")
    blocks = [("b1", "VectorInput", "left", {"features": 4}), ("b2", "VectorInput", "right", {"features": 4}),
              ("b3", "Add", "join", {}), ("b4", "Linear", "classes", {"features": 3}),
              ("b5", "ClassificationHead", "label", {"classes": 3}),
              ("b6", "Linear", "amount", {"features": 1}), ("b7", "RegressionHead", "value", {})]
    for i, (block_id, type_id, name, params) in enumerate(blocks):
        net.add_block(Block(block_id, type_id, name, params, (220.0 * i, 0.0)))
    for src, dst, port in [("b1", "b3", "in1"), ("b2", "b3", "in2"), ("b3", "b4", "x"), ("b4", "b5", "x"),
                           ("b3", "b6", "x"), ("b6", "b7", "x")]:
        net.connect(Edge(src, dst, port))
    project = Project("Two heads", [net])
    models, compiled = built(project, registry)
    info = compiled.network()
    assert compile_project(project, registry).source == compiled.source
    example = sample_inputs(info, 2)
    onnx_path = export_onnx(models["model"], info, tmp_path / "two.onnx", example)
    program_path = export_torch_program(models["model"], info, tmp_path / "two.pt2", example)
    assert [o.name for o in onnx.load(str(onnx_path)).graph.output] == ["output_1", "output_2"]
    inputs, want = reference(project, models["model"], info, batch=4, seed=9)
    assert [tuple(w.shape) for w in want] == [(4, 3), (4, 1)]
    torch.testing.assert_close(_onnx_runner(onnx_path, info)(inputs), want, **TOLERANCE)
    torch.testing.assert_close(_program_runner(program_path)(inputs), want, **TOLERANCE)

"""Every sequence block survives export: torch.export and ONNX give the same outputs as eager.

For each block, a one-block network is built from its generated code and
exported with a free batch size, then run at batch sizes other than the
example's. ONNX uses the torch.export-based exporter (dynamo=True), the one
runtime/export.py uses; the legacy TorchScript exporter is deprecated.
"""

from __future__ import annotations

import logging

import onnxruntime
import pytest
import torch

from graph.compiler import compile_network
from runtime.build import load_source
from tests.block_harness import one_block_network

# one network per block type, each in its trickiest configuration (kept few: ONNX export takes seconds)
BLOCKS = [
    ("RNN", {"hidden_size": 5, "nonlinearity": "relu", "bidirectional": True, "output": "last"},
     {"x": (4, 3)}),
    ("LSTM", {"hidden_size": 5, "num_layers": 2, "bidirectional": True, "output": "last"}, {"x": (4, 3)}),
    ("GRU", {"hidden_size": 3, "bidirectional": True}, {"x": (5, 2)}),
    ("SelfAttention", {"heads": 2, "causal": True}, {"x": (5, 8)}),
    ("CrossAttention", {"heads": 2}, {"x": (5, 8), "context": (3, 6)}),
    ("TransformerEncoderBlock", {"heads": 2, "feedforward": 16, "causal": True}, {"x": (5, 8)}),
    ("TransformerDecoderBlock", {"heads": 2, "feedforward": 16}, {"x": (5, 8), "memory": (3, 8)}),
    ("PositionalEncoding", {"max_length": 16}, {"x": (5, 7)}),
    ("PositionalEncoding", {"kind": "learned", "max_length": 9}, {"x": (5, 4)}),
]
IDS = [f"{t}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for t, p, _ in BLOCKS]


@pytest.fixture(scope="module", params=BLOCKS, ids=IDS)
def exported(request, registry):
    """(model, forward argument names, their shapes, torch.export program) for one block."""
    type_id, params, inputs = request.param
    compiled = compile_network(one_block_network(registry, type_id, params, inputs), registry, "Exported")
    info = compiled.network()
    model = getattr(load_source(compiled.source), info.class_name)().eval()
    shapes = [inputs[block.removeprefix("in_")] for block in info.input_blocks]
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(model, _sample(shapes, batch=2),
                                  dynamic_shapes=tuple({0: batch} for _ in shapes))
    return model, info.input_names, shapes, program


def _sample(shapes, batch):
    generator = torch.Generator().manual_seed(batch)
    return tuple(torch.randn(batch, *shape, generator=generator) for shape in shapes)


@pytest.mark.parametrize("batch", [1, 5])
def test_torch_export_matches_eager(exported, batch):
    model, _, shapes, program = exported
    args = _sample(shapes, batch)
    with torch.no_grad():
        expected = model(*args)
        actual = program.module()(*args)
    assert actual.shape == expected.shape and actual.shape[0] == batch
    assert torch.allclose(actual, expected, atol=1e-5)


def test_onnx_export_matches_eager(exported, tmp_path):
    model, names, shapes, program = exported
    path = tmp_path / "block.onnx"
    # torch.onnx warns that torchvision's ops are not registered; irrelevant here
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    # exporting the module itself (as runtime/export.py does) first runs the same torch.export
    # (non-strict) that made `program`; handing over the program saves tracing twice
    torch.onnx.export(program, (), str(path), dynamo=True, external_data=False, verbose=False,
                      input_names=names, output_names=["output"])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == names
    for size in (1, 5):
        args = _sample(shapes, size)
        (actual,) = session.run(None, {name: a.numpy() for name, a in zip(names, args)})
        with torch.no_grad():
            expected = model(*args)
        assert actual.shape == tuple(expected.shape)
        assert torch.allclose(torch.from_numpy(actual), expected, atol=1e-5)

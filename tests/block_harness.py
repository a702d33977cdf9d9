"""Builds a one-block network around a block under test and runs it in torch.

Used by the parametrised catalog test and the random-parameter property
test, so every block type goes through the same checks: inferred shape
equals torch's, declared parameter count equals torch's, code compiles.
"""

from __future__ import annotations

import torch

from graph.compiler import compile_network
from graph.model import Block, Edge, Network
from graph.spec import Registry
from graph.validate import analyse
from runtime.build import load_source
from tests.cases import Tokens

BATCH = 3


def input_block(block_id: str, shape) -> Block:
    if isinstance(shape, Tokens):
        return Block(block_id, "TokenInput", block_id, {"length": shape.length, "vocab_size": shape.vocab})
    if len(shape) == 1:
        return Block(block_id, "VectorInput", block_id, {"features": shape[0]})
    if len(shape) == 2:
        return Block(block_id, "SequenceInput", block_id, {"length": shape[0], "features": shape[1]})
    if len(shape) == 3:
        return Block(block_id, "ImageInput", block_id,
                     {"channels": shape[0], "height": shape[1], "width": shape[2]})
    raise ValueError(f"no input block for shape {shape}")


def one_block_network(registry: Registry, type_id: str, params: dict, inputs: dict) -> Network:
    spec = registry.get(type_id)
    net = Network("net")
    if spec.role == "input":
        net.add_block(Block("under_test", type_id, "under_test", dict(params)))
        net.add_block(Block("out", "Output", "out"))
        net.connect(Edge("under_test", "out", "x"))
        return net
    for port, shape in inputs.items():
        net.add_block(input_block(f"in_{port}", shape))
    net.add_block(Block("under_test", type_id, "under_test", dict(params)))
    for port in inputs:
        net.connect(Edge(f"in_{port}", "under_test", port))
    if spec.role != "head":
        net.add_block(Block("out", "Output", "out"))
        net.connect(Edge("under_test", "out", "x"))
    return net


def sample_input(shape, batch: int = BATCH) -> torch.Tensor:
    if isinstance(shape, Tokens):
        return torch.randint(0, shape.vocab, (batch, shape.length))
    return torch.randn(batch, *shape)


def run_block(registry: Registry, type_id: str, params: dict, inputs: dict):
    """(analysis, model, output tensor, inputs in forward order) for one block."""
    net = one_block_network(registry, type_id, params, inputs)
    analysis = analyse(net, registry)
    compiled = compile_network(net, registry, "BlockUnderTest")
    module = load_source(compiled.source)
    info = compiled.network()
    model = getattr(module, info.class_name)()
    by_block = {f"in_{p}": s for p, s in inputs.items()}
    if registry.get(type_id).role == "input":
        by_block = {"under_test": _input_shape_of(analysis)}
    args = [sample_input(by_block[b]) for b in info.input_blocks]
    torch.manual_seed(0)
    out = model(*args)
    return analysis, model, out, compiled


def _input_shape_of(analysis):
    block = analysis.network.blocks["under_test"]
    shape = analysis.shapes["under_test"]
    if block.type == "TokenInput":
        return Tokens(shape[0], block.params.get("vocab_size", 128))
    return shape

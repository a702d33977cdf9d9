"""Behaviour of the sequence blocks beyond shapes: causality, bidirectional "last", positional values.

Every model here is built from the compiler's generated code (the code a user
exports), not from the helper classes directly.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from graph.compiler import compile_network
from graph.model import Block, Edge
from graph.validate import analyse
from runtime.build import load_source
from tests.block_harness import one_block_network


def build_block_model(registry, type_id: str, params: dict, **inputs):
    """(model in eval mode, generated source) for one block wired to inputs of the given shapes."""
    net = one_block_network(registry, type_id, params, inputs)
    compiled = compile_network(net, registry, "BlockUnderTest")
    model = getattr(load_source(compiled.source), compiled.network().class_name)()
    return model.eval(), compiled.source


# --- causality: step t must not see steps after t ---

CAUSAL_BLOCKS = [
    ("SelfAttention", {"heads": 2, "causal": True}),
    ("TransformerEncoderBlock", {"heads": 2, "feedforward": 16, "causal": True}),
    ("TransformerEncoderBlock", {"heads": 2, "feedforward": 16, "causal": True, "norm_first": False}),
    ("TransformerDecoderBlock", {"heads": 2, "feedforward": 16}),  # causal by default
    ("TransformerDecoderBlock", {"heads": 2, "feedforward": 16, "norm_first": False}),
]
LENGTH, DIM, STEP = 6, 8, 2


def _inputs(type_id, batch=3):
    torch.manual_seed(1)
    x = torch.randn(batch, LENGTH, DIM)
    return (x, torch.randn(batch, 4, DIM)) if type_id == "TransformerDecoderBlock" else (x,)


def _with_future_changed(args):
    x = args[0].clone()
    x[:, STEP + 1:] = torch.randn_like(x[:, STEP + 1:]) * 3
    return (x, *args[1:])


def _block_inputs(type_id):
    shapes = {"x": (LENGTH, DIM)}
    if type_id == "TransformerDecoderBlock":
        shapes["memory"] = (4, DIM)
    return shapes


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize(("type_id", "params"), CAUSAL_BLOCKS, ids=[f"{t}-{p}" for t, p in CAUSAL_BLOCKS])
def test_causal_block_output_ignores_later_steps(registry, type_id, params, grad):
    # no_grad in eval mode takes torch's fused "fast path"; with grad the plain path: check both
    model, _ = build_block_model(registry, type_id, {**params, "dropout": 0.0}, **_block_inputs(type_id))
    args = _inputs(type_id)
    with torch.set_grad_enabled(grad):
        before = model(*args)
        after = model(*_with_future_changed(args))
    assert torch.allclose(before[:, : STEP + 1], after[:, : STEP + 1], atol=1e-5)
    assert not torch.allclose(before[:, STEP + 1:], after[:, STEP + 1:], atol=1e-3)


def test_causal_mask_also_holds_while_training(registry):
    model, _ = build_block_model(registry, "TransformerEncoderBlock",
                                 {"heads": 2, "feedforward": 16, "causal": True, "dropout": 0.0},
                                 x=(LENGTH, DIM))
    model.train()
    args = _inputs("TransformerEncoderBlock")
    before, after = model(*args), model(*_with_future_changed(args))
    assert torch.allclose(before[:, : STEP + 1], after[:, : STEP + 1], atol=1e-5)


@pytest.mark.parametrize(("type_id", "params"), [
    ("SelfAttention", {"heads": 2}),
    ("TransformerEncoderBlock", {"heads": 2, "feedforward": 16}),
    ("TransformerDecoderBlock", {"heads": 2, "feedforward": 16, "causal": False}),
])
def test_non_causal_block_sees_the_whole_sequence(registry, type_id, params):
    # the counterpart that shows the causality test can fail
    model, _ = build_block_model(registry, type_id, {**params, "dropout": 0.0}, **_block_inputs(type_id))
    args = _inputs(type_id)
    with torch.no_grad():
        before, after = model(*args), model(*_with_future_changed(args))
    assert not torch.allclose(before[:, 0], after[:, 0], atol=1e-4)


def test_decoder_sees_all_of_memory_at_the_first_step(registry):
    model, _ = build_block_model(registry, "TransformerDecoderBlock", {"heads": 2, "dropout": 0.0},
                                 x=(LENGTH, DIM), memory=(4, DIM))
    x, memory = _inputs("TransformerDecoderBlock")
    changed = memory.clone()
    changed[:, -1] += 5.0
    with torch.no_grad():
        assert not torch.allclose(model(x, memory)[:, 0], model(x, changed)[:, 0], atol=1e-4)


def test_causal_self_attention_equals_explicit_boolean_mask(registry):
    model, _ = build_block_model(registry, "SelfAttention", {"heads": 2, "causal": True}, x=(LENGTH, DIM))
    attention = model.under_test.attention
    (x,) = _inputs("SelfAttention")
    future = torch.triu(torch.ones(LENGTH, LENGTH, dtype=torch.bool), diagonal=1)  # True: hidden
    expected, _ = attention(x, x, x, attn_mask=future, need_weights=False)
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-5)


# --- recurrent "last" output ---

RECURRENT = [(kind, layers, both)
             for kind in ("RNN", "LSTM", "GRU") for layers in (1, 2) for both in (False, True)]


@pytest.mark.parametrize(("kind", "layers", "bidirectional"), RECURRENT,
                         ids=[f"{k}-{n}layers-{'bi' if b else 'uni'}" for k, n, b in RECURRENT])
def test_last_output_is_the_final_state_of_each_direction(registry, kind, layers, bidirectional):
    hidden, shape = 5, (7, 3)
    params = {"hidden_size": hidden, "num_layers": layers, "bidirectional": bidirectional}
    last_model, _ = build_block_model(registry, kind, {**params, "output": "last"}, x=shape)
    sequence_model, _ = build_block_model(registry, kind, {**params, "output": "sequence"}, x=shape)
    sequence_model.load_state_dict(last_model.state_dict())
    x = torch.randn(4, *shape)
    with torch.no_grad():
        last, steps = last_model(x), sequence_model(x)
    if bidirectional:
        # forward direction finishes at the last step, the backward direction at the first
        expected = torch.cat([steps[:, -1, :hidden], steps[:, 0, hidden:]], dim=1)
    else:
        expected = steps[:, -1]
    assert last.shape == (4, hidden * (2 if bidirectional else 1))
    assert torch.allclose(last, expected, atol=1e-6)


def test_bidirectional_last_differs_from_the_last_output_step(registry):
    # guards against the tempting but wrong output[:, -1] for bidirectional blocks
    params = {"hidden_size": 4, "bidirectional": True}
    last_model, _ = build_block_model(registry, "GRU", {**params, "output": "last"}, x=(6, 2))
    sequence_model, _ = build_block_model(registry, "GRU", {**params, "output": "sequence"}, x=(6, 2))
    sequence_model.load_state_dict(last_model.state_dict())
    x = torch.randn(2, 6, 2)
    with torch.no_grad():
        assert not torch.allclose(last_model(x), sequence_model(x)[:, -1], atol=1e-4)


# --- positional encodings ---

@pytest.mark.parametrize("dim", [8, 5])
def test_sinusoidal_encoding_matches_the_formula(registry, dim):
    length = 12
    model, _ = build_block_model(registry, "PositionalEncoding", {"max_length": 50}, x=(length, dim))
    x = torch.randn(2, length, dim)
    with torch.no_grad():
        added = model(x) - x
    assert torch.allclose(added[0], added[1], atol=1e-6)  # the same signal for every sample
    for position in (0, 1, 7, 11):
        for feature in range(dim):
            angle = position / 10000 ** ((feature - feature % 2) / dim)
            expected = math.sin(angle) if feature % 2 == 0 else math.cos(angle)
            assert added[0, position, feature].item() == pytest.approx(expected, abs=1e-5)


def test_sinusoidal_table_is_not_saved_with_the_weights(registry):
    model, _ = build_block_model(registry, "PositionalEncoding", {}, x=(4, 6))
    assert list(model.state_dict()) == []
    assert sum(p.numel() for p in model.parameters()) == 0


def test_learned_encoding_adds_one_trained_vector_per_position(registry):
    model, _ = build_block_model(registry, "PositionalEncoding", {"kind": "learned", "max_length": 9},
                                 x=(5, 3))
    table = model.under_test.table
    assert isinstance(table, nn.Parameter) and table.shape == (9, 3)
    with torch.no_grad():
        table.copy_(torch.arange(27.0).reshape(9, 3))
        out = model(torch.zeros(2, 5, 3))
    assert torch.equal(out[1], torch.arange(15.0).reshape(5, 3))


# --- generated code reads like hand-written code ---

@pytest.mark.parametrize(("type_id", "params", "inputs", "expected"), [
    ("LSTM", {}, {"x": (5, 3)}, "nn.LSTM(3, 64, batch_first=True)"),
    ("GRU", {"hidden_size": 8, "num_layers": 2, "dropout": 0.25, "bidirectional": True, "output": "last"},
     {"x": (5, 3)}, "nn.GRU(3, 8, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)"),
    ("RNN", {"hidden_size": 4, "nonlinearity": "relu"}, {"x": (5, 3)},
     "nn.RNN(3, 4, nonlinearity='relu', batch_first=True)"),
    ("LSTM", {"hidden_size": 4, "bidirectional": True, "output": "last"}, {"x": (5, 3)},
     "self.under_test(in_x)[1][0][-2:].transpose(0, 1).flatten(1)"),
    ("SelfAttention", {"heads": 2}, {"x": (5, 8)}, "SelfAttention(8, 2)"),
    ("SelfAttention", {"heads": 2, "causal": True, "dropout": 0.1}, {"x": (5, 8)},
     "SelfAttention(8, 2, dropout=0.1, causal=True)"),
    ("CrossAttention", {"heads": 2}, {"x": (5, 8), "context": (3, 8)}, "CrossAttention(8, 2)"),
    ("CrossAttention", {"heads": 2}, {"x": (5, 8), "context": (3, 6)}, "CrossAttention(8, 2, context_dim=6)"),
    ("TransformerEncoderBlock", {"heads": 2}, {"x": (5, 8)}, "TransformerEncoderBlock(8, 2, 256)"),
    ("TransformerEncoderBlock", {"heads": 2, "dropout": 0.0, "causal": True, "norm_first": False},
     {"x": (5, 8)}, "TransformerEncoderBlock(8, 2, 256, dropout=0.0, causal=True, norm_first=False)"),
    ("TransformerDecoderBlock", {"heads": 2, "causal": False}, {"x": (5, 8), "memory": (3, 8)},
     "TransformerDecoderBlock(8, 2, 256, causal=False)"),
    ("PositionalEncoding", {}, {"x": (5, 8)}, "SinusoidalPositionalEncoding(8)"),
    ("PositionalEncoding", {"kind": "learned", "max_length": 64}, {"x": (5, 8)},
     "LearnedPositionalEncoding(8, max_length=64)"),
])
def test_generated_code_passes_only_non_default_arguments(registry, type_id, params, inputs, expected):
    _, source = build_block_model(registry, type_id, params, **inputs)
    assert expected in source


# --- quick fixes: inserting the suggested block with its parameters repairs the network ---

@pytest.mark.parametrize(("type_id", "params", "inputs", "fix"), [
    ("LSTM", {}, {"x": (12,)}, ("Reshape", {"shape": (12, 1)})),
    ("GRU", {}, {"x": (1, 6, 5)}, ("Reshape", {"shape": (6, 5)})),
    ("SelfAttention", {"heads": 3}, {"x": (4, 3, 3)}, ("Reshape", {"shape": (4, 9)})),
    ("TransformerDecoderBlock", {"heads": 2}, {"x": (5, 8), "memory": (3, 6)},
     ("Linear", {"features": 8})),
])
def test_suggested_fix_repairs_the_network(registry, type_id, params, inputs, fix):
    net = one_block_network(registry, type_id, params, inputs)
    (error,) = [d for d in analyse(net, registry).diagnostics if d.block == "under_test"]
    assert (error.fix.block_type, dict(error.fix.params)) == fix
    wire = error.fix.edge
    net.disconnect(wire)
    net.add_block(Block("fix", fix[0], "fix", dict(error.fix.params)))
    net.connect(Edge(wire.src, "fix", "x"))
    net.connect(Edge("fix", wire.dst, wire.dst_port))
    repaired = analyse(net, registry)
    assert repaired.ok, [d.message for d in repaired.diagnostics]

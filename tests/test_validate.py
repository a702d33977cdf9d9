"""Validation: each kind of problem becomes one diagnostic naming the block, in plain words."""

import pytest

from graph.diagnostics import ERROR, WARNING
from graph.model import Block, Edge, Network
from graph.validate import AnalysisCache, analyse


def _chain(*blocks, wires=None):
    net = Network("net")
    for b in blocks:
        net.add_block(b)
    ids = [b.id for b in blocks]
    for src, dst, port in wires if wires is not None else [(s, d, "x") for s, d in zip(ids, ids[1:])]:
        net.connect(Edge(src, dst, port))
    return net


def _codes(analysis):
    return sorted((d.code, d.severity, d.block) for d in analysis.diagnostics)


def image(bid="img"):
    return Block(bid, "ImageInput", "image", {"channels": 16, "height": 5, "width": 5})


def test_valid_network_has_no_problems_and_shapes(registry):
    net = _chain(image(), Block("f", "Flatten", "flat"), Block("l", "Linear", "fc", {"features": 10}),
                 Block("h", "ClassificationHead", "out", {"classes": 10}))
    analysis = analyse(net, registry)
    assert analysis.ok and analysis.diagnostics == []
    assert analysis.shapes == {"img": (16, 5, 5), "f": (400,), "l": (10,), "h": (10,)}


def test_linear_on_an_image_suggests_flatten_as_a_quick_fix(registry):
    net = _chain(image(), Block("l", "Linear", "fc1", {"features": 10}),
                 Block("h", "ClassificationHead", "out", {"classes": 10}))
    (diag,) = analyse(net, registry).diagnostics
    assert diag.code == "shape" and diag.block == "l" and diag.port == "x"
    assert diag.message == ("Linear 'fc1' expects a flat (B, F) input or a sequence (B, T, F) "
                            "but receives (B, 16, 5, 5): insert Flatten")
    assert diag.fix.block_type == "Flatten" and diag.fix.edge == Edge("img", "l", "x")


def test_one_mistake_gives_one_message_not_a_cascade(registry):
    net = _chain(image(), Block("l", "Linear", "fc1", {"features": 10}), Block("r", "ReLU", "act"),
                 Block("l2", "Linear", "fc2", {"features": 10}),
                 Block("h", "ClassificationHead", "out", {"classes": 10}))
    errors = [d for d in analyse(net, registry).diagnostics if d.severity == ERROR]
    assert [d.block for d in errors] == ["l"]


def test_cycle_unconnected_and_missing_head(registry):
    net = _chain(Block("v", "VectorInput", "v", {"features": 3}),
                 Block("a", "Add", "add"), Block("r", "ReLU", "act"),
                 wires=[("v", "a", "in1"), ("a", "r", "x"), ("r", "a", "in2")])
    codes = _codes(analyse(net, registry))
    assert ("cycle", ERROR, "a") in codes and ("cycle", ERROR, "r") in codes
    assert ("no_head", ERROR, None) in codes
    net2 = _chain(Block("v", "VectorInput", "v", {"features": 3}), Block("a", "Add", "add"),
                  Block("o", "Output", "o"), wires=[("v", "a", "in1"), ("a", "o", "x")])
    (diag,) = analyse(net2, registry).diagnostics
    assert diag.code == "unconnected" and diag.port == "in2"
    assert "input 'in2' is not connected" in diag.message


def test_unreachable_unused_duplicate_names_and_bad_params(registry):
    net = _chain(Block("v", "VectorInput", "v", {"features": 3}), Block("l", "Linear", "fc", {"features": 0}),
                 Block("o", "Output", "o"))
    net.add_block(Block("lonely", "ReLU", "fc"))  # same name as the Linear, wired to nothing
    net.add_block(Block("side", "ReLU", "side"))
    net.connect(Edge("v", "side", "x"))
    codes = _codes(analyse(net, registry))
    assert ("param", ERROR, "l") in codes
    assert ("unreachable", WARNING, "lonely") in codes
    assert ("unused", WARNING, "side") in codes
    assert ("duplicate_name", WARNING, "lonely") in codes
    param = next(d for d in analyse(net, registry).diagnostics if d.code == "param")
    assert param.param == "features" and "'features' must be between 1 and" in param.message


def test_unknown_type_no_input_and_empty(registry):
    net = _chain(Block("x", "Conv9d", "weird"), Block("o", "Output", "o"))
    codes = _codes(analyse(net, registry))
    assert ("unknown_type", ERROR, "x") in codes and ("no_input", ERROR, None) in codes
    assert [d.code for d in analyse(Network("e"), registry).diagnostics] == ["empty"]


def test_disabled_block_passes_its_input_through(registry):
    net = _chain(Block("v", "VectorInput", "v", {"features": 3}), Block("l", "Linear", "fc", {"features": 8}),
                 Block("o", "Output", "o"))
    net.set_enabled("l", False)
    analysis = analyse(net, registry)
    assert analysis.ok and analysis.shapes["o"] == (3,)


def test_cache_gives_the_same_answers_after_edits(registry):
    net = _chain(image(), Block("f", "Flatten", "flat"), Block("l", "Linear", "fc", {"features": 10}),
                 Block("h", "ClassificationHead", "out", {"classes": 10}))
    cache = AnalysisCache()
    for features in (10, 7, 10, 7):
        net.set_param("l", "features", features)
        cached, fresh = analyse(net, registry, cache), analyse(net, registry)
        assert cached.shapes == fresh.shapes and cached.diagnostics == fresh.diagnostics
    net.disconnect(Edge("f", "l", "x"))
    assert analyse(net, registry, cache).diagnostics == analyse(net, registry).diagnostics


def _residual_with(registry, branch_channels: int):
    net = _chain(image(), Block("c", "Conv2d", "conv", {"channels": branch_channels, "kernel_size": 3,
                                                         "padding": 1}),
                 Block("add", "Add", "skip"), Block("o", "Output", "o"),
                 wires=[("img", "c", "x"), ("img", "add", "in1"), ("c", "add", "in2"), ("add", "o", "x")])
    return net


def test_branches_with_other_channels_get_a_1x1_conv_quick_fix(registry):
    net = _residual_with(registry, 8)
    (diag,) = analyse(net, registry).diagnostics
    assert diag.block == "add" and diag.port == "in2"
    assert "give this branch 16 channels" in diag.message
    fix = diag.fix
    assert (fix.block_type, dict(fix.params), fix.edge) == (
        "Conv2d", {"channels": 16, "kernel_size": 1}, Edge("c", "add", "in2"))
    # applying it as the studio does (a block spliced into the wire) repairs the network
    net.disconnect(fix.edge)
    net.add_block(Block("fix", fix.block_type, "match", dict(fix.params)))
    net.connect(Edge("c", "fix", "x"))
    net.connect(Edge("fix", "add", "in2"))
    assert analyse(net, registry).ok


def test_vectors_with_other_widths_get_a_linear_quick_fix(registry):
    net = _chain(Block("v", "VectorInput", "v", {"features": 6}), Block("l", "Linear", "fc", {"features": 4}),
                 Block("add", "Add", "skip"), Block("o", "Output", "o"),
                 wires=[("v", "l", "x"), ("v", "add", "in1"), ("l", "add", "in2"), ("add", "o", "x")])
    (diag,) = analyse(net, registry).diagnostics
    assert diag.fix.block_type == "Linear" and dict(diag.fix.params) == {"features": 6}


def test_different_sizes_get_advice_but_no_fake_fix(registry):
    net = _chain(image(), Block("p", "MaxPool2d", "pool", {"kernel_size": 2}), Block("add", "Add", "skip"),
                 Block("o", "Output", "o"),
                 wires=[("img", "p", "x"), ("img", "add", "in1"), ("p", "add", "in2"), ("add", "o", "x")])
    (diag,) = analyse(net, registry).diagnostics
    assert diag.fix is None and "match the channels/sizes" in diag.message


def _seq(length=20, features=6):
    return Block("seq", "SequenceInput", "seq", {"length": length, "features": features})


@pytest.mark.parametrize("blocks, culprit, wanted", [
    # each message says "set P to V": the diagnostic carries that as a one-click fix
    ([_seq(features=6), Block("att", "SelfAttention", "att", {"heads": 4})], "att", {"heads": 3}),
    ([_seq(length=40), Block("pos", "PositionalEncoding", "pos", {"max_length": 16})], "pos",
     {"max_length": 40}),
    ([_seq(), Block("rnn", "LSTM", "rnn", {"dropout": 0.5})], "rnn", {"dropout": 0.0}),
    ([image(), Block("conv", "Conv2d", "conv", {"padding": "same", "stride": 2, "kernel_size": 3})], "conv",
     {"padding": 1}),
    ([Block("tok", "TokenInput", "tok", {"length": 8, "vocab_size": 100}),
      Block("emb", "Embedding", "emb", {"vocab_size": 50})], "emb", {"vocab_size": 100}),
])
def test_an_error_that_names_its_repair_carries_it_as_a_fix_that_works(registry, blocks, culprit, wanted):
    net = _chain(*blocks)
    [diag] = [d for d in analyse(net, registry).diagnostics if d.block == culprit]
    assert diag.is_error and diag.fix is not None and diag.fix.sets_params
    assert (diag.fix.block, dict(diag.fix.params)) == (culprit, wanted)
    for name, value in diag.fix.params:
        net.set_param(culprit, name, value)
    assert not [d for d in analyse(net, registry).diagnostics if d.block == culprit and d.is_error]

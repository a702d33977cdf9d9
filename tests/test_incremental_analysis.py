"""Re-analysis that starts at the edited blocks gives exactly what analysing from scratch gives.

The studio's Document keeps an AnalysisCache that follows edits (graph/validate.py):
after a settings, name or switch edit, inference visits the edited blocks and then
only blocks whose inputs changed. Random networks (valid ones, so shapes flow far,
and arbitrary ones, full of errors) take random sequences of edits; after each, the
incremental analysis must equal a fresh one in every shape, input, parameter and
diagnostic, and say which blocks it visited.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.blocks import default_registry
from graph.model import Edge
from graph.validate import AnalysisCache, analyse
from tests.strategies import graph_networks, names, networks, param_values

REGISTRY = default_registry()


def _same(incremental, fresh) -> None:
    assert incremental.shapes == fresh.shapes
    assert incremental.inference.inputs == fresh.inference.inputs
    assert incremental.inference.params == fresh.inference.params
    assert incremental.diagnostics == fresh.diagnostics


@st.composite
def _edits(draw, net):
    """A list of edits to apply: (kind, block id, value)."""
    ids = list(net.blocks)
    edits = []
    if not ids:
        return edits
    for _ in range(draw(st.integers(1, 6))):
        bid = draw(st.sampled_from(ids))
        block = net.blocks[bid]
        spec = REGISTRY.get(block.type) if block.type in REGISTRY else None
        kind = draw(st.sampled_from(["param", "param", "param", "rename", "enable", "wire"]))
        if kind == "param" and spec is not None and spec.params:
            param = draw(st.sampled_from(spec.params))
            edits.append(("param", bid, (param.name, draw(param_values(param)))))
        elif kind == "rename":
            edits.append(("rename", bid, draw(st.one_of(names(), st.sampled_from([b.name for b in
                                                                                 net.blocks.values()])))))
        elif kind == "enable":
            edits.append(("enable", bid, not block.enabled))
        elif kind == "wire" and net.edges:
            edits.append(("unwire", bid, draw(st.sampled_from(net.edges))))
    return edits


def _apply(net, kind, bid, value) -> None:
    if kind == "param":
        net.set_param(bid, *value)
    elif kind == "rename":
        net.rename_block(bid, value)
    elif kind == "enable":
        net.set_enabled(bid, value)
    elif kind == "unwire" and value in net.edges:
        net.disconnect(value)


def _check(data, net) -> None:
    cache = AnalysisCache(follows_edits=True)
    net.subscribe(cache.note)
    first = analyse(net, REGISTRY, cache)
    assert first.changed is None  # the first analysis visits everything
    _same(first, analyse(net, REGISTRY))
    for _round in range(data.draw(st.integers(1, 4))):
        for kind, bid, value in data.draw(_edits(net)):
            _apply(net, kind, bid, value)
        incremental = analyse(net, REGISTRY, cache)
        _same(incremental, analyse(net, REGISTRY))
        if incremental.changed is not None:  # only a wire edit (structure) visits everything again
            assert incremental.changed <= set(net.blocks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_analysis_of_valid_networks_equals_a_fresh_one(data):
    _check(data, data.draw(graph_networks(REGISTRY)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_analysis_of_arbitrary_networks_equals_a_fresh_one(data):
    _check(data, data.draw(networks(REGISTRY)))


def test_an_edit_visits_only_the_blocks_it_reaches():
    from bench.bench_canvas import residual_cnn

    net = residual_cnn(400)
    cache = AnalysisCache(follows_edits=True)
    net.subscribe(cache.note)
    analyse(net, REGISTRY, cache)
    net.set_param("norm10", "eps", 1e-3)  # no shape changes: BatchNorm 10 alone is visited
    assert analyse(net, REGISTRY, cache).changed == {"norm10"}
    net.set_param("conv90", "channels", 16)  # breaks the Add after it: everything after turns unknown
    after = analyse(net, REGISTRY, cache)
    _same(after, analyse(net, REGISTRY))
    assert "conv90" in after.changed and "head" in after.changed and "conv10" not in after.changed
    assert after.shapes["head"] is None and any(d.block == "add90" for d in after.diagnostics)
    net.set_param("conv90", "channels", 32)  # and back
    back = analyse(net, REGISTRY, cache)
    assert back.shapes["head"] == (10,) and not [d for d in back.diagnostics if d.is_error]
    net.disconnect(Edge("logits", "head", "x"))
    assert analyse(net, REGISTRY, cache).changed is None  # a structure edit: a full analysis


def test_instances_of_definitions_follow_edits_of_their_values_and_of_the_definition():
    from tests.definition_support import resnet_project

    project = resnet_project()
    net = project.network()
    cache = AnalysisCache(follows_edits=True)
    net.subscribe(cache.note)
    analyse(net, REGISTRY, cache)
    net.set_param("l2_1", "channels", 8)  # an instance's exposed value: breaks the width after it
    after = analyse(net, REGISTRY, cache)
    _same(after, analyse(net, REGISTRY))
    assert after.changed is not None and "l2_1" in after.changed and "conv1" not in after.changed
    net.set_param("l2_1", "channels", 16)
    assert analyse(net, REGISTRY, cache).shapes["head"] == (10,)
    # the definition's body changed: no event of the network says so, its stamp does
    project.definitions.get("BasicBlock").body.set_param("conv2", "kernel_size", 5)
    changed = analyse(net, REGISTRY, cache)
    assert changed.changed is None  # every instance is analysed again
    _same(changed, analyse(net, REGISTRY))
    assert changed.shapes["head"] is None and any(d.block == "l1_0" for d in changed.diagnostics)

"""The editable model: mutations, invariants and change events (only on real change)."""

import pytest

from graph.model import Block, Edge, ModelError, Network


def _net():
    net = Network("n")
    net.add_block(Block("a", "VectorInput", "inp", {"features": 4}))
    net.add_block(Block("b", "Linear", "fc", {"features": 2, "bias": True}))
    return net


def test_events_fire_once_per_real_change():
    net = _net()
    seen = []
    net.subscribe(seen.append)
    net.set_param("b", "features", 2)  # same value: no event
    net.move_block("b", (0, 0))  # same position: no event
    net.rename_block("b", "fc")
    net.set_enabled("b", True)
    assert seen == []
    net.set_param("b", "features", 3)
    net.move_block("b", (10, 5))
    net.connect(Edge("a", "b", "x"))
    assert [c.kind for c in seen] == ["param_changed", "block_moved", "edge_added"]
    assert net.block("b").position == (10.0, 5.0)


def test_structure_revision_moves_only_for_blocks_and_wires():
    net = _net()
    before = net.structure_revision
    net.set_param("b", "features", 5)
    net.move_block("a", (1, 1))
    assert net.structure_revision == before
    net.connect(Edge("a", "b", "x"))
    assert net.structure_revision == before + 1


def test_invariants_are_enforced():
    net = _net()
    net.connect(Edge("a", "b", "x"))
    with pytest.raises(ModelError, match="already"):
        net.connect(Edge("a", "b", "x"))
    with pytest.raises(ModelError, match="still has wires"):
        net.remove_block("a")
    with pytest.raises(ModelError, match="no block"):
        net.connect(Edge("a", "zzz", "x"))
    with pytest.raises(ModelError, match="already exists"):
        net.add_block(Block("a", "ReLU", "r"))


def test_removal_returns_what_undo_needs_to_restore_order():
    net = _net()
    net.add_block(Block("c", "ReLU", "act"))
    net.connect(Edge("a", "b", "x"))
    net.connect(Edge("b", "c", "x"))
    index = net.disconnect(Edge("a", "b", "x"))
    position = net.index_of("a")
    block = net.remove_block("a")
    net.add_block(block, index=position)
    net.connect(Edge("a", "b", "x"), index=index)
    assert list(net.blocks) == ["a", "b", "c"]
    assert net.edges == [Edge("a", "b", "x"), Edge("b", "c", "x")]


def test_copy_is_deep_and_equal():
    net = _net()
    twin = net.copy()
    assert twin == net
    twin.set_param("b", "features", 9)
    assert twin != net
    assert net.block("b").params["features"] == 2

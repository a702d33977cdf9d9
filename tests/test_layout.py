"""Auto layout (graph/layout.py): columns follow the data, few crossings, loops and islands handled."""

import time

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings

from graph.blocks import default_registry
from graph.examples import list_examples
from graph.layout import layered_layout
from graph.model import Block, Edge, ModelError, Network
from graph.project_io import load_project
from tests import strategies

DX, DY = 240.0, 140.0


def chain_network(*ids: str, edges=()) -> Network:
    """Blocks named by their ids; each wire into a block takes its next port (in1, in2...)."""
    blocks = [Block(bid, "Add", bid, {}, (0.0, 0.0)) for bid in ids]
    ports: dict[str, int] = {}
    wires = []
    for a, b in edges:
        ports[b] = ports.get(b, 0) + 1
        wires.append(Edge(a, b, f"in{ports[b]}"))
    return Network("net", blocks, wires)


def test_chain_runs_left_to_right_in_one_row_from_the_top_left_corner():
    net = chain_network("a", "b", "c", edges=[("a", "b"), ("b", "c")])
    net.blocks["a"].position = (100.0, 50.0)
    net.blocks["b"].position = (400.0, 300.0)
    net.blocks["c"].position = (900.0, -20.0)
    pos = layered_layout(net)
    assert pos == {"a": (100.0, -20.0), "b": (340.0, -20.0), "c": (580.0, -20.0)}


def test_spacing_is_honoured():
    net = chain_network("a", "b", edges=[("a", "b")])
    assert layered_layout(net, spacing=(300, 90)) == {"a": (0.0, 0.0), "b": (300.0, 0.0)}


def test_block_sits_right_of_everything_feeding_it_even_through_long_paths():
    # a -> b -> c -> d and a -> d: d must be in column 3, not 1
    net = chain_network("a", "b", "c", "d", edges=[("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    pos = layered_layout(net)
    assert [pos[b][0] for b in "abcd"] == [0.0, DX, 2 * DX, 3 * DX]


def test_branches_are_stacked_and_short_columns_centred():
    # a feeds b and c, both feed d (a residual-like diamond)
    net = chain_network("a", "b", "c", "d", edges=[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    pos = layered_layout(net)
    assert pos["b"][0] == pos["c"][0] == DX
    assert abs(pos["b"][1] - pos["c"][1]) == DY
    assert pos["a"][1] == pos["d"][1] == DY / 2  # centred between the two branches


def test_ordering_within_a_column_removes_an_avoidable_crossing():
    # canvas order puts c above d, but c is fed by the lower input: swapping avoids a crossing
    net = chain_network("a", "b", "c", "d", "j", edges=[("a", "d"), ("b", "c"), ("c", "j"), ("d", "j")])
    pos = layered_layout(net)
    assert pos["a"][1] < pos["b"][1]
    assert pos["d"][1] < pos["c"][1], "d (fed by the upper input) should be above c"


def test_loop_blocks_come_after_the_blocks_leading_into_them():
    # a -> b -> c -> b (a loop) -> d; and a self-loop on e fed by d
    net = chain_network("a", "b", "c", "d", "e",
                        edges=[("a", "b"), ("b", "c"), ("c", "b"), ("c", "d"), ("d", "e"), ("e", "e")])
    pos = layered_layout(net)
    assert set(pos) == set("abcde")
    xs = {b: pos[b][0] for b in pos}
    assert xs["a"] < xs["b"] < xs["c"] < xs["d"] < xs["e"]
    assert len(set(pos.values())) == 5


def test_a_pure_loop_without_any_start_is_still_laid_out():
    net = chain_network("a", "b", "c", edges=[("a", "b"), ("b", "c"), ("c", "a")])
    pos = layered_layout(net)
    assert sorted(x for x, _ in pos.values()) == [0.0, DX, 2 * DX]


def test_unconnected_parts_are_stacked_below_each_other():
    net = chain_network("a", "b", "p", "q", "r", "lonely",
                        edges=[("a", "b"), ("p", "q"), ("p", "r")])
    pos = layered_layout(net)
    assert pos["a"] == (0.0, 0.0) and pos["b"] == (DX, 0.0)
    top_of_second = min(pos[b][1] for b in "pqr")
    assert top_of_second == DY  # right below the one-row first part
    assert pos["lonely"] == (0.0, top_of_second + 2 * DY)  # below the two-row second part


def test_a_selection_is_laid_out_alone_where_it_is():
    net = chain_network("a", "b", "c", "d", edges=[("a", "b"), ("b", "c"), ("c", "d")])
    for i, bid in enumerate("abcd"):
        net.blocks[bid].position = (1000.0 - 100 * i, 500.0 + 30 * i)
    pos = layered_layout(net, ["c", "b"])
    assert set(pos) == {"b", "c"}
    assert pos["b"] == (800.0, 530.0)  # the selection's own top-left corner
    assert pos["c"] == (800.0 + DX, 530.0)


def test_unknown_block_is_refused_and_nothing_gives_nothing():
    net = chain_network("a")
    with pytest.raises(ModelError, match="nope"):
        layered_layout(net, ["a", "nope"])
    assert layered_layout(net, []) == {}
    assert layered_layout(Network("empty")) == {}


@pytest.mark.parametrize("example", list_examples(), ids=lambda e: e.name)
def test_examples_flow_left_to_right_without_overlaps(example, registry):
    for net in load_project(example.path, registry).networks:
        pos = layered_layout(net)
        assert set(pos) == set(net.blocks)
        assert len(set(pos.values())) == len(pos)
        for edge in net.edges:
            assert pos[edge.src][0] < pos[edge.dst][0], edge


def _distinct_start(net: Network) -> Network:
    for block in net.blocks.values():
        block.position = (0.0, 0.0)
    return net


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=strategies.networks(default_registry(), max_blocks=14))
def test_random_networks_every_wire_outside_a_loop_goes_right(net):
    net = _distinct_start(net)
    pos = layered_layout(net)
    assert set(pos) == set(net.blocks)
    assert len(set(pos.values())) == len(pos)
    graph = nx.DiGraph([(e.src, e.dst) for e in net.edges])
    for edge in net.edges:
        if not nx.has_path(graph, edge.dst, edge.src):  # not closing a loop
            assert pos[edge.src][0] < pos[edge.dst][0], edge


def test_thousand_blocks_lay_out_quickly():
    ids = [f"b{i}" for i in range(1000)]
    # a long chain with a skip wire every few blocks, like a deep residual network
    edges = [(ids[i], ids[i + 1]) for i in range(999)]
    blocks = [Block(bid, "Add", bid, {}, (0.0, 0.0)) for bid in ids]
    wires = [Edge(a, b, "in1") for a, b in edges]
    wires += [Edge(ids[i], ids[i + 3], "in2") for i in range(0, 996, 3)]
    net = Network("deep", blocks, wires)
    start = time.perf_counter()
    pos = layered_layout(net)
    elapsed = time.perf_counter() - start
    assert len(pos) == 1000 and pos["b999"][0] == 999 * DX
    assert elapsed < 1.0, f"layout of 1,000 blocks took {elapsed:.2f} s"


def test_a_chain_wider_than_max_width_wraps_into_bands_like_text():
    ids = [f"n{i}" for i in range(7)]
    net = chain_network(*ids, edges=list(zip(ids, ids[1:])))
    pos = layered_layout(net, max_width=2 * DX)  # three columns per band
    assert [pos[i] for i in ids] == [(0.0, 0.0), (DX, 0.0), (2 * DX, 0.0),
                                     (0.0, DY), (DX, DY), (2 * DX, DY),
                                     (0.0, 2 * DY)]
    assert layered_layout(net) == {bid: (i * DX, 0.0) for i, bid in enumerate(ids)}  # no limit: one row


def test_wrapped_bands_are_as_tall_as_their_tallest_column():
    net = chain_network("a", "b", "c", "d", edges=[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    pos = layered_layout(net, max_width=DX)  # two columns per band: [a | b c] then [d]
    assert pos["a"][1] == DY / 2 and {pos["b"][1], pos["c"][1]} == {0.0, DY}
    assert pos["d"] == (0.0, 2 * DY)

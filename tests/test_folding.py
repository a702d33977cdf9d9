"""Folding runs (graph/folding.py): which chains of instances of one definition fold, and which stay open."""

import time

from graph.definitions import registry_for
from graph.folding import (
    DEFAULT_MIN_RUN,
    FOLD_ABOVE,
    Run,
    choose,
    default_choices,
    find_runs,
    folded_runs,
    is_folded,
)
from graph.model import Block, Definition, Definitions, Edge, Group, Network, Project
from graph.project_io import dumps_project
from graph.validate import analyse
from tests.definition_support import chain
from tests.fold_support import residual_chain_project, residual_ids


def stage(name: str = "Stage") -> Definition:
    body = Network(name)
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("act", "ReLU", "act"))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "act", "out"])
    return Definition(name, body)


def mix() -> Definition:
    """Two inputs added together: a chain of these folds only when both inputs come from the one before."""
    body = Network("Mix")
    for bid, kind in (("a", "PortInput"), ("b", "PortInput"), ("add", "Add"), ("out", "PortOutput")):
        body.add_block(Block(bid, kind, bid))
    body.connect(Edge("a", "add", "in1"))
    body.connect(Edge("b", "add", "in2"))
    body.connect(Edge("add", "out", "x"))
    return Definition("Mix", body)


def split() -> Definition:
    """Two outputs: never folds (a card has one output)."""
    body = Network("Split")
    for bid, kind in (("x", "PortInput"), ("o1", "PortOutput"), ("o2", "PortOutput")):
        body.add_block(Block(bid, kind, bid))
    body.connect(Edge("x", "o1", "x"))
    body.connect(Edge("x", "o2", "x"))
    return Definition("Split", body)


def network(types: list[str], *definitions: Definition) -> Network:
    """image -> one block per type (ids s1, s2, ...) in a chain -> ReLU "end"."""
    net = Network("model")
    net.add_block(Block("in", "ImageInput", "image", {"channels": 3, "height": 8, "width": 8}))
    ids = [f"s{i}" for i in range(1, len(types) + 1)]
    for bid, kind in zip(ids, types):
        net.add_block(Block(bid, kind, bid))
    net.add_block(Block("end", "ReLU", "end"))
    chain(net, ["in", *ids, "end"])
    Project("p", [net], definitions=Definitions(list(definitions) or [stage()]))
    return net


def blocks_of(runs: list[Run]) -> list[tuple[str, ...]]:
    return [run.blocks for run in runs]


def test_a_chain_of_instances_is_one_run_in_chain_order():
    net = network(["Stage"] * 4)
    runs = find_runs(net)
    assert blocks_of(runs) == [("s1", "s2", "s3", "s4")]
    assert (runs[0].definition, runs[0].head, runs[0].tail, len(runs[0])) == ("Stage", "s1", "s4", 4)


def test_a_single_instance_and_plain_blocks_make_no_run():
    assert find_runs(network(["Stage"])) == []
    assert find_runs(network(["ReLU", "ReLU", "ReLU"])) == []  # not instances of a definition
    plain = Network("alone")  # no definitions at all
    plain.add_block(Block("a", "ReLU", "a"))
    assert find_runs(plain) == []


def test_a_branch_out_of_the_middle_breaks_the_run_there():
    net = network(["Stage"] * 4)
    net.add_block(Block("side", "ReLU", "side"))
    net.connect(Edge("s2", "side", "x"))  # s2 also feeds another block: s2 -> s3 is no longer private
    assert blocks_of(find_runs(net)) == [("s1", "s2"), ("s3", "s4")]


def test_a_second_input_from_outside_breaks_the_run_and_one_from_inside_does_not():
    net = network(["Mix"] * 3, mix())
    for a, b in (("in", "s1"), ("s1", "s2"), ("s2", "s3")):  # network() wired port "x", Mix has a and b
        net.disconnect(Edge(a, b, "x"))
        net.connect(Edge(a, b, "a"))
    net.connect(Edge("in", "s1", "b"))
    net.connect(Edge("s1", "s2", "b"))  # both inputs of s2 come from s1
    net.connect(Edge("in", "s3", "b"))  # s3 also reads the image
    assert blocks_of(find_runs(net)) == [("s1", "s2")]
    assert not [d for d in analyse(net, registry_for(net, _registry())).diagnostics if d.block]


def test_mixed_definitions_fold_separately():
    net = network(["Stage", "Other", "Other", "Other", "Stage", "Stage"], stage(), stage("Other"))
    runs = find_runs(net)
    assert [(r.definition, r.blocks) for r in runs] == [("Other", ("s2", "s3", "s4")),
                                                         ("Stage", ("s5", "s6"))]


def test_a_disabled_instance_splits_the_run_and_is_in_neither_part():
    net = network(["Stage"] * 5)
    net.set_enabled("s3", False)
    assert blocks_of(find_runs(net)) == [("s1", "s2"), ("s4", "s5")]
    net.set_enabled("s3", True)
    assert blocks_of(find_runs(net)) == [("s1", "s2", "s3", "s4", "s5")]


def test_definitions_with_two_outputs_never_fold():
    net = Network("model")
    net.add_block(Block("in", "ImageInput", "image", {"channels": 3, "height": 8, "width": 8}))
    for bid in ("p1", "p2"):
        net.add_block(Block(bid, "Split", bid))
    net.connect(Edge("in", "p1", "x"))
    net.connect(Edge("p1", "p2", "x", src_port="o1"))
    Project("p", [net], definitions=Definitions([split()]))
    assert find_runs(net) == []


def test_a_run_stops_at_the_edge_of_a_group():
    net = network(["Stage"] * 4)
    net.set_groups([Group("g1", "tail", ("s3", "s4"))])
    assert blocks_of(find_runs(net)) == [("s1", "s2"), ("s3", "s4")]


def test_a_cycle_of_instances_has_no_head_and_does_not_hang():
    net = network(["Stage"] * 2)
    net.disconnect(Edge("in", "s1", "x"))
    net.disconnect(Edge("s2", "end", "x"))
    net.connect(Edge("s2", "s1", "x"))
    assert find_runs(net) == []


def test_the_residual_example_chain_is_one_run_of_twelve(registry):
    net = residual_chain_project(registry).networks[0]
    assert blocks_of(find_runs(net)) == [tuple(residual_ids())]


def test_choices_are_per_block_so_a_split_run_keeps_its_state_in_both_parts():
    net = network(["Stage"] * 6)
    run = find_runs(net)[0]
    choices: dict[str, bool] = {}
    assert not is_folded(run, choices)
    choose(choices, run, True)
    assert folded_runs(find_runs(net), choices) == [run]
    net.set_enabled("s3", False)  # the run splits: both parts stay folded
    assert blocks_of(folded_runs(find_runs(net), choices)) == [("s1", "s2"), ("s4", "s5", "s6")]
    choose(choices, find_runs(net)[1], False)  # the person opens the second part
    net.set_enabled("s3", True)  # joined again: the first block with a choice decides
    assert is_folded(find_runs(net)[0], choices)


def test_big_networks_open_with_their_long_runs_folded_small_ones_with_none():
    long_run = ["Stage"] * DEFAULT_MIN_RUN
    short = network(long_run)
    assert len(short.blocks) <= FOLD_ABOVE and default_choices(short, find_runs(short)) == {}
    # more than FOLD_ABOVE blocks: a run of two and a run of three, split by a plain ReLU
    big = network(["Stage", "Stage", "ReLU", *long_run] + ["ReLU"] * FOLD_ABOVE)
    runs = find_runs(big)
    assert blocks_of(runs) == [("s1", "s2"), ("s4", "s5", "s6")]
    assert blocks_of(folded_runs(runs, default_choices(big, runs))) == [("s4", "s5", "s6")]


def test_finding_runs_changes_nothing_in_the_model(registry):
    project = residual_chain_project(registry)
    net = project.networks[0]
    before, text = net.revision, dumps_project(project)
    find_runs(net)
    assert net.revision == before and dumps_project(project) == text


def test_finding_runs_is_linear_in_the_blocks():
    def timed(count: int) -> float:
        net = network(["Stage"] * count)
        start = time.perf_counter()
        runs = find_runs(net)
        assert len(runs) == 1 and len(runs[0]) == count
        return time.perf_counter() - start

    timed(100)  # warm up
    small, big = min(timed(2_000) for _ in range(3)), min(timed(20_000) for _ in range(3))
    assert big < 0.5
    assert big < small * 30  # ten times the blocks: about ten times the time, not a hundred


def _registry():
    from graph.blocks import default_registry

    return default_registry()

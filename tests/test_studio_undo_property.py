"""Property: any sequence of edits undoes to the original project and redoes to the edited one.

Each example opens a bundled project (the GAN brings two networks) and
applies random Document edits: add, remove, connect (refusals are fine),
disconnect, move, set a parameter to a random valid value, rename,
enable/disable, copy/paste (also between networks), duplicate, cut, group,
ungroup, collapse, rename a group, auto layout, insert into a wire, apply a
quick fix, change training settings / seed / data source, delete wires and
blocks in one step (the canvas's Delete), with undo and redo mixed in. After every step the changed network
must have been re-analysed (`analysisChanged`) to exactly what a fresh
`graph.validate.analyse` gives. At the end, undoing everything must give a
project equal to the original (block and wire order, positions and groups
included) and redoing everything exactly the edited one; the saved file text
(the canonical serialisation) must match too.

Default: 30 examples x 60 steps (about 6 s on two idle cores). Slow (`-m slow`):
60 examples (x DEEPWIRE_STRESS) x 100 steps. More before a release: DEEPWIRE_UNDO_EXAMPLES=500
DEEPWIRE_UNDO_STEPS=150.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.blocks import default_registry
from graph.examples import list_examples
from graph.model import Edge
from graph.project_io import dumps_project, load_project
from graph.training_config import TRAINING_PARAMS
from graph.validate import analyse
from studio import commands
from studio.document import Document
from tests import strategies
from tests.conftest import stressed

EXAMPLES = int(os.environ.get("DEEPWIRE_UNDO_EXAMPLES", "30"))
STEPS = int(os.environ.get("DEEPWIRE_UNDO_STEPS", "60"))

REGISTRY = default_registry()
PROJECTS = {e.name: load_project(e.path, REGISTRY) for e in list_examples()}
TYPE_IDS = sorted(spec.type_id for spec in REGISTRY)
# types that can sit inside a wire: they take an input and give an output
WIRE_TYPES = sorted(s.type_id for s in REGISTRY if s.has_output and s.input_ports())
OPERATIONS = ("add", "add", "remove", "connect", "connect", "connect", "disconnect", "move", "set_param",
              "set_param", "rename", "enable", "paste", "duplicate", "cut", "group", "ungroup",
              "group_edit", "layout", "insert", "fix", "training", "delete_mixed", "undo", "redo")

COORDINATES = st.floats(-5000, 5000, allow_nan=False)


def _some(draw, items, most=3):
    """A non-empty random subset (in a random order) of `items`."""
    return draw(st.lists(st.sampled_from(items), min_size=1, max_size=most, unique=True))


def _edit(draw, doc: Document, op: str, name: str) -> None:
    """Apply one random edit of kind `op` to network `name` through the Document."""
    net = doc.network(name)
    blocks = list(net.blocks)
    if op == "add":
        doc.add_block(name, draw(st.sampled_from(TYPE_IDS)), (draw(COORDINATES), draw(COORDINATES)))
    elif op == "undo" and doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    elif op == "redo" and doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    elif op == "layout" and blocks:
        doc.auto_layout(name, None if draw(st.booleans()) else _some(draw, blocks, 5))
    elif op == "fix":
        fixes = [d.fix for d in doc.analysis(name).diagnostics if d.fix is not None]
        if fixes:
            doc.apply_fix(name, draw(st.sampled_from(fixes)))
    elif op == "training":
        _edit_training(draw, doc)
    elif op == "delete_mixed" and net.edges:
        # what the canvas's Delete pushes for wires and blocks selected together: one Macro
        macro = commands.Macro("Delete")
        edges = _some(draw, net.edges, 2)
        for edge in edges:
            macro.add(commands.Disconnect(net, edge))
        spare = [b for b in blocks if all(b not in (e.src, e.dst) for e in edges)]
        if spare and draw(st.booleans()):
            macro.add(commands.remove_blocks(net, _some(draw, spare, 2)))
        doc.push(macro)
    elif op == "disconnect" and net.edges:
        doc.disconnect(name, draw(st.sampled_from(net.edges)))
    elif op == "insert" and net.edges:
        doc.insert_block_on_edge(name, draw(st.sampled_from(net.edges)), draw(st.sampled_from(WIRE_TYPES)))
    elif op in ("ungroup", "group_edit") and net.groups:
        group = draw(st.sampled_from(net.groups))
        if op == "ungroup":
            doc.ungroup(name, group.id)
        elif draw(st.booleans()):
            doc.set_group_collapsed(name, group.id, not group.collapsed)
        else:
            doc.rename_group(name, group.id, draw(strategies.names()))
    elif op == "paste":
        source = draw(st.sampled_from([n.name for n in doc.project.networks]))
        if doc.network(source).blocks:
            text = doc.copy_blocks(source, _some(draw, list(doc.network(source).blocks), 4))
            doc.paste(name, text, (draw(COORDINATES), draw(COORDINATES)))
    elif blocks:
        _edit_blocks(draw, doc, op, name, blocks)


def _edit_training(draw, doc: Document) -> None:
    """One training-settings step: a hyper-parameter, the seed or the data source."""
    what = draw(st.sampled_from(("param", "param", "seed", "data")))
    if what == "param":
        param = draw(st.sampled_from(TRAINING_PARAMS))
        doc.set_training({param.name: draw(strategies.param_values(param))}, text=f"Set {param.name}")
    elif what == "seed":
        doc.set_training(seed=draw(st.integers(0, 2**31 - 1)), text="Set seed")
    else:
        doc.set_training(data=draw(strategies.data_specs()), text="Set data source")


def _edit_blocks(draw, doc: Document, op: str, name: str, blocks: list[str]) -> None:
    net = doc.network(name)
    if op == "remove":
        doc.remove_blocks(name, _some(draw, blocks))
    elif op == "duplicate":
        doc.duplicate_blocks(name, _some(draw, blocks))
    elif op == "cut":
        doc.cut_blocks(name, _some(draw, blocks, 2))
    elif op == "group":
        doc.group_blocks(name, _some(draw, blocks, 4), draw(strategies.names()))
    elif op == "move":
        chosen = _some(draw, blocks)
        doc.move_blocks(name, {b: (net.block(b).position, (draw(COORDINATES), draw(COORDINATES)))
                               for b in chosen})
    elif op == "rename":
        doc.rename_block(name, draw(st.sampled_from(blocks)), draw(strategies.names()))
    elif op == "enable":
        doc.set_enabled(name, _some(draw, blocks), draw(st.booleans()))
    elif op == "set_param":
        block = net.block(draw(st.sampled_from(blocks)))
        spec = doc.registry.get(block.type)  # the project's definitions are types too
        if spec.params:
            param = draw(st.sampled_from(spec.params))
            doc.set_param(name, block.id, param.name, draw(strategies.param_values(param)))
    elif op == "connect":
        sources = [b for b in blocks if doc.registry.get(net.block(b).type).has_output]
        dst = net.block(draw(st.sampled_from(blocks)))
        ports = doc.registry.get(dst.type).input_ports(dst.params)
        if sources and ports:
            edge = Edge(draw(st.sampled_from(sources)), dst.id, draw(st.sampled_from(ports)).name)
            ok, why = doc.connect(name, edge)
            assert ok or why, "a refused wire must say why"


def _assert_analysis_is_fresh(doc: Document, name: str) -> None:
    fresh = analyse(doc.network(name), REGISTRY)
    current = doc.analysis(name)
    assert current.diagnostics == fresh.diagnostics, name
    assert current.shapes == fresh.shapes, name


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_edits_undo_to_the_original_and_redo_to_the_edited(qapp, data):
    _random_edits_undo_and_redo(data, STEPS)


@pytest.mark.slow
@settings(max_examples=stressed(60), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_many_long_random_edit_sequences_undo_and_redo_exactly(qapp, data):
    _random_edits_undo_and_redo(data, 100)


def _random_edits_undo_and_redo(data, steps: int) -> None:
    example = data.draw(st.sampled_from(sorted(PROJECTS)), label="example")
    original = PROJECTS[example]
    doc = Document(REGISTRY, original.copy())
    names = [n.name for n in original.networks]
    changed, analysed = set(), set()
    doc.networkChanged.connect(lambda net, _change: changed.add(net))
    doc.analysisChanged.connect(analysed.add)

    for _ in range(steps):
        changed.clear()
        analysed.clear()
        op = data.draw(st.sampled_from(OPERATIONS), label="op")
        _edit(data.draw, doc, op, data.draw(st.sampled_from(names), label="network"))
        assert changed <= analysed, f"{op}: changed {changed} but re-analysed only {analysed}"
        for name in names:
            _assert_analysis_is_fresh(doc, name)

    # undone steps may wait at the top of the stack: "edited" is where the edits left off,
    # "furthest" is after redoing those too
    edited, where = doc.project.copy(), doc.undo_stack.index()
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    furthest = doc.project.copy()
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    assert doc.project == original
    assert dumps_project(doc.project) == dumps_project(original)
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    assert doc.project == furthest
    assert dumps_project(doc.project) == dumps_project(furthest)
    doc.undo_stack.setIndex(where)
    assert doc.project == edited
    for name in names:
        _assert_analysis_is_fresh(doc, name)

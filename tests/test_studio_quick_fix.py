"""A blank project starts without errors; every error that names its repair gets a one-click fix;
a quick-fix insertion covers no card.

Issue 13, point 12: a blank project's first Image input was 28x28 against
the 8x8 digits it reads, "Apply fix" was greyed out for errors whose text
said exactly what to set, and an inserted Flatten landed on top of its
neighbours.
"""

from __future__ import annotations

import itertools

from graph.model import Edge
from tests.studio_support import block_id


def _errors(window) -> list[str]:
    return [d.message for d in window.problems.diagnostics() if d.is_error]


def _select_problem(window, text: str):
    tree = window.problems.tree
    for row in range(tree.topLevelItemCount()):
        if text in tree.topLevelItem(row).text(0):
            tree.setCurrentItem(tree.topLevelItem(row))
            return tree.topLevelItem(row)
    raise AssertionError(f"no problem mentioning {text!r} in {_errors(window)}")


def test_a_blank_projects_first_input_block_fits_its_default_data(window, qtbot):
    assert window.files.new_project()
    image = window.add_block("ImageInput")  # the palette's add
    params = window.document.network().block(image).params
    assert (params["channels"], params["height"], params["width"]) == (1, 8, 8)  # the digits' shape
    qtbot.wait(10)
    assert window.data_panel.problem == ""
    assert not [d for d in window.problems.diagnostics() if d.code == "data"]


def test_an_input_shape_that_does_not_fit_the_data_is_one_click_from_fitting(window, qtbot):
    doc = window.document
    image = block_id(doc, "image")
    doc.set_param("model", image, "height", 28)
    doc.set_param("model", image, "width", 28)
    assert any("change the input block to (B, 1, 8, 8)" in e for e in _errors(window))
    _select_problem(window, "change the input block")
    button = window.problems.fix_button
    assert button.isEnabled()
    assert button.text() == "Fix: Set height to 8, width to 8"
    steps = doc.undo_stack.count()
    button.click()
    params = doc.network().block(image).params
    assert (params["height"], params["width"]) == (8, 8)
    assert doc.undo_stack.count() == steps + 1 and doc.undo_stack.undoText().startswith("Fix image")
    assert not [d for d in window.problems.diagnostics() if d.code == "data"]
    doc.undo_stack.undo()
    assert doc.network().block(image).params["height"] == 28


def test_a_block_rule_error_naming_a_value_gets_the_fix_button(window, qtbot):
    doc = window.document
    conv1 = block_id(doc, "conv1")
    doc.set_param("model", conv1, "padding", "same")
    doc.set_param("model", conv1, "stride", 2)
    item = _select_problem(window, "set padding to a number such as 1")
    assert item is not None and window.problems.fix_button.isEnabled()
    window.problems.fix_button.click()
    assert doc.network().block(conv1).params["padding"] == 1
    assert not _errors(window)


def _card_rects(view):
    return {bid: item.sceneBoundingRect().adjusted(4, 4, -4, -4)  # the card, not its halo
            for bid, item in view.network_scene.blocks.items()}


def test_an_inserted_block_covers_no_card_and_its_wires_follow(window, qtbot):
    doc, net = window.document, window.document.network()
    flatten = block_id(doc, "flatten")
    dropout = block_id(doc, "dropout")
    doc.remove_blocks("model", [flatten])  # pool -> dropout -> scores now misses a Flatten
    doc.move_blocks("model", {dropout: ((960.0, 140.0), (720.0, 140.0))})  # right after pool: no room
    doc.connect("model", Edge(block_id(doc, "pool"), dropout, "x"))
    item = _select_problem(window, "insert Flatten")
    assert item is not None
    window.problems.fix_button.click()
    new = next(b.id for b in net.blocks.values() if b.type == "Flatten")
    view = window.tabs.current_view()
    rects = _card_rects(view)
    overlapping = [(a, b) for a, b in itertools.combinations(rects, 2) if rects[a].intersects(rects[b])]
    assert overlapping == []
    assert not _errors(window)
    scene = view.network_scene
    scores, digit = block_id(doc, "scores"), block_id(doc, "digit")
    # Linear 'scores' needed it: the Flatten takes its place, and it and the head move one column on
    assert net.block(new).position == (0.0, 280.0)
    assert (net.block(scores).position, net.block(digit).position) == ((240.0, 280.0), (480.0, 280.0))
    for edge in (Edge(dropout, new, "x"), Edge(new, scores, "x")):
        path = scene.wires[edge].path()  # the wires follow the moved cards
        assert path.pointAtPercent(0.0) == scene.blocks[edge.src].output_anchor()
        assert path.pointAtPercent(1.0) == scene.blocks[edge.dst].input_anchor("x")
    doc.undo_stack.undo()  # one step: positions come back too
    assert not any(b.type == "Flatten" for b in net.blocks.values())
    assert net.block(scores).position == (0.0, 280.0)

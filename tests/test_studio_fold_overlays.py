"""A folded run under the canvas overlays: gradient flow colours it by its worst instance, and a run
frozen throughout (transfer learning) reads "frozen" like a frozen block's card.

The residual example's ResidualBlock is used 12 times in a chain (tests/fold_support.py), which
opens folded.
"""

from __future__ import annotations

import math

import pytest

from studio.canvas.heat import worst
from studio.document import Document
from tests.fold_support import open_chain_view, residual_chain_project, residual_ids
from tests.studio_support import no_noise

IDS = residual_ids(12)


@pytest.fixture
def doc(qapp, registry):
    return Document(registry, residual_chain_project(registry, 12))


@pytest.fixture
def view(qtbot, doc):
    return open_chain_view(qtbot, doc)


def only_fold(scene):
    assert len(scene.folds) == 1, scene.folds
    return next(iter(scene.folds.values()))


def test_worst_is_the_norm_furthest_outside_the_healthy_band():
    assert worst({}) is None
    assert worst({"a": 1e-2, "b": 1e-7, "c": 3.0}) == "b"  # 4 decades below beats half a decade above
    assert worst({"a": 1e-2, "b": 1e-4, "c": 1e4}) == "c"
    assert worst({"a": 1e-2, "b": 0.0, "c": 1e-7}) == "b"  # no gradient at all is the coldest
    assert worst({"a": 1e9, "b": math.nan}) == "b"  # not a number beats everything
    # all healthy: the one nearest to an edge (here to vanishing), not merely the first
    assert worst({"a": 6e-3, "b": 1.1e-3, "c": 2e-2}) == "b"


def test_gradient_flow_colours_the_fold_by_its_least_healthy_instance(view, doc, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        fold = only_fold(scene)
        assert fold.gradient is None
        norms = {bid: 0.05 for bid in IDS}
        norms["r7"] = 2e-8  # one vanishing layer in the middle: a mean would still look healthy
        norms["stem"] = 0.1
        scene.show_gradient_flow(norms)
        assert fold.gradient is not None and fold.gradient.norm == 2e-8
        assert fold.gradient.scene() is scene and fold.gradient.isVisible()
        tip = fold.gradient.toolTip()
        assert "vanishing" in tip and "res7" in tip and "12 instances" in tip and "5.0e-02" in tip
        assert scene.blocks["stem"].gradient.norm == 0.1
        # a later step: the fold follows; expanded, each instance card has its own colour
        scene.show_gradient_flow({**norms, "r7": 0.05, "r3": 5e3})
        assert fold.gradient.norm == 5e3 and "exploding" in fold.gradient.toolTip()
        scene.set_folded("r1", False)
        assert scene.blocks["r3"].gradient.norm == 5e3 and scene.blocks["r1"].gradient.norm == 0.05
        # folded again after the colours came: the new card has them at once
        scene.set_folded("r1", True)
        fold = only_fold(scene)
        assert fold.gradient is not None and fold.gradient.norm == 5e3
        scene.clear_gradient_flow()
        assert fold.gradient is None
        assert not [i for i in scene.items() if type(i).__name__ == "GradientOverlay"]


def test_a_run_frozen_throughout_shows_frozen_on_its_fold_and_undo_thaws_it(view, doc, capfd):
    scene = view.network_scene
    with no_noise(capfd):
        fold = only_fold(scene)
        assert not fold.content.frozen
        doc.set_frozen("model", IDS[:5], True)  # part of the run: the fold is not frozen
        assert not only_fold(scene).content.frozen
        doc.set_frozen("model", IDS, True)
        fold = only_fold(scene)
        assert fold.content.frozen and scene.blocks["r1"].content.frozen
        # drawn as a frozen block card is: "frozen" written on it (and its hatching, padlock, border)
        word = next(line for line in fold._text_layout() if line[-1] == "frozen")
        # not under the expand button, which has a block card's "frozen" place (the bottom left)
        button = fold.expand_button.mapRectToParent(fold.expand_button.boundingRect())
        assert not word[0].intersects(button) and word[0].top() < button.top()
        summary = next(line for line in fold._text_layout() if line[-1].endswith("params"))
        assert summary[-1] == "222.7k params"  # the instance names give way to "frozen"
        doc.undo_stack.undo()
        assert not only_fold(scene).content.frozen

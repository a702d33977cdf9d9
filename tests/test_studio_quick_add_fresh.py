"""The quick-add menu (Tab on the canvas) lists the block types as they are when it opens: a
definition made after its first opening is offered and can be added; one undone is gone."""

from __future__ import annotations

from tests.studio_support import OFFSCREEN_ONLY, no_noise

# a popup on Qt's offscreen platform (the tests' screen) says these; a real screen does not
POPUP_OFFSCREEN = OFFSCREEN_ONLY + ("does not support raise()", "does not support grabbing the keyboard")


def open_quick_add(view):
    view.openQuickAdd(view.visibleSceneRect().center())
    return view.quick_add


def test_a_definition_made_after_the_first_opening_is_listed_and_added(window, capfd):
    doc = window.document
    view = window.tabs.view_of("model")
    with no_noise(capfd, POPUP_OFFSCREEN):
        popup = open_quick_add(view)
        assert "Conv 2D" in popup.visible_titles() and "ConvStem" not in popup.visible_titles()
        first_rows = popup.list.count()
        popup.hide()
        doc.make_definition("model", ["b2", "b3", "b4"], "ConvStem")  # "Make definition from selection…"
        popup = open_quick_add(view)
        assert popup is view.quick_add and popup.list.count() > first_rows  # one popup, rebuilt
        popup.filter.setText("convstem")
        assert popup.visible_titles() == ["ConvStem"]
        popup.choose_current()
        added = [b for b in doc.network().blocks.values() if b.type == "ConvStem"]
        assert len(added) == 2  # the instance the selection became, and the one just added
        doc.undo_stack.undo()
        doc.undo_stack.undo()  # the definition is gone again
        popup = open_quick_add(view)
        assert popup.list.count() == first_rows and "ConvStem" not in popup.visible_titles()
        popup.hide()


def test_an_unchanged_registry_keeps_the_list_it_built(window, capfd):
    view = window.tabs.view_of("model")
    with no_noise(capfd, POPUP_OFFSCREEN):
        popup = open_quick_add(view)
        popup.hide()
        item = popup.list.item(1)
        window.document.rename_block("model", "b2", "conv_first")  # an edit that adds no block type
        open_quick_add(view).hide()
        assert popup.list.item(1) is item  # not rebuilt

"""The dock panels: code view, problems list, summary strip, history, start page, palette.

Each test drives a panel with real Document edits and reads both the panel's
widgets and the model.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from graph.examples import list_examples
from graph.model import Block, Edge, Network, Project
from graph.shapes import numel
from studio import theme
from studio.document import Document
from studio.inspector import block_param_count
from studio.palette import Palette
from studio.panels.code_view import DEBOUNCE_MS, CodeView
from studio.panels.history import history_view
from studio.panels.problems import ProblemsPanel
from studio.panels.start_page import StartPage
from studio.panels.summary import SummaryStrip, human_bytes
from tests.studio_support import block_id, close_window, example_document, make_window, refuse_dialogs


@pytest.fixture
def doc(registry):
    return example_document(registry)


def _image_into_linear(registry) -> Document:
    """Image -> Linear -> head: Linear needs a flat input, and the fix is to insert Flatten."""
    net = Network("model", [
        Block("b1", "ImageInput", "image", {"channels": 1, "height": 8, "width": 8}),
        Block("b2", "Linear", "fc", {"features": 10}, (220, 0)),
        Block("b3", "ClassificationHead", "head", {"classes": 10}, (440, 0)),
    ], [Edge("b1", "b2", "x"), Edge("b2", "b3", "x")])
    return Document(registry, Project("flatten me", [net]))


# --- code view ---

def test_code_view_follows_edits_after_a_short_pause(qtbot, doc):
    view = CodeView(doc)
    qtbot.addWidget(view)
    assert "nn.Conv2d(1, 32, kernel_size=3, padding=1)" in view.text()
    doc.set_param("model", block_id(doc, "conv1"), "channels", 12)
    assert "nn.Conv2d(1, 32" in view.text()  # debounced: not yet
    wanted = "nn.Conv2d(1, 12, kernel_size=3, padding=1)"
    qtbot.waitUntil(lambda: wanted in view.text(), timeout=DEBOUNCE_MS * 10)
    assert view.editor.isReadOnly()


def test_code_view_highlights_python_and_marks_the_selected_block(qtbot, doc):
    view = CodeView(doc)
    qtbot.addWidget(view)
    document = view.editor.document()
    lines = [document.findBlockByNumber(i) for i in range(document.blockCount())]
    formats = next(b for b in lines if b.text() == "from torch import nn").layout().formats()
    keyword = QColor(theme.code_colors(False)["keyword"])
    assert any(f.start == 0 and f.format.foreground().color() == keyword for f in formats)  # "from"
    conv = block_id(doc, "conv1")
    view.show_block("model", conv)
    selected = view.editor.extraSelections()
    assert len(selected) == 1
    assert "self.conv1(" in selected[0].cursor.block().text()


def test_highlighter_ends_strings_and_comments_where_python_does(qtbot):
    from PySide6.QtGui import QTextDocument

    from studio.panels.code_view import PythonHighlighter

    source = 'def f():\n    """One line."""\n    return "a # not a comment"  # a comment\nimport os\n'
    document = QTextDocument(source)
    PythonHighlighter(document)
    colors = theme.code_colors(False)

    def color_at(line: int, column: int) -> str:
        for f in document.findBlockByNumber(line).layout().formats():
            if f.start <= column < f.start + f.length:
                return f.format.foreground().color().name()
        return ""

    assert color_at(1, 4) == colors["string"]  # the docstring
    assert color_at(2, 4) == colors["keyword"]  # "return" after a one-line docstring is code again
    assert color_at(2, 16) == colors["string"]  # '#' inside a string
    assert color_at(2, 36) == colors["comment"]
    assert color_at(3, 0) == colors["keyword"]  # "import" on the next line


def test_code_view_lists_the_errors_while_the_network_cannot_compile(qtbot, registry):
    doc = _image_into_linear(registry)
    view = CodeView(doc)
    qtbot.addWidget(view)
    assert view.text().startswith("# The code appears here once the network has no errors.")
    assert "Flatten" in view.text()
    assert view.compiled is None


# --- problems ---

def test_clicking_a_problem_selects_its_block_and_the_fix_repairs_it(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry)
    try:
        window.document.replace_project(_image_into_linear(registry).project)
        panel = window.problems
        assert panel.tree.topLevelItemCount() >= 1
        item = panel.item(0)
        assert "Flatten" in item.text(0)
        rect = panel.tree.visualItemRect(item)
        qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert window.tabs.current_view().selectedBlockIds() == ["b2"]
        assert window.inspector.block_id == "b2"
        assert panel.fix_button.isEnabled() and "Flatten" in panel.fix_button.text()
        panel.fix_button.click()
        net = window.document.network()
        assert [b.type for b in net.blocks.values()].count("Flatten") == 1
        assert panel.status.text() == "No problems"
        assert window.summary.problems.text() == "no problems"
    finally:
        close_window(window)


def test_problems_of_every_network_are_listed_with_their_network(qtbot, registry):
    doc = example_document(registry, "digits_gan")
    panel = ProblemsPanel(doc)
    qtbot.addWidget(panel)
    assert panel.tree.topLevelItemCount() == 0
    doc.add_block("discriminator", "ReLU", (0, 400))
    assert panel.tree.topLevelItemCount() >= 1
    assert not panel.tree.isColumnHidden(1)
    assert {panel.item(i).text(1) for i in range(panel.tree.topLevelItemCount())} == {"discriminator"}


# --- summary ---

def test_summary_counts_parameters_memory_and_problems(qtbot, doc, registry):
    strip = SummaryStrip(doc)
    qtbot.addWidget(strip)
    analysis = doc.analysis()
    params = activations = 0
    for bid, block in doc.network().blocks.items():
        spec = registry.get(block.type)
        params += block_param_count(spec, analysis.inference, bid)
        if spec.has_output:
            activations += numel(analysis.shapes[bid])
    batch = doc.project.training.batch_size
    assert strip.totals.parameters == params > 0
    assert strip.totals.weight_bytes == 4 * params
    assert strip.totals.activation_bytes == activations * batch * 4 * 2
    assert strip.params.text().startswith(f"{params:,} parameters")
    assert human_bytes(4 * params) in strip.memory.text()
    strip.batch.setValue(batch * 2)
    assert strip.totals.activation_bytes == activations * batch * 2 * 4 * 2
    assert "4 bytes" in strip.memory.toolTip()
    doc.add_block("model", "Linear", (0, 500))  # unconnected: a warning
    assert strip.problems.text().endswith("1 warning") or "warning" in strip.problems.text()
    assert strip.totals.warnings >= 1


# --- history ---

def test_history_lists_steps_and_clicking_one_jumps_there(qtbot, doc):
    view = history_view(doc)
    qtbot.addWidget(view)
    conv = block_id(doc, "conv1")
    doc.set_param("model", conv, "channels", 8)
    doc.rename_block("model", conv, "c1")
    model = view.model()
    assert model.rowCount() == 3  # the opened project, then two steps
    assert model.index(2, 0).data() == "Rename conv1 to c1"  # names, not ids
    view.setCurrentIndex(model.index(0, 0))  # what a click on the first row does
    assert doc.network().block(conv).params["channels"] == 32
    assert doc.network().block(conv).name == "conv1"
    assert doc.undo_stack.index() == 0


# --- start page ---

def test_start_page_lists_every_example_with_thumbnail_and_description(qtbot, registry, tmp_path):
    recent = tmp_path / "mine.dw.json"
    recent.write_text("{}")
    page = StartPage(registry, [recent])
    qtbot.addWidget(page)
    page.show()
    examples = list_examples()
    assert page.cards.count() == len(examples) > 0
    for row, example in enumerate(examples):
        item = page.cards.item(row)
        assert item.text() == example.title
        assert item.data(Qt.ItemDataRole.UserRole + 1) == example.description
        assert page.thumbnail(row) is not None and not page.thumbnail(row).isNull()
    assert page.recent.item(0).text().startswith("mine.dw.json")
    with qtbot.waitSignal(page.exampleChosen) as chosen:
        page.cards.itemActivated.emit(page.cards.item(0))
    assert chosen.args == [examples[0].path]


# --- palette ---

def test_palette_lists_every_block_by_category_with_help_tooltips(qtbot, registry):
    palette = Palette(registry)
    qtbot.addWidget(palette)
    offered = [s for s in registry if "placeholder" not in s.tags]  # never the import's placeholder
    assert [palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())] == \
        list(dict.fromkeys(s.category for s in offered))
    assert sorted(palette.visible_types()) == sorted(s.type_id for s in offered)
    assert registry.get("Conv2d").help in palette.item("Conv2d").toolTip(0)
    palette.set_filter("pool")
    shown = palette.visible_types()
    assert "MaxPool2d" in shown and "Linear" not in shown
    assert palette.tree.topLevelItem(0).isHidden()  # Inputs has no pooling block
    with qtbot.waitSignal(palette.addRequested) as added:
        palette.add_block("MaxPool2d")
    assert added.args == ["MaxPool2d"]

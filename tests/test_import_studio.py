"""File > Import… in the studio: the questions, the child process, and the imported project opened.

The import runs in a real child process (`python -m runtime.cli import`), so
these tests wait for it; the dialogs are answered by patching QFileDialog and
QInputDialog, and any unexpected message box fails the test.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

import studio.import_dialog as import_dialog
from graph.definition_edits import flattened
from studio.import_dialog import USE_ONNX, code_warning, known_shape, module_classes
from tests import import_models
from tests.studio_support import close_window, make_window, refuse_dialogs

MODELS_FILE = Path(import_models.__file__)
ORIGINAL_ASK_OPTIONS = import_dialog.ask_options
CHILD_TIMEOUT_MS = 90_000  # a child that imports torch on a busy machine


def _answer(monkeypatch, model: Path, out: Path, items: list[str], shape: str) -> list[str]:
    """Patch the import dialogs: open `model`, pick `items` in turn, type `shape`, save to `out`."""
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model), ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    answers = iter(items)

    def get_item(parent, title, label, choices, current=0, editable=False):
        asked.append(label)
        choice = next(answers)
        assert editable or choice in choices
        return choice, True

    def ask_options(parent):  # the real options dialog, answered without showing it
        dialog = import_dialog.ImportOptions(parent)
        asked.append("Output head:")
        head = next(answers)
        assert head in import_dialog.HEADS
        dialog.head.setCurrentText(head)
        return dialog.arguments()

    monkeypatch.setattr(QInputDialog, "getItem", get_item)
    monkeypatch.setattr(import_dialog, "ask_options", ask_options)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (shape, True))

    def warned(parent, path):  # the "this runs its code" warning comes first, naming the file
        asked.append(f"runs the code of {path}")
        return "run"
    monkeypatch.setattr(import_dialog, "confirm_running_code", warned)
    return asked


def test_the_classes_of_a_file_are_found_without_running_it(tmp_path):
    assert module_classes(MODELS_FILE) == ["BasicBlock", "TinyResNet", "FunctionalMlp", "LstmLastStep",
                                           "BiGruTagger", "WithFourier", "TinyVgg",
                                           "TokenTransformer", "Branchy", "SharedLayer",
                                           "ImageAndTable", "Upsampler", "TimeFirstGru", "TimeFirstRnnState",
                                           "TimeFirstUnswapped", "ChannelsLastMlp"]
    exported = tmp_path / "exported.py"
    exported.write_text("from torch import nn\nraise SystemExit('never run')\n\nclass Net(nn.Module):\n"
                        "    def forward(self, image):\n        # image: (B, 1, 8, 8)\n"
                        "        return image\n")
    assert module_classes(exported) == ["Net"] and known_shape(exported) == "1,8,8"


def test_importing_a_resnet_opens_it_as_a_project_that_reads_left_to_right(qtbot, tmp_path, registry,
                                                                            monkeypatch):
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry)
    out = tmp_path / "resnet.dw.json"
    asked = _answer(monkeypatch, MODELS_FILE, out, ["TinyResNet", "classification"], "3,16,16")
    try:
        assert window.importer.start()
        qtbot.waitUntil(lambda: window.document.path == out, timeout=CHILD_TIMEOUT_MS)
        assert asked[0] == f"runs the code of {MODELS_FILE}"
        assert asked[1].startswith("Model class in import_models.py") and asked[2] == "Output head:"
        net = window.document.network()
        # BasicBlock's uses are instances of its definitions; the blocks inside count too
        assert window.document.project.definitions.names() == ["BasicBlock", "BasicBlock2"]
        types = Counter(b.type for b in flattened(net).blocks.values())
        assert types["Conv2d"] == 10 and types["Add"] == 4 and "Unsupported" not in types
        assert window.document.project.training.init_checkpoint == "resnet.weights.pt"
        assert all(net.blocks[e.src].position[0] < net.blocks[e.dst].position[0] for e in net.edges)
        window.resize(1500, 800)
        window.actions["fit"].trigger()
        qtbot.wait(50)
        window.grab().save(str(tmp_path / "imported_resnet.png"))
        assert (tmp_path / "imported_resnet.png").stat().st_size > 10_000
    finally:
        close_window(window)


def test_the_loose_layers_box_imports_without_definitions(qtbot, tmp_path, registry, monkeypatch):
    """Off (the default): TinyResNet's repeated BasicBlock becomes definitions; on: every layer is loose."""
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry)
    answered: list[bool] = []
    tick = {"loose": False}

    def exec_(dialog):  # the real dialog, shown; the box clicked like a user would, then OK
        dialog.show()
        qtbot.waitExposed(dialog)
        answered.append(dialog.loose.isChecked())  # how it opened
        if tick["loose"]:
            qtbot.mouseClick(dialog.loose, Qt.MouseButton.LeftButton, pos=dialog.loose.rect().center())
        dialog.head.setCurrentText("classification")
        return QDialog.DialogCode.Accepted
    monkeypatch.setattr(import_dialog.ImportOptions, "exec", exec_)
    try:
        grouped = tmp_path / "grouped.dw.json"
        _answer(monkeypatch, MODELS_FILE, grouped, ["TinyResNet"], "3,16,16")
        monkeypatch.setattr(import_dialog, "ask_options", ORIGINAL_ASK_OPTIONS)
        assert window.importer.start()
        qtbot.waitUntil(lambda: window.document.path == grouped, timeout=CHILD_TIMEOUT_MS)
        assert len(window.document.project.definitions) == 2  # BasicBlock, BasicBlock2
        grouped_types = Counter(b.type for b in flattened(window.document.network()).blocks.values())

        loose = tmp_path / "loose.dw.json"
        tick["loose"] = True
        _answer(monkeypatch, MODELS_FILE, loose, ["TinyResNet"], "3,16,16")
        monkeypatch.setattr(import_dialog, "ask_options", ORIGINAL_ASK_OPTIONS)
        assert window.importer.start()
        qtbot.waitUntil(lambda: window.document.path == loose, timeout=CHILD_TIMEOUT_MS)
        assert len(window.document.project.definitions) == 0
        net = window.document.network()
        assert Counter(b.type for b in net.blocks.values()) == grouped_types  # the same layers, all loose
        assert answered == [False, False]  # the box starts unticked every time
    finally:
        close_window(window)


def test_problems_and_failures_are_shown(qtbot, tmp_path, registry, monkeypatch):
    refuse_dialogs(monkeypatch)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append((title, text)))
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append((title, text)))
    window = make_window(qtbot, tmp_path, registry)
    try:
        out = tmp_path / "fourier.dw.json"
        _answer(monkeypatch, MODELS_FILE, out, ["WithFourier", "output"], "16")
        assert window.importer.start()
        qtbot.waitUntil(lambda: bool(shown), timeout=CHILD_TIMEOUT_MS)
        assert window.document.path == out
        title, text = shown.pop()
        assert title == "Imported with problems"
        assert "• torch.fft.rfft (block 'fft_rfft') has no DeepWire block" in text
        assert "• Tensor.abs (block 'abs_1')" in text and "Linear" not in text  # no block table
        problems = [b for b in window.document.network().blocks.values() if b.type == "Unsupported"]
        assert len(problems) == 2  # rfft and abs; its indexing became Slice blocks

        _answer(monkeypatch, MODELS_FILE, tmp_path / "nope.dw.json", ["NoSuchNet", "output"], "16")
        assert window.importer.start()
        qtbot.waitUntil(lambda: bool(shown), timeout=CHILD_TIMEOUT_MS)
        title, text = shown.pop()
        assert title == "Import failed" and "defines no 'NoSuchNet'" in text
        assert window.document.path == out  # the open project stays
    finally:
        close_window(window)


def test_the_palette_and_quick_add_never_offer_the_import_placeholder(qtbot):
    from graph.blocks import default_registry
    from studio.canvas.quick_add import matching_specs
    from studio.palette import Palette

    registry = default_registry()
    palette = Palette(registry)
    qtbot.addWidget(palette)
    shown = palette.visible_types()
    assert "Unsupported" not in shown and "Conv2d" in shown
    assert len(shown) == len(list(registry)) - 1
    assert "Unsupported" not in [spec.type_id for spec in matching_specs(registry, "unsupported")]


def _click_in_message_boxes(monkeypatch, button_text: str) -> list[QMessageBox]:
    """Answer every QMessageBox.exec() by clicking the button with this text; returns the boxes."""
    seen: list[QMessageBox] = []

    def exec_(box):
        seen.append(box)
        next(b for b in box.buttons() if b.text().replace("&", "") == button_text).click()
        return 0
    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return seen


def test_importing_a_py_file_says_first_that_it_runs_the_code(qtbot, tmp_path, registry, monkeypatch):
    box = code_warning(None, MODELS_FILE)
    qtbot.addWidget(box)
    text = box.text() + "\n" + box.informativeText()
    assert "runs the Python code in it" in text and str(MODELS_FILE) in text and "ONNX" in text
    buttons = {b.text().replace("&", "") for b in box.buttons()}
    assert buttons >= {"Run the code and import", USE_ONNX, "Cancel"}
    assert box.defaultButton().text().replace("&", "") == "Cancel"  # Enter runs nothing

    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry)
    try:
        opened: list[str] = []

        def get_open(parent, title, start, file_filter):
            opened.append(file_filter)
            return (str(MODELS_FILE), "") if len(opened) == 1 else ("", "")
        monkeypatch.setattr(QFileDialog, "getOpenFileName", get_open)
        monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: pytest.fail("asked before warning"))
        boxes = _click_in_message_boxes(monkeypatch, "Cancel")
        assert not window.importer.start() and window.importer.process is None
        assert len(boxes) == 1 and str(MODELS_FILE) in boxes[0].informativeText()

        boxes = _click_in_message_boxes(monkeypatch, USE_ONNX)  # the safe route: pick an ONNX file
        opened.clear()
        assert not window.importer.start() and window.importer.process is None  # then cancelled the pick
        assert len(opened) == 2 and opened[1].startswith("ONNX files (*.onnx)")
    finally:
        close_window(window)

"""File > Export > Quantized (INT8): the dialog runs `deepwire quantize` and shows its figures (issue 17)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

import studio.runs.export_dialog as export_dialog
from runtime.cli import main
from runtime.evaluate import open_run
from studio.runs.export_dialog import ExportDialog
from tests.studio_support import example_document


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    assert main(["train", "digits_cnn", "--epochs", "1", "--out", str(folder / "Digits-CNN" / "run-1")]) == 0
    return folder


def _in_process(calls: list):
    def start(parent, args, done):  # the dialog's child, run here: the CLI's own output and exit code
        calls.append(args)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args + ["--rounds", "2"])
        done(code, out.getvalue(), err.getvalue())
    return start


def test_export_quantized_shows_the_figures_of_the_written_file(qtbot, registry, runs_folder, tmp_path,
                                                                 monkeypatch):
    calls: list = []
    monkeypatch.setattr(export_dialog, "start_cli", _in_process(calls))
    run = runs_folder / "Digits-CNN" / "run-1"
    dialog = ExportDialog(example_document(registry, "digits_cnn"), runs_folder)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("quantized"))
    assert dialog.form.isRowVisible(dialog.method) and dialog.form.isRowVisible(dialog.keep_float)
    assert not dialog.export_button.isEnabled()  # fresh weights: nothing trained to quantize
    assert dialog.report_text.startswith("Quantized (INT8) needs trained weights")
    dialog.weights.setCurrentIndex(dialog.weights.findData(str(run)))
    assert dialog.export_button.isEnabled() and dialog.report_text == ""
    out = tmp_path / "digits.int8.onnx"
    dialog.output.setText(str(out))
    dialog.export()

    args = calls[0]
    assert args[:4] == ["quantize", str(run), "-o", str(out)] and "--project" in args and "--json" in args
    figures = dialog.quantized
    assert figures is not None and out.is_file() and figures["int8_bytes"] == out.stat().st_size
    recipe = open_run(run).recipe
    x, y = recipe.val_data.inputs.numpy(), recipe.val_data.targets.numpy()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    int8 = float(np.mean(session.run(None, {"image": x})[0].argmax(axis=1) == y))
    assert figures["int8_metric"] == int8
    assert dialog.report_text.startswith(
        "Quantized to digits.int8.onnx (static INT8): validation accuracy "
        f"{figures['float_metric']:.2%} float, {int8:.2%} INT8; "
        f"file {figures['int8_bytes'] / figures['float_bytes']:.2f}x; CPU latency per batch of 256 ")
    table = dialog.preview.toPlainText()
    assert "validation accuracy" in table and "file size" in table and "CPU latency per batch" in table

    dialog.keep_float.setText("nope")  # a refusal is shown as the command's message
    dialog.output.setText(str(tmp_path / "other.onnx"))
    dialog.export()
    assert calls[-1][-2:] == ["--keep-float", "nope"]
    assert dialog.report_text.startswith("Quantization failed: --keep-float: no block named 'nope'")
    assert dialog.quantized is None and not (tmp_path / "other.onnx").exists()
    dialog.format.setCurrentIndex(dialog.format.findData("onnx"))
    assert not dialog.form.isRowVisible(dialog.method)
    dialog.reject()


@pytest.mark.slow  # the in-process test above covers the dialog; this one adds the child process (11 s)
def test_export_quantized_through_a_real_child_process(qtbot, registry, runs_folder, tmp_path):
    run = runs_folder / "Digits-CNN" / "run-1"
    dialog = ExportDialog(example_document(registry, "digits_cnn"), runs_folder, run)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("quantized"))
    out = tmp_path / "child.int8.onnx"
    dialog.output.setText(str(out))
    dialog.export()
    assert dialog.process is not None  # `deepwire quantize` runs beside the GUI, not in it
    qtbot.waitUntil(lambda: dialog.process is None, timeout=180_000)
    assert dialog.quantized is not None, dialog.report_text
    assert dialog.quantized["int8_bytes"] == out.stat().st_size
    assert dialog.report_text.startswith("Quantized to child.int8.onnx (static INT8): validation accuracy")
    dialog.reject()

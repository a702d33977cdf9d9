"""Runs panel, evaluation view and export dialog, on tiny runs trained with the real trainer.

The runs are trained once per module by `deepwire train` child processes;
evaluation and export run as children of the studio code, as in the app.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from runtime.run_names import runs_root
from studio.runs.evaluation import EvaluationView
from studio.runs.export_dialog import ExportDialog
from studio.runs.runs_panel import RunsPanel
from tests.studio_support import close_window, example_document, make_window, refuse_dialogs

ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT_MS = 90_000


def train(example: str, out: Path, *extra: str) -> Path:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "train", example, "--out", str(out),
                           "--quiet", "--threads", "1", *extra],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    """runs/ with two digits_mlp runs: 'adam' (2 epochs) and 'sgd' (1 epoch, another learning rate)."""
    folder = tmp_path_factory.mktemp("project") / "runs"
    train("digits_mlp", folder / "adam", "--epochs", "2")
    train("digits_mlp", folder / "sgd", "--epochs", "1", "--lr", "0.05")
    return folder


@pytest.fixture
def panel(qtbot, runs_folder, monkeypatch):
    refuse_dialogs(monkeypatch)
    widget = RunsPanel()
    qtbot.addWidget(widget)
    widget.set_folder(runs_folder)
    yield widget
    widget.shutdown()
    for view in list(widget.evaluation_windows):
        view.close()


def test_panel_lists_runs_with_settings_and_metrics(panel, runs_folder):
    assert set(panel.runs) == {"adam", "sgd"}
    for name in ("adam", "sgd"):
        summary = json.loads((runs_folder / name / "summary.json").read_text())
        item = panel.item_for(name)
        assert item.text(1) == "classification"
        assert item.text(3) == f"{summary['config']['lr']:.4g}"
        assert item.text(4) == str(summary["epochs"])
        assert item.text(5) == f"{summary['final']['accuracy']:.4g}"
        assert item.text(7) == "completed"
    assert panel.item_for("sgd").text(3) == "0.05"


def test_ticking_two_runs_overlays_their_curves(panel):
    assert panel.curves == {}
    panel.set_ticked("adam")
    panel.set_ticked("sgd")
    assert set(panel.curves) == {"adam", "sgd"}
    # per run: train loss and validation loss (loss plot) and validation accuracy (metric plot)
    assert [len(line.xData) for line in panel.curves["adam"]] == [2, 2, 2]
    assert [len(line.xData) for line in panel.curves["sgd"]] == [1, 1, 1]
    legend = [label.text for _sample, label in panel.loss_plot.getPlotItem().legend.items]
    assert sorted(legend) == ["adam", "sgd"]
    colours = {name: lines[0].opts["pen"].color().name() for name, lines in panel.curves.items()}
    assert colours["adam"] != colours["sgd"]
    panel.set_ticked("adam", False)
    assert set(panel.curves) == {"sgd"}


def test_evaluate_then_clicking_a_cell_shows_its_samples(panel, qtbot, runs_folder):
    panel.select_run("sgd")
    panel.evaluate()
    qtbot.waitUntil(lambda: bool(panel.evaluation_windows), timeout=CHILD_TIMEOUT_MS)
    view = panel.evaluation_windows[0]
    assert isinstance(view, EvaluationView) and view.isVisible()
    result = json.loads((runs_folder / "sgd" / "evaluation.json").read_text())
    assert sum(map(sum, result["confusion"])) == result["size"]
    cell = min((c for c in result["cells"] if c["true"] != c["predicted"]), key=lambda c: c["count"])
    item = view.matrix.item(cell["true"], cell["predicted"])
    assert item.text() == str(cell["count"])
    rect = view.matrix.visualItemRect(item)
    qtbot.mouseClick(view.matrix.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.samples.count() == len(cell["indices"])
    texts = [view.samples.item(i).text() for i in range(view.samples.count())]
    assert texts[0].startswith(f"#{cell['indices'][0]}\n")
    assert all(not view.samples.item(i).icon().isNull() for i in range(view.samples.count()))
    assert f"true {result['class_names'][cell['true']]}" in view.cell_title.text()
    # the per-class table, the saliency and the robustness tabs come with it
    assert view.per_class.rowCount() == len(result["class_names"])
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == ["Confusion matrix", "Per class",
                                                                         "Saliency", "Robustness"]


def test_evaluation_errors_are_reported(panel, qtbot, runs_folder, tmp_path):
    no_checkpoint = runs_folder / "broken"
    no_checkpoint.mkdir(exist_ok=True)
    shutil.copy(runs_folder / "sgd" / "project.dw.json", no_checkpoint)
    corrupt = runs_folder / "corrupt"
    corrupt.mkdir(exist_ok=True)
    shutil.copy(runs_folder / "sgd" / "project.dw.json", corrupt)
    (corrupt / "best.pt").write_bytes(b"not a checkpoint")
    try:
        panel.refresh()
        assert panel.item_for("broken").text(7) == "running / no summary"
        panel.select_run("broken")
        panel.evaluate()
        assert "saved no checkpoint" in panel.message.text()
        assert panel.process is None
        panel.select_run("corrupt")
        panel.evaluate()  # the child fails: its message shows, the studio goes on
        qtbot.waitUntil(lambda: panel.process is None, timeout=CHILD_TIMEOUT_MS)
        assert "Evaluation of corrupt failed" in panel.message.text()
        assert "weights-only checkpoint" in panel.message.text()
        assert panel.evaluation_windows == []
    finally:
        shutil.rmtree(no_checkpoint)
        shutil.rmtree(corrupt)


def test_delete_asks_then_removes_the_folder(panel, runs_folder, monkeypatch):
    doomed = runs_folder / "doomed"
    shutil.copytree(runs_folder / "sgd", doomed)
    panel.use_trash = False
    panel.refresh()
    panel.select_run("doomed")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    panel.delete()
    assert doomed.is_dir()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.delete()
    assert not doomed.exists()
    assert panel.item_for("doomed") is None and set(panel.runs) == {"adam", "sgd"}


@pytest.mark.parametrize("fmt", ["python", "onnx"])
def test_export_dialog_reports_the_equivalence_check(qtbot, registry, runs_folder, tmp_path, fmt,
                                                     monkeypatch):
    refuse_dialogs(monkeypatch)
    dialog = ExportDialog(example_document(registry, "digits_mlp"), runs_folder, runs_folder / "adam")
    qtbot.addWidget(dialog)
    assert dialog.run_dir == runs_folder / "adam"
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    assert "class " in dialog.preview.toPlainText() and "def forward" in dialog.preview.toPlainText()
    out = tmp_path / f"digits{'.py' if fmt == 'python' else '.onnx'}"
    dialog.output.setText(str(out))
    assert dialog.export_arguments()[-2:] == ["--weights", str(runs_folder / "adam" / "best.pt")]
    dialog.export()
    qtbot.waitUntil(lambda: dialog.process is None and bool(dialog.report_text), timeout=CHILD_TIMEOUT_MS)
    assert dialog.report_text.startswith(f"Exported {out.name}"), dialog.report_text
    assert "equivalence check: max difference" in dialog.report_text and "✓" in dialog.report_text
    assert dialog.max_difference is not None and dialog.max_difference < 1e-4
    assert "preprocessing carried along: inputs scaled as x' = (x - mean) / std, 10 class names" in \
        dialog.report_text
    assert out.is_file()
    if fmt == "python":
        assert out.with_suffix(".pt").is_file()  # the run's weights beside the code
    dialog.reject()


def test_export_dialog_names_the_block_when_the_model_gives_nan(qtbot, registry, runs_folder, tmp_path,
                                                                 monkeypatch):
    """A NaN weight in the run's checkpoint: the dialog says which block, not "report this as a bug"."""
    import torch

    refuse_dialogs(monkeypatch)
    broken = tmp_path / "runs"
    shutil.copytree(runs_folder / "adam", broken / "adam")
    checkpoint = torch.load(broken / "adam" / "best.pt", weights_only=True)
    first = next(key for key in checkpoint["models"]["model"] if key.endswith("weight"))
    checkpoint["models"]["model"][first].view(-1)[0] = float("nan")
    torch.save(checkpoint, broken / "adam" / "best.pt")
    dialog = ExportDialog(example_document(registry, "digits_mlp"), broken, broken / "adam")
    qtbot.addWidget(dialog)
    dialog.output.setText(str(tmp_path / "digits.py"))
    dialog.export()
    qtbot.waitUntil(lambda: dialog.process is None and bool(dialog.report_text), timeout=CHILD_TIMEOUT_MS)
    report = dialog.report_text
    assert report.startswith("Exported digits.py, digits.pt, but it could not be checked: "
                             "network 'model' gives NaN (not a number) outputs"), report
    block = first.split(".")[0]
    assert f"the first block whose output is not finite is '{block}'" in dialog.report_text
    assert dialog.nonfinite in dialog.report_text and "report this as a bug" not in dialog.report_text
    assert "color: #c0392b" in dialog.report.styleSheet()
    dialog.reject()


def test_window_has_runs_dock_export_action_and_rerun(qtbot, registry, runs_folder, tmp_path, monkeypatch):
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry, "digits_mlp")
    try:
        assert "Runs" in window.docks and window.actions["export"].shortcut().toString() == "Ctrl+E"
        window.runs.set_folder(runs_folder)
        window.runs.select_run("sgd")
        before = dict(window.document.project.training.values)
        window.runs.apply_settings()  # the run's settings into the open project, as one undo step
        assert window.document.project.training.values["lr"] == pytest.approx(0.05)
        assert window.document.project.training.values["epochs"] == 1
        window.document.undo_stack.undo()
        assert window.document.project.training.values == before
        window.runs.rerun()  # opens the run's project, as trained, as an untitled copy
        assert window.document.path is None
        assert window.document.project.training.values["lr"] == pytest.approx(0.05)
        # an untitled copy's runs go where every untitled project's go (runtime/run_names.py)
        assert window.runs.folder == runs_root(None)
        # a training run that ends shows up in the panel, selected and ticked
        window.runs.set_folder(None)
        window.training.last_run_dir = runs_folder / "adam"
        window.training.worker.ended.emit("completed", "done")
        assert window.runs.folder == runs_folder and window.runs.current_run().name == "adam"
        assert window.runs.ticked_names() == ["adam"] and len(window.runs.curves["adam"]) == 3
    finally:
        close_window(window)


def _fake_run(folder: Path, result: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_text(json.dumps(result), encoding="utf-8")
    return folder


def test_gan_view_scrubs_the_epoch_grids(qtbot, tmp_path):
    from PySide6.QtGui import QImage

    run = _fake_run(tmp_path / "gan", {"kind": "gan", "split": "val", "epoch": 2,
                                       "grids": ["samples/epoch_001.png", "samples/epoch_002.png"]})
    (run / "samples").mkdir()
    for epoch, width in ((1, 400), (2, 500)):
        image = QImage(width, 400, QImage.Format.Format_RGB32)
        image.fill(0x336699)
        assert image.save(str(run / "samples" / f"epoch_{epoch:03d}.png"))
    view = EvaluationView(run)
    qtbot.addWidget(view)
    assert view.epoch_caption.text() == "epoch 002 (2 of 2)"  # opens on the last epoch
    assert view.grid_label.pixmap().width() == 500
    view.epoch_slider.setValue(0)
    assert view.epoch_caption.text() == "epoch 001 (1 of 2)"
    assert view.grid_label.pixmap().width() == 400


def test_regression_view_scatters_predicted_against_true(qtbot, tmp_path):
    run = _fake_run(tmp_path / "reg", {"kind": "regression", "split": "val", "size": 3,
                                       "metrics": {"loss": 0.1}, "predicted": [0.1, 0.5, 0.9],
                                       "true": [0.0, 0.5, 1.0]})
    view = EvaluationView(run)
    qtbot.addWidget(view)
    xs, ys = view.scatter.getData()
    assert list(xs) == [0.0, 0.5, 1.0] and list(ys) == [0.1, 0.5, 0.9]
    assert "loss 0.1" in view.header.text()


@pytest.mark.slow  # live text samples by default: tests/test_studio_training_samples.py
def test_language_model_view_samples_a_continuation(qtbot, tmp_path):
    from runtime.cli import main

    run = train("char_transformer", tmp_path / "lm", "--epochs", "1", "--max-seconds", "2")
    assert main(["evaluate", str(run)]) == 0  # in this process: one torch start-up fewer than a child
    view = EvaluationView(run)
    qtbot.addWidget(view)
    view.prompt.setText("the ")
    view.temperature_slider.setValue(50)
    assert view.temperature.value() == pytest.approx(0.5)
    view.length.setValue(25)
    view.sample_button.click()
    assert not view.sample_button.isEnabled()
    qtbot.waitUntil(lambda: view.process is None, timeout=CHILD_TIMEOUT_MS)
    assert len(view.continuation) == 25
    assert view.output.toPlainText() == "the " + view.continuation


def test_panel_closing_while_evaluation_runs_is_quiet(qtbot, runs_folder):
    widget = RunsPanel()
    widget.set_folder(runs_folder)
    widget.select_run("sgd")
    widget.evaluate()
    process = widget.process
    assert process is not None and process.waitForStarted(10_000)
    pid = process.processId()
    widget.deleteLater()  # the child dies with its panel; a late 'finished' must reach nobody
    qtbot.waitUntil(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), timeout=10_000)
    qtbot.wait(200)  # pytest-qt fails the test on any exception raised in the event loop meanwhile


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True

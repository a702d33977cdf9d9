"""File > Export…: write the model as code, a training script, ONNX, a torch.export program or INT8 ONNX.

The user picks the format, whose weights (a fresh seeded initialisation of
the project as it is now, or the best checkpoint of one of its runs), and
where to write. Only this project's runs are offered (by the project id in
their snapshot), and a run whose network differs from the open one (it was
changed since) is refused with the differences in words: trained weights
are exported only with the network they were trained on. The open project
is what gets exported; with a run's weights, `deepwire export` checks again
(snapshot and weight shapes) before writing. The preview shows the generated
model code (for the training script, the whole script once written).
Export runs `deepwire export ... [--weights RUN/best.pt]` as a child
process, which loads the written files back, runs them next to the in-app
model on one batch and prints the largest difference; the dialog reports
that number. When a file departs from the model, the check names the first
block whose value differs (runtime/parity.py): the dialog says which and by
how much, and asks the window to select that block on the canvas
(`blockRequested`); "Compare every block" adds --explain and shows the
per-block table in the preview. "Quantized (INT8)" runs `deepwire quantize
RUN --json --project ...` instead (a run is required) and shows its figures,
float next to INT8: validation accuracy, file size and CPU latency per batch.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from graph.compiler import CompileError, compile_project
from graph.model import Project
from graph.network_match import describe_differences, network_differences
from graph.project_io import ProjectFileError, dumps_project, load_project
from studio.runs.child import child_error, start_cli
from studio.runs.run_info import RunInfo, list_runs

FORMATS = (("python", "Python model code (.py)", ".py"),
           ("script", "Standalone training script (.py)", ".py"),
           ("onnx", "ONNX (.onnx)", ".onnx"),
           ("torch-export", "torch.export program (.pt2)", ".pt2"),
           ("quantized", "Quantized (INT8) ONNX (.onnx)", ".onnx"))
REPLACE_HINT = "add --force to replace it"  # how `deepwire export` refuses to replace a file
DIFF = re.compile(r"max abs difference ([0-9.eE+-]+|nan|inf)")
# what the run's checkpoint recorded about its data, carried into the files (runtime/preprocessing.py)
PREPROCESSING = re.compile(r"^the run's preprocessing travels with it \((.*)\):", re.MULTILINE)
# the check's own verdict when the model itself gives NaN or infinite outputs (runtime/nonfinite.py)
NONFINITE = re.compile(r"written, but (network .* outputs on a random input batch, .*)")
# the per-block check's verdict on a file that departs from the model (runtime/parity.py BlockReport)
DIVERGENCE = re.compile(r"first divergence at block '(?P<name>.*)' \((?P<type>\w+), id (?P<id>[^)]+)\) "
                        r"of network '(?P<network>.*)': (?P<how>.*?); (?P<before>(the \d+ blocks? before it "
                        r"match|it is the first block computed))")
TABLES = re.compile(r"^per-block check of .*:$", re.MULTILINE)


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "model"


class ExportDialog(QDialog):
    blockRequested = Signal(str, str)  # network, block id: the first block an exported file departs at

    def __init__(self, document, runs_folder: Path | None = None, run: Path | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.resize(820, 620)
        self.document = document
        self.registry = document.registry
        self.process: QProcess | None = None
        self.report_text = ""
        self.quantized: dict | None = None  # the figures of `deepwire quantize --json` (float vs INT8)
        self.max_difference: float | None = None
        self.nonfinite: str | None = None  # why the check could not compare: NaN/inf, naming the block
        self.divergence: tuple[str, str] | None = None  # (network, block id) where a file departs
        self._tmp = tempfile.TemporaryDirectory(prefix="deepwire-export-")
        self.runs: list[RunInfo] = [r for r in list_runs(runs_folder, document.project)
                                    if r.best_checkpoint is not None]
        self.refusal = ""  # why the chosen run's weights cannot be exported with this project ("" if none)

        self.format = QComboBox()
        for key, text, _suffix in FORMATS:
            self.format.addItem(text, key)
        self.weights = QComboBox()
        self.weights.addItem("Fresh weights (the project as it is now, seeded)", None)
        for info in self.runs:
            self.weights.addItem(f"Trained: {info.name} ({info.best_checkpoint.name})", str(info.path))
        if run is not None:
            index = self.weights.findData(str(run))
            if index >= 0:
                self.weights.setCurrentIndex(index)
        self.method = QComboBox()  # quantized only
        self.method.addItem("Static (calibrated on the run's training data)", "static")
        self.method.addItem("Dynamic (weights only; for LSTM networks)", "dynamic")
        self.keep_float = QLineEdit()
        self.keep_float.setPlaceholderText("blocks to keep in float, e.g. scores, conv1 (optional)")
        self.output = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.explain = QCheckBox("Compare every block (slower: shows the per-block table)")
        self.report = QLabel()
        self.report.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Weights", self.weights)
        form.addRow("INT8 method", self.method)
        form.addRow("Keep in float", self.keep_float)
        form.addRow("Write to", out_row)
        form.addRow("", self.explain)
        self.form = form
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.report)
        layout.addWidget(self.buttons)
        self.format.currentIndexChanged.connect(self._changed)
        self.weights.currentIndexChanged.connect(self._changed)
        self.output.setText(str(self._default_output()))
        self._changed()

    # --- what is exported -----------------------------------------------------------------------------
    @property
    def fmt(self) -> str:
        return self.format.currentData()

    @property
    def run_dir(self) -> Path | None:
        data = self.weights.currentData()
        return Path(data) if data else None

    def project(self) -> Project:
        """The project to export: the open one (a chosen run's weights are checked to fit it)."""
        return self.document.project

    def _refusal(self) -> str:
        """Why the chosen run cannot be exported with the open project, in words ("" when it can)."""
        if self.run_dir is None:
            if self.fmt == "quantized":
                return ("Quantized (INT8) needs trained weights: choose a run above (its training data "
                        "calibrates the ranges, its validation split measures the accuracy).")
            return ""
        try:
            trained = load_project(self.run_dir / "project.dw.json", self.registry)
        except (ProjectFileError, OSError) as exc:
            return (f"Cannot export with the weights of {self.run_dir.name}: the project it was trained as "
                    f"cannot be read ({exc}).")
        differences = network_differences(trained, self.document.project)
        if not differences:
            return ""
        return (f"Cannot export with the weights of {self.run_dir.name}: it was trained on another network "
                f"than the open project has now ({describe_differences(differences)}). Choose fresh weights, "
                "or open the run's project (Runs > Re-run > Open the Run's Project as an Untitled Copy) "
                "and export that.")

    def _suffix(self) -> str:
        return next(s for key, _t, s in FORMATS if key == self.fmt)

    def _default_output(self) -> Path:
        folder = self.document.path.parent if self.document.path else Path.home()
        return folder / f"{_stem(self.document.project.name)}{self._suffix()}"

    def _changed(self) -> None:
        out = Path(self.output.text() or self._default_output())
        self.output.setText(str(out.with_suffix(self._suffix())))
        notes = {
            "python": "One nn.Module class per network, plain PyTorch.",
            "script": "A standalone training script (model, data loading, training loop); its data is "
                      "written beside it as .npz. The preview shows the model part until the script "
                      "is written.",
            "onnx": "An ONNX graph per network, batch dimension free; checked with onnxruntime.",
            "torch-export": "A torch.export program per network (.pt2; load with torch.export.load).",
            "quantized": "Post-training INT8 ONNX (onnxruntime): validation accuracy, file size and CPU "
                         "latency are measured next to the float model.",
        }
        for widget in (self.method, self.keep_float):
            self.form.setRowVisible(widget, self.fmt == "quantized")
        self.form.setRowVisible(self.explain, self.fmt != "quantized")  # a quantize reports no blocks
        note = notes[self.fmt]
        if self.run_dir is not None:
            note += f" Weights: the best checkpoint of {self.run_dir.name}"
            note += " (written beside the code as .pt)." if self.fmt == "python" else "."
        self.note.setText(note)
        shown, self.refusal = self.refusal, self._refusal()
        self.export_button.setEnabled(not self.refusal and self.process is None)
        if self.refusal or shown:  # say why, or take back what was said for another run
            self.report_text = self.refusal
            self.report.setStyleSheet("color: #c0392b;" if self.refusal else "")
            self.report.setText(self.refusal)
        try:
            source = compile_project(self.project(), self.registry).source
        except (CompileError, ProjectFileError) as exc:
            source = f"# the project cannot be compiled yet:\n# {exc}"
        self.preview.setPlainText(source)

    def browse(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export to", self.output.text(),
                                                    f"*{self._suffix()}")
        if path:
            self.output.setText(path)

    # --- exporting ----------------------------------------------------------------------------------
    def export_arguments(self) -> list[str]:
        # the document as it is now, unsaved edits included; a run's weights are checked against it
        project_file = Path(self._tmp.name) / f"{_stem(self.document.project.name)}.dw.json"
        project_file.write_text(dumps_project(self.document.project), encoding="utf-8")
        if self.fmt == "quantized":  # the run is checked to be this project's network (--project)
            args = ["quantize", str(self.run_dir), "-o", self.output.text(), "--json", "--project",
                    str(project_file), "--method", self.method.currentData()]
            keep = ",".join(n.strip() for n in self.keep_float.text().split(",") if n.strip())
            return args + (["--keep-float", keep] if keep else [])
        args = ["export", str(project_file), "--format", self.fmt, "-o", self.output.text()]
        if self.run_dir is not None:
            info = next(r for r in self.runs if r.path == self.run_dir)
            args += ["--weights", str(info.best_checkpoint)]
        if self.explain.isChecked():
            args.append("--explain")
        return args

    def export(self, replace: bool = False) -> None:
        """Run the export; `replace` adds --force, after the user agreed to replace existing files."""
        if self.process is not None or not self.output.text().strip():
            return
        self.refusal = self._refusal()
        if self.refusal:  # never write (or report as checked) a model the weights do not belong to
            self.report_text = self.refusal
            self.report.setStyleSheet("color: #c0392b;")
            self.report.setText(self.refusal)
            return
        Path(self.output.text()).parent.mkdir(parents=True, exist_ok=True)
        self.export_button.setEnabled(False)
        self.max_difference = None
        self.quantized = None
        self.report.setText("Quantizing, then measuring INT8 against float…" if self.fmt == "quantized"
                            else "Exporting and checking the written files against the in-app model…")
        arguments = self.export_arguments() + (["--force"] if replace else [])
        self.process = start_cli(self, arguments, self._exported)

    def _exported(self, code: int, out: str, err: str) -> None:
        self.process = None
        self.export_button.setEnabled(True)
        if code == 2 and REPLACE_HINT in err:
            if self._confirm_replace(err):
                self.export(replace=True)
            else:
                self.report_text = "Export cancelled: the existing files were kept"
                self.report.setStyleSheet("")
                self.report.setText(self.report_text)
            return
        if self.fmt == "quantized":
            self._quantized(code, out, err)
            return
        written = [line.removeprefix("wrote ").split(" (network")[0] for line in out.splitlines()
                   if line.startswith("wrote ")]
        diffs = [float(m.group(1)) for m in DIFF.finditer(out + err)]
        self.max_difference = max(diffs) if diffs else None
        nonfinite = [m.group(1) for m in map(NONFINITE.search, err.splitlines()) if m]
        self.nonfinite = nonfinite[0] if nonfinite else None
        names = ", ".join(Path(p).name for p in written) or "nothing"
        diverged = DIVERGENCE.search(err)
        self.divergence = self._block_of(diverged) if diverged else None
        if diverged and written:
            where = " (selected on the canvas)" if self.divergence else ""
            self.report_text = (f"Exported {names}, but it departs from the in-app model: the first block "
                                f"whose output differs is '{diverged['name']}' ({diverged['type']}) of "
                                f"network '{diverged['network']}'{where}: {diverged['how']}; "
                                f"{diverged['before']}")
            self.report.setStyleSheet("color: #c0392b;")
        elif self.nonfinite and written:
            self.report_text = f"Exported {names}, but it could not be checked: {self.nonfinite}"
            self.report.setStyleSheet("color: #c0392b;")
        elif code == 0:
            if self.max_difference is not None:
                check = f"equivalence check: max difference {self.max_difference:.1e} ✓"
            else:
                notes = [line for line in out.splitlines() if "not checked" in line]
                check = notes[0] if notes else "equivalence check: nothing to compare"
            self.report_text = f"Exported {names}; {check}"
            recorded = PREPROCESSING.search(out)
            if recorded:
                self.report_text += f"; preprocessing carried along: {recorded.group(1)}"
            self.report.setStyleSheet("")
            if self.fmt == "script" and written:
                self.preview.setPlainText(Path(written[0]).read_text(encoding="utf-8"))
        else:
            wrote = f" (wrote {names})" if written else ""
            self.report_text = f"Export failed: {child_error(err, code)}{wrote}"
            self.report.setStyleSheet("color: #c0392b;")
        self.report.setText(self.report_text)
        tables = TABLES.search(out)
        if tables:  # --explain: the per-block tables replace the code preview
            self.preview.setPlainText(out[tables.start():])
        if self.divergence is not None:
            self.blockRequested.emit(*self.divergence)

    def _block_of(self, found: re.Match) -> tuple[str, str] | None:
        """(network, block id) of the diverging block, when the open project still has it."""
        project = self.document.project
        network = next((net for net in project.networks if net.name == found["network"]), None)
        if network is None or found["id"] not in network.blocks:
            return None
        return network.name, found["id"]

    def _quantized(self, code: int, out: str, err: str) -> None:
        """Show `deepwire quantize --json`'s figures: the same table the command prints."""
        from runtime.quantize import QuantizeReport

        lines = [line for line in out.splitlines() if line.startswith("{")]
        if code != 0 or not lines:
            self.report_text = f"Quantization failed: {child_error(err, code)}"
            self.report.setStyleSheet("color: #c0392b;")
            self.report.setText(self.report_text)
            return
        self.quantized = json.loads(lines[-1])
        fields = {k: v for k, v in self.quantized.items() if k not in ("size_ratio", "latency_ratio")}
        report = QuantizeReport(**fields)
        if report.metric == "accuracy":
            quality = (f"validation accuracy {report.float_metric:.2%} float, {report.int8_metric:.2%} INT8")
        else:
            quality = f"mean abs output difference to float {report.int8_metric:.3g}"
        self.report_text = (f"Quantized to {Path(report.output).name} ({report.method} INT8): {quality}; "
                            f"file {report.size_ratio:.2f}x; CPU latency per batch of {report.latency_batch} "
                            f"{report.latency_ratio:.2f}x")
        self.report.setStyleSheet("")
        self.report.setText(self.report_text)
        kept = f"\nkept in float: {', '.join(report.kept_float)}" if report.kept_float else ""
        notes = "".join(f"\nnote: {note}" for note in report.notes)
        blocks = f"\n\n{report.blocks_table()}" if report.blocks else ""
        self.preview.setPlainText(report.table() + kept + notes + blocks)

    def _confirm_replace(self, err: str) -> bool:
        """The export refused to replace files that exist: ask, naming them (the CLI wrote nothing)."""
        line = next(line for line in err.splitlines() if REPLACE_HINT in line)
        files = line.removeprefix("deepwire: ").split(": already exists")[0]
        answer = QMessageBox.question(
            self, "Replace existing files?",
            f"These files already exist:\n\n{files}\n\nReplace them with the export?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def done(self, result: int) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
            self.process = None
        self._tmp.cleanup()
        super().done(result)

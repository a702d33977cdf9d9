"""The evaluation view of one run: what `deepwire evaluate` wrote to <run>/evaluation.json, shown.

Classifiers: the confusion matrix as a heat-coloured grid; clicking a cell
lists that cell's samples (thumbnails and labels) below it; per-class
precision/recall/F1; saliency overlays. Regression: predicted vs true
scatter. Language models: prompt, temperature and length, and a Sample
button running `deepwire sample` as a child. GANs: a slider over the
per-epoch sample grids. Autoencoders: inputs over their reconstructions.
Sequence to sequence: the decoded examples (source, target, greedy, beam)
worst first, and a Translate box running `deepwire predict --text` as a child.
Segmentation: the worst and best samples as image / true mask / predicted
mask, with the class colours, and per-class IoU and Dice.
Nothing here imports torch: pictures are PNG files the child wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QProcess, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from runtime.run_files import read_json
from studio.runs.child import child_error, start_cli

THUMB = 64


def heat(value: float) -> QColor:
    """White (0) to deep blue (1): the share of a row's samples in a cell."""
    v = float(np.clip(value, 0.0, 1.0))
    return QColor(int(255 - 205 * v), int(255 - 160 * v), int(255 - 60 * v))


MAX_PIXELS = 4096 * 4096  # far above the grids evaluate writes; a bigger picture in a run is not ours


def pixmap(path: Path, height: int) -> QPixmap:
    """A small PNG scaled up with hard pixels (8x8 digits stay crisp)."""
    reader = QImageReader(str(path))  # reads the header only: a huge or broken picture is never decoded
    size = reader.size()
    if not size.isValid() or size.width() * size.height() > MAX_PIXELS:
        return QPixmap()
    picture = QPixmap(str(path))
    if picture.isNull() or picture.height() >= height:
        return picture
    return picture.scaledToHeight(height, Qt.TransformationMode.FastTransformation)


def centre_over(window: QWidget, parent: QWidget | None) -> None:
    """Put a top-level window in the middle of its parent's window (or of the screen), kept on screen."""
    anchor = parent.window().frameGeometry() if parent is not None else None
    screen = (parent.screen() if parent is not None else window.screen()).availableGeometry()
    frame = window.frameGeometry()
    frame.moveCenter((anchor or screen).center())
    frame.moveLeft(max(screen.left(), min(frame.left(), screen.right() - frame.width())))
    frame.moveTop(max(screen.top(), min(frame.top(), screen.bottom() - frame.height())))
    window.move(frame.topLeft())


class EvaluationView(QWidget):
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._placed:
            self._placed = True
            centre_over(self, self.parentWidget())

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:  # a window of its own, read and dismissed like a dialog
            self.close()
            return
        super().keyPressEvent(event)

    def __init__(self, run_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.result = read_json(self.run_dir / "evaluation.json")  # RunFileError (a ValueError) if damaged
        if self.result is None:
            raise ValueError("there is no evaluation.json in it; evaluate the run first")
        if not isinstance(self.result, dict) or "kind" not in self.result:
            raise ValueError("evaluation.json has no 'kind'; run the evaluation again")
        self.kind = self.result["kind"]
        self.setWindowTitle(f"Evaluation — {self.run_dir.name}")
        self.resize(900, 640)
        self._placed = False  # centred over the main window when first shown, not at the screen's corner
        self.process: QProcess | None = None
        layout = QVBoxLayout(self)
        metrics = self.result.get("metrics") or {}
        parts = [f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float))]
        where = f"{self.result.get('split', '')} split, {self.result.get('size', 0)} samples" \
            if "size" in self.result else "sample grids"
        self.header = QLabel(f"<b>{self.run_dir.name}</b> ({self.kind}, {where}, "
                             f"{self.result.get('checkpoint', '')} of epoch {self.result.get('epoch', '?')})"
                             f"<br>{', '.join(parts)}")
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        builder = {"classification": self._classification, "regression": self._regression,
                   "language_model": self._language_model, "gan": self._gan,
                   "autoencoder": self._autoencoder, "seq2seq": self._seq2seq,
                   "segmentation": self._segmentation}.get(self.kind)
        if builder is None:
            self.tabs.addTab(QLabel(f"Nothing to show for a {self.kind} run."), "Evaluation")
        else:
            builder()

    # --- classification -----------------------------------------------------------------------------
    def _classification(self) -> None:
        names = self.result["class_names"]
        confusion = np.array(self.result["confusion"], dtype=float)
        self.cells = {(c["true"], c["predicted"]): c for c in self.result.get("cells", [])}
        self.matrix = QTableWidget(len(names), len(names))
        self.matrix.setHorizontalHeaderLabels([f"→{n}" for n in names])
        self.matrix.setVerticalHeaderLabels(names)
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.setToolTip("Rows: true class; columns: predicted class. Click a cell to see its samples.")
        rows = confusion.sum(axis=1, keepdims=True)
        share = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
        for t in range(len(names)):
            for p in range(len(names)):
                item = QTableWidgetItem(str(int(confusion[t, p])) if confusion[t, p] else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                colour = heat(share[t, p])
                if t != p and confusion[t, p]:
                    colour = QColor(255, int(235 - 150 * min(1.0, 4 * share[t, p])), 200)  # mistakes warm
                item.setBackground(QBrush(colour))
                item.setForeground(QBrush(QColor("white" if share[t, p] > 0.6 and t == p else "black")))
                item.setToolTip(f"true {names[t]}, predicted {names[p]}: {int(confusion[t, p])}")
                self.matrix.setItem(t, p, item)
        self.matrix.cellClicked.connect(self.show_cell)
        self.cell_title = QLabel("Click a cell of the matrix to see its samples.")
        self.samples = QListWidget()
        self.samples.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples.setIconSize(QSize(THUMB, THUMB))
        self.samples.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.samples.setMovement(QListWidget.Movement.Static)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.cell_title)
        lower_layout.addWidget(self.samples)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.matrix)
        split.addWidget(lower)
        split.setSizes([380, 200])
        self.tabs.addTab(split, "Confusion matrix")
        self.tabs.addTab(self._per_class_table(), "Per class")
        if self.result.get("saliency"):
            self.tabs.addTab(self._saliency(), "Saliency")
        from studio.runs.robustness import RobustnessTab

        self.robustness = RobustnessTab(self.run_dir, self.result, self)
        self.tabs.addTab(self.robustness, "Robustness")
        wrong = [c for c in self.cells.values() if c["true"] != c["predicted"]]
        if wrong:  # open on the most frequent mistake: the first thing a user wants to see
            worst = max(wrong, key=lambda c: c["count"])
            self.matrix.setCurrentCell(worst["true"], worst["predicted"])
            self.show_cell(worst["true"], worst["predicted"])

    def show_cell(self, true: int, predicted: int) -> None:
        names = self.result["class_names"]
        cell = self.cells.get((true, predicted))
        self.samples.clear()
        verdict = "correct" if true == predicted else "misclassified"
        if cell is None:
            self.cell_title.setText(f"No sample of class {names[true]} was predicted as {names[predicted]}.")
            return
        shown = len(cell["indices"])
        more = f" (first {shown} listed)" if shown < cell["count"] else ""
        self.cell_title.setText(f"<b>{cell['count']}</b> {verdict}: true {names[true]}, predicted "
                                f"{names[predicted]}{more}")
        images = {int(Path(name).stem.rsplit("_", 1)[-1]): name for name in cell.get("images", [])}
        for index in cell["indices"]:
            item = QListWidgetItem(f"#{index}\n{names[true]}→{names[predicted]}")
            if index in images:
                item.setIcon(QIcon(pixmap(self.run_dir / images[index], THUMB)))
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.samples.addItem(item)

    def _per_class_table(self) -> QTableWidget:
        rows = self.result.get("per_class", [])
        table = QTableWidget(len(rows), 5)
        table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        for r, row in enumerate(rows):
            values = [row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"])]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if 1 <= c <= 3:
                    item.setBackground(QBrush(heat(0.45 * float(text))))  # pale enough for black text
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class = table
        return table

    def _saliency(self) -> QWidget:
        names = self.result["class_names"]
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        for k, item in enumerate(self.result["saliency"]):
            picture = QLabel()
            picture.setPixmap(pixmap(self.run_dir / item["png"], 112))
            mark = "✓" if item["true"] == item["predicted"] else "✗"
            caption = QLabel(f"#{item['index']}: true {names[item['true']]}, predicted "
                             f"{names[item['predicted']]} {mark}")
            grid.addWidget(picture, (k // 3) * 2, k % 3)
            grid.addWidget(caption, (k // 3) * 2 + 1, k % 3)
        note = QLabel("Left: the sample. Right: where the predicted class's score is most sensitive to the "
                      "input (|gradient|, red = strongest).")
        note.setWordWrap(True)
        grid.addWidget(note, 99, 0, 1, 3)
        return _scrolled(grid_widget)

    # --- segmentation --------------------------------------------------------------------------------
    def _segmentation(self) -> None:
        box = QWidget()
        layout = QVBoxLayout(box)
        legend = " ".join(
            f"<span style='background-color: rgb({', '.join(str(v) for v in c['rgb'])}); color: white'>"
            f"&nbsp;{c['class']}&nbsp;</span>" if any(c["rgb"]) else f"{c['class']} (no tint)"
            for c in self.result.get("colours", []))
        note = QLabel("Each row: the image, the true mask over it, the predicted mask over it. "
                      f"Classes: {legend}")
        note.setWordWrap(True)
        layout.addWidget(note)
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        self.mask_pictures = []
        for k, item in enumerate(self.result.get("samples", [])):
            picture = QLabel()
            picture.setPixmap(pixmap(self.run_dir / item["png"], 96))
            caption = QLabel(f"{item['which']} #{item['index']}: IoU {item['iou']:.3f}")
            column = 0 if item["which"] == "worst" else 1
            row = sum(1 for other in self.result["samples"][:k] if other["which"] == item["which"])
            grid.addWidget(caption, row * 2, column)
            grid.addWidget(picture, row * 2 + 1, column)
            self.mask_pictures.append(picture)
        layout.addWidget(_scrolled(grid_widget), 1)
        self.tabs.addTab(box, "Masks")
        rows = self.result.get("per_class", [])
        table = QTableWidget(len(rows), 5)
        table.setHorizontalHeaderLabels(["Class", "IoU", "Dice", "Pixels", "Predicted pixels"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        for r, row in enumerate(rows):
            values = [row["class"], _score(row["iou"]), _score(row["dice"]), f"{row['pixels']:,}",
                      f"{row['predicted']:,}"]
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c in (1, 2) and row[("iou", "dice")[c - 1]] is not None:
                    item.setBackground(QBrush(heat(0.45 * float(row[("iou", "dice")[c - 1]]))))
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class = table
        self.tabs.addTab(table, "Per class IoU")

    # --- regression, autoencoder, GAN ------------------------------------------------------------------
    def _regression(self) -> None:
        predicted = np.array(self.result["predicted"], dtype=float)
        true = np.array(self.result["true"], dtype=float)
        plot = pg.PlotWidget(title="predicted vs true")
        plot.setLabel("bottom", "true")
        plot.setLabel("left", "predicted")
        plot.showGrid(x=True, y=True, alpha=0.2)
        self.scatter = pg.ScatterPlotItem(true, predicted, size=5, pen=None,
                                          brush=pg.mkBrush(40, 110, 220, 140))
        plot.addItem(self.scatter)
        if len(true):
            low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
            plot.plot([low, high], [low, high], pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine))
        self.tabs.addTab(plot, "Predicted vs true")

    def _autoencoder(self) -> None:
        name = self.result.get("pairs_png")
        label = QLabel("The inputs are not images; nothing to draw." if not name else "")
        if name:
            label.setPixmap(pixmap(self.run_dir / name, 220))
        caption = QLabel("Top row: inputs. Bottom row: the autoencoder's reconstructions.")
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(label, 1, Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(caption)
        self.tabs.addTab(box, "Reconstructions")

    def _gan(self) -> None:
        self.grids = [self.run_dir / name for name in self.result.get("grids", [])]
        box = QWidget()
        layout = QVBoxLayout(box)
        self.grid_label = QLabel("This run wrote no sample grids." if not self.grids else "")
        self.grid_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.epoch_slider = QSlider(Qt.Orientation.Horizontal)
        self.epoch_slider.setRange(0, max(0, len(self.grids) - 1))
        self.epoch_caption = QLabel()
        self.epoch_slider.valueChanged.connect(self.show_grid)
        layout.addWidget(self.grid_label, 1)
        layout.addWidget(self.epoch_slider)
        layout.addWidget(self.epoch_caption)
        self.tabs.addTab(box, "Samples per epoch")
        if self.grids:
            self.epoch_slider.setValue(len(self.grids) - 1)
            self.show_grid(len(self.grids) - 1)

    def show_grid(self, index: int) -> None:
        path = self.grids[index]
        self.grid_label.setPixmap(pixmap(path, 360))
        self.epoch_caption.setText(f"{path.stem.replace('_', ' ')} ({index + 1} of {len(self.grids)})")

    # --- language models ----------------------------------------------------------------------------
    def _language_model(self) -> None:
        box = QWidget()
        form = QFormLayout(box)
        self.prompt = QLineEdit("The ")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.05, 3.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(0.8)
        self.temperature_slider = QSlider(Qt.Orientation.Horizontal)
        self.temperature_slider.setRange(5, 300)
        self.temperature_slider.setValue(80)
        self.temperature_slider.valueChanged.connect(lambda v: self.temperature.setValue(v / 100))
        self.temperature.valueChanged.connect(lambda v: self.temperature_slider.setValue(round(v * 100)))
        temperature_row = QHBoxLayout()
        temperature_row.addWidget(self.temperature_slider, 1)
        temperature_row.addWidget(self.temperature)
        self.length = QSpinBox()
        self.length.setRange(1, 5000)
        self.length.setValue(200)
        self.sample_button = QPushButton("Sample")
        self.sample_button.clicked.connect(self.sample)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        form.addRow("Prompt", self.prompt)
        form.addRow("Temperature", temperature_row)
        form.addRow("Length", self.length)
        form.addRow("", self.sample_button)
        form.addRow(self.output)
        self.tabs.addTab(box, "Sample text")
        texts = [self.run_dir / name for name in self.result.get("texts", [])]
        if texts:
            shown = QPlainTextEdit("\n\n".join(f"— {p.stem} —\n{_read(p)}" for p in texts))
            shown.setReadOnly(True)
            self.tabs.addTab(shown, "Text per epoch")

    def sample(self) -> None:
        if self.process is not None:
            return
        self.sample_button.setEnabled(False)
        self.output.setPlainText("sampling…")
        args = ["sample", str(self.run_dir), "--prompt", self.prompt.text(),
                "--temperature", f"{self.temperature.value():g}", "--length", str(self.length.value())]
        self.process = start_cli(self, args, self._sampled)

    def _sampled(self, code: int, out: str, err: str) -> None:
        self.process = None
        self.sample_button.setEnabled(True)
        if code != 0:
            self.output.setPlainText(f"Sampling failed: {child_error(err, code)}")
            return
        self.continuation = out[:-1] if out.endswith("\n") else out
        self.output.setPlainText(self.prompt.text() + self.continuation)

    # --- sequence to sequence ------------------------------------------------------------------------
    def _seq2seq(self) -> None:
        rows = [r for r in self.result.get("examples", []) if isinstance(r, dict)]
        table = QTableWidget(len(rows), 5)
        beam = self.result.get("beam_size", "?")
        table.setHorizontalHeaderLabels(["Source", "Target", "Greedy", f"Beam ({beam})", "CER"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        for r, row in enumerate(rows):
            target = str(row.get("target", ""))
            for c, key in enumerate(("source", "target", "greedy", "beam")):
                item = QTableWidgetItem(str(row.get(key, "")))
                if key in ("greedy", "beam"):
                    right = item.text() == target
                    item.setBackground(QBrush(QColor(215, 240, 215) if right else QColor(255, 220, 205)))
                    item.setForeground(QBrush(QColor("black")))
                    item.setToolTip("right" if right else f"expected {target}")
                table.setItem(r, c, item)
            cer = row.get("cer", 0.0)
            table.setItem(r, 4, QTableWidgetItem(f"{cer:.2f}" if isinstance(cer, (int, float)) else ""))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.examples = table
        metrics = self.result.get("metrics") or {}
        note = QLabel(self._seq2seq_note(metrics))
        note.setWordWrap(True)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addWidget(note)
        layout.addWidget(table, 1)
        self.tabs.addTab(box, "Examples")

        translate = QWidget()
        form = QFormLayout(translate)
        self.source_text = QLineEdit(str(rows[0]["source"]) if rows else "3 Feb 2021")
        self.source_text.returnPressed.connect(self.translate)
        self.beam_size = QSpinBox()
        self.beam_size.setRange(1, 32)
        self.beam_size.setValue(int(self.result.get("beam_size", 4) or 4))
        self.beam_size.setToolTip("1: greedy decoding (the best character at every step)")
        self.translate_button = QPushButton("Translate")
        self.translate_button.clicked.connect(self.translate)
        self.translation = QLineEdit()
        self.translation.setReadOnly(True)
        self.translation.setPlaceholderText("the model's answer appears here")
        form.addRow("Source text", self.source_text)
        form.addRow("Beam size", self.beam_size)
        form.addRow("", self.translate_button)
        form.addRow("Answer", self.translation)
        self.tabs.addTab(translate, "Translate")

    def _seq2seq_note(self, metrics: dict) -> str:
        def share(key):
            value = metrics.get(key)
            return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "?"

        def rate(key):
            value = metrics.get(key)
            return f"{value:.4f}" if isinstance(value, (int, float)) else "?"

        get = self.result.get
        return (f"Greedy decoding of {get('decoded', '?')} samples: exact match {share('exact_match')}, "
                f"character error rate {rate('cer')}. Beam ({get('beam_size', '?')}) on the first "
                f"{get('beam_samples', '?')}: exact match {share('beam_exact_match')}, character "
                f"error rate {rate('beam_cer')}. The worst answers first.")

    def translate(self) -> None:
        if self.process is not None:
            return
        text = self.source_text.text()
        if not text:
            self.translation.setText("type a text to translate")
            return
        self.translate_button.setEnabled(False)
        self.translation.setText("translating…")
        args = ["predict", str(self.run_dir), "--text", text, "--beam", str(self.beam_size.value()), "--json"]
        self.process = start_cli(self, args, self._translated)

    def _translated(self, code: int, out: str, err: str) -> None:
        self.process = None
        self.translate_button.setEnabled(True)
        if code != 0:
            self.translation.setText(f"Translating failed: {child_error(err, code)}")
            return
        import json

        try:
            answer = json.loads(out.strip().splitlines()[-1])["translation"]
        except (ValueError, IndexError, KeyError, TypeError):
            self.translation.setText(f"Translating failed: unexpected output {out[:80]!r}")
            return
        self.translation.setText(str(answer))

    def closeEvent(self, event) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
        if getattr(self, "robustness", None) is not None:
            self.robustness.shutdown()
        super().closeEvent(event)


def _read(path: Path) -> str:
    from runtime.run_files import RunFileError, read_text

    try:
        return read_text(path) or ""
    except RunFileError as err:  # not text, not a regular file (a pipe would block), too large
        return str(err)


def _score(value) -> str:
    """A 0..1 score to three places, or a dash for a class that was in neither masks nor predictions."""
    return "-" if value is None else f"{value:.3f}"


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    return area

"""The Runs panel's "Try It" window: drop an image, pick files or type a row or text, see the prediction.

Each request runs `deepwire predict RUN ... --json` as a child process
(studio/runs/child.py), so torch never loads in the GUI and a slow model
never freezes it; the rows it prints fill the results table (input, class,
probability, next best) or, for a regression, the output values. A typed
row of numbers goes through a temporary CSV file, exactly as a file would,
so the studio and the command line cannot disagree. Errors the child
reports (an unreadable image, a row of the wrong length) show in red under
the table, naming the input.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.runs.child import child_error, start_cli

COLUMNS = ("Input", "Prediction", "Probability", "Next best")
MAX_SHOWN_VALUES = 8


class TryItWindow(QWidget):
    """Predictions of one run for inputs the user brings."""

    finished = Signal()  # a prediction request ended (results or an error are showing)

    def __init__(self, run_dir: Path, input_kind: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.input_kind = input_kind  # "image", "vector", "tokens", ... (None: unknown)
        self.process: QProcess | None = None
        self._temporary = tempfile.TemporaryDirectory(prefix="deepwire-try-")
        self.setWindowTitle(f"Try It — {self.run_dir.name}")
        self.setAcceptDrops(True)
        self.resize(760, 460)

        self.hint = QLabel(self._hint_text())
        self.hint.setWordWrap(True)
        self.choose_button = QPushButton("Choose Files…")
        self.choose_button.setToolTip("Image files, .npy/.npz arrays or .csv rows")
        self.choose_button.clicked.connect(self.choose_files)
        self.folder_button = QPushButton("Choose Folder…")
        self.folder_button.setToolTip("Every image file in a folder and its sub-folders")
        self.folder_button.clicked.connect(self.choose_folder)
        self.entry = QLineEdit()
        typed_hint = ("some text: its class, or the character that comes next" if input_kind == "tokens"
                      else "a row of numbers, e.g. 5.1, 3.5, 1.4, 0.2")
        self.entry.setPlaceholderText(typed_hint)
        self.entry.returnPressed.connect(self.predict_entry)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.predict_entry)

        typed = input_kind in ("vector", "tokens", None)  # an image or a sequence cannot be typed in
        self.entry.setVisible(typed)
        self.predict_button.setVisible(typed)
        self.folder_button.setVisible(input_kind in ("image", None))

        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.entry, 1)
        buttons.addWidget(self.predict_button)
        if not typed:
            buttons.addStretch(1)

        self.results = QTreeWidget()
        self.results.setHeaderLabels(list(COLUMNS))
        self.results.setRootIsDecorated(False)
        self.results.setAlternatingRowColors(True)
        header = self.results.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 300)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.message)

    def _hint_text(self) -> str:
        what = {"image": "Drop image files or a folder here, or choose them",
                "vector": "Type a row of numbers, or drop or choose a .csv file",
                "tokens": "Type some text: a classifier names its class, a language model the next "
                          "character",
                "sequence": "Drop or choose a .npy file of samples"}.get(self.input_kind or "",
                                                                          "Drop or choose input files")
        return f"{what}. The run's own preprocessing is applied, as in training."

    # --- requests --------------------------------------------------------------------------------
    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Inputs to predict", str(Path.home()),
                                                "Inputs (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff "
                                                "*.npy *.npz *.csv *.tsv);;All files (*)")
        if files:
            self.predict_paths(files)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of images", str(Path.home()))
        if folder:
            self.predict_paths([folder])

    def predict_entry(self) -> None:
        text = self.entry.text()
        if not text.strip():
            self._fail("Type a row of numbers or some text first.")
            return
        if self.input_kind == "tokens":
            self.predict(["--text", text])
            return
        row = Path(self._temporary.name) / "typed row.csv"
        row.write_text(text.replace(";", ",").replace("\t", ",") + "\n", encoding="utf-8")
        self.predict([str(row)], typed=text)

    def predict_paths(self, paths: list[str]) -> None:
        self.predict([str(p) for p in paths])

    def predict(self, arguments: list[str], typed: str | None = None) -> bool:
        """Start `deepwire predict` on these arguments; False while another request still runs."""
        if self.process is not None:
            return False
        self.message.setStyleSheet("")
        self.message.setText("Predicting…")
        self._set_busy(True)
        options = arguments[:2] if arguments[:1] == ["--text"] else []
        paths = arguments[len(options):]
        # paths after "--": a file named "-x.png" is an input, never an option
        command = ["predict", "--top", "3", "--json", *options, str(self.run_dir), "--", *paths]
        self.process = start_cli(self, command, lambda code, out, err: self._done(code, out, err, typed))
        return True

    def _done(self, code: int, out: str, err: str, typed: str | None) -> None:
        self.process = None
        self._set_busy(False)
        if code != 0:
            self._fail(child_error(err, code).replace(str(Path(self._temporary.name) / "typed row.csv"),
                                                      "the typed row"))
        else:
            rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            self.results.clear()
            for row in rows:
                self.results.addTopLevelItem(QTreeWidgetItem(self._cells(row, typed)))
            self.message.setText(f"{len(rows)} input{'s' if len(rows) != 1 else ''} predicted.")
        self.finished.emit()

    def _cells(self, row: dict, typed: str | None) -> list[str]:
        label = str(row.get("input", ""))
        if typed is not None:
            label = f"typed: {typed[:60]}"
        if "translation" in row:  # a seq2seq run's answer for the typed text
            return [label, _visible(str(row["translation"])), "", ""]
        if "class" in row:
            rest = ", ".join(f"{t['class']!s} {100 * t['probability']:.1f}%" for t in row.get("top", [])[1:])
            return [label, _visible(str(row["class"])), f"{100 * row['probability']:.1f}%", rest]
        if "pixels" in row:  # segmentation: the share of the pixels given to each class
            shares = ", ".join(f"{_visible(str(p['class']))} {100 * p['share']:.1f}%" for p in row["pixels"]
                               if p["share"] > 0)
            return [label, f"pixels: {shares}", "", ""]
        values = row.get("values", [])
        shown = ", ".join(f"{v:.4g}" for v in values[:MAX_SHOWN_VALUES])
        more = f", … ({len(values)} values)" if len(values) > MAX_SHOWN_VALUES else ""
        return [label, shown + more, "", ""]

    def _fail(self, text: str) -> None:
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setText(text)

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.choose_button, self.folder_button, self.predict_button, self.entry):
            widget.setEnabled(not busy)

    # --- drops -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.predict_paths(paths)

    # --- lifetime --------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
            self.process = None
        self._temporary.cleanup()
        super().closeEvent(event)


INPUT_KINDS = {"ImageInput": "image", "VectorInput": "vector", "SequenceInput": "sequence",
               "TokenInput": "tokens"}


def input_kind_of(run_dir: Path) -> str | None:
    """What the run's network reads, from its project snapshot (plain JSON: no torch, no compile)."""
    from runtime.run_files import RunFileError, read_json

    try:
        snapshot = read_json(Path(run_dir) / "project.dw.json")
    except (RunFileError, OSError, ValueError):
        return None
    try:
        for network in snapshot.get("networks", []):
            for block in network.get("blocks", []):
                if block.get("type") in INPUT_KINDS:
                    return INPUT_KINDS[block["type"]]
    except (AttributeError, TypeError):  # a damaged snapshot: predict itself will say what is wrong
        return None
    return None


def _visible(text: str) -> str:
    """A predicted character made visible: a space or a newline would show as nothing."""
    return {" ": "␣ (space)", "\n": "↵ (newline)", "\t": "⇥ (tab)"}.get(text, text)

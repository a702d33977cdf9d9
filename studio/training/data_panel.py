"""The Data dock: which data feeds the network, its options, a preview and the shapes it gives.

The source list and each source's options come from runtime.data.SOURCES
(declared with the same `Param` type as blocks, so the inspector's editors
are reused); every edit is one undo step through `Document.set_training`.
The shapes come from `probe` (cheap: constants, a file header), checked
against the network's input block, so a mismatch shows here as a problem
naming the block. The preview (sample images with labels, table rows, a
text excerpt) reads the data with the source's own `read`, which needs no
torch, on a background thread with a timeout (the window paints first and
never waits on a disk); it is computed only while the dock is visible, since
reading a set can take a second. torchvision sets get no preview: reading them needs torch.
Below the shapes, "Check data" runs the data-health report (studio/training/data_health.py).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.training_config import DataSpec
from runtime.data import SOURCES, DataError
from runtime.data.registry import augment_problem
from runtime.data.source import Context, shape_text
from studio.data_fit import input_fix
from studio.document import Document
from studio.param_editors import ParamEditor, make_editor
from studio.training.data_health import DataHealth

INPUT_TYPES = {"ImageInput": "image", "SequenceInput": "sequence", "VectorInput": "vector",
               "TabularInput": "vector", "TokenInput": "tokens"}
NO_PREVIEW = ("torchvision",)  # reading these imports torch
GRID = (4, 6)  # preview images: rows, columns (fits a 300-pixel dock)
CELL = 42  # pixels per preview image: 6 columns fit a 300-pixel dock beside a vertical scroll bar
POLL_MS = 30  # how often the GUI looks whether the background read is done
READ_TIMEOUT_S = 20.0  # a preview read taking longer is given up (and said so)
NO_DATA_NOTICE = ("No data yet (an imported model starts without any): pick a source above, "
                  "or train from the command line with deepwire train PROJECT --data SOURCE")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name longer than the system allows: it cannot exist
        return False


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # a loop of links, a name too long: show it as written
        return path


def input_block(document: Document):
    """(block, shape, kind) of the first data input block of the data-reading network, or None."""
    nets = document.project.networks
    recipe = document.project.training.recipe
    for net in (nets[1:] + nets[:1]) if recipe == "gan" and len(nets) > 1 else nets:
        for block in net.blocks.values():
            if block.type in INPUT_TYPES:
                shape = document.analysis(net.name).shapes.get(block.id)
                return block, tuple(shape) if shape else None, INPUT_TYPES[block.type]
    return None


def image_grid(inputs: np.ndarray, labels: list[str], pixel_range, masks: np.ndarray | None = None) -> QImage:
    """Up to GRID images (N, C, H, W) scaled to CELL pixels, each with its label under it.

    masks (N, H, W): segmentation class ids, drawn over their images in the class colours."""
    rows, cols = GRID
    count = min(len(inputs), rows * cols)
    rows = max(1, -(-count // cols))
    low, high = pixel_range or (float(inputs.min()), float(inputs.max()) or 1.0)
    image = QImage(cols * CELL, rows * (CELL + 14), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setFont(QFont("sans", 8))
    span = (high - low) or 1.0
    for i in range(count):
        sample = np.clip(np.nan_to_num((np.asarray(inputs[i], dtype=np.float32) - low) / span), 0, 1)
        if masks is not None and i < len(masks):  # the mask over its image, as the evaluation draws it
            from runtime.train.masks import image_rgb, overlay

            tinted = overlay(image_rgb(sample, (0.0, 1.0)), masks[i])
            rgb = np.ascontiguousarray((255 * tinted).astype(np.uint8))
            tile = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888)
        elif sample.shape[0] == 3:  # colour: as it is
            rgb = np.ascontiguousarray((255 * sample.transpose(1, 2, 0)).astype(np.uint8))
            tile = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888)
        else:  # grey: dark ink on white, like a page
            ink = np.ascontiguousarray((255 - 255 * sample.mean(axis=0)).astype(np.uint8))
            tile = QImage(ink.data, ink.shape[1], ink.shape[0], ink.shape[1], QImage.Format.Format_Grayscale8)
        x, y = (i % cols) * CELL, (i // cols) * (CELL + 14)
        painter.drawImage(x + 4, y + 2, tile.scaled(CELL - 8, CELL - 8))
        label = labels[i] if i < len(labels) else ""
        painter.drawText(x, y + CELL - 4, CELL, 14, Qt.AlignmentFlag.AlignHCenter, label)
    painter.end()
    return image


PREVIEW_IMAGES = GRID[0] * GRID[1]  # images the grid shows
PREVIEW_ROWS = 8  # table rows shown
PREVIEW_TEXT_ROWS = 6  # text windows shown


@dataclass
class Sample:
    """What the preview shows, already read on the reader thread: a few rows, never the data set.

    The GUI thread only paints these; it never touches the source's arrays or stores (a streamed
    image folder turned into a numpy array there would decode every file in it)."""

    kind: str  # "images", "table" or "text"
    inputs: np.ndarray | None = None  # the rows shown, (n, ...)
    labels: list[str] = field(default_factory=list)
    pixel_range: tuple | None = None
    text: str = ""
    total: int = 0  # samples in the data, for the title
    masks: np.ndarray | None = None  # segmentation: the class id of every pixel of each image shown


def shown_rows(count: int, wanted: int) -> np.ndarray:
    """`wanted` row numbers spread evenly over `count` rows (a folder sorted by class shows every class)."""
    if count <= wanted:
        return np.arange(count, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, wanted).round().astype(np.int64))


def _label(value, raw) -> str:
    names = raw.class_names or []
    if raw.target_kind == "class" and np.ndim(value) == 0 and 0 <= int(value) < len(names):
        return names[int(value)]
    return f"{float(value):.3g}" if np.ndim(value) == 0 else ""


def _read_sample(source, options: dict, recipe, base_dir, shape) -> Sample:
    """The rows the preview shows; runs on the reader thread (no Qt here).

    The source is read with `Context.stream`: whatever can stream does (an image folder of any size
    is only indexed), and only the shown rows are then read: PREVIEW_IMAGES images (decoded), or
    PREVIEW_ROWS table rows, or PREVIEW_TEXT_ROWS text windows.
    """
    from runtime.data.rows import read_checked

    options = source.check_options(options)
    context = Context(recipe=recipe, base_dir=base_dir, stream=True)
    natural = source.natural(options, context)
    context.shape = shape if shape and natural.flexible != "fixed" else natural.shape
    raw = source.read(options, context)
    if raw.target_kind == "translation" and raw.splits:  # text pairs: "source  →  target" per line
        from runtime.data.parallel import decode_ids

        sources, targets = raw.splits[0]
        text = "\n".join(f"{decode_ids(s, raw.vocab)}  →  {decode_ids(t, raw.vocab)}"
                         for s, t in zip(sources[:PREVIEW_TEXT_ROWS], targets[:PREVIEW_TEXT_ROWS]))
        return Sample("text", text=text, total=len(sources))
    if raw.inputs is None and raw.splits and raw.vocab:  # text: windows of character ids
        first = raw.splits[0]
        ids = first[0] if isinstance(first, tuple) else first
        rows = np.asarray(ids[:PREVIEW_TEXT_ROWS])
        rows = rows.reshape(len(rows), -1)
        text = "\n".join("".join(raw.vocab[i] for i in row).replace("\n", "⏎") for row in rows)
        return Sample("text", text=text, total=len(ids))
    images = natural.input_kind == "image" and len(raw.inputs.shape) == 4
    rows = shown_rows(len(raw.inputs), PREVIEW_IMAGES if images else PREVIEW_ROWS)
    inputs, bad, _names = read_checked(raw.inputs, rows)
    inputs = np.asarray(inputs)
    if bad is not None and bad.any():  # a file that does not decode is left out of the preview
        inputs, rows = inputs[~bad], rows[~bad]
    targets = np.asarray(raw.targets[rows]) if raw.targets is not None else None
    masks = targets if images and targets is not None and targets.ndim == 3 else None
    # a mask is drawn over its image in the class colours (too many names for a label under it)
    labels = [_label(t, raw) for t in targets] if targets is not None and masks is None else []
    return Sample("images" if images else "table", inputs, labels, raw.pixel_range, total=len(raw.inputs),
                  masks=masks)


class _Reading:
    """One preview read on a daemon thread (a read stuck on a disk never holds up quitting the app)."""

    def __init__(self, *args):
        self.done = threading.Event()
        self.result: tuple | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=args, name="data-preview", daemon=True).start()

    def _run(self, *args) -> None:
        try:
            self.result = _read_sample(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the GUI thread, which decides
            self.error = err
        finally:
            self.done.set()


class DataPanel(QWidget):
    problemChanged = Signal(str)  # "" when the data fits the input block

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.editors: dict[str, ParamEditor] = {}
        self.problem = ""
        self.notice = ""  # "no data yet": shown in grey, never as a problem
        self.shapes_text = ""
        self.preview_kind = ""  # images, table, text, or "" (tests and screenshots read it)
        self._previewed: tuple | None = None
        self._reading: _Reading | None = None  # the preview being read in the background
        self._reading_key: tuple | None = None
        self._reading_since = 0.0

        self.source = QComboBox()
        for name, source in SOURCES.items():
            self.source.addItem(source.title, name)
        self.source.activated.connect(self._source_picked)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.options = QFormLayout()
        self.shapes = QLabel()
        self.shapes.setWordWrap(True)
        self.files = QLabel()  # the data files training will read, resolved, before anything runs
        self.files.setWordWrap(True)
        self.files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files.setStyleSheet("color: #555")
        self.notice_label = QLabel()  # "no data yet" (an imported model): a hint, not a problem
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #555")
        self.notice_label.setVisible(False)
        self.source.setPlaceholderText("No data yet: pick a source")
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b")
        self.images = QLabel()
        self.table = QTableWidget()
        self.table.setMaximumHeight(180)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumHeight(180)

        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self.source)
        column.addWidget(self.help)
        column.addLayout(self.options)
        column.addWidget(self.files)
        column.addWidget(self.shapes)
        column.addWidget(self.notice_label)
        column.addWidget(self.problem_label)
        self.health = DataHealth(document)  # `deepwire data`: counts, bad files, the dry run; on request
        column.addWidget(self.health)
        self.preview_title = QLabel("<b>Preview</b>")
        column.addWidget(self.preview_title)
        for widget in (self.images, self.table, self.text):
            column.addWidget(widget)
            widget.setVisible(False)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        QVBoxLayout(self).addWidget(scroll)
        self.layout().setContentsMargins(0, 0, 0, 0)

        document.undo_stack.indexChanged.connect(self.refresh)
        document.projectReplaced.connect(self.refresh)
        self._shown_source = None
        self.refresh()

    # --- editing ---
    def _source_picked(self, index: int) -> None:
        name = self.source.itemData(index)
        if name != self.document.project.data.source:
            self.document.set_training(data=DataSpec(name, {}), text=f"Use {SOURCES[name].title} data")

    def _set_option(self, name: str, value) -> None:
        spec = self.document.project.data
        if spec.options.get(name, SOURCES[spec.source].param(name).default) == value:
            return
        self.document.set_training(data=DataSpec(spec.source, {**copy.deepcopy(spec.options), name: value}),
                                   text=f"Set data {name}")

    def _build_options(self, source_name: str) -> None:
        for editor in self.editors.values():
            editor.retire()
        while self.options.rowCount():
            self.options.removeRow(0)
        self.editors = {}
        for param in SOURCES[source_name].params:
            editor = make_editor(param)
            editor.committed.connect(lambda value, name=param.name: self._set_option(name, value))
            editor.refused.connect(self.problem_label.setText)
            self.options.addRow(param.name.replace("_", " ").capitalize(), editor)
            self.editors[param.name] = editor
        self._shown_source = source_name

    def _build_options_none(self) -> None:
        for editor in self.editors.values():
            editor.retire()
        while self.options.rowCount():
            self.options.removeRow(0)
        self.editors = {}
        self._shown_source = None

    # --- showing ---
    def refresh(self, *_args) -> None:
        spec = self.document.project.data
        self.notice = "" if spec.chosen else NO_DATA_NOTICE
        self.notice_label.setText(self.notice)
        self.notice_label.setVisible(bool(self.notice))
        if not spec.chosen:
            self.source.setCurrentIndex(-1)
            self.help.setText("")
            self._build_options_none()
            self.files.setVisible(False)
            self.shapes_text = ""
            self.shapes.setText("")
            self._set_problem("")  # no data is no problem of the network: nothing on its input block
            for widget in (self.images, self.table, self.text, self.preview_title):
                widget.setVisible(False)
            return
        source = SOURCES.get(spec.source)
        if source is None:
            self._set_problem(f"unknown data source '{spec.source}'")
            return
        self.source.setCurrentIndex(self.source.findData(spec.source))
        self.help.setText(source.help)
        if self._shown_source != spec.source:
            self._build_options(spec.source)
        for name, editor in self.editors.items():
            editor.set_value(spec.options.get(name, source.param(name).default))
        self.files.setText(self.files_text())
        self.files.setVisible(bool(self.files.text()))
        self._probe()
        if self.isVisible():
            self.update_preview()

    def files_text(self) -> str:
        """The files the data options name, as training will resolve them (it only ever reads them)."""
        from studio.training.worker import PATH_OPTIONS

        base, shown = self._base_dir(), []
        for name in PATH_OPTIONS:
            value = self.document.project.data.options.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            path = Path(value).expanduser()
            if not path.is_absolute():
                if base is None:
                    shown.append(f"{value} (relative: save the project so it is found beside it)")
                    continue
                path = _resolved(base / path)
            shown.append(f"{path}" + ("" if _exists(path) else " (not found)"))
        return "Reads (never writes): " + "; ".join(shown) if shown else ""

    def _base_dir(self):
        return self.document.path.parent if self.document.path is not None else None

    def _probe(self) -> None:
        spec = self.document.project.data
        found = input_block(self.document)
        block, shape, kind = found if found else (None, None, None)
        try:
            probe = SOURCES[spec.source].probe(spec, shape, kind, self.document.project.training.recipe,
                                               self._base_dir())
        except (DataError, ValueError) as err:
            where = f"Input block '{block.name}': " if block is not None else ""
            self.shapes_text = ""
            self.shapes.setText("")
            # the error names the shape the data has: offer it as a one-click fix
            fix = input_fix(self.document.project, block.id, block.type, block.params, self._base_dir()) \
                if block is not None else None
            self._set_problem(where + str(err), fix)
            return
        classes = f" · {probe.num_classes} classes" if probe.target_kind == "class" else ""
        vocab = f" · vocabulary {probe.num_classes}" if probe.target_kind == "tokens" else ""
        self.shapes_text = f"Gives {probe.input_kind} batches {shape_text(probe.input_shape)}{classes}{vocab}"
        self.shapes.setText(self.shapes_text)
        # a training setting that does not fit this data (image flips on sounds): said here, before Train
        self._set_problem(augment_problem(spec.source, self.document.project.training.augment) or "")

    def _set_problem(self, text: str, fix=None) -> None:
        self.problem_label.setText(text)
        self.problem_label.setVisible(bool(text))
        found = input_block(self.document)
        # the canvas and the problems list show it on the input block too
        self.document.set_data_problem(found[0].id if found else None, text, fix)
        if text != self.problem:
            self.problem = text
            self.problemChanged.emit(text)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # Reading the data (and importing scikit-learn for a bundled set) takes a second or more: let
        # the window paint first, and skip it when the panel was only shown behind another dock tab
        # (such a panel is briefly "visible" with nothing of it on screen while the docks settle).
        QTimer.singleShot(0, self, lambda: self._preview_if_seen(tries=5))

    def _preview_if_seen(self, tries: int) -> None:
        if not self.isVisible():
            return
        if self.visibleRegion().isEmpty():
            if tries > 0:
                QTimer.singleShot(100, self, lambda: self._preview_if_seen(tries - 1))
            return
        self.update_preview()

    def update_preview(self) -> None:
        """Read the data and show a few samples (skipped when nothing changed since the last time)."""
        spec = self.document.project.data
        key = (spec.source, repr(sorted(spec.options.items())), self.shapes_text)
        if key == self._previewed:
            return
        self._previewed = key
        for widget in (self.images, self.table, self.text, self.preview_title):
            widget.setVisible(False)
        self.preview_kind = ""
        if spec.source in NO_PREVIEW or self.problem or not spec.chosen:
            return
        source = SOURCES[spec.source]
        found = input_block(self.document)
        recipe, base_dir = self.document.project.training.recipe, self._base_dir()
        options = dict(spec.options)
        shape = found[1] if found else None
        # off the GUI thread: a slow disk, a network folder or a huge file never freezes the window
        self._reading = _Reading(source, options, recipe, base_dir, shape)
        self._reading_key, self._reading_since = key, time.monotonic()
        QTimer.singleShot(POLL_MS, self, self._collect)

    def _collect(self) -> None:
        """Show what the background read gave, or say it took too long (the read is then ignored)."""
        future = self._reading
        if future is None or self._reading_key != self._previewed:
            return  # a newer preview replaced this one
        if not future.done.is_set():
            if time.monotonic() - self._reading_since > READ_TIMEOUT_S:
                self._reading = None
                self._set_problem(f"The data could not be read: reading it took more than "
                                  f"{READ_TIMEOUT_S:g} seconds; is the file on a slow or unreachable disk?")
                return
            QTimer.singleShot(POLL_MS, self, self._collect)
            return
        self._reading = None
        if isinstance(future.error, (DataError, ValueError, OSError, ImportError, MemoryError)):
            self._set_problem(f"The data could not be read: {future.error}")
            return
        if future.error is not None:  # a reader's bug: said here, the window goes on
            self._set_problem(f"The data could not be read: {type(future.error).__name__}: {future.error}")
            return
        self._show(future.result)

    def preview_pending(self) -> bool:
        return self._reading is not None

    def _show(self, sample: Sample) -> None:
        """Paint what the reader thread read: a few rows, already in memory (nothing is read here)."""
        if sample.kind == "text":
            self.text.setPlainText(sample.text)
            self.text.setVisible(True)
            self.preview_kind = "text"
            self.preview_title.setVisible(True)
            return
        inputs, labels = sample.inputs, sample.labels
        if sample.kind == "images":
            self.images.setPixmap(QPixmap.fromImage(image_grid(inputs, labels, sample.pixel_range,
                                                               sample.masks)))
            self.images.setVisible(True)
            self.preview_kind = "images"
            self.preview_title.setVisible(True)
            return
        flat = inputs[:PREVIEW_ROWS].reshape(min(PREVIEW_ROWS, len(inputs)), -1)[:, :12]
        self.table.setRowCount(len(flat))
        self.table.setColumnCount(flat.shape[1] + 1)
        self.table.setHorizontalHeaderLabels([f"x{j}" for j in range(flat.shape[1])] + ["label"])
        for i, row in enumerate(flat):
            for j, value in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(f"{value:.3g}"))
            self.table.setItem(i, flat.shape[1], QTableWidgetItem(labels[i] if i < len(labels) else ""))
        self.table.resizeColumnsToContents()
        self.table.setVisible(True)
        self.preview_kind = "table"
        self.preview_title.setVisible(True)

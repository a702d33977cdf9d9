"""The Preview panel: what the selected block outputs for a few samples, drawn with pyqtgraph.

Selecting one block starts `deepwire preview` (runtime/commands/preview.py)
as a child process on a snapshot of the project as it is now; torch never
enters the GUI process. Selection changes are debounced (a click-through
of several blocks starts one child), and a newer selection kills the child
still computing an older one. Results are kept per (block, weights,
project revision), so going back to a block is instant.

Drawing by kind: feature maps (C, H, W) as a grid of the first 16 channels,
sequences (T, F) as one line per feature, vectors (F,) as bars, attention
weights (T, S) as a heat map. "Trained" uses the newest run's best.pt from
the runs folder beside the project; "Random" the seeded fresh weights.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QProcess, QProcessEnvironment, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from runtime.lifeline import ENV as LIFELINE
from studio.runs.run_info import list_runs
from studio.training.worker import snapshot

MAX_MAPS = 16  # feature maps shown in the grid
MAX_LINES = 8  # sequence features drawn as lines
DEBOUNCE_MS = 250


def latest_checkpoint(folder: Path | None) -> tuple[str, Path] | None:
    """(run name, best.pt) of the newest finished run with a checkpoint, or None."""
    for run in list_runs(folder):
        if (run.path / "summary.json").is_file() and run.best_checkpoint is not None:
            return run.name, run.best_checkpoint
    return None


class PreviewPanel(QWidget):
    previewReady = Signal(str)  # the block id whose preview was just drawn

    def __init__(self, document, runs_folder: Callable[[], Path | None] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.runs_folder = runs_folder or (lambda: None)
        self.target: tuple[str, str] | None = None  # (network, block id) selected
        self.process: QProcess | None = None
        self.data: dict[str, np.ndarray] | None = None  # the arrays drawn now
        self.image_items: list[pg.ImageItem] = []
        self._cache: dict[tuple, dict[str, np.ndarray]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="deepwire-preview-")
        self._running_key: tuple | None = None
        self._stderr = b""

        self.title = QLabel("Select one block to see its output")
        self.title.setWordWrap(True)
        self.weights = QComboBox()
        self.weights.setToolTip("Random: the fresh (seeded) weights training starts from; "
                                "trained: the newest run's best checkpoint")
        self.weights.currentIndexChanged.connect(lambda *_: self._schedule())
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(None)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.weights)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.plots, 1)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)
        self.refresh_runs()

    # --- what to preview ---
    def refresh_runs(self) -> None:
        """Offer 'trained' when a finished run with a checkpoint exists."""
        latest = latest_checkpoint(self.runs_folder())
        current = self.weights.currentData()
        self.weights.blockSignals(True)
        self.weights.clear()
        self.weights.addItem("Random weights", None)
        if latest is not None:
            self.weights.addItem(f"Trained ({latest[0]})", str(latest[1]))
            if current is not None:
                self.weights.setCurrentIndex(1)
        self.weights.setEnabled(latest is not None)
        self.weights.blockSignals(False)

    def show_selection(self, network: str, ids: list[str]) -> None:
        """The canvas selection changed: preview a lone selected block, else say what to do."""
        if len(ids) != 1:
            self.target = None
            self._timer.stop()
            self._cancel()
            self.title.setText("Select one block to see its output")
            return
        self.target = (network, ids[0])
        self._schedule()

    def _schedule(self) -> None:
        if self.target is not None:
            self._timer.start()

    def _key(self) -> tuple:
        project = self.document.project
        network, block = self.target
        revisions = tuple(net.revision for net in project.networks)
        return network, block, self.weights.currentData(), revisions, repr(project.data), project.seed

    # --- the child ---
    def _start(self) -> None:
        if self.target is None:
            return
        network, block_id = self.target
        try:
            block = self.document.project.network(network).block(block_id)
        except (KeyError, ValueError):
            return
        self.title.setText(f"<b>{escape(block.name)}</b> <span style='color:gray'>{block.type}</span>")
        key = self._key()
        if key in self._cache:
            self._cancel()
            self._draw(self._cache[key])
            return
        if key == self._running_key:
            return  # that very preview is on its way
        self._cancel()
        folder = Path(self._tmp.name) / f"p{len(self._cache)}-{id(key) % 10_000}"
        folder.mkdir(parents=True, exist_ok=True)
        path = getattr(self.document, "path", None)
        base = Path(path).parent if path is not None else None
        project_file = snapshot(self.document.project, base, folder)
        out = folder / "preview.npz"
        args = ["-m", "runtime.cli", "preview", str(project_file), "--block", block_id, "--network", network,
                "--samples", "4", "--out", str(out)]
        if self.weights.currentData():
            args += ["--weights", self.weights.currentData()]
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert(LIFELINE, str(os.getpid()))  # the child dies with the studio
        environment.insert("OMP_NUM_THREADS", "1")  # a small batch: threads would only fight the GUI
        process.setProcessEnvironment(environment)
        if base is not None:
            process.setWorkingDirectory(str(base))
        self._stderr = b""
        process.readyReadStandardError.connect(lambda p=process: self._read_err(p))
        process.finished.connect(lambda code, _status, p=process, k=key, o=out: self._finished(p, k, o, code))
        process.errorOccurred.connect(lambda _e, p=process: self._process_error(p))
        self.process, self._running_key = process, key
        self.status.setText("Computing the output for 4 samples…")
        process.start(sys.executable, args)

    def _read_err(self, process: QProcess) -> None:
        if not shiboken6.isValid(self):
            return  # the panel went away while its child ran (the window closed)
        if process is self.process:
            self._stderr = (self._stderr + bytes(process.readAllStandardError()))[-4000:]

    def _cancel(self) -> None:
        process, self.process, self._running_key = self.process, None, None
        if process is not None:
            process.blockSignals(True)  # its late 'finished' must not draw an old block
            process.kill()
            process.waitForFinished(1000)
            process.deleteLater()

    def _finished(self, process: QProcess, key: tuple, out: Path, code: int) -> None:
        if not shiboken6.isValid(self):
            return  # the panel went away while its child ran (the window closed)
        if process is not self.process:
            return
        self.process, self._running_key = None, None
        process.deleteLater()
        if code != 0 or not out.is_file():
            lines = self._stderr.decode(errors="replace").strip().splitlines()
            # the command's own message starts with "deepwire:"; a traceback ends with the error
            ours = [line[len("deepwire:"):].strip() for line in lines if line.startswith("deepwire:")]
            why = ours[-1] if ours else (lines[-1] if lines else f"the preview ended with code {code}")
            self._failed(process, why[:400])
            return
        with np.load(out, allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
        self._cache[key] = data
        if key == self._key():
            self._draw(data)

    def _process_error(self, process: QProcess) -> None:
        if shiboken6.isValid(self) and shiboken6.isValid(process):
            self._failed(process, process.errorString())

    def _failed(self, process: QProcess, why: str) -> None:
        if not shiboken6.isValid(self):
            return  # the panel went away while its child ran (the window closed)
        if process is not None and process is self.process:
            self.process, self._running_key = None, None
        self.status.setText(f"<span style='color:#c92a2a'>No preview: {escape(why)}</span>")
        self.plots.clear()
        self.image_items = []

    def shutdown(self) -> None:
        """Kill a running child (window closing, tests' clean-up)."""
        self._timer.stop()
        self._cancel()

    # --- drawing ---
    def _draw(self, data: dict[str, np.ndarray]) -> None:
        self.data = data
        self.plots.clear()
        self.image_items = []
        kind = str(data["kind"])
        shape = "×".join(str(int(s)) for s in data["shape"][1:])
        weights = "random weights" if str(data["weights"]) == "random" else "trained weights"
        note = str(data["notes"])
        self.status.setText(f"{kind} {shape}, sample 1 of {int(data['shape'][0])} · {weights} · "
                            + escape(str(data["source"])) + (f"<br>{escape(note)}" if note else ""))
        out = data["output"][0]
        if kind == "attention":
            self._heatmap(data["attention"][0], "attention weights")
        elif kind == "image":
            self._image_grid(out)
        elif kind == "sequence":
            plot = self.plots.addPlot(title="output per step (first features)")
            for i in range(min(MAX_LINES, out.shape[1])):
                plot.plot(out[:, i], pen=pg.intColor(i, MAX_LINES))
            plot.setLabel("bottom", "step")
        elif kind == "vector":
            plot = self.plots.addPlot(title="output values")
            plot.addItem(pg.BarGraphItem(x=np.arange(out.shape[0]), height=out, width=0.8,
                                         brush=pg.mkBrush("#4c6ef5")))
            plot.setLabel("bottom", "feature")
        else:
            plot = self.plots.addPlot(title="histogram of output values")
            counts, edges = np.histogram(np.ravel(out), bins=30)
            plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=pg.mkBrush("#4c6ef5"))
        self.previewReady.emit(str(data["block"]))

    def _image_grid(self, maps: np.ndarray) -> None:
        """The first channels as small images, four to a row, each scaled to its own range."""
        columns = 4
        for i, channel in enumerate(maps[:MAX_MAPS]):
            box = self.plots.addViewBox(row=i // columns, col=i % columns, lockAspect=True, invertY=True)
            box.setMouseEnabled(False, False)
            item = pg.ImageItem(channel.T, colorMap=pg.colormap.get("viridis"))  # ImageItem is (x, y)
            box.addItem(item)
            self.image_items.append(item)

    def _heatmap(self, weights: np.ndarray, title: str) -> None:
        plot = self.plots.addPlot(title=title)
        plot.invertY(True)
        plot.setAspectLocked(True)
        # the 99th percentile tops the scale: a few certain rows (a causal first step is all 1)
        # would otherwise leave the rest black
        top = float(np.percentile(weights, 99)) or float(weights.max()) or 1.0
        item = pg.ImageItem(weights.T, colorMap=pg.colormap.get("inferno"), levels=(0.0, top))
        plot.addItem(item)
        plot.setLabel("left", "query step")
        plot.setLabel("bottom", "key step")
        self.image_items.append(item)

"""The Preview panel: what the selected block outputs for a few samples, drawn with pyqtgraph.

Selecting one block asks a warm child (runtime/preview_server.py, which
runs the `deepwire preview` command per request) for its output on a
snapshot of the project as it is now; torch never enters the GUI process.
The child starts once, lazily (the panel coming on screen, or the first
selection), stays for the window's life and ends with it, so a preview
takes a fraction of a second instead of a fresh process's 3-8 s of
imports. Selection changes are debounced and the child answers one
request at a time; a newer selection replaces one still waiting.
Results are kept per (block, weights, project revision), so going back
to a block is instant. With no block selected the panel says what to do.

Drawing by kind: feature maps (C, H, W) as a grid of the first 16 channels,
sequences (T, F) as one line per feature, vectors (F,) as bars, attention
weights (T, S) as a heat map. "Trained" uses the newest run's best.pt from
the project's own runs (studio/runs/run_info.py); "Random" the seeded fresh weights.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import tempfile
from collections.abc import Callable
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QProcess, QProcessEnvironment, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from runtime.lifeline import ENV as LIFELINE
from studio.runs.run_info import list_runs
from studio.training.worker import snapshot

MAX_MAPS = 16  # feature maps shown in the grid
MAX_LINES = 8  # sequence features drawn as lines
DEBOUNCE_MS = 250
PREWARM_MS = 1500  # after the panel shows: let the window settle before a child imports torch
IDLE_TEXT = "Select a block to see its output"
MULTIPLE_TEXT = "Select one block (not several) to see its output"
IDLE_HINT = "Click a block on the canvas: its output for 4 samples is drawn here."


_LIVE_SERVERS: set[QProcess] = set()  # running preview children, ended at exit whatever happened


def _end_process(process: QProcess) -> None:
    """Close the server's stdin (it exits on its own), then kill it if it lingers."""
    _LIVE_SERVERS.discard(process)
    if not shiboken6.isValid(process) or process.state() == QProcess.ProcessState.NotRunning:
        return
    process.blockSignals(True)  # ending it on purpose: nothing to report
    process.closeWriteChannel()
    if not process.waitForFinished(300):
        process.kill()
        process.waitForFinished(1000)


def latest_checkpoint(folder: Path | None, project=None) -> tuple[str, Path] | None:
    """(run name, best.pt) of the newest finished run with a checkpoint (of `project` if given), or None."""
    for run in list_runs(folder, project):
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
        self.server: QProcess | None = None  # the warm preview child (runtime/preview_server.py)
        self.server_ready = False  # it has paid its imports and waits for requests
        self.servers_started = 0  # how many children this panel started (tests: the second reuses one)
        self.previews_done = 0  # answers received from the child
        self.prewarm_enabled = True  # start the child once the panel is on screen
        self._pending: tuple | None = None  # (key, args, out) waiting for the child to be free
        self._running_out: Path | None = None
        self._requests = 0
        self._several = False
        self._watched: QWidget | None = None  # the window whose closing ends the child
        self._out = b""
        self.data: dict[str, np.ndarray] | None = None  # the arrays drawn now
        self.image_items: list[pg.ImageItem] = []
        self._cache: dict[tuple, dict[str, np.ndarray]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="deepwire-preview-")
        self._running_key: tuple | None = None
        self._stderr = b""

        self.title = QLabel(IDLE_TEXT)
        self.title.setWordWrap(True)
        self.weights = QComboBox()
        self.weights.setToolTip("Random: the fresh (seeded) weights training starts from; "
                                "trained: the newest run's best checkpoint")
        self.weights.currentIndexChanged.connect(lambda *_: self._schedule())
        self.status = QLabel(IDLE_HINT)
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
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- what to preview ---
    def refresh_runs(self) -> None:
        """Offer 'trained' when a finished run with a checkpoint exists."""
        latest = latest_checkpoint(self.runs_folder(), getattr(self.document, "project", None))
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
        self._several = len(ids) > 1
        self.target = (network, ids[0]) if len(ids) == 1 else None
        self._pending = None  # a request still waiting is dropped; one on its way is cached, not drawn
        self._timer.start()  # debounced: a click from one block to another passes through "none"

    def _schedule(self) -> None:
        if self.target is not None:
            self._timer.start()

    def _show_idle(self) -> None:
        self.title.setText(MULTIPLE_TEXT if self._several else IDLE_TEXT)
        self.status.setText(IDLE_HINT)
        self.data = None
        self.plots.clear()
        self.image_items = []

    def _key(self) -> tuple:
        project = self.document.project
        network, block = self.target
        revisions = tuple(net.revision for net in project.networks)
        return network, block, self.weights.currentData(), revisions, repr(project.data), project.seed

    # --- the warm child ---
    def prewarm(self) -> None:
        """Start the preview server now (once): it imports torch while the user looks around."""
        if self.server is not None:
            return
        process = QProcess()  # no Qt parent: `_end_server` ends it when the panel goes, with no warning
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert(LIFELINE, str(os.getpid()))  # the child dies with the studio
        environment.insert("OMP_NUM_THREADS", "1")  # a small batch: threads would only fight the GUI
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(lambda p=process: self._read_out(p))
        process.readyReadStandardError.connect(lambda p=process: self._read_err(p))
        process.finished.connect(lambda code, _status, p=process: self._server_ended(p, code))
        process.errorOccurred.connect(lambda _e, p=process: self._process_error(p))
        self.server, self.server_ready, self._out = process, False, b""
        self.servers_started += 1
        process.start(sys.executable, ["-m", "runtime.preview_server"])
        _LIVE_SERVERS.add(process)
        window = self.window()
        if window is not self and window is not self._watched:
            self._watched = window
            window.installEventFilter(self)  # its close ends the child
        self.destroyed.connect(lambda *_args, p=process: _end_process(p))  # killed with the window

    @property
    def process(self) -> QProcess | None:
        """The child computing a preview now, if any (tests)."""
        return self.server if self._running_key is not None else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched and event.type() == QEvent.Type.Close:
            QTimer.singleShot(0, self._window_maybe_closed)  # the close may yet be refused (unsaved)
        return False

    def _window_maybe_closed(self) -> None:
        if shiboken6.isValid(self) and self._watched is not None and not self._watched.isVisible():
            self.shutdown()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(PREWARM_MS, self._prewarm_if_shown)

    def _prewarm_if_shown(self) -> None:
        if shiboken6.isValid(self) and self.prewarm_enabled and self.isVisible():
            self.prewarm()

    def _start(self) -> None:
        if self.target is None:
            self._show_idle()
            return
        network, block_id = self.target
        try:
            block = self.document.project.network(network).block(block_id)
        except (KeyError, ValueError):
            return
        self.title.setText(f"<b>{escape(block.name)}</b> <span style='color:gray'>{block.type}</span>")
        key = self._key()
        if key in self._cache:
            self._pending = None
            self._draw(self._cache[key])
            return
        if key == self._running_key:
            return  # that very preview is on its way
        folder = Path(self._tmp.name) / f"p{self._requests}"
        self._requests += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = getattr(self.document, "path", None)
        base = Path(path).parent if path is not None else None
        project_file = snapshot(self.document.project, base, folder)
        out = folder / "preview.npz"
        args = [str(project_file), "--block", block_id, "--network", network, "--samples", "4",
                "--out", str(out)]
        if self.weights.currentData():
            args += ["--weights", self.weights.currentData()]
        self.status.setText("Computing the output for 4 samples…")
        self._pending = (key, args, out)  # a newer selection replaces one still waiting
        self.prewarm()
        self._send()

    def _send(self) -> None:
        """Hand the waiting request to the server once it is ready and idle (one at a time)."""
        if self._pending is None or not self.server_ready or self._running_key is not None:
            return
        key, args, out = self._pending
        self._pending = None
        self._running_key, self._running_out = key, out
        self._stderr = b""
        self.server.write((json.dumps(args) + "\n").encode())

    def _read_out(self, process: QProcess) -> None:
        if not shiboken6.isValid(self) or process is not self.server:
            return  # the panel went away while its child ran (the window closed)
        self._out += bytes(process.readAllStandardOutput())
        *lines, self._out = self._out.split(b"\n")
        for line in lines:
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                continue  # a stray print of some library: not an answer
            if isinstance(reply, dict) and reply.get("ready"):
                self.server_ready = True
                self._send()
            elif isinstance(reply, dict) and "code" in reply:
                self._answered(reply)

    def _read_err(self, process: QProcess) -> None:
        if not shiboken6.isValid(self):
            return  # the panel went away while its child ran (the window closed)
        if process is self.server:
            self._stderr = (self._stderr + bytes(process.readAllStandardError()))[-4000:]

    def _answered(self, reply: dict) -> None:
        key, out = self._running_key, self._running_out
        self._running_key = self._running_out = None
        self.previews_done += 1
        if reply["code"] != 0 or out is None or not out.is_file():
            lines = (reply.get("stderr") or "").strip().splitlines()
            # the command's own message starts with "deepwire:"
            ours = [line[len("deepwire:"):].strip() for line in lines if line.startswith("deepwire:")]
            why = ours[-1] if ours else (lines[-1] if lines else f"it ended with code {reply['code']}")
            if key == self._key_or_none() and self._pending is None:
                self._failed(why[:400])
        else:
            with np.load(out, allow_pickle=False) as npz:
                data = {name: npz[name] for name in npz.files}
            self._cache[key] = data
            if key == self._key_or_none():
                self._pending = None
                self._draw(data)
        self._send()

    def _key_or_none(self) -> tuple | None:
        return self._key() if self.target is not None else None

    def _server_ended(self, process: QProcess, code: int) -> None:
        """The server died (killed, out of memory): say so; the next selection starts a new one."""
        if not shiboken6.isValid(self) or not shiboken6.isValid(process) or process is not self.server:
            return
        _LIVE_SERVERS.discard(process)
        was_busy = self._running_key is not None
        self.server, self.server_ready, self._running_key, self._running_out = None, False, None, None
        process.deleteLater()
        if was_busy or self._pending is not None:
            lines = self._stderr.decode(errors="replace").strip().splitlines()
            self._pending = None
            self._failed(lines[-1][:400] if lines else f"the preview process ended with code {code}")

    def _process_error(self, process: QProcess) -> None:
        if shiboken6.isValid(self) and shiboken6.isValid(process) \
                and process.error() == QProcess.ProcessError.FailedToStart:
            self._failed(process.errorString())

    def _failed(self, why: str) -> None:
        if not shiboken6.isValid(self):
            return  # the panel went away while its child ran (the window closed)
        self.status.setText(f"<span style='color:#c92a2a'>No preview: {escape(why)}</span>")
        self.plots.clear()
        self.image_items = []

    def shutdown(self) -> None:
        """End the preview child (window closing, tests' clean-up); a later selection starts a new one."""
        self._timer.stop()
        self._pending = None
        server, self.server, self.server_ready = self.server, None, False
        self._running_key = self._running_out = None
        if server is not None:
            server.blockSignals(True)  # its late 'finished' must not report an old block
            _end_process(server)

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


@atexit.register
def _end_all_servers() -> None:
    """A child still running at exit (a window never closed, a test's leftovers) ends before Qt goes."""
    for process in list(_LIVE_SERVERS):
        _end_process(process)

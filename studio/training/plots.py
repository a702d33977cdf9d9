"""Live training curves: loss, the recipe's metric, learning rate and speed, drawn with pyqtgraph.

Points go into growing numpy buffers as events arrive; the plots redraw
from them on a timer at most ~30 times a second, and only when something
changed, so a burst of events costs one redraw. `setClipToView` plus peak
downsampling keep a redraw cheap at 100,000 points and beyond (only the
visible part is drawn, at about one point per pixel, with spikes kept).
The smoothing slider is an exponential moving average of the per-step
loss; the log toggle puts the loss axis on a log scale.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

REDRAW_MS = 33  # ~30 redraws a second at most, for the user's own changes (smoothing, log scale)
# Live updates are coalesced more: painting the plots is the GUI's main cost while training, and every
# millisecond of it is taken from the training child on a small, busy machine.
LIVE_MS = 200
SECONDARY = ("lr", "speed")  # slow-moving curves, redrawn at most every SECONDARY_S while training
SECONDARY_S = 1.0

# the recipe's headline metric, in order of preference, with its axis title
METRICS = (("exact_match", "Exact match"), ("mean_iou", "Mean IoU"), ("accuracy", "Accuracy"),
           ("mae", "Mean absolute error"), ("perplexity", "Perplexity"), ("rmse", "RMSE"))


class Series:
    """x/y points in numpy arrays that double in size when full (amortised O(1) appends)."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty(len(self.x))])
            self.y = np.concatenate([self.y, np.empty(len(self.y))])
        self.x[self.n] = x
        self.y[self.n] = y if y is not None else math.nan
        self.n += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        needed = self.n + len(xs)
        if needed > len(self.x):
            size = max(needed, 2 * len(self.x))
            self.x = np.concatenate([self.x[:self.n], np.empty(size - self.n)])
            self.y = np.concatenate([self.y[:self.n], np.empty(size - self.n)])
        self.x[self.n:needed] = xs
        self.y[self.n:needed] = ys
        self.n = needed

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.n], self.y[:self.n]

    def clear(self) -> None:
        self.n = 0


def ema(values: np.ndarray, alpha: float, start: float = math.nan) -> np.ndarray:
    """Exponential moving average with weight `alpha` on the past (0 = no smoothing); NaNs are skipped.

    `start` continues an average already computed up to just before `values`.
    """
    if alpha <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values)
    s = start
    for i, v in enumerate(values.tolist()):
        if v == v:  # not NaN
            s = v if s != s else alpha * s + (1 - alpha) * v
        out[i] = s
    return out


def _plot(title: str, y_label: str) -> pg.PlotWidget:
    widget = pg.PlotWidget()
    item = widget.getPlotItem()
    item.setTitle(title, size="9pt")
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    for axis in ("left", "bottom"):
        item.getAxis(axis).enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads worse than 0.9
    item.setClipToView(True)
    item.setDownsampling(auto=True, mode="peak")
    widget.setMinimumHeight(120)
    widget.setBackground(None)
    return widget


def legend_below(widget: pg.PlotWidget, columns: int = 4) -> pg.LegendItem:
    """A legend in a row under the plot's axis, where it can never cover a curve (inside the
    plot, a corner legend hides the very points people compare)."""
    item = widget.getPlotItem()
    legend = pg.LegendItem(colCount=columns)
    item.layout.addItem(legend, 4, 1)
    item.legend = legend  # PlotItem adds (and removes) named curves to it from now on
    return legend


class TrainingPlots(QWidget):
    """Four plots fed by training event dicts (`add_event`); `clear()` before a new run and when
    another project is opened."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.series = {name: Series() for name in ("step_loss", "train_loss", "val_loss", "metric",
                                                   "lr", "speed")}
        self.metric_name: str | None = None
        self.smoothing = 0.0
        self._smoothed: np.ndarray | None = None  # EMA of step_loss, extended as points arrive
        self._dirty = False
        self._changed: set[str] = set()  # series with new points since the last redraw
        self._secondary_at = 0.0  # when the slow curves were last redrawn

        # a legend box would cover the curves in a short dock: the title names the colours instead
        self.loss_plot = _plot("Loss <span style='color:#5a8ce6'>step</span> · "
                               "<span style='color:#285ac8'>epoch</span> · "
                               "<span style='color:#e67828'>validation</span>", "loss")
        self.metric_plot = _plot("Validation metric", "")
        self.lr_plot = _plot("Learning rate", "lr")
        self.speed_plot = _plot("Samples per second", "samples/s")
        pen = pg.mkPen
        self.curves = {
            "step_loss": self.loss_plot.plot(name="training (per step)", pen=pen((90, 140, 230), width=1)),
            "train_loss": self.loss_plot.plot(name="training (per epoch)", pen=pen((40, 90, 200), width=2),
                                              symbol="o", symbolSize=5, symbolBrush=(40, 90, 200)),
            "val_loss": self.loss_plot.plot(name="validation", pen=pen((230, 120, 40), width=2),
                                            symbol="o", symbolSize=5, symbolBrush=(230, 120, 40)),
            "metric": self.metric_plot.plot(pen=pen((60, 170, 90), width=2), symbol="o", symbolSize=5,
                                            symbolBrush=(60, 170, 90)),
            "lr": self.lr_plot.plot(pen=pen((150, 100, 200), width=2)),
            "speed": self.speed_plot.plot(pen=pen((120, 120, 120), width=1)),
        }
        # no X link between the plots: a linked range change repaints all four for every new point

        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setToolTip("Smooth the per-step loss (exponential moving average)")
        self.smooth_slider.valueChanged.connect(lambda v: self.set_smoothing(v / 100))
        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Show the loss on a log scale")
        self.log_box.toggled.connect(self.set_log)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smooth_slider, 1)
        controls.addWidget(self.log_box)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.metric_plot, 0, 1)
        grid.addWidget(self.lr_plot, 1, 0)
        grid.addWidget(self.speed_plot, 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addLayout(grid, 1)

        # armed by the first change after a redraw, so an idle or quiet window never wakes up for nothing
        # (each wake-up of the GUI process takes a moment from the training child on a small machine)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._tick)
        self.redraws = 0  # how many times the curves were really redrawn (tests, benchmarks)

    # --- feeding ---
    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self._smoothed = None
        self.metric_name = None
        self.metric_plot.getPlotItem().setTitle("Validation metric", size="9pt")
        self.metric_plot.getPlotItem().setLabel("left", "")
        # the drawn data goes now, not at the next redraw: auto-range would size the axes to the last
        # run's points again, and an empty redraw never shrinks them (the Xvfb session saw it)
        for curve in self.curves.values():
            curve.setData([], [])
        for plot in self.plots():  # the last run's axes are not the next one's (another project's)
            item = plot.getPlotItem()
            item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            item.enableAutoRange()
        self._changed.update(self.curves)
        self._mark()

    def plots(self) -> tuple[pg.PlotWidget, ...]:
        return self.loss_plot, self.metric_plot, self.lr_plot, self.speed_plot

    def add_event(self, event: dict) -> None:
        kind = event.get("kind")
        s = self.series
        if kind == "step":
            step = event["step"]
            s["step_loss"].append(step, event.get("loss"))
            s["lr"].append(step, event.get("lr"))
            s["speed"].append(step, event.get("samples_per_second"))
            self._changed.update(("step_loss", "lr", "speed"))
        elif kind == "epoch":
            s["train_loss"].append(event["step"], event.get("metrics", {}).get("loss"))
            self._changed.add("train_loss")
        elif kind == "validation":
            metrics = event.get("metrics", {})
            s["val_loss"].append(event["step"], metrics.get("loss"))
            name = self.metric_name or self._pick_metric(metrics)
            if name is not None:
                s["metric"].append(event["step"], metrics.get(name))
            self._changed.update(("val_loss", "metric"))
        else:
            return
        self._mark(LIVE_MS)

    def add_steps(self, steps: np.ndarray, losses: np.ndarray) -> None:
        """Many step losses at once (benchmarks, replaying a run's metrics.jsonl)."""
        self.series["step_loss"].extend(steps, losses)
        self._smoothed = None
        self._changed.add("step_loss")
        self._mark(LIVE_MS)

    def _pick_metric(self, metrics: dict) -> str | None:
        for name, title in METRICS:
            if name in metrics:
                self.metric_name = name
                self.metric_plot.getPlotItem().setTitle(f"Validation {title.lower()}", size="9pt")
                self.metric_plot.getPlotItem().setLabel("left", name)
                return name
        return None

    # --- view options ---
    def set_smoothing(self, alpha: float) -> None:
        self.smoothing = max(0.0, min(0.99, alpha))
        self._smoothed = None
        self._changed.add("step_loss")
        self._mark()

    def set_log(self, on: bool) -> None:
        self.loss_plot.getPlotItem().setLogMode(y=on)
        self._changed.update(("step_loss", "train_loss", "val_loss"))
        self._mark()

    # --- drawing ---
    def _mark(self, interval: int = REDRAW_MS) -> None:
        self._dirty = True
        if not self.timer.isActive():
            self.timer.start(interval)
        elif interval < self.timer.remainingTime():
            self.timer.start(interval)  # the user's own change shows at once

    def _tick(self) -> None:
        if self._dirty:
            self.redraw(only_changed=True)

    def redraw(self, only_changed: bool = False) -> None:
        """Give the curves their data; only_changed skips curves without new points (live updates)."""
        names = [n for n in self.curves if n in self._changed] if only_changed else list(self.curves)
        now = time.monotonic()
        if only_changed and now - self._secondary_at < SECONDARY_S:
            names = [n for n in names if n not in SECONDARY]
        if any(n in names for n in SECONDARY):
            self._secondary_at = now
        self._changed.difference_update(names)
        self._dirty = bool(self._changed)
        if self._dirty:  # the slow curves wait their turn
            self.timer.start(int(1000 * SECONDARY_S))
        self.redraws += 1
        for name in names:
            curve = self.curves[name]
            x, y = self.series[name].data()
            if name == "step_loss" and self.smoothing:
                done = self._smoothed
                if done is None or len(done) > len(y):
                    self._smoothed = ema(y, self.smoothing)
                elif len(done) < len(y):  # only the new points: a live run stays cheap at any length
                    start = done[-1] if len(done) else math.nan
                    self._smoothed = np.concatenate([done, ema(y[len(done):], self.smoothing, start)])
                y = self._smoothed
            if self.log_box.isChecked() and name in ("step_loss", "train_loss", "val_loss"):
                y = np.where(y > 0, y, np.nan)  # log of zero or less would break the axis
            curve.setData(x, y, connect="finite")
            if name == "lr":
                self._frame_flat_lr(y)

    def _frame_flat_lr(self, y: np.ndarray) -> None:
        """A constant learning rate gets the axis 0 .. 2 x lr: auto-range would centre a flat line on a
        +-0.5 span, where 0.001 reads as 0."""
        box = self.lr_plot.getPlotItem().getViewBox()
        finite = y[np.isfinite(y)]
        if len(finite) and finite.max() - finite.min() <= 1e-12 * max(abs(finite.max()), 1e-30):
            top = abs(float(finite.max())) * 2 or 1.0
            box.enableAutoRange(y=False)
            box.setYRange(0.0, top, padding=0)
        else:
            box.enableAutoRange(y=True)

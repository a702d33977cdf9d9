"""The Experiments panel's pictures, drawn with pyqtgraph.

CurvesPlot: each trial's validation metric per epoch, overlaid, the best
trial drawn thick. ParamScatter: one swept setting (chosen in a drop-down)
against the objective, one dot per trial, coloured by state (choices are
placed at 0, 1, 2, ... with their names on the axis). ImportanceBars: how
much of the objective's variation each setting explains (optuna's fANOVA).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.experiments.results_model import STATE_COLOURS, short_name

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
           "#ccb974", "#64b5cd")
BEST = "#e31a1c"


def _plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=None)  # the panel's own background, light or dark
    plot.setTitle(title, size="10pt")
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMinimumHeight(140)
    for side in ("left", "bottom"):
        plot.getAxis(side).enableAutoSIPrefix(False)  # accuracy 0.95, not 950 (x0.001)
    return plot


class CurvesPlot(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = _plot("Validation per trial", "epoch", "accuracy")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.points: dict[int, list[tuple[float, float]]] = {}
        self.items: dict[int, pg.PlotDataItem] = {}
        self.best: int | None = None

    def reset(self, metric: str) -> None:
        self.plot.clear()
        self.points, self.items, self.best = {}, {}, None
        self.plot.setLabel("left", metric)
        self.plot.setTitle(f"Validation {metric} per trial", size="10pt")

    def add_point(self, trial: int, epoch: float, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        self.points.setdefault(trial, []).append((epoch, value))
        item = self.items.get(trial)
        if item is None:
            item = self.plot.plot([], [], symbol="o", symbolSize=4)
            self.items[trial] = item
        self._style(trial)
        xs, ys = zip(*self.points[trial])
        item.setData(np.array(xs), np.array(ys))

    def _style(self, trial: int) -> None:
        item = self.items[trial]
        colour = BEST if trial == self.best else PALETTE[trial % len(PALETTE)]
        width = 3 if trial == self.best else 1.2
        item.setPen(pg.mkPen(colour, width=width))
        item.setSymbolBrush(colour)
        item.setSymbolPen(colour)
        item.setZValue(10 if trial == self.best else 0)
        item.setOpacity(1.0 if trial == self.best or self.best is None else 0.55)

    def focus(self, maximize: bool) -> None:
        """Frame the whole curves of the better half of the trials: that is where the choice is made.

        Hopeless trials (accuracy 0.1) would otherwise squeeze every good curve into one line at the
        top; they still show, cut at the bottom, and "View All" in the plot's menu shows everything.
        """
        finals = sorted(points[-1][1] for points in self.points.values())
        if len(finals) < 3:
            self.plot.enableAutoRange()
            return
        edge = finals[len(finals) // 2] if maximize else finals[(len(finals) - 1) // 2]
        better = [v for points in self.points.values()
                  if (points[-1][1] >= edge if maximize else points[-1][1] <= edge) for _, v in points]
        lo, hi = min(better), max(better)
        margin = max(hi - lo, 1e-3) * 0.05
        lo, hi = lo - margin, hi + margin
        self.plot.setYRange(lo, hi, padding=0)
        epochs = [e for points in self.points.values() for e, _ in points]
        self.plot.setXRange(min(epochs), max(epochs), padding=0.02)
        axis = self.plot.getAxis("bottom")
        axis.setTickSpacing(1, 1) if max(epochs) <= 20 else axis.setTickSpacing()  # whole epochs

    def set_best(self, trial: int | None) -> None:
        self.best = trial
        for number in self.items:
            self._style(number)
        if trial is not None:
            self.plot.setTitle(f"{self.plot.plotItem.titleLabel.text.split(' — ')[0]} — "
                               f"<span style='color:{BEST}'>best: trial {trial}</span>", size="10pt")


class ParamScatter(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.choice = QComboBox()
        self.choice.currentIndexChanged.connect(self.redraw)
        self.plot = _plot("", "", "objective")
        self.scatter = pg.ScatterPlotItem(size=9)
        self.plot.addItem(self.scatter)
        top = QHBoxLayout()
        top.addWidget(QLabel("Setting"))
        top.addWidget(self.choice, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        self.rows: list[dict[str, Any]] = []
        self.space: list[dict[str, Any]] = []
        self.objective = "objective"
        self.best: int | None = None

    def reset(self, space: list[dict[str, Any]], metric: str, names: dict[str, str]) -> None:
        self.space, self.objective, self.rows, self.best = list(space), metric, [], None
        self.choice.blockSignals(True)
        self.choice.clear()
        for entry in space:
            self.choice.addItem(short_name(entry["target"], names), entry["target"])
        self.choice.blockSignals(False)
        self.plot.setLabel("left", metric)
        self.redraw()

    def set_rows(self, rows: list[dict[str, Any]], best: int | None) -> None:
        self.rows, self.best = rows, best
        self.redraw()

    def redraw(self, *_args) -> None:
        target = self.choice.currentData()
        entry = next((e for e in self.space if e["target"] == target), None)
        self.scatter.clear()
        axis = self.plot.getAxis("bottom")
        if entry is None:
            return
        self.plot.setLabel("bottom", self.choice.currentText())
        choices = entry.get("choices") if entry.get("kind") == "choice" else None
        log = bool(entry.get("log"))
        spots = []
        for row in self.rows:
            value, x = row.get("value"), row.get("params", {}).get(target)
            if value is None or x is None:
                continue
            if choices is not None:
                x = choices.index(x) if x in choices else None
            elif log:
                x = math.log10(x) if x > 0 else None
            if x is None:
                continue
            best = row["trial"] == self.best
            colour = BEST if best else STATE_COLOURS.get(row.get("state"), "#777777")
            spots.append({"pos": (float(x), float(value)), "brush": pg.mkBrush(colour),
                          "pen": pg.mkPen("k" if best else colour), "size": 13 if best else 9,
                          "data": row["trial"]})
        self.scatter.addPoints(spots)
        # the whole range of the setting is shown, so one sees where in it the good trials lie
        if choices is not None:
            axis.setTicks([[(i, str(c)) for i, c in enumerate(choices)]])
            self.plot.setXRange(-0.5, len(choices) - 0.5, padding=0.02)
        elif log:
            lo, hi = math.log10(entry["low"]), math.log10(entry["high"])
            nice = [m * 10.0 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
            inside = [v for v in nice if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
            axis.setTicks([[(math.log10(v), f"{v:g}") for v in inside]])
            self.plot.setXRange(lo, hi, padding=0.03)
        else:
            axis.setTicks(None)
            self.plot.setXRange(entry["low"], entry["high"], padding=0.03)


class ImportanceBars(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = _plot("Parameter importance (fANOVA)", "share of the objective's variance", "")
        self.plot.showGrid(x=True, y=False, alpha=0.2)
        self.note = QLabel("Importance appears when the sweep has at least 2 complete trials.")
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.note)
        self.values: dict[str, float] = {}

    def set_values(self, values: dict[str, float], note: str, names: dict[str, str]) -> None:
        self.values = dict(values)
        self.plot.clear()
        self.note.setText(note if not values else "")
        self.note.setVisible(not values)
        if not values:
            return
        ordered = sorted(values.items(), key=lambda kv: kv[1])  # largest at the top
        ys = np.arange(len(ordered))
        widths = np.array([v for _, v in ordered])
        self.plot.addItem(pg.BarGraphItem(x0=np.zeros(len(ordered)), y=ys, width=widths, height=0.6,
                                          brush=PALETTE[0]))
        self.plot.getAxis("left").setTicks([[(i, short_name(k, names)) for i, (k, _) in enumerate(ordered)]])
        self.plot.setXRange(0, max(1.0, float(widths.max())) * 1.05, padding=0)
        self.plot.setYRange(-0.6, len(ordered) - 0.4, padding=0)

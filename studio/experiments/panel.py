"""The Experiments panel: a sweep's search space, budget, live curves, results and the best trial.

Left: the search space (settings ticked "vary" in the Inspector, or added
with "+ Training setting"), each with its range or values, editable in the
table; the budget (trials, minutes, epochs per trial) and the sampler.
Right, in tabs: every trial's validation curve as it trains (the best one
thick), the results table (sortable), one setting against the objective,
and parameter importance. "Open best" opens the best trial's project as a
new, untitled project; "Show trials in Runs" lists the trials (ordinary run
folders) in the Runs panel for overlays, evaluation and export.

The space and budget live in the project's `experiment` field and change
through undo steps (studio/experiments/space_edit.py); the sweep itself is a
child process (studio/experiments/worker.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from graph.training_config import TRAINING_PARAMS
from runtime.run_names import RUNS, default_run_dir, new_run_dir, slug
from runtime.sweep.space import SpaceError, param_sweepable, parse_space
from studio.experiments import space_edit
from studio.experiments.plots import CurvesPlot, ImportanceBars, ParamScatter
from studio.experiments.results_model import TrialsModel, short_name, sorted_view
from studio.experiments.worker import SweepWorker

# the training settings offered by "+ Training setting", most useful first
TRAINING_CHOICES = ("lr", "optimizer", "batch_size", "weight_decay", "epochs", "momentum", "schedule",
                    "warmup_epochs", "grad_clip", "augment", "beta1")
_PARAMS = {p.name: p for p in TRAINING_PARAMS}
SPACE_COLUMNS = ("setting", "kind", "low", "high", "log", "values")


class ExperimentsPanel(QWidget):
    openProjectRequested = Signal(object)  # Path of a project file to open as a new project
    showRunsRequested = Signal(object)  # Path of a trial's run folder to show in the Runs panel
    message = Signal(str, int)

    def __init__(self, document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.worker = SweepWorker(self)
        self.runs_base: Path | None = None  # where runs/ goes instead of the usual place (tests)
        self.sweep_dir: Path | None = None
        self.best_project: Path | None = None
        self.best_trial: int | None = None
        self.rows: dict[int, dict[str, Any]] = {}
        self.objective = "accuracy"
        self.maximize = True
        self.total = 0
        self._filling = False

        # --- the budget row ---
        self.run_button = QPushButton("Run sweep")
        self.run_button.setToolTip("Train one trial after another with values chosen by optuna")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after saving the running trial; `deepwire sweep --resume` goes on")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        self.resume_button.setToolTip("Continue the stopped sweep up to the number of trials set here")
        self.resume_button.clicked.connect(self.resume)
        self.trials = self._spin(1, 10000, 20, "trials", "How many trials (each one a full training run)")
        self.minutes = self._spin(0, 100000, 0, "minutes", "Time budget in minutes (0: none)")
        self.epochs = self._spin(0, 100000, 0, "epochs", "Epochs per trial (0: the project's own setting)")
        self.minutes.setSpecialValueText("no limit")
        self.epochs.setSpecialValueText("project's")
        self.sampler = QComboBox()
        self.sampler.addItem("Bayesian (TPE)", "tpe")
        self.sampler.addItem("Random", "random")
        self.sampler.addItem("Grid", "grid")
        self.sampler.setToolTip("How values are chosen: TPE learns from earlier trials; grid tries every "
                                "combination")
        self.sampler.currentIndexChanged.connect(lambda *_: self._budget_changed("sampler"))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.open_best = QPushButton("Open best as new project")
        self.open_best.setEnabled(False)
        self.open_best.clicked.connect(self._open_best)
        self.show_runs = QPushButton("Show trials in Runs")
        self.show_runs.setEnabled(False)
        self.show_runs.clicked.connect(self._show_runs)
        # Two short rows instead of one long one: the bottom dock shares its width with the canvas,
        # and a wide minimum here would squeeze the palette beside it.
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.resume_button)
        run_row.addStretch(1)
        budget = QGridLayout()
        for index, (label, widget) in enumerate((("Trials", self.trials), ("Minutes", self.minutes),
                                                 ("Epochs", self.epochs), ("Sampler", self.sampler))):
            budget.addWidget(QLabel(label), index // 2, (index % 2) * 2)
            budget.addWidget(widget, index // 2, (index % 2) * 2 + 1)
        budget.setColumnStretch(1, 1)
        budget.setColumnStretch(3, 1)
        result_row = QHBoxLayout()
        result_row.addWidget(self.open_best)
        result_row.addWidget(self.show_runs)
        result_row.addStretch(1)

        # --- the space table ---
        self.space_table = QTableWidget(0, len(SPACE_COLUMNS))
        self.space_table.setHorizontalHeaderLabels(list(SPACE_COLUMNS))
        self.space_table.verticalHeader().setVisible(False)
        header = self.space_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(36)
        self.space_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.space_table.itemChanged.connect(self._space_edited)
        self.add_training = QToolButton()
        self.add_training.setText("+ Training setting")
        self.add_training.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_training)
        for name in TRAINING_CHOICES:
            action = menu.addAction(name.replace("_", " "))
            action.triggered.connect(lambda _c=False, n=name: self.add_training_setting(n))
        self.add_training.setMenu(menu)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        self.space_error = QLabel("")
        self.space_error.setWordWrap(True)
        self.space_error.setProperty("role", "error")
        self.space_error.setStyleSheet("color: #c0392b")
        hint = QLabel("Tick <b>vary</b> beside a block parameter in the Inspector to add it.")
        hint.setWordWrap(True)
        hint.setProperty("role", "muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_training)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(run_row)
        left_layout.addLayout(budget)
        heading = QLabel("Search space")
        heading.setProperty("role", "heading")
        left_layout.addWidget(heading)
        left_layout.addWidget(self.space_table, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(hint)
        left_layout.addWidget(self.space_error)

        # --- results ---
        self.curves = CurvesPlot()
        self.model = TrialsModel(self)
        self.proxy = sorted_view(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.doubleClicked.connect(self._trial_activated)
        self.scatter = ParamScatter()
        self.importance = ImportanceBars()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.table, "Results")
        self.tabs.addTab(self.scatter, "Setting vs objective")
        self.tabs.addTab(self.importance, "Importance")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(result_row)
        right_layout.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([430, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.worker.eventReceived.connect(self._on_event)
        self.worker.runningChanged.connect(self._running_changed)
        self.worker.ended.connect(self._on_ended)
        document.undo_stack.indexChanged.connect(self.refresh)
        document.projectReplaced.connect(self.refresh)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.worker.wait_stopped)  # never leave a sweep running behind
        self.refresh()

    def _spin(self, lo: int, hi: int, value: int, key: str, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(lambda *_: self._budget_changed(key))
        return spin

    # --- the model -> the widgets ---
    def block_names(self) -> dict[str, str]:
        return {b.id: b.name for net in self.document.project.networks for b in net.blocks.values()}

    def refresh(self, *_args) -> None:
        experiment = self.document.project.experiment
        self._filling = True
        try:
            for key, spin in (("trials", self.trials), ("epochs", self.epochs)):
                if key in experiment:
                    spin.blockSignals(True)
                    spin.setValue(int(experiment[key] or 0))
                    spin.blockSignals(False)
            if "max_seconds" in experiment:
                self.minutes.blockSignals(True)
                self.minutes.setValue(int(round((experiment["max_seconds"] or 0) / 60)))
                self.minutes.blockSignals(False)
            if "sampler" in experiment:
                self.sampler.blockSignals(True)
                self.sampler.setCurrentIndex(max(0, self.sampler.findData(experiment["sampler"])))
                self.sampler.blockSignals(False)
            names = self.block_names()
            entries = space_edit.space(self.document)
            self.space_table.setRowCount(len(entries))
            for row, entry in enumerate(entries):
                self._fill_row(row, entry, names)
        finally:
            self._filling = False
        self.space_error.setText("")

    def _fill_row(self, row: int, entry: dict[str, Any], names: dict[str, str]) -> None:
        kind = entry.get("kind", "")
        choice = kind == "choice" or "choices" in entry
        cells = [short_name(entry.get("target", "?"), names), kind or ("choice" if choice else ""),
                 "" if choice else _number(entry.get("low")), "" if choice else _number(entry.get("high")),
                 "", ", ".join(_number(v) for v in entry.get("choices", [])) if choice else ""]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            editable = (column in (2, 3) and not choice) or (column == 5 and choice)
            if editable:
                flags |= Qt.ItemFlag.ItemIsEditable
            if column == 4 and not choice:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setCheckState(Qt.CheckState.Checked if entry.get("log") else Qt.CheckState.Unchecked)
            item.setFlags(flags)
            if column == 0:
                item.setToolTip(entry.get("target", ""))
            self.space_table.setItem(row, column, item)

    # --- the widgets -> the model ---
    def _budget_changed(self, key: str) -> None:
        if self._filling or not space_edit.space(self.document):
            return
        value = {"trials": self.trials.value(), "epochs": self.epochs.value() or None,
                 "minutes": (self.minutes.value() * 60) or None,
                 "sampler": self.sampler.currentData()}[key]
        field = "max_seconds" if key == "minutes" else key
        space_edit.set_experiment(self.document, {field: value}, f"Set experiment {key}")

    def _space_edited(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        row = item.row()
        entries = space_edit.space(self.document)
        if row >= len(entries):
            return
        entry = dict(entries[row])
        column = item.column()
        try:
            if column in (2, 3):
                entry["low" if column == 2 else "high"] = _parse_number(item.text(), entry.get("kind"))
            elif column == 4:
                entry["log"] = item.checkState() == Qt.CheckState.Checked
            elif column == 5:
                entry["choices"] = [_parse_value(part) for part in item.text().split(",") if part.strip()]
            parse_space([entry], self.document.project, self.document.registry)
        except (SpaceError, ValueError) as err:
            self.refresh()  # put the stored value back
            self.space_error.setText(str(err).replace("space entry 1", short_name(entry["target"],
                                                                                   self.block_names())))
            return
        entries[row] = entry
        space_edit.set_space(self.document, entries, f"Change range of {short_name(entry['target'])}")

    def add_training_setting(self, name: str) -> None:
        param = _PARAMS[name]
        if param_sweepable(param):
            value = getattr(self.document.project.training, name)
            space_edit.add_target(self.document, f"training.{name}", param, value)

    def _remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.space_table.selectedIndexes()}, reverse=True)
        entries = space_edit.space(self.document)
        for row in rows:
            if row < len(entries):
                space_edit.remove_target(self.document, entries[row]["target"])
                entries = space_edit.space(self.document)

    # --- running ---
    def sweep_folder(self) -> Path:
        """Where `deepwire sweep` would put this project's next sweep (runtime/run_names.py's rule)."""
        name = self.document.project.name
        if self.runs_base is not None:
            return new_run_dir(Path(self.runs_base) / RUNS / slug(name), f"{name}-sweep")
        return default_run_dir(name, self.document.path, "sweep")

    def run(self) -> bool:
        """Start a sweep of the project as it is now; False (with the reason shown) when it cannot."""
        if self.worker.running:
            return False
        entries = space_edit.space(self.document)
        if not entries:
            self._say("Nothing to vary yet: tick 'vary' beside a parameter in the Inspector, "
                      "or add a training setting.")
            return False
        try:
            parse_space(entries, self.document.project, self.document.registry)
        except SpaceError as err:
            self.space_error.setText(str(err))
            return False
        self.sweep_dir = self.sweep_folder()
        args = ["--trials", str(self.trials.value()), "--sampler", self.sampler.currentData()]
        if self.minutes.value():
            args += ["--max-seconds", str(self.minutes.value() * 60)]
        if self.epochs.value():
            args += ["--epochs", str(self.epochs.value())]
        base = self.document.path.parent if self.document.path is not None else None
        self._clear()
        self.worker.start(self.document.project, self.sweep_dir, base, args)
        self._say(f"Starting {self.trials.value()} trials in {self.sweep_dir} …")
        return True

    def resume(self) -> bool:
        """Continue the last sweep (stopped, or out of time) in its folder, up to the trials set now."""
        if self.worker.running or self.sweep_dir is None:
            return False
        args = ["--trials", str(self.trials.value())]
        if self.minutes.value():
            args += ["--max-seconds", str(self.minutes.value() * 60)]
        self._clear()
        self.worker.resume(self.sweep_dir, args)
        self._say(f"Resuming the sweep in {self.sweep_dir} …")
        return True

    def stop(self) -> None:
        self.worker.stop()
        self._say("Stopping after the running trial saves …")

    def _clear(self) -> None:
        self.rows, self.best_trial, self.best_project = {}, None, None
        self.open_best.setEnabled(False)
        self.show_runs.setEnabled(False)

    def _running_changed(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(False)

    def _on_event(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "sweep_started":
            self.objective, self.maximize = event["metric"], event["direction"] == "maximize"
            self.total = event["trials"]
            names = self.block_names()
            self.model.reset([e["target"] for e in event["space"]], self.objective, names)
            self.curves.reset(self.objective)
            self.scatter.reset(event["space"], self.objective, names)
            self.importance.set_values({}, "Importance appears when the sweep ends.", names)
            for row in event.get("done", []):
                self._finished_trial(row)
        elif kind == "trial_started":
            row = {"trial": event["trial"], "state": "RUNNING", "value": None, "params": event["params"],
                   "epochs": 0, "seconds": None, "baseline": event.get("baseline", False),
                   "run_dir": event["run_dir"], "message": ""}
            self.rows[event["trial"]] = row
            self.model.upsert(row)
            self.show_runs.setEnabled(True)
            self._say(f"Trial {event['trial']} running ({len(self.rows)} of {self.total}){self._best_text()}")
        elif kind == "validation" and "trial" in event:
            self.curves.add_point(event["trial"], event["epoch"], event["metrics"].get(self.objective))
            self.curves.focus(self.maximize)
            row = self.rows.get(event["trial"])
            if row is not None:
                row["epochs"] = event["epoch"]
                self.model.upsert({"trial": event["trial"], "epochs": event["epoch"]})
        elif kind == "trial_finished":
            self._finished_trial(event)
        elif kind == "importance":
            self.importance.set_values(event.get("values") or {}, event.get("note") or "", self.block_names())
        elif kind == "sweep_finished":
            if event.get("best_project"):
                self.best_project = Path(event["best_project"])
                self.open_best.setEnabled(True)
            self._say(self._summary(event))

    def _finished_trial(self, row: dict) -> None:
        self.rows[row["trial"]] = dict(row)
        self.model.upsert(row)
        complete = [r for r in self.rows.values() if r["state"] == "COMPLETE" and r["value"] is not None]
        if complete:
            pick = max if self.maximize else min
            best = pick(complete, key=lambda r: r["value"])["trial"]
            if best != self.best_trial:
                self.best_trial = best
                self.curves.set_best(best)
                self.model.set_best(best)
        self.scatter.set_rows(list(self.rows.values()), self.best_trial)
        self.table.sortByColumn(self.table.horizontalHeader().sortIndicatorSection(),
                                self.table.horizontalHeader().sortIndicatorOrder())

    def _value_text(self, value: float | None) -> str:
        if value is None:
            return "–"
        return f"{100 * value:.2f}%" if "accuracy" in self.objective else f"{value:.4f}"

    def _best_text(self) -> str:
        if self.best_trial is None:
            return ""
        value = self._value_text(self.rows[self.best_trial]["value"])
        return f" · best so far: trial {self.best_trial}, {value}"

    def _summary(self, event: dict) -> str:
        best = event.get("best")
        if not best:
            return f"Sweep {event['reason']}: no trial completed; see the Results tab for why."
        minutes = event["seconds"] / 60
        text = (f"Sweep {event['reason']} ({event['trials']} trials, {minutes:.1f} min): best is trial "
                f"{best['trial']}, {self.objective} {self._value_text(best['value'])}")
        cmp = event.get("comparison")
        if cmp and cmp["best_trial"] != cmp["baseline_trial"]:
            gain = cmp["gain"]
            text += (f", {100 * gain:+.2f} points over the project's own settings"
                     if "accuracy" in self.objective else f", {gain:+.4f} against the project's own settings")
        return text + "."

    def _on_ended(self, reason: str, message: str) -> None:
        self.resume_button.setEnabled(reason in ("stopped", "time_limit") and self.sweep_dir is not None)
        if message:
            self._say(f"The sweep {reason}: {message}")
            self.message.emit(f"Sweep {reason}: {message.splitlines()[0]}", 10000)
        else:
            self.message.emit(self.status.text(), 10000)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    # --- the best trial and the runs ---
    def _open_best(self) -> None:
        if self.best_project is not None and self.best_project.is_file():
            self.openProjectRequested.emit(self.best_project)

    def _show_runs(self) -> None:
        trial = self.best_trial if self.best_trial is not None else (max(self.rows) if self.rows else None)
        if trial is not None and self.rows[trial].get("run_dir"):
            self.showRunsRequested.emit(Path(self.rows[trial]["run_dir"]))

    def _trial_activated(self, index) -> None:
        row = self.model.rows[self.proxy.mapToSource(index).row()]
        if row.get("run_dir"):
            self.showRunsRequested.emit(Path(row["run_dir"]))


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value is not None else ""


def _parse_number(text: str, kind: str | None) -> float | int:
    number = float(text.strip())
    return int(number) if kind == "int" and number.is_integer() else number


def _parse_value(text: str) -> Any:
    """A typed choice: a number when it reads as one, true/false, else the text itself."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text

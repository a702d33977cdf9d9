"""The Runs panel: every run of the project, their curves overlaid, and what to do with a run.

Runs are the folders under runs/<project>/ beside the saved project, or in
the user data folder for a bundled example or an untitled project (one rule,
runtime/run_names.py, where `deepwire train` and the studio's Train put
them). Only the open project's runs are listed (by the project id their
snapshot records), so overlays, Evaluate and Export never offer another
project's run. A file watcher refreshes the list when a run appears or ends.
Ticking runs overlays their per-epoch curves (loss, and the monitored
metric) in one colour per run. Evaluate runs
`deepwire evaluate` as a child process (torch never loads in the GUI) and
then opens the evaluation view; errors show in the panel's message line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QFile, QFileSystemWatcher, QProcess, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from runtime.run_names import RUNS, runs_root
from studio.runs.child import child_error, start_cli
from studio.runs.run_info import SWEEP, RunInfo, list_runs, project_folders, read_curves_checked
from studio.training.plots import legend_below

COLUMNS = ("Run", "Recipe", "Optimizer", "LR", "Epochs", "Final", "Best", "Status")
PATH_ROLE = Qt.ItemDataRole.UserRole


def _number(value) -> str:
    return "" if value is None else f"{value:.4g}"


class RunsPanel(QWidget):
    use_trash = True  # tests turn this off so they never fill the user's trash
    rerunRequested = Signal(object)  # Path of the run's project snapshot
    evaluationReady = Signal(object)  # Path of the run folder whose evaluation.json was just written

    def __init__(self, document=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.folder: Path | None = None
        self.runs: dict[str, RunInfo] = {}
        self.curves: dict[str, list[pg.PlotDataItem]] = {}  # run name -> its plotted lines
        self.process: QProcess | None = None
        self.evaluation_windows: list[QWidget] = []

        self.table = QTreeWidget()
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.itemChanged.connect(lambda *_: self.plot_ticked())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda *_: self.evaluate())

        self.buttons = {}
        row = QHBoxLayout()
        for key, text, slot, tip in (
                ("refresh", "Refresh", self.refresh, "Read the runs folder again"),
                ("open", "Open Folder", self.open_folder, "Show the run's files"),
                ("rerun", "Re-run", self.rerun, "Take the run's settings into the project, or open the "
                 "project as it was trained; then press Train to run it again"),
                ("evaluate", "Evaluate", self.evaluate, "Confusion matrix, saliency, predictions of the run"),
                ("try", "Try It", self.try_it, "Predict with the run: drop images, choose files, type a "
                 "row or text"),
                ("delete", "Delete", self.delete, "Delete the run's folder")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            row.addWidget(button)
            self.buttons[key] = button
        self.split = QComboBox()
        self.split.addItems(["val", "test"])
        self.split.setToolTip("The split Evaluate uses: validation, or the held-out test split (if the run "
                              "had test_fraction above 0)")
        row.insertWidget(row.indexOf(self.buttons["evaluate"]) + 1, self.split)
        rerun_menu = QMenu(self)
        self.use_settings_action = rerun_menu.addAction("Use This Run's Settings in the Project",
                                                        self.apply_settings)
        self.use_settings_action.setToolTip("Training settings, seed and data of the run, as one undoable "
                                            "edit; new runs land beside this one")
        rerun_menu.addAction("Open the Run's Project as an Untitled Copy", self.rerun)
        self.buttons["rerun"].clicked.disconnect()
        self.buttons["rerun"].setMenu(rerun_menu)
        row.addStretch(1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.loss_plot = self._plot("loss (train ─, val ┄)")
        self.metric_plot = self._plot("validation metric")
        # side by side: the panel usually docks below the canvas, where width is plentiful
        split = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.table, self.loss_plot, self.metric_plot):
            split.addWidget(widget)
        split.setSizes([520, 300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

        self.watcher = QFileSystemWatcher(self)
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self.refresh)
        self.watcher.directoryChanged.connect(lambda *_: self._debounce.start())
        if document is not None:  # another project (its own id) or another place: list again
            document.projectReplaced.connect(lambda: self.set_folder(self._project_runs()))
            document.pathChanged.connect(lambda *_: self.set_folder(self._project_runs()))
        self.set_folder(self._project_runs())

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title, background=None)  # the panel's own background, light or dark
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.2)
        legend_below(plot)  # under the axis: a legend inside the plot covered the curves
        plot.setMinimumHeight(120)
        return plot

    # --- the list ---------------------------------------------------------------------------------
    def _project_runs(self) -> Path:
        """The runs root of the open project: where `deepwire train` and Train put its runs."""
        return runs_root(getattr(self.document, "path", None))

    def project(self):
        """The project whose runs are listed (None: a panel without a document lists every run)."""
        return getattr(self.document, "project", None)

    def set_folder(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if self.folder is not None:
            watched = self.folder if self.folder.is_dir() else self.folder.parent
            if watched.is_dir():
                self.watcher.addPath(str(watched))
        self.refresh()

    def refresh(self) -> None:
        ticked = set(self.ticked_names())
        selected = self.current_run().name if self.current_run() else None
        self.table.blockSignals(True)
        self.table.clear()
        self.runs = {run.name: run for run in list_runs(self.folder, self.project())}
        watched = self.watcher.directories()
        wanted = [self.folder] if self.folder is not None and self.folder.is_dir() else []
        wanted += project_folders(self.folder)  # a run appears in runs/<project>/
        for folder in wanted:
            if str(folder) not in watched:
                self.watcher.addPath(str(folder))  # runs/ (or runs/<project>/) was created by a run
        for run in self.runs.values():
            item = QTreeWidgetItem([run.name, run.recipe, run.optimizer, _number(run.lr),
                                    "" if run.epochs is None else str(run.epochs),
                                    _number(run.final), _number(run.best), run.status])
            item.setData(0, PATH_ROLE, str(run.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if run.name in ticked else Qt.CheckState.Unchecked)
            item.setToolTip(0, str(run.path))
            if run.monitor:
                item.setToolTip(5, f"final validation {run.monitor}")
            self.table.addTopLevelItem(item)
            if run.name == selected:
                item.setSelected(True)
                self.table.setCurrentItem(item)
        if self.table.currentItem() is None and self.table.topLevelItemCount():
            self.table.setCurrentItem(self.table.topLevelItem(0))  # the newest run, ready for a button
        self.table.blockSignals(False)
        for column in range(len(COLUMNS)):
            self.table.resizeColumnToContents(column)
        if self.folder is None:
            self.message.setText("Save the project: its runs are kept in a runs/ folder beside it.")
        elif not self.runs:
            self.message.setText(f"No runs of this project yet in {self.folder}. Press Train to make one.")
        else:
            self.message.setText(f"{len(self.runs)} run(s) in {self.folder}; tick runs to compare curves.")
        self.plot_ticked()
        self._update_buttons()

    def follow_run(self, run_dir: Path | None) -> None:
        """Show the folder a run (just started or ended) lives in, with that run selected and ticked."""
        if run_dir is None:
            return
        run_dir = Path(run_dir)
        # the runs root above runs/<project>/<run>; a sweep's trial: the sweep's folder, with its trials
        above = () if (run_dir.parent / SWEEP).is_file() else (run_dir.parent, run_dir.parent.parent)
        root = next((a for a in above if a.name == RUNS), run_dir.parent)
        if self.folder != root:
            self.set_folder(root)
        else:
            self.refresh()
        self.select_run(run_dir.name)
        self.set_ticked(run_dir.name)

    def items(self) -> list[QTreeWidgetItem]:
        return [self.table.topLevelItem(i) for i in range(self.table.topLevelItemCount())]

    def item_for(self, name: str) -> QTreeWidgetItem | None:
        return next((item for item in self.items() if item.text(0) == name), None)

    def ticked_names(self) -> list[str]:
        return [item.text(0) for item in self.items() if item.checkState(0) == Qt.CheckState.Checked]

    def set_ticked(self, name: str, ticked: bool = True) -> None:
        item = self.item_for(name)
        if item is not None:
            item.setCheckState(0, Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def current_run(self) -> RunInfo | None:
        item = self.table.currentItem()
        if item is None:
            selected = self.table.selectedItems()
            item = selected[0] if selected else None
        return self.runs.get(item.text(0)) if item is not None else None

    def select_run(self, name: str) -> None:
        item = self.item_for(name)
        if item is not None:
            self.table.setCurrentItem(item)

    def _update_buttons(self) -> None:
        run = self.current_run()
        for key in ("open", "rerun", "delete"):
            self.buttons[key].setEnabled(run is not None)
        self.use_settings_action.setEnabled(self.document is not None)
        busy = self.process is not None
        self.buttons["evaluate"].setEnabled(run is not None and not busy)
        self.buttons["try"].setEnabled(run is not None and run.has_checkpoint)

    # --- curves -------------------------------------------------------------------------------------
    def plot_ticked(self) -> None:
        for plot in (self.loss_plot, self.metric_plot):
            plot.clear()  # also empties the legend
        self.curves = {}
        names = self.ticked_names()
        metric_names = set()
        damaged = []
        for i, name in enumerate(names):
            run = self.runs[name]
            curves, problem = read_curves_checked(run.path)
            if problem:
                damaged.append(f"{name}: {problem}")
            colour = pg.intColor(i, hues=max(len(names), 3), values=1, maxValue=230)
            lines = []
            epochs = curves["epoch"]
            if "train_loss" in curves:
                lines.append(self.loss_plot.plot(epochs, curves["train_loss"], pen=pg.mkPen(colour, width=2),
                                                 symbol="o", symbolSize=5, symbolBrush=colour, name=name))
            if "val_loss" in curves:
                pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
                lines.append(self.loss_plot.plot(epochs, curves["val_loss"], pen=pen, symbol="t",
                                                 symbolSize=5, symbolBrush=colour,
                                                 name=None if "train_loss" in curves else name))
            metric = f"val_{run.monitor}" if run.monitor and run.monitor != "loss" else None
            if metric in curves:
                metric_names.add(run.monitor)
                lines.append(self.metric_plot.plot(epochs, curves[metric], pen=pg.mkPen(colour, width=2),
                                                   symbol="o", symbolSize=5, symbolBrush=colour, name=name))
            self.curves[name] = lines
        self.metric_plot.setTitle(f"validation {' / '.join(sorted(metric_names)) or 'metric'}")
        if damaged:  # said instead of a traceback; the run list and the other runs' curves stay usable
            self.message.setText("; ".join(damaged))

    # --- actions ------------------------------------------------------------------------------------
    def open_folder(self) -> None:
        run = self.current_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def rerun(self) -> None:
        run = self.current_run()
        if run is None:
            return
        snapshot = run.path / "project.dw.json"
        if not snapshot.is_file():
            self.message.setText(f"{run.name} has no project snapshot to run again.")
            return
        self.rerunRequested.emit(snapshot)

    def apply_settings(self) -> None:
        """Put the run's training settings, seed and data into the open project (one undo step)."""
        from graph.params import ParamError
        from graph.project_io import ProjectFileError, load_project

        run = self.current_run()
        if run is None or self.document is None:
            return
        try:
            snapshot = load_project(run.path / "project.dw.json", self.document.registry)
            self.document.set_training(dict(snapshot.training.values), seed=snapshot.seed, data=snapshot.data,
                                       text=f"Use the settings of run {run.name}")
        except (ProjectFileError, ParamError, OSError) as exc:
            self.message.setText(f"The settings of {run.name} could not be used: {exc}")
            return
        self.message.setText(f"The project now has the settings of {run.name} (Undo takes them back); "
                             "press Train to run it again.")

    def delete(self) -> None:
        run = self.current_run()
        if run is None:
            return
        answer = QMessageBox.question(self, "Delete run", f"Delete the run '{run.name}' and its files?\n"
                                      f"{run.path}", QMessageBox.StandardButton.Yes
                                      | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        # the trash where the platform has one, so a wrong click can be undone there
        if not (self.use_trash and QFile.moveToTrash(str(run.path))):
            shutil.rmtree(run.path, ignore_errors=True)
        self.refresh()
        self.message.setText(f"Deleted {run.name}.")

    def evaluate(self, split: str | None = None) -> None:
        split = split or self.split.currentText()
        run = self.current_run()
        if run is None or self.process is not None:
            return
        if not run.has_checkpoint:
            self.message.setText(f"Cannot evaluate {run.name}: it saved no checkpoint (best.pt or last.pt); "
                                 "train it for at least one epoch.")
            return
        self.message.setText(f"Evaluating {run.name} on the {split} split…")
        self.process = start_cli(self, ["evaluate", str(run.path), "--split", split],
                                 lambda code, out, err: self._evaluated(run, code, out, err))
        self._update_buttons()

    def _evaluated(self, run: RunInfo, code: int, out: str, err: str) -> None:
        self.process = None
        self._update_buttons()
        if code != 0:
            self.message.setText(f"Evaluation of {run.name} failed: {child_error(err, code)}")
            return
        self.message.setText(out.strip().splitlines()[-1] if out.strip() else f"Evaluated {run.name}.")
        self.evaluationReady.emit(run.path)
        self.show_evaluation(run.path)

    def try_it(self) -> QWidget | None:
        """A window that predicts with the selected run on inputs the user brings."""
        from studio.runs.try_it import TryItWindow, input_kind_of

        run = self.current_run()
        if run is None:
            return None
        if not run.has_checkpoint:
            self.message.setText(f"Cannot try {run.name}: it saved no checkpoint (best.pt or last.pt); "
                                 "train it for at least one epoch.")
            return None
        return self._open_window(TryItWindow(run.path, input_kind_of(run.path), self))

    def _open_window(self, window: QWidget) -> QWidget:
        """Show a run's own window (evaluation, Try It), kept until it is closed."""
        window.setWindowFlag(Qt.WindowType.Window, True)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        window.destroyed.connect(lambda *_: self.evaluation_windows.remove(window)
                                 if window in self.evaluation_windows else None)
        self.evaluation_windows.append(window)
        window.show()
        return window

    def show_evaluation(self, run_dir: Path) -> QWidget | None:
        from studio.runs.evaluation import EvaluationView

        try:
            view = EvaluationView(Path(run_dir), self)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            # evaluation.json of the wrong shape: a field missing or of another type than it should be
            what = exc if isinstance(exc, (OSError, ValueError)) else f"{type(exc).__name__} {exc}"
            self.message.setText(f"The evaluation of {Path(run_dir).name} could not be read: this run's "
                                 f"files are damaged: evaluation.json: {what}")
            return None
        return self._open_window(view)

    def shutdown(self) -> None:
        """Kill a running evaluation (the window is closing)."""
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
            self.process = None

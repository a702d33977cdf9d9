"""The Training dock: settings, Train and Stop, live curves, warnings, and progress in the status bar.

The settings form is built from graph.training_config.TRAINING_PARAMS with
the inspector's editors; each edit is one undo step through
`Document.set_training`, and the form re-reads the project after every
undo-stack step, so undo and redo show here too. Train snapshots the
project as it is (saved or not) and starts `deepwire train` in a child
process (studio/training/worker.py); the curves, the progress bar, the
warnings and a generative run's samples (studio/training/samples.py:
sampled text, GAN grids, reconstructions, per epoch) follow its events.
The "found" device comes from the child's started event: the studio
process never imports torch to ask.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from graph.params import Int, ParamError
from graph.training_config import TRAINING_PARAMS
from runtime.run_names import RUNS, default_run_dir, new_run_dir, slug
from studio.document import Document
from studio.param_editors import ParamEditor, make_editor
from studio.training.devices import DevicesChoice, MemoryLine, count_gpus
from studio.training.plots import TrainingPlots
from studio.training.samples import SamplesView
from studio.training.warnings import WarningWatcher
from studio.training.worker import TrainingWorker

MAIN_SETTINGS = ("recipe", "optimizer", "lr", "schedule", "batch_size", "epochs", "weight_decay",
                 "early_stopping", "device", "mixed_precision")
SEED = Int("seed", 0, 0, 2**31 - 1, "Random seed: the same seed gives the same weights, shuffling and split.")
_PARAMS = {p.name: p for p in TRAINING_PARAMS}
ENDINGS = {"completed": "Training finished", "early_stopped": "Training stopped early (no more improvement)",
           "stopped": "Training stopped", "time_limit": "Training reached its time limit"}


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class TrainingPanel(QWidget):
    message = Signal(str, int)  # status-bar text, milliseconds (0: until replaced)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.worker = TrainingWorker(self)
        self.watcher = WarningWatcher()
        self.runs_base: Path | None = None  # where runs/ goes instead of the usual place (tests)
        self.extra_args: tuple[str, ...] = ()  # more `deepwire train` arguments (tests: --max-seconds)
        self.child_env: dict[str, str] = {}
        self.prewarm_enabled = True  # start a waiting child while this dock is visible
        self._dock_hooked = False
        self.last_run_dir: Path | None = None
        self.last_outcome: tuple[str, str] | None = None
        self.events_seen = 0
        self._total_steps = 0
        self._epochs = 0

        self.train_action = QAction("&Train", self)
        self.train_action.setShortcuts([QKeySequence("Ctrl+T"), QKeySequence("F5")])
        self.train_action.setToolTip("Train the network on its data (Ctrl+T, F5)")
        self.train_action.setStatusTip("Train the network on its data")
        self.train_action.triggered.connect(lambda _c=False: self.train())
        self.stop_action = QAction("&Stop Training", self)
        self.stop_action.setShortcut(QKeySequence("Shift+F5"))
        self.stop_action.setToolTip("Stop training, keeping a checkpoint (Shift+F5)")
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(lambda _c=False: self.stop())

        self.refusal = QLabel("")
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet("color: #c0392b")
        self.editors: dict[str, ParamEditor] = {}
        form = QFormLayout()
        more_form = QFormLayout()
        for name in MAIN_SETTINGS:
            form.addRow(self._label(name), self._editor(_PARAMS[name]))
        form.addRow(self._label("seed"), self._editor(SEED))
        for param in TRAINING_PARAMS:
            if param.name not in MAIN_SETTINGS:
                more_form.addRow(self._label(param.name), self._editor(param))
        self.devices = DevicesChoice(count_gpus())
        form.addRow(self._label("devices", self.devices.toolTip()), self.devices)
        self.device_found = QLabel("")
        self.device_found.setToolTip("The device the last run used")
        form.addRow("", self.device_found)
        self.memory_line = MemoryLine()
        form.addRow(self.memory_line)  # the whole row: the line is long
        self.more = QGroupBox("More settings")
        self.more.setCheckable(True)
        self.more.setChecked(False)
        more_body = QWidget()
        more_body.setLayout(more_form)
        more_body.setVisible(False)
        self.more.toggled.connect(more_body.setVisible)
        QVBoxLayout(self.more).addWidget(more_body)

        self.train_button = QPushButton("Train")
        self.train_button.setToolTip(self.train_action.toolTip())
        self.train_button.clicked.connect(self.train_action.trigger)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_action.trigger)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)

        settings = QWidget()
        column = QVBoxLayout(settings)
        column.addLayout(buttons)
        column.addLayout(form)
        column.addWidget(self.more)
        column.addWidget(self.refusal)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(settings)
        scroll.setMinimumWidth(250)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.plots = TrainingPlots()
        self.warnings = QListWidget()
        self.warnings.setWordWrap(True)
        self.warnings.setMaximumHeight(70)
        self.warnings.setVisible(False)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.warnings)
        # a generative run's samples (text, image grids) under the curves, per epoch; hidden otherwise
        self.samples = SamplesView()
        self.curves_and_samples = QSplitter(Qt.Orientation.Vertical)
        self.curves_and_samples.addWidget(self.plots)
        self.curves_and_samples.addWidget(self.samples)
        self.curves_and_samples.setStretchFactor(0, 3)
        self.curves_and_samples.setStretchFactor(1, 2)
        self.curves_and_samples.setChildrenCollapsible(False)
        right_layout.addWidget(self.curves_and_samples, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([280, 900])
        QVBoxLayout(self).addWidget(splitter)
        self.layout().setContentsMargins(0, 0, 0, 0)

        # status-bar widget: the main window places it
        self.progress_widget = QWidget()
        self.progress_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        row = QHBoxLayout(self.progress_widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress_label)
        row.addWidget(self.progress)
        self.progress_widget.setVisible(False)

        self.worker.eventReceived.connect(self._on_event)
        self.worker.runningChanged.connect(self._running_changed)
        self.worker.ended.connect(self._on_ended)
        document.undo_stack.indexChanged.connect(self.refresh)
        document.projectReplaced.connect(self.refresh)
        document.projectReplaced.connect(self._project_replaced)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.worker.wait_stopped)  # never leave a child training behind
        self.refresh()

    # --- settings ---
    def _label(self, name: str, help_text: str | None = None) -> QLabel:
        label = QLabel(name.replace("_", " ").capitalize().replace("Lr", "Learning rate"))
        label.setToolTip(help_text or (_PARAMS.get(name) or SEED).help)
        return label

    def _editor(self, param) -> ParamEditor:
        editor = make_editor(param)
        editor.committed.connect(lambda value, name=param.name: self.set_setting(name, value))
        editor.refused.connect(self.refusal.setText)
        self.editors[param.name] = editor
        return editor

    def set_setting(self, name: str, value) -> None:
        """One undo step; a value the project refuses is shown under the form."""
        try:
            if name == "seed":
                if value != self.document.project.seed:
                    self.document.set_training(seed=value, text="Set seed")
            elif self.document.project.training.values.get(name) != value:
                self.document.set_training({name: value}, text=f"Set {name}")
        except ParamError as err:
            self.refusal.setText(str(err))
            self.refresh()

    def refresh(self, *_args) -> None:
        project = self.document.project
        for name, editor in self.editors.items():
            editor.set_value(project.seed if name == "seed" else project.training.values[name])

    def _project_replaced(self) -> None:
        """Another project (New, Open): the last run's curves, samples and warnings are not its own."""
        if self.worker.running:
            return  # a run still going keeps showing (it trains the snapshot it started from)
        self.plots.clear()
        self.samples.clear()
        self.watcher.reset()
        self.warnings.clear()
        self.warnings.setVisible(False)
        self.memory_line.setText("")
        self.device_found.setText("")

    # --- running ---
    def showEvent(self, event) -> None:
        super().showEvent(event)
        dock = self.parentWidget()
        if isinstance(dock, QDockWidget) and not self._dock_hooked:
            # a dock behind another tab still counts as visible; its tab coming up is the real moment
            self._dock_hooked = True
            dock.visibilityChanged.connect(lambda on: on and QTimer.singleShot(100, self._prewarm))
        QTimer.singleShot(100, self._prewarm)

    def _prewarm(self) -> None:
        """The user is looking at training: have a child import torch now (Train then starts at once)."""
        on_screen = self.isVisible() and not self.visibleRegion().isEmpty()
        if self.prewarm_enabled and on_screen and not self.worker.running:
            self.worker.prewarm(self.child_env)

    def run_dir(self) -> Path:
        """Where `deepwire train` would put this project's next run (runtime/run_names.py's rule)."""
        name = self.document.project.name
        if self.runs_base is not None:
            return new_run_dir(Path(self.runs_base) / RUNS / slug(name), name)
        return default_run_dir(name, self.document.path)

    def train(self) -> bool:
        """Start training the project as it is now; False (and a message) when it cannot start."""
        if self.worker.running:
            return False
        doc = self.document
        # graph errors stop it here; a data problem goes on to the child, which names the file and row
        broken = [net.name for net in doc.project.networks if not doc.graph_analysis(net.name).ok]
        if broken:
            self._warn(f"Fix the problems in network '{broken[0]}' before training (see Problems)")
            return False
        self.plots.clear()
        self.samples.clear()
        self.watcher.reset()
        self.warnings.clear()
        self.warnings.setVisible(False)
        self.events_seen = 0
        self.last_outcome = None
        self.last_run_dir = self.run_dir()
        base = self.document.path.parent if self.document.path is not None else None
        self.memory_line.setText("")
        self.worker.start(self.document.project, self.last_run_dir, base,
                          self.extra_args + self.devices.launch_args(), self.child_env)
        self.progress.setRange(0, 0)  # busy until the child says how long the run is
        self.progress_label.setText("Starting training…")
        self.message.emit("Starting training…", 3000)
        return True

    def stop(self) -> None:
        if self.worker.running:
            self.progress_label.setText("Stopping…")
            self.worker.stop()

    def _running_changed(self, running: bool) -> None:
        self.train_action.setEnabled(not running)
        self.train_button.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.progress_widget.setVisible(running)

    def _on_event(self, event: dict) -> None:
        self.events_seen += 1
        kind = event["kind"]
        self.plots.add_event(event)
        self.samples.add_event(event)
        self.memory_line.on_event(event)
        for warning in self.watcher.check(event):
            self._warn(warning.text)
        if kind == "started":
            self._epochs = event.get("epochs", 0)
            self._total_steps = max(1, self._epochs * event.get("steps_per_epoch", 1))
            self.progress.setRange(event.get("start_step", 0), self._total_steps)
            self.device_found.setText(f"Training on {event.get('device', '?')}")
            self.progress_label.setText(f"Epoch {event.get('start_epoch', 0) + 1}/{self._epochs}")
        elif kind == "step":
            self.progress.setValue(min(event["step"], self._total_steps))
            self.progress_label.setText(f"Epoch {event['epoch']}/{self._epochs} · step {event['step']}/"
                                        f"{self._total_steps} · ETA {_clock(event.get('eta_seconds', 0))}")

    def _warn(self, text: str) -> None:
        item = QListWidgetItem(f"⚠ {text}")
        item.setToolTip(text)
        self.warnings.addItem(item)
        self.warnings.setVisible(True)
        self.warnings.scrollToBottom()
        self.message.emit(text, 10000)

    def _on_ended(self, reason: str, text: str) -> None:
        self.last_outcome = (reason, text)
        self._prewarm()  # ready for the next run
        if reason in ENDINGS:
            done = self.worker.finished_event or {}
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in (done.get("metrics") or {}).items()
                                if isinstance(v, (int, float)) and "top" not in k)
            self.message.emit(f"{ENDINGS[reason]}" + (f": {metrics}" if metrics else "")
                              + f" — run saved in {self.last_run_dir}", 0)
            self.progress_label.setText(ENDINGS[reason])
        else:
            crashed = reason == "crashed"
            where = f" The run folder keeps what was saved: {self.last_run_dir}" if crashed else ""
            self._warn(("Training crashed: " if crashed else "Training failed: ") + text + where)
            self.progress_label.setText("Training crashed" if crashed else "Training failed")

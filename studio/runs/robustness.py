"""The Evaluation view's Robustness tab: accuracy under adversarial attack, per eps, and what it looks like.

"Run Attack" runs `deepwire evaluate RUN --attack fgsm|pgd --eps ...` as a
child (runtime/adversarial.py computes; torch never loads here), then reads
the "attacks" entry it added to evaluation.json: one accuracy-vs-eps curve
per attack run so far, the clean accuracy as a dashed line, and for a chosen
eps the perturbed samples with their new predictions (changed ones marked).
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QProcess, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from runtime.run_files import RunFileError, read_json
from studio.runs.child import child_error, start_cli

COLOURS = {"fgsm": (40, 110, 220), "pgd": (220, 90, 40)}
DEFAULT_EPS = "0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3"


def training_note(run_dir: Path) -> str:
    """How the run trained against attacks, read from its project snapshot."""
    try:
        training = read_json(Path(run_dir) / "project.dw.json").get("training", {})
    except (RunFileError, AttributeError):
        return ""
    method = training.get("adversarial", "off") if isinstance(training, dict) else "off"
    if method not in ("fgsm", "pgd"):
        return ("This run trained without adversarial training. To make it more robust, set "
                "'adversarial' to FGSM or PGD under More settings in the Training panel and train again.")
    eps, weight = training.get("adversarial_eps", 0.1), training.get("adversarial_weight", 0.5)
    steps = f", {training.get('adversarial_steps', 3)} steps" if method == "pgd" else ""
    return (f"This run trained adversarially: {method.upper()} at eps {eps:g}{steps}, with "
            f"{100 * float(weight):g}% of each step's loss from perturbed inputs.")


class RobustnessTab(QWidget):
    def __init__(self, run_dir: Path, result: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.split = str(result.get("split", "val"))
        self.attacks: dict = result.get("attacks") if isinstance(result.get("attacks"), dict) else {}
        self.process: QProcess | None = None

        self.method = QComboBox()
        self.method.addItem("FGSM (one step)", "fgsm")
        self.method.addItem("PGD (10 steps)", "pgd")
        self.eps = QLineEdit(DEFAULT_EPS)
        self.eps.setToolTip("Attack sizes, separated by commas: a fraction of the pixel range for images "
                            "(0.1 moves each pixel by up to a tenth of its range), else standard deviations")
        self.run_button = QPushButton("Run Attack")
        self.run_button.clicked.connect(self.run_attack)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Attack"))
        controls.addWidget(self.method)
        controls.addWidget(QLabel("eps"))
        controls.addWidget(self.eps, 1)
        controls.addWidget(self.run_button)

        self.plot = pg.PlotWidget()
        self.plot.setBackground(None)
        item = self.plot.getPlotItem()
        item.setTitle("Accuracy under attack", size="9pt")
        item.setLabel("left", "accuracy (%)")
        item.setLabel("bottom", "eps")
        item.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):
            item.getAxis(axis).enableAutoSIPrefix(False)  # "eps (x0.001)" hides the values people typed
        item.setYRange(0, 100, padding=0.02)
        self.legend = item.addLegend(offset=(-10, 10))

        self.example_eps = QComboBox()
        self.example_eps.currentIndexChanged.connect(self.show_examples)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        examples = QWidget()
        ex_layout = QVBoxLayout(examples)
        row = QHBoxLayout()
        row.addWidget(QLabel("Perturbed samples at eps"))
        row.addWidget(self.example_eps, 1)
        ex_layout.addLayout(row)
        ex_layout.addWidget(self.picture, 1)
        ex_layout.addWidget(self.caption)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plot)
        split.addWidget(examples)
        split.setSizes([520, 340])
        self.training_note = QLabel(training_note(self.run_dir))
        self.training_note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.training_note)
        self.refresh()

    # --- showing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        item = self.plot.getPlotItem()
        for curve in list(item.listDataItems()):
            item.removeItem(curve)
        self.legend.clear()
        clean = None
        for method, attack in sorted(self.attacks.items()):
            points = attack.get("curve", [])
            xs = [float(p["eps"]) for p in points]
            ys = [100 * float(p["accuracy"]) for p in points]
            colour = COLOURS.get(method, (90, 90, 90))
            item.addItem(pg.PlotDataItem(xs, ys, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                                         symbolBrush=colour, name=method.upper()))
            clean = attack.get("clean_accuracy", clean)
        if clean is not None:
            top = max([float(p["eps"]) for a in self.attacks.values() for p in a.get("curve", [])] or [1.0])
            item.addItem(pg.PlotDataItem([0, top], [100 * clean] * 2, name="clean",
                                         pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine)))
        if not self.attacks:
            self.status.setText("No attack yet: choose one and press Run Attack. It perturbs each "
                                f"sample of the {self.split} split and classifies it again.")
        else:
            unit = next(iter(self.attacks.values())).get("unit", "")
            self.status.setText(f"eps is measured in {unit}." if unit else "")
        self.example_eps.blockSignals(True)
        self.example_eps.clear()
        for method, attack in sorted(self.attacks.items()):
            for eps in sorted(attack.get("examples", {}), key=float):
                self.example_eps.addItem(f"{method.upper()} {eps}", (method, eps))
        self.example_eps.blockSignals(False)
        if self.example_eps.count():
            self.example_eps.setCurrentIndex(self.example_eps.count() - 1)
            self.show_examples()
        else:
            self.picture.clear()
            self.caption.setText("")

    def show_examples(self, *_args) -> None:
        chosen = self.example_eps.currentData()
        if not chosen:
            return
        method, eps = chosen
        shown = self.attacks[method]["examples"][eps]
        from studio.runs.evaluation import pixmap

        self.picture.setPixmap(pixmap(self.run_dir / shown["png"], 160))
        names = self.attacks[method].get("class_names") or []

        def name(i: int) -> str:
            return names[i] if 0 <= i < len(names) else str(i)

        parts = [f"{name(p)}{'' if p == t else f' ✗ (was {name(t)})'}"
                 for p, t in zip(shown["predicted"], shown["true"])]
        self.caption.setText("Predicted, row by row: " + ", ".join(parts))

    # --- running ---------------------------------------------------------------------------------
    def run_attack(self) -> None:
        if self.process is not None:
            return
        method = self.method.currentData()
        eps = ",".join(part.strip() for part in self.eps.text().split(",") if part.strip())
        self.run_button.setEnabled(False)
        self.status.setText(f"Attacking with {method.upper()}… (PGD takes about ten times as long)")
        args = ["evaluate", str(self.run_dir), "--attack", method, "--split", self.split]
        if eps:
            args += ["--eps", eps]
        self.process = start_cli(self, args, self._attacked)

    def _attacked(self, code: int, out: str, err: str) -> None:
        self.process = None
        self.run_button.setEnabled(True)
        if code != 0:
            self.status.setText(f"The attack failed: {child_error(err, code)}")
            return
        try:
            result = read_json(self.run_dir / "evaluation.json") or {}
        except RunFileError as exc:
            self.status.setText(f"The attack's result could not be read: {exc}")
            return
        attacks = result.get("attacks") if isinstance(result, dict) else None
        self.attacks = attacks if isinstance(attacks, dict) else {}
        self.refresh()

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
            self.process = None

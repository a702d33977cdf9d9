"""The summary strip: parameters, memory estimate and problem count for the whole project.

The estimate is deliberately simple, and says so in its tooltip:
weights are 4 bytes (float32) per parameter; activations are, over every
block with an output, its output elements x batch size x 4 bytes, doubled
for training (the backward pass keeps them and makes gradients of the same
size). The batch size is a what-if setting of this strip, starting at the
project's training batch size; changing it does not change the project.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QStyle, QToolButton, QWidget

from graph.shapes import numel
from studio.document import Document
from studio.inspector import block_param_count

BYTES = 4  # float32
TRAINING_FACTOR = 2

TOOLTIP = (
    "How the memory is estimated:\n"
    "• weights: 4 bytes (float32) per parameter; training also keeps a gradient per weight,\n"
    "  and Adam two more values, so count about 4x that while training;\n"
    "• activations: every block's output (elements x batch size x 4 bytes), times 2 for\n"
    "  training, since the backward pass keeps them and makes gradients of the same size.\n"
    "Real use adds the framework's own overhead; treat this as a lower bound."
)


@dataclass(frozen=True)
class Totals:
    parameters: int
    weight_bytes: int
    activation_bytes: int
    errors: int
    warnings: int
    unknown: int  # blocks whose shapes are unknown (left out of the totals)


def project_totals(document: Document, batch: int) -> Totals:
    params = activations = errors = warnings = unknown = 0
    registry = document.registry
    for net in document.project.networks:
        analysis = document.analysis(net.name)
        inference = analysis.inference
        for bid, block in net.blocks.items():
            if block.type not in registry:
                continue
            spec = registry.get(block.type)
            count = block_param_count(spec, inference, bid)
            if count is None:
                unknown += 1
                continue
            params += count
            if spec.has_output:
                activations += numel(inference.shapes[bid]) * batch * BYTES * TRAINING_FACTOR
        errors += sum(d.is_error for d in analysis.diagnostics)
        warnings += sum(not d.is_error for d in analysis.diagnostics)
    return Totals(params, params * BYTES, activations, errors, warnings, unknown)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def human_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f} M"
    return f"{n:,}"


class SummaryStrip(QWidget):
    problemsClicked = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.params = QLabel()
        self.memory = QLabel()
        self.batch = QSpinBox()
        self.batch.setRange(1, 65536)
        self.batch.setPrefix("batch size ")
        self.batch.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.batch.setToolTip("Batch size for the activation estimate "
                              "(a what-if: the project's own setting is not changed).")
        self.batch.valueChanged.connect(lambda _v: self.refresh())
        self.problems = QToolButton()
        self.problems.setAutoRaise(True)
        self.problems.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.problems.setToolTip("Show the problems list")
        self.problems.clicked.connect(self.problemsClicked)
        for label in (self.params, self.memory):
            label.setToolTip(TOOLTIP)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(10)
        layout.addWidget(self.params)
        layout.addWidget(self.memory)
        layout.addWidget(self.batch)
        layout.addStretch(1)
        layout.addWidget(self.problems)
        self.totals: Totals | None = None
        document.analysisChanged.connect(lambda _name: self.refresh())
        document.projectReplaced.connect(self._project_replaced)
        self._project_replaced()

    def _project_replaced(self) -> None:
        self.batch.blockSignals(True)
        self.batch.setValue(int(self.document.project.training.batch_size))
        self.batch.blockSignals(False)
        self.refresh()

    def refresh(self) -> None:
        t = self.totals = project_totals(self.document, self.batch.value())
        partial = " (so far)" if t.unknown else ""
        self.params.setText(f"{human_count(t.parameters)} parameters{partial} ·")
        self.memory.setText(f"weights {human_bytes(t.weight_bytes)} · "
                            f"activations {human_bytes(t.activation_bytes)} for training at")
        style = self.style()
        if t.errors:
            icon = QStyle.StandardPixmap.SP_MessageBoxCritical
        elif t.warnings:
            icon = QStyle.StandardPixmap.SP_MessageBoxWarning
        else:
            icon = QStyle.StandardPixmap.SP_DialogApplyButton
        self.problems.setIcon(style.standardIcon(icon))
        self.problems.setText(problem_text(t.errors, t.warnings))


def problem_text(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "no problems"
    parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts)

"""The inspector's "vary in experiment" switch beside each number or choice parameter.

A small checkable button: on puts the parameter in the project's search
space with a first range around its value (then shown and editable in the
Experiments panel); off takes it out. Each click is one undo step, and the
button follows undo and redo because it re-reads the model when the undo
stack moves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton, QWidget

from graph.params import Param
from runtime.sweep.space import param_sweepable
from studio.experiments import space_edit

TIP_OFF = "Vary this parameter in the experiment (hyper-parameter sweep, Experiments panel)"
TIP_ON = "Varied in the experiment: click to keep it fixed. Edit its range in the Experiments panel"


class SweepToggle(QToolButton):
    def __init__(self, document, target: str, param: Param, value_of, parent: QWidget | None = None):
        super().__init__(parent)
        self.document, self.target, self.param, self.value_of = document, target, param, value_of
        self.setText("vary")
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab moves between value fields, not switches
        self.setAccessibleName(f"vary {param.name} in the experiment")
        self.toggled.connect(self._toggled)
        document.undo_stack.indexChanged.connect(self.sync)
        document.projectReplaced.connect(self.sync)
        self.sync()

    def sync(self, *_args) -> None:
        try:
            on = space_edit.in_space(self.document, self.target)
        except RuntimeError:  # the document outlived this button's C++ side
            return
        self.blockSignals(True)
        self.setChecked(on)
        self.blockSignals(False)
        self.setToolTip(TIP_ON if on else TIP_OFF)
        self.setText("✓ vary" if on else "vary")  # the state reads as words, whatever the style draws

    def _toggled(self, on: bool) -> None:
        if on:
            space_edit.add_target(self.document, self.target, self.param, self.value_of())
        else:
            space_edit.remove_target(self.document, self.target)
        self.sync()


def block_param_toggle(document, network: str, block_id: str, param: Param) -> QWidget | None:
    """The switch for one block parameter, or None for parameters a sweep cannot vary (lists, text)."""
    if not param_sweepable(param):
        return None
    target = space_edit.block_target(document, network, block_id, param.name)

    def value():
        block = document.network(network).block(block_id)
        return block.params.get(param.name, param.default)

    return SweepToggle(document, target, param, value)

"""Undo commands for a project's settings: hyper-parameters, seed, data source, deploy targets.

Like the network commands, each holds the old and new values and only sets
them back on the `Project`. Consecutive edits of the same training field
merge into one step (typing a learning rate digit by digit).
"""

from __future__ import annotations

import copy

from PySide6.QtGui import QUndoCommand

from graph.model import Project
from graph.training_config import DataSpec, TrainingConfig

MERGE_SET_TRAINING = 1101


class SetTraining(QUndoCommand):
    """New hyper-parameters, seed and/or data source for the project (None keeps that part)."""

    def __init__(self, project: Project, training: TrainingConfig | None = None, seed: int | None = None,
                 data: DataSpec | None = None, text: str = "Change training settings"):
        super().__init__(text)
        self.project = project
        self.old = (project.training, project.seed, copy.deepcopy(project.data))
        self.new = (training if training is not None else project.training,
                    seed if seed is not None else project.seed,
                    copy.deepcopy(data) if data is not None else copy.deepcopy(project.data))

    def id(self):
        return MERGE_SET_TRAINING

    def mergeWith(self, other):
        # only the same single field again: a different field is a different step in the history
        same = isinstance(other, SetTraining) and other.project is self.project
        if not same or other.text() != self.text():
            return False
        self.new = other.new
        return True

    def _apply(self, values) -> None:
        training, seed, data = values
        self.project.training, self.project.seed, self.project.data = training, seed, copy.deepcopy(data)

    def redo(self):
        self._apply(self.new)

    def undo(self):
        self._apply(self.old)


class SetDeployTargets(QUndoCommand):
    """The project's deploy targets (graph/deploy.py names), e.g. ["onnx17", "int8"]."""

    def __init__(self, project: Project, targets: list[str], text: str = "Change deploy targets"):
        super().__init__(text)
        self.project = project
        self.old = list(project.deploy_targets)
        self.new = list(targets)

    def redo(self):
        self.project.deploy_targets = list(self.new)

    def undo(self):
        self.project.deploy_targets = list(self.old)

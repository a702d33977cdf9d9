"""The undo command for a project's experiment (the sweep's space and budget).

Like the other commands it holds the old and new values and only sets them
back on the `Project`; views redraw when the undo stack moves.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from graph.model import Project

MERGE_SET_EXPERIMENT = 1201


class SetExperiment(QUndoCommand):
    """A new `experiment` dict for the project (the space entries, trials, sampler, ...)."""

    def __init__(self, project: Project, experiment: dict[str, Any], text: str = "Change experiment"):
        super().__init__(text)
        self.project = project
        self.old = copy.deepcopy(project.experiment)
        self.new = copy.deepcopy(experiment)

    def id(self):
        return MERGE_SET_EXPERIMENT

    def mergeWith(self, other):
        # typing a range bound digit by digit is one step; a different edit is a different step
        if not isinstance(other, SetExperiment) or other.project is not self.project:
            return False
        if other.text() != self.text() or other.text().startswith(("Add", "Remove")):
            return False
        self.new = other.new
        return True

    def redo(self):
        self.project.experiment = copy.deepcopy(self.new)

    def undo(self):
        self.project.experiment = copy.deepcopy(self.old)

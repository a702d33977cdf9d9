"""The two ways a run can go wrong, which the CLI turns into different exit codes.

SetupError: the project, its data or the settings do not fit together; found
before the first step (exit code 2). TrainingError: training started and
then failed, e.g. the loss became NaN or the GPU ran out of memory (exit
code 1). Both carry a message a student can act on.
"""

from __future__ import annotations


class SetupError(ValueError):
    """The project, data or settings cannot train as they are; the message says what to change."""


class TrainingError(RuntimeError):
    """Training started and failed. `reason`: nan, out_of_memory or exception."""

    def __init__(self, message: str, reason: str, suggestion: str = "", step: int | None = None,
                 epoch: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.suggestion = suggestion
        self.step = step
        self.epoch = epoch

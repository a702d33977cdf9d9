"""Warnings worth raising while a network trains, from the event stream alone (no Qt, no torch).

- Overfitting: validation loss rose for 3 epochs in a row while training
  loss fell; suggests dropout, weight decay, early stopping, more data.
- Diverging: the training loss of an epoch is far above the first epoch's
  (the learning rate is too high for this network).
- NaN stop and other run errors: the trainer's own error event, with its
  suggestion.
Each warning is said once per run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

OVERFIT_EPOCHS = 3
DIVERGE_FACTOR = 4.0  # epoch loss this many times the first epoch's

OVERFIT_TEXT = ("Overfitting: validation loss has risen for {n} epochs while training loss fell. "
                "Try dropout, weight decay, early stopping or more data.")
DIVERGE_TEXT = ("The loss is diverging ({loss:.3g}, first epoch {first:.3g}): "
                "lower the learning rate or clip gradients.")


@dataclass
class TrainingWarning:
    kind: str  # overfitting, diverging, nan, error, warning
    text: str


@dataclass
class WarningWatcher:
    """Feed it event dicts (`check`); it returns the new warnings that event raises."""

    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    said: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.train_losses.clear()
        self.val_losses.clear()
        self.said.clear()

    def check(self, event: dict) -> list[TrainingWarning]:
        kind = event.get("kind")
        found: list[TrainingWarning] = []
        if kind == "epoch":
            loss = _number(event.get("metrics", {}).get("loss"))
            if loss is not None:
                self.train_losses.append(loss)
                first = self.train_losses[0]
                growing = loss > DIVERGE_FACTOR * first or math.isinf(loss)
                if len(self.train_losses) > 1 and first > 0 and growing:
                    found.append(TrainingWarning("diverging", DIVERGE_TEXT.format(loss=loss, first=first)))
        elif kind == "validation":
            loss = _number(event.get("metrics", {}).get("loss"))
            if loss is not None:
                self.val_losses.append(loss)
                if self._overfitting():
                    found.append(TrainingWarning("overfitting", OVERFIT_TEXT.format(n=OVERFIT_EPOCHS)))
        elif kind == "error":
            suggestion = event.get("suggestion") or ""
            reason = event.get("reason", "")
            text = event.get("message", "training failed") + (f" — {suggestion}" if suggestion else "")
            found.append(TrainingWarning("nan" if reason == "nan" else "error", text))
        elif kind == "warning":
            found.append(TrainingWarning("warning", event.get("message", "")))
        fresh = [w for w in found if w.kind in ("error", "warning") or w.kind not in self.said]
        self.said.update(w.kind for w in fresh)
        return fresh

    def _overfitting(self) -> bool:
        n = OVERFIT_EPOCHS
        val, train = self.val_losses, self.train_losses
        if len(val) < n + 1 or len(train) < n + 1:
            return False
        rising = all(val[-i] > val[-i - 1] for i in range(1, n + 1))
        falling = all(train[-i] < train[-i - 1] for i in range(1, n + 1))
        return rising and falling


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not math.isnan(value):
        return float(value)
    return None

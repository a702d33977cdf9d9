"""SetupError and TrainingError, kept importable from here (they live in runtime/errors.py).

They moved one level up so that readers used outside training (runtime/weights_file.py)
can raise them without importing the trainer through runtime/train/__init__.py.
"""

from __future__ import annotations

from runtime.errors import SetupError, TrainingError

__all__ = ["SetupError", "TrainingError"]

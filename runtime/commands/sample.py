"""`deepwire sample RUN_DIR --prompt TEXT`: a language-model run continues a prompt (see evaluate.py)."""

from __future__ import annotations

from runtime.commands.evaluate import add_sample_arguments as add_arguments
from runtime.commands.evaluate import run_sample as run

__all__ = ["add_arguments", "run"]

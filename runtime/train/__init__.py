"""Training runtime: the trainer, its recipes, events, run folders and checkpoints.

Entry points:
    Trainer(project, registry, dataset, TrainOptions(run_dir=...), listeners).run() -> summary dict
    events.event_from_json(line)   parse one line of `deepwire train --events jsonl`
    StopFlag                       set it (or send SIGINT/SIGTERM) to stop cleanly with a checkpoint
"""

from __future__ import annotations

from runtime.train.errors import SetupError, TrainingError
from runtime.train.events import Collector, Event, JsonLinesWriter, event_from_json
from runtime.train.stop import StopFlag
from runtime.train.trainer import Trainer, TrainOptions

__all__ = ["Collector", "Event", "JsonLinesWriter", "SetupError", "StopFlag", "Trainer", "TrainOptions",
           "TrainingError", "event_from_json"]

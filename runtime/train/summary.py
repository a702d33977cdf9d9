"""summary.json of a run: what finished, how well, how fast, on what."""

from __future__ import annotations

from time import perf_counter

from runtime.train import memory
from runtime.train.runs import versions


def build_summary(trainer, reason: str, wall_start: float, test: dict[str, float], failure) -> dict:
    seconds = trainer.train_seconds
    summary = {
        "project": trainer.project.name,
        "recipe": trainer.config.recipe,
        "reason": reason,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "final": trainer.last_val or trainer.last_train,
        "train": trainer.last_train,
        "test": test,
        "monitor": trainer.monitor,
        "best_epoch": trainer.best_epoch,
        "best_metric": trainer.best_metric,
        "samples_per_second": trainer.samples_seen / seconds if seconds else 0.0,
        "train_seconds": seconds,
        "wall_seconds": perf_counter() - wall_start,
        "device": str(trainer.device),
        "precision": trainer.precision.describe(),
        "batch_size": trainer.batch_size,  # per process
        "processes": trainer.cluster.world_size,
        "global_batch_size": getattr(trainer, "global_batch", trainer.batch_size),
        "memory": {"estimate": trainer.memory_estimate, "peak": memory.peak_bytes(trainer.device)},
        "seed": trainer.project.seed,
        "config": dict(trainer.config.values),
        "versions": versions(),
    }
    if failure is not None:
        summary["error"] = {"message": str(failure), "reason": failure.reason,
                            "suggestion": failure.suggestion}
    return summary

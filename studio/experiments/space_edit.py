"""Editing a project's search space: which settings are in it, and a sensible first range for each.

Pure helpers over the project's `experiment` dict plus `set_experiment`,
which pushes the one undo command (studio/experiments/commands.py).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from graph.params import Param
from runtime.sweep.space import param_sweepable
from studio.experiments.commands import SetExperiment


def block_target(document, network: str, block_id: str, param: str) -> str:
    """The space target naming one block parameter (by id: stable when the block is renamed)."""
    prefix = f"{network}/" if len(document.project.networks) > 1 else ""
    return f"block:{prefix}{block_id}.{param}"


def space(document) -> list[dict[str, Any]]:
    return list(document.project.experiment.get("space", []))


def in_space(document, target: str) -> bool:
    return any(entry.get("target") == target for entry in space(document))


def set_experiment(document, changes: dict[str, Any], text: str) -> None:
    """One undo step changing some experiment fields (an empty space leaves no experiment behind)."""
    experiment = copy.deepcopy(document.project.experiment)
    experiment.update(changes)
    if not experiment.get("space"):
        experiment = {}  # nothing to sweep: the file stays as it was before
    if experiment != document.project.experiment:
        document.push(SetExperiment(document.project, experiment, text))


def set_space(document, entries: list[dict[str, Any]], text: str) -> None:
    set_experiment(document, {"space": entries}, text)


def add_target(document, target: str, param: Param, value: Any) -> None:
    if not in_space(document, target) and param_sweepable(param):
        entry = first_entry(target, param, value)
        set_space(document, space(document) + [entry], f"Add {target} to experiment")


def remove_target(document, target: str) -> None:
    entries = [e for e in space(document) if e.get("target") != target]
    set_space(document, entries, f"Remove {target} from experiment")


def first_entry(target: str, param: Param, value: Any) -> dict[str, Any]:
    """A range around the current value that the declaration allows (the user then adjusts it)."""
    lo_bound = -math.inf if param.minimum is None else param.minimum
    hi_bound = math.inf if param.maximum is None else param.maximum
    if param.kind == "choice":
        return {"target": target, "kind": "choice", "choices": list(param.choices)}
    if param.kind == "bool":
        return {"target": target, "kind": "choice", "choices": [False, True]}
    if param.name == "batch_size" and isinstance(value, int):  # powers of two around the current size
        sizes = [v for v in (value // 2, value, value * 2) if lo_bound <= v <= hi_bound and v >= 1]
        return {"target": target, "kind": "choice", "choices": sizes}
    if param.kind == "float" and not value and lo_bound >= 0:  # off by default: off, or a few settings on
        on = (1e-4, 1e-3, 1e-2) if param.name == "weight_decay" else (0.5, 1.0, 5.0)
        steps = [v for v in (0.0, *on) if lo_bound <= v <= hi_bound]
        return {"target": target, "kind": "choice", "choices": steps}
    if param.kind == "int":
        value = int(value) if isinstance(value, (int, float)) else int(param.default)
        low, high = (value // 2, value * 2) if value > 1 else (value, value + 4)
        return {"target": target, "kind": "int", "low": int(max(lo_bound, low)),
                "high": int(min(hi_bound, high)), "log": False}
    value = float(value) if isinstance(value, (int, float)) else float(param.default)
    if lo_bound >= 0 and hi_bound <= 1:  # a share (dropout): linear, and never all of it
        return {"target": target, "kind": "float", "low": lo_bound,
                "high": min(hi_bound, max(round(2 * value, 3), 0.5)), "log": False}
    if value > 0:  # rates and scales: a decade either side, on a log scale
        return {"target": target, "kind": "float", "low": max(lo_bound, float(f"{value / 10:.3g}")),
                "high": min(hi_bound, float(f"{value * 10:.3g}")), "log": True}
    return {"target": target, "kind": "float", "low": max(lo_bound, 0.0), "high": min(hi_bound, 0.01),
            "log": False}

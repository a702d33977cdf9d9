"""Editing a project's search space: which settings are in it, and a sensible first range for each.

Pure helpers over the project's `experiment` dict plus `set_experiment`,
which pushes the one undo command (studio/experiments/commands.py).
"""

from __future__ import annotations

import copy
from typing import Any

from graph.params import Param
from runtime.sweep.space import first_entry, param_sweepable
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

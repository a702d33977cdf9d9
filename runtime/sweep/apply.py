"""A trial's values applied to a copy of the project, and checked before anything trains.

A value that makes the network invalid (channels that no longer fit a
reshape, heads that do not divide the width) is not a crash: it raises
`InvalidTrialError` with the validator's own words, and the sweep records that
trial as failed and goes on.
"""

from __future__ import annotations

from typing import Any

from graph.diagnostics import ERROR
from graph.model import Project
from graph.params import ParamError
from graph.spec import Registry
from graph.validate import analyse_project
from runtime.sweep.space import Dimension


class InvalidTrialError(ValueError):
    """The trial's values give a project that cannot train; the message says why."""


def apply_values(project: Project, dims: list[Dimension], values: dict[str, Any],
                 registry: Registry) -> Project:
    """A copy of `project` with each dimension's value set, validated like the editor validates."""
    trial = project.copy()
    trial.experiment = {}  # a trial is one configuration, not a sweep of its own
    training: dict[str, Any] = {}
    for dim in dims:
        if dim.name not in values:
            continue
        value, target = values[dim.name], dim.target
        try:
            value = target.param.check(value)
        except ParamError as err:
            raise InvalidTrialError(f"{dim.name}: {err}") from None
        if target.block is None:
            training[target.param.name] = value
        else:
            trial.network(target.network).set_param(target.block, target.param.name, value)
    if training:
        try:
            trial.training = trial.training.replace(**training)
        except ParamError as err:
            raise InvalidTrialError(f"training setting {err}") from None
    problems = []
    for name, analysis in analyse_project(trial, registry).items():
        for diag in analysis.diagnostics:
            if diag.severity == ERROR:
                where = f"[{name}] " if len(trial.networks) > 1 else ""
                problems.append(where + diag.message)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidTrialError(f"these values make the network invalid: {problems[0]}{more}")
    return trial

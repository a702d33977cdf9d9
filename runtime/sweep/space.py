"""The search space of a sweep: which settings vary, and over which values.

A space is a JSON list (in a file, or in a project's `experiment.space`)
of entries, one per setting:

    [{"target": "training.lr", "kind": "float", "low": 1e-4, "high": 1e-1, "log": true},
     {"target": "training.optimizer", "choices": ["adam", "sgd"]},
     {"target": "block:conv1.channels", "kind": "int", "low": 8, "high": 64, "step": 8},
     {"target": "block:dropout.p", "kind": "float", "low": 0.0, "high": 0.6}]

`target` is "training.<setting>" or "block:<block id or name>.<parameter>"
(prefix the block with "<network>/" when several networks have one of that
name). `kind` is "float", "int" or "choice"; when left out it follows the
parameter's own kind. Each entry is checked against the parameter's
declaration (its kind and bounds); a `SpaceError` names the entry and says
what to change. `grid` (float ranges, default 3) is how many values the
grid sampler tries. Pure Python: no torch, no optuna at import.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.definitions import registry_for
from graph.model import Project
from graph.params import Param, ParamError
from graph.spec import Registry
from graph.training_config import TRAINING_PARAMS

KINDS = ("float", "int", "choice")
_ENTRY_FIELDS = ("target", "kind", "low", "high", "log", "step", "choices", "grid")
_TRAINING = {p.name: p for p in TRAINING_PARAMS}
# settings a sweep must not vary: they change what is trained or how it is logged, not how well
_NOT_SWEEPABLE = {"recipe", "device", "monitor", "log_every", "stats_every", "init_checkpoint", "init_blocks"}


class SpaceError(ValueError):
    """A search-space entry that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Target:
    """Where a swept value goes: a training setting, or one parameter of one block."""

    text: str  # as the user wrote it: also the parameter's name in the study and the results
    param: Param
    network: str | None = None  # None: a training setting
    block: str | None = None  # block id


@dataclass(frozen=True)
class Dimension:
    """One swept setting with its range or choices, checked against its declaration."""

    target: Target
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: int | None = None
    choices: tuple[Any, ...] = field(default=())
    grid: int = 3

    @property
    def name(self) -> str:
        return self.target.text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.name, "kind": self.kind}
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                out["step"] = self.step
        return out

    def grid_values(self) -> list[Any]:
        """The values the grid sampler tries for this setting."""
        if self.kind == "choice":
            return list(self.choices)
        lo, hi = self.low, self.high
        if self.kind == "int":
            step = self.step or 1
            values = list(range(int(lo), int(hi) + 1, step))
            if len(values) <= max(self.grid, 10):
                return values
        points = max(self.grid, 2)
        if self.log:
            raw = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (points - 1))
                   for i in range(points)]
        else:
            raw = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
        if self.kind == "int":
            return sorted({int(round(v)) for v in raw})
        return [float(f"{v:.6g}") for v in raw]


def describe_entry(index: int, entry: Any) -> str:
    target = entry.get("target") if isinstance(entry, dict) else None
    return f"space entry {index + 1}" + (f" ('{target}')" if isinstance(target, str) else "")


MAX_SPACE_BYTES = 10 * 10**6  # a space file is a few entries; a bigger one is the wrong file


def read_space_file(path: str | Path) -> list[Any]:
    """The raw entries of a space file (a list, or an object with a "space" list)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a pipe would block the read forever, a device never end
            raise SpaceError(f"{path}: not a regular file (a folder, pipe or device); give a .json "
                             "space file")
        if info.st_size > MAX_SPACE_BYTES:
            raise SpaceError(f"{path}: {info.st_size / 1e6:.0f} MB is far more than a space file holds "
                             f"(at most {MAX_SPACE_BYTES // 10**6} MB)")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpaceError(f"{path}: there is no such space file") from None
    except SpaceError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, json.JSONDecodeError):
            where = f"line {err.lineno}, column {err.colno}"
            raise SpaceError(f"{path}: {where}: not valid JSON: {err.msg}") from None
        raise SpaceError(f"{path}: the space file could not be read ({err})") from None
    except RecursionError:
        raise SpaceError(f"{path}: nested too deeply to be a space file") from None
    if isinstance(data, dict) and "space" in data:
        data = data["space"]
    if not isinstance(data, list):
        raise SpaceError(f"{path}: a space file holds a list of entries like "
                         '[{"target": "training.lr", "low": 0.0001, "high": 0.1, "log": true}]')
    return data


def parse_space(entries: Any, project: Project, registry: Registry) -> list[Dimension]:
    """Check raw entries against the project's parameters; SpaceError names the first bad entry."""
    if not isinstance(entries, list) or not entries:
        raise SpaceError("the search space is empty: add at least one setting to vary (e.g. "
                         "{\"target\": \"training.lr\", \"low\": 0.0001, \"high\": 0.1, \"log\": true})")
    dims: list[Dimension] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = describe_entry(i, entry)
        try:
            dim = _parse_entry(entry, project, registry)
        except SpaceError as err:
            raise SpaceError(f"{where}: {err}") from None
        key = f"{dim.target.network}/{dim.target.block}.{dim.target.param.name}"
        if key in seen:
            raise SpaceError(f"{where}: the same setting is already entry {seen[key] + 1}; keep one of them")
        seen[key] = i
        dims.append(dim)
    return dims


def _parse_entry(entry: Any, project: Project, registry: Registry) -> Dimension:
    if not isinstance(entry, dict):
        raise SpaceError(f"must be an object like {{\"target\": \"training.lr\", ...}}; got {entry!r}")
    unknown = sorted(set(entry) - set(_ENTRY_FIELDS))
    if unknown:
        raise SpaceError(f"unknown field '{unknown[0]}'; the fields are {', '.join(_ENTRY_FIELDS)}")
    text = entry.get("target")
    if not isinstance(text, str) or not text:
        raise SpaceError("'target' is missing; write \"training.<setting>\" or \"block:<block>.<parameter>\"")
    target = resolve_target(text, project, registry)
    param = target.param
    kind = entry.get("kind") or {"float": "float", "int": "int"}.get(param.kind, "choice")
    if kind not in KINDS:
        raise SpaceError(f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "choice" or "choices" in entry:
        return Dimension(target, "choice", choices=_choices(entry, param))
    if param.kind != kind:
        raise SpaceError(f"'{param.name}' is a {_kind_words(param)} setting, so it cannot be swept as "
                         f"'{kind}'; use \"kind\": \"{'choice' if param.kind not in KINDS else param.kind}\"")
    low, high = entry.get("low"), entry.get("high")
    if low is None or high is None:
        raise SpaceError(f"a '{kind}' range needs both 'low' and 'high'")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpaceError(f"'{name}' must be a number; got {value!r}")
        try:
            param.check(int(value) if kind == "int" and float(value).is_integer() else value)
        except ParamError as err:
            raise SpaceError(f"'{name}' is not allowed here: {err}") from None
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SpaceError(f"an 'int' range needs whole numbers; got {low} to {high}")
    if not low < high:
        raise SpaceError(f"'low' ({low}) must be smaller than 'high' ({high})")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"'log' must be true or false; got {log!r}")
    if log and low <= 0:
        raise SpaceError(f"a log range needs 'low' above 0; got {low}")
    step = entry.get("step")
    if step is not None:
        if kind != "int" or isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise SpaceError("'step' is for 'int' ranges and must be a whole number of at least 1")
        if log and step != 1:
            raise SpaceError("a log range cannot have a 'step'; leave one of them out")
    grid = entry.get("grid", 3)
    if isinstance(grid, bool) or not isinstance(grid, int) or not 2 <= grid <= 100:
        raise SpaceError(f"'grid' must be a whole number from 2 to 100; got {grid!r}")
    if kind == "int":
        low, high = int(low), int(high)
    else:
        low, high = float(low), float(high)
    return Dimension(target, kind, low, high, log, step, (), grid)


def _choices(entry: dict[str, Any], param: Param) -> tuple[Any, ...]:
    raw = entry.get("choices")
    if raw is None:
        if param.kind == "choice":
            return tuple(param.choices)
        if param.kind == "bool":
            return (False, True)
        raise SpaceError("a 'choice' entry needs 'choices', a list of the values to try")
    if not isinstance(raw, list) or len(raw) < 1:
        raise SpaceError(f"'choices' must be a list of at least one value; got {raw!r}")
    values = []
    for value in raw:
        try:
            checked = param.check(value)
        except ParamError as err:
            raise SpaceError(f"the choice {value!r} is not allowed: {err}") from None
        if isinstance(checked, tuple):
            raise SpaceError(f"'{param.name}' holds a list; sweeps vary numbers and choices only")
        if checked in values:
            raise SpaceError(f"the choice {value!r} appears twice")
        values.append(checked)
    return tuple(values)


def _kind_words(param: Param) -> str:
    return {"int": "whole-number", "float": "number", "bool": "true/false", "choice": "choice",
            "tuple": "list", "str": "text"}[param.kind]


def resolve_target(text: str, project: Project, registry: Registry) -> Target:
    """The setting a target text names; SpaceError lists what exists when it names nothing."""
    if text.startswith("training."):
        name = text[len("training."):]
        param = _TRAINING.get(name)
        if param is None:
            near = ", ".join(n for n, p in _TRAINING.items()
                             if n not in _NOT_SWEEPABLE and param_sweepable(p))
            raise SpaceError(f"there is no training setting '{name}'; settings you can sweep: {near}")
        if name in _NOT_SWEEPABLE or not param_sweepable(param):
            raise SpaceError(f"the training setting '{name}' cannot be swept (it changes what is trained "
                             "or is not a number or choice)")
        return Target(text, param)
    if not text.startswith("block:") or "." not in text:
        raise SpaceError(f"target {text!r} must be \"training.<setting>\" or \"block:<block>.<parameter>\"")
    ref, pname = text[len("block:"):].rsplit(".", 1)
    network_name = None
    if "/" in ref and any(net.name == ref.split("/", 1)[0] for net in project.networks):
        network_name, ref = ref.split("/", 1)
    found = []
    for net in project.networks:
        if network_name is not None and net.name != network_name:
            continue
        by_id = net.blocks.get(ref)
        if by_id is not None:
            found.append((net, by_id))
            continue
        found.extend((net, b) for b in net.blocks.values() if b.name == ref)
    if not found:
        raise SpaceError(f"no block with id or name '{ref}' in the project")
    if len(found) > 1:
        where = ", ".join(f"{net.name}/{b.id}" for net, b in found)
        raise SpaceError(f"several blocks are called '{ref}' ({where}); name one as block:<network>/<id>")
    net, block = found[0]
    registry = registry_for(net, registry)  # an instance of a definition is a block type too
    spec = registry.get(block.type) if block.type in registry else None
    if spec is None:
        raise SpaceError(f"block '{block.name}' has the unknown type '{block.type}'")
    names = [p.name for p in spec.params if param_sweepable(p)]
    param = next((p for p in spec.params if p.name == pname), None)
    if param is None:
        listed = ", ".join(names) or "none"
        raise SpaceError(f"block '{block.name}' ({block.type}) has no parameter '{pname}'; "
                         f"parameters you can sweep: {listed}")
    if not param_sweepable(param):
        raise SpaceError(f"'{pname}' of block '{block.name}' is a {_kind_words(param)} parameter; "
                         "sweeps vary numbers and choices")
    return Target(text, param, net.name, block.id)


def param_sweepable(param: Param) -> bool:
    """Numbers, choices and switches can be swept; lists and text cannot."""
    return param.kind in ("int", "float", "choice", "bool")


def default_space(project: Project, registry: Registry) -> list[dict[str, Any]]:
    """What `deepwire sweep PROJECT --trials N` searches when no space is given.

    Learning rate, optimizer, batch size, weight decay and the rate of every
    Dropout block (the settings that matter most for a first tuning of any
    network), each with the first range the studio gives it (`first_entry`),
    around the project's own value.
    """
    training = project.training
    entries = [first_entry(f"training.{name}", _TRAINING[name], getattr(training, name))
               for name in ("lr", "optimizer", "batch_size", "weight_decay")]
    multi = len(project.networks) > 1
    names = [b.name for net in project.networks for b in net.blocks.values()]
    for net in project.networks:
        for block in net.blocks.values():
            if block.type in ("Dropout", "Dropout2d") and block.enabled:
                # the block's name reads better in the results; its id when the name is not unique
                ref = block.name if names.count(block.name) == 1 and "." not in block.name else block.id
                ref = f"{net.name}/{ref}" if multi else ref
                param = registry.get(block.type).param("p")
                entries.append(first_entry(f"block:{ref}.p", param, block.params.get("p", param.default)))
    return entries


def project_values(project: Project, dims: list[Dimension]) -> dict[str, Any]:
    """The project's own value of each swept setting that lies inside its range (the baseline trial)."""
    values = {}
    for dim in dims:
        target = dim.target
        if target.block is None:
            value = getattr(project.training, target.param.name)
        else:
            block = project.network(target.network).blocks[target.block]
            value = block.params.get(target.param.name, target.param.default)
        if dim.kind == "choice":
            if value in dim.choices:
                values[dim.name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and dim.low <= value <= dim.high:
            step_ok = dim.kind != "int" or dim.step is None or (value - dim.low) % dim.step == 0
            if step_ok:
                values[dim.name] = value
    return values


def first_entry(target: str, param: Param, value: Any) -> dict[str, Any]:
    """A first range around the current value that the declaration allows (the user then adjusts it).

    Rates and scales: a decade either side, log scale; shares (dropout): 0 up to twice the value;
    batch size: half, same, double; a setting that is off (weight decay, clipping): off or a few
    values on; whole numbers: half to double; choices and switches: every value.
    """
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

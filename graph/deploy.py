"""Deployability lint: the targets a project is meant for, and which blocks each one refuses.

A project names its deploy targets (`Project.deploy_targets`, e.g. ["onnx17", "int8"]);
for every block a chosen target cannot take, `deploy_diagnostics` gives a warning
naming the block, the target, the reason and an alternative.

Whether a block type works on a target is never written by hand: the test
harness exports every block type of the catalog once per target
(tests/deploy_support.py, regenerated with `REGENERATE`) and stores what it saw
in graph/deploy_support.json, read here without torch. Besides the representative
case of each type it flips each choice and bool parameter, so a type that fails
only in one mode (InstanceNorm2d with track_running_stats at opset 13 and 17) is
known per mode, and the mode that deploys is named in the alternative. Hand-written text is
limited to `ALTERNATIVES` (what to do instead, per type and target) and the
generic advice per target.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from graph.diagnostics import WARNING, Diagnostic, set_params_fix
from graph.infer import block_label
from graph.model import Network
from graph.spec import Registry

# target id -> what it means (the order is the order shown)
TARGETS: dict[str, str] = {
    "onnx13": "ONNX opset 13",
    "onnx17": "ONNX opset 17",
    "onnx": "ONNX at the exporter's own opset (what `deepwire export --format onnx` writes)",
    "torch-export": "a torch.export program (.pt2, `deepwire export --format torch-export`)",
    "int8": "INT8 ONNX (onnxruntime static QDQ, per-channel weights: `deepwire quantize`)",
}
# a preset stands for several targets
PRESETS: dict[str, tuple[str, ...]] = {
    "mobile": ("onnx13", "int8"),  # onnxruntime mobile / older runtimes: opset 13, INT8 weights
}
SUPPORT_FILE = Path(__file__).with_name("deploy_support.json")
REGENERATE = "python -m tests.deploy_support --write"

# what to do instead, where the generic advice below is not enough: (type id, target) -> text
ALTERNATIVES: dict[tuple[str, str], str] = {
    ("LSTM", "int8"): "quantize with `deepwire quantize --method dynamic` (INT8 LSTM weights), "
                      "or keep it in float with --keep-float {name}",
    ("GRU", "int8"): "keep it in float with `deepwire quantize --keep-float {name}`, or use an LSTM "
                     "block (dynamic INT8 has LSTM kernels)",
    ("GlobalMaxPool", "int8"): "use GlobalAvgPool (it quantizes), or MaxPool2d with the map's size as "
                               "kernel_size, then Flatten",
    ("RNN", "int8"): "keep it in float with `deepwire quantize --keep-float {name}`, or use an LSTM "
                     "block (dynamic INT8 has LSTM kernels)",
}
GENERIC: dict[str, str] = {
    "onnx13": "replace the block, or choose a later opset as the target",
    "onnx17": "replace the block, or choose a later opset as the target",
    "onnx": "replace the block, or export as Python code (`--format python`)",
    "torch-export": "replace the block, or export to ONNX or Python code instead",
    "int8": "keep it in float with `deepwire quantize --keep-float {name}`",
}


class DeployTargetError(ValueError):
    """A target name that is neither a target nor a preset."""


def known_names() -> list[str]:
    return [*TARGETS, *PRESETS]


def check_targets(names: Iterable[Any]) -> list[str]:
    """The names as given, checked (DeployTargetError names the bad one and the known ones); no
    duplicates."""
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in TARGETS and name not in PRESETS:
            raise DeployTargetError(f"unknown deploy target {str(name)[:40]!r}; known: "
                                    f"{', '.join(known_names())}")
        if name not in out:
            out.append(name)
    return out


def expand(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """[(target, preset it came from or None)] for chosen names: presets become their targets,
    each target once, in TARGETS order."""
    chosen: dict[str, str | None] = {}
    for name in names:
        if name in PRESETS:
            for target in PRESETS[name]:
                chosen.setdefault(target, name)
        elif name in TARGETS:
            chosen[name] = None
    return [(t, chosen[t]) for t in TARGETS if t in chosen]


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def support_table(path: Path | None = None) -> dict[str, Any]:
    """The derived table: {"blocks": {type id: {"case", "modes", "support", "variants"?}}, ...}.

    support: target -> true or the reason it failed; modes: the case's choice and bool parameters;
    variants: "param=value" -> the targets whose result differs with that one value changed.
    """
    return _read(str(path or SUPPORT_FILE))


def support_of(type_id: str, params: Mapping[str, Any], target: str,
               table: Mapping[str, Any] | None = None) -> tuple[bool, str, dict[str, Any] | None]:
    """(supported, reason, a mode of the block that the target takes or None) for one block.

    A type the table does not know is reported as unsupported, naming the command that derives it.
    """
    blocks = (table or support_table())["blocks"]
    entry = blocks.get(type_id)
    if entry is None:
        return False, f"no deploy data for block type {type_id} yet: run `{REGENERATE}`", None
    value = entry["support"].get(target, True)
    variants: dict[str, dict[str, Any]] = entry.get("variants", {})
    base = entry.get("modes", {})  # the representative case's choice and bool parameters
    for key, results in variants.items():  # the block's own mode, where it differs from the case
        name, _, shown = key.partition("=")
        if name in params and _shown(params[name]) == shown and _shown(base.get(name)) != shown:
            value = results.get(target, value)
    if value is True:
        return True, "", None
    mode = None
    for key, results in variants.items():  # a mode of the same block that the target takes
        name, _, shown = key.partition("=")
        if results.get(target) is True and name in params and _shown(params[name]) != shown:
            mode = {name: _parse(shown)}
            break
    if mode is None:  # the block is in another mode than the case, and the case's mode deploys
        for key in variants:
            name, _, shown = key.partition("=")
            if (name in params and _shown(params[name]) == shown and name in base
                    and entry["support"].get(target) is True):
                mode = {name: base[name]}
                break
    return False, str(value), mode


def _shown(value: Any) -> str:
    return str(value)


def _parse(shown: str) -> Any:
    return {"True": True, "False": False}.get(shown, shown)


# modes that only change how a value is computed, not what: offered as a one-click fix
SAME_MEANING = {("GELU", "approximate")}


def alternative(type_id: str, target: str, name: str, mode: dict[str, Any] | None,
                table: Mapping[str, Any] | None = None) -> str:
    """What to do instead: another mode of the block, the hand-written advice, other targets."""
    parts = []
    if mode:
        for k, v in mode.items():
            same = (type_id, k) in SAME_MEANING
            parts.append(f"set {k} to {v!r}" + ("" if same else " (if the model can do without it: the "
                                                  "block then computes something else)"))
    parts.append((ALTERNATIVES.get((type_id, target)) or GENERIC[target]).format(name=name))
    entry = (table or support_table())["blocks"].get(type_id)
    if entry is not None and target != "int8":
        fine = [t for t in TARGETS if t != "int8" and entry["support"].get(t) is True]
        if fine:
            parts.append(f"it works with {', '.join(fine)}")
    return "; ".join(parts)


def deploy_diagnostics(network: Network, registry: Registry, targets: Iterable[str],
                       table: Mapping[str, Any] | None = None) -> list[Diagnostic]:
    """A warning for each enabled block a chosen target cannot take (code "deploy")."""
    chosen = expand(targets)
    if not chosen:
        return []
    table = table or support_table()
    out = []
    for block in network.blocks.values():
        if not block.enabled or block.type not in registry:
            continue
        spec = registry.get(block.type)
        if "placeholder" in spec.tags:  # an import's placeholder is an error on its own
            continue
        params = {**spec.defaults(), **block.params}
        for target, preset in chosen:
            ok, reason, mode = support_of(spec.type_id, params, target, table)
            if ok:
                continue
            label = block_label(spec, block)
            via = f", part of preset '{preset}'" if preset else ""
            message = (f"{label} does not deploy to {target} ({TARGETS[target].split(' (')[0]}{via}): "
                       f"{reason}. Instead: {alternative(spec.type_id, target, block.name, mode, table)}")
            same = mode is not None and all((spec.type_id, k) in SAME_MEANING for k in mode)
            out.append(Diagnostic(WARNING, "deploy", message, block.id, network=network.name,
                                  fix=set_params_fix(block.id, mode) if same else None))
    return out

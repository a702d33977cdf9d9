"""Which cases each suite runs: `cells(slow)` lists (class, surface), `build(...)` makes a cell's cases.

Default: every surface meets every class, with a few kinds each (a few hundred cases in all, the fast
in-process ones mostly). Slow: every kind through every surface that reads it, plus thousands of
seeded mutations of the bundled examples (scaled by DEEPWIRE_STRESS through `stressed`).
"""

from __future__ import annotations

from tests.conftest import stressed
from tests.redteam import cases, cases_inputs, cases_props, datafiles, runfolders, specials
from tests.redteam.seeds import Seeds

FEW_CHECKPOINTS = ["good", "pickle exec", "network not a dict", "strings for tensors", "truncated@300"]
FEW_DATA = [
    "csv: good",
    "csv: ragged rows",
    "csv: NUL bytes",
    "arrays: pickled object array",
    "arrays: shape claims 1e12",
    "text: undecodable",
    "images: non-image in a class folder",
    "images: symlink loop",
]
FEW_RUNS = [
    "metrics binary",
    "metrics deep nesting",
    "summary list",
    "summary wrong types",
    "snapshot junk",
    "model.py runs code",
]
IN_PROCESS_SPECIALS = [k for k in specials.KINDS if k not in specials.IN_CHILD]
CHECKPOINT_SURFACES = (
    "export python --weights",
    "export script --weights",
    "export onnx --weights",
    "export torch-export --weights",
    "preview --weights",
    "train --init",
    "train --init folder",
    "import --weights",
    "check init_checkpoint",
    "train init_checkpoint",
    "studio init_checkpoint",
    "sweep init_checkpoint",
    "train init_checkpoint folder",
    "evaluate",
    "train --resume",
    "sample",
    "predict",
    "evaluate --attack",
    "quantize",
    "check pretrained_weights",
    "train pretrained_weights",
    "export python pretrained_weights",
)
FIELD_SURFACES = (
    "check",
    "export python",
    "export script",
    "export onnx",
    "export torch-export",
    "train",
    "preview",
    "sweep",
    "studio",
)


SLOW_ONLY = ("quantize", "evaluate --attack")  # seconds a case: the default suite has 5 minutes in all


def _sizes(slow: bool) -> dict:
    """(class, surface) -> how many kinds (None: all) or mutations."""
    if not slow:
        return {
            **{("checkpoint", s): 5 for s in CHECKPOINT_SURFACES if s not in SLOW_ONLY},
            ("checkpoint", "export python --weights"): None,
            ("checkpoint", "studio init_checkpoint"): 2,
            ("checkpoint", "sweep init_checkpoint"): 2,
            ("checkpoint", "export onnx --weights"): 2,
            ("data", "check"): None,
            **{("data", s): 8 for s in ("train", "export script", "preview")},
            ("data", "sweep"): 2,
            ("data", "studio"): 2,
            ("data", "evaluate"): 4,
            ("special", "check"): None,
            ("special", "check PROJECT"): 1,
            ("bomb", "check"): None,
            ("bomb", "train"): 2,
            ("bomb", "export python"): 2,
            ("bomb", "studio"): 1,
            ("huge", "check"): 2,
            ("huge", "export python"): 1,
            ("huge", "studio"): 1,
            ("run folder", "evaluate"): None,
            ("run folder", "studio runs"): 3,
            ("run folder", "sample"): 4,
            ("run folder", "train --resume"): 4,
            ("run folder", "predict"): 4,
            ("mutate field", "check"): 150,
            ("mutate field", "export python"): 5,
            ("mutate field", "train"): 3,
            ("mutate field", "studio"): 1,
            ("mutate bytes", "check"): 100,
        }
    return {
        **{("checkpoint", s): None for s in CHECKPOINT_SURFACES},
        **{("data", s): None for s in cases_inputs.DATA_SURFACES},
        **{("special", s): None for s in cases_inputs.SPECIAL_SURFACES + cases_inputs.SPECIAL_ARGUMENTS},
        **{("bomb", s): None for s in cases_inputs.BOMB_SURFACES},
        **{("huge", s): None for s in cases_inputs.HUGE_SURFACES},
        **{("run folder", s): None for s in cases_props.RUN_SURFACES},
        # an attack or a quantization takes seconds a case (a calibration, an ONNX export): a sample
        ("checkpoint", "evaluate --attack"): stressed(24),
        ("checkpoint", "quantize"): stressed(12),
        ("run folder", "quantize"): stressed(10),
        ("mutate field", "check"): stressed(16_000),
        ("mutate field", "export python"): stressed(300),
        ("mutate field", "export script"): stressed(100),
        ("mutate field", "export onnx"): stressed(12),
        ("mutate field", "export torch-export"): stressed(40),
        ("mutate field", "train"): stressed(150),
        ("mutate field", "preview"): stressed(150),
        ("mutate field", "sweep"): stressed(6),
        ("mutate field", "studio"): stressed(30),
        ("mutate bytes", "check"): stressed(4_000),
        ("mutate bytes", "studio"): stressed(15),
    }


def cells(slow: bool) -> list[tuple[str, str]]:
    return list(_sizes(slow))


def _spread(items: list, count: int) -> list:
    """`count` items taken evenly across `items` (all of them when there are fewer)."""
    items = list(items)
    if count >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / max(1, count - 1))] for i in range(count)]


def _first(items: list, count: int | None) -> list:
    return list(items) if count is None else list(items)[:count]


def build(klass: str, surface: str, slow: bool, seeds: Seeds, huge: cases_inputs.HugeFiles | None) -> list:
    count = _sizes(slow)[(klass, surface)]
    if klass == "checkpoint":
        if slow and count is not None:  # a sample spread over every kind, not the first few
            return cases.checkpoint_cases(seeds, _spread(cases.checkpoint_kinds(slow, seeds), count))[surface]
        kinds = cases.checkpoint_kinds(slow, seeds) if count is None else FEW_CHECKPOINTS
        return cases.checkpoint_cases(seeds, _first(kinds, count))[surface]
    if klass == "data":
        kinds = datafiles.KINDS if count is None else FEW_DATA
        return cases_inputs.data_cases(seeds, _first(kinds, count), (surface,))[surface]
    if klass == "special":
        if slow:  # every kind in every place; the ones that need a child in the two commonest places
            built = cases_inputs.special_cases(seeds, IN_PROCESS_SPECIALS)[surface]
            return (
                built
                + cases_inputs.special_cases(seeds, list(specials.IN_CHILD), ("csv path", "init_checkpoint"))[
                    surface
                ]
            )
        kinds = IN_PROCESS_SPECIALS + ["fifo"] if count is None else ["fifo"]
        return cases_inputs.special_cases(seeds, _first(kinds, count), ("csv path",))[surface]
    if klass == "bomb":
        return cases_inputs.bomb_cases(_first(cases_inputs.projects.BOMBS, count), (surface,))[surface]
    if klass == "huge":
        return cases_inputs.huge_cases(huge, _first(cases_inputs.HUGE_KINDS, count), (surface,))[surface]
    if klass == "run folder":
        if slow and count is not None:
            return cases_props.run_cases(seeds, _spread(list(runfolders.KINDS), count), (surface,))[surface]
        kinds = list(runfolders.KINDS) if count is None or surface == "evaluate" else FEW_RUNS
        return cases_props.run_cases(seeds, _first(kinds, count), (surface,))[surface]
    if klass == "mutate field":
        return cases_props.field_cases(count, seed=19, surface_names=(surface,))[surface]
    return cases_props.byte_cases(count, seed=91, surface_names=(surface,))[surface]

"""Input blocks that fit the project's data: the shape the data source gives, as block parameters.

Used twice: a data input block added to a project starts with the shape its
data has (a blank project reads the 8x8 digits, so a new Image input is
1x8x8, not 28x28), and an input block that does not fit the data gets the
quick fix "Set channels to 1, height to 8, width to 8". The data source's
probe is cheap (constants or a file header); anything it cannot tell
leaves the block's own defaults.
"""

from __future__ import annotations

from pathlib import Path

from graph.diagnostics import Fix, set_params_fix
from graph.model import Project

# data input block type -> (its kind of data, the parameters that make up its shape, in order)
INPUT_SHAPES = {"ImageInput": ("image", ("channels", "height", "width")),
                "SequenceInput": ("sequence", ("length", "features")),
                "VectorInput": ("vector", ("features",)),
                "TokenInput": ("tokens", ("length",))}


def data_input_params(project: Project, type_id: str, base_dir: Path | None = None) -> dict:
    """The shape parameters of a `type_id` input block that would fit the project's data; {} if unknown."""
    if type_id not in INPUT_SHAPES:
        return {}
    kind, names = INPUT_SHAPES[type_id]
    try:
        from runtime.data import DataError, probe
    except ImportError:  # a trimmed install without the data package
        return {}
    try:
        found = probe(project.data, None, kind, project.training.recipe, base_dir)
    except (DataError, ValueError, OSError):
        return {}
    shape = tuple(found.input_shape or ())
    if found.input_kind != kind or len(shape) != len(names):
        return {}
    return dict(zip(names, (int(n) for n in shape)))


def input_fix(project: Project, block_id: str, type_id: str, params: dict,
              base_dir: Path | None = None) -> Fix | None:
    """"Set height to 8, width to 8" for an input block the data does not fit, or None."""
    wanted = data_input_params(project, type_id, base_dir)
    changes = {name: value for name, value in wanted.items() if params.get(name) != value}
    return set_params_fix(block_id, changes) if changes else None

"""Every data source by name, and probing a data spec against a network's input block.

`SOURCES` maps a source name to its `Source` declaration (options as graph
`Param`s, a one-line help, `natural` and `read`). Importing this module
imports numpy and the source modules but never torch, scikit-learn or
Pillow, so `deepwire check` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from graph.training_config import NO_DATA
from runtime.data import (
    arrays,
    audio,
    bundled,
    csv_file,
    images,
    parallel,
    synthetic,
    text,
    text_classes,
    vision,
)
from runtime.data.base import DataError
from runtime.data.masks import SOURCES as MASK_SOURCES
from runtime.data.source import Probe, Source


def _index(*groups: tuple[Source, ...]) -> dict[str, Source]:
    index: dict[str, Source] = {}
    for group in groups:
        for source in group:
            if source.name in index:
                raise ValueError(f"two data sources are named {source.name!r}")
            index[source.name] = source
    return index


SOURCES: dict[str, Source] = _index(bundled.SOURCES, synthetic.SOURCES, text.SOURCES, csv_file.SOURCES,
                                    images.SOURCES, arrays.SOURCES, vision.SOURCES,
                                    audio.SOURCES, text_classes.SOURCES, parallel.SOURCES,
                                    MASK_SOURCES)


class NoDataError(DataError):
    """The project has no data yet (an imported model): a notice to pick some, not a broken project."""


NO_DATA_MESSAGE = ("no data yet: pass --data SOURCE[:option=value,...] to 'deepwire train' "
                   "(e.g. --data csv:path=data.csv), or pick the data in the studio's Data panel")


def source_info(name: str) -> Source:
    """The declaration of a source; DataError lists the valid names for an unknown one.

    NoDataError for a project with no data chosen yet (graph.training_config.NO_DATA).
    """
    if name == NO_DATA:
        raise NoDataError(NO_DATA_MESSAGE)
    try:
        return SOURCES[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown data source '{name}'; the sources are: {', '.join(SOURCES)}") from None


def probe(spec, input_shape: tuple[int, ...] | None = None, input_kind: str | None = None,
          recipe: str | None = None, base_dir: str | Path | None = None) -> Probe:
    """(input_shape, input_kind, target_kind, num_classes) the spec's source gives this network input.

    Cheap: constants for the bundled sets, a header or a folder listing for
    files (a CSV is parsed, since its class count needs the label column).
    """
    return source_info(spec.source).probe(spec, input_shape, input_kind, recipe, base_dir)


def parse_data_option(text: str):
    """`--data SOURCE[:name=value,...]` as a checked DataSpec; DataError says what is wrong.

    Each value is read as the option's declared kind ("true"/"false" for a yes/no option, numbers
    for number options, "1,2" style lists separated by '+' for a list of numbers); text options take
    the rest of the pair as written, so a path may contain ':' or '='. The source's own
    `check_options` then checks every value, exactly as for the project file.
    """
    from graph.training_config import DataSpec

    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise DataError(f"--data {text!r}: give a data source, e.g. --data digits or "
                        "--data csv:path=data.csv,label=price")
    source = source_info(name)
    params = {p.name: p for p in source.params}
    options: dict = {}
    for pair in _pairs(rest, params):
        key, eq, value = pair.partition("=")
        key = key.strip()
        if not eq or not key:
            raise DataError(f"--data {text!r}: '{pair}' is not name=value; write the options of "
                            f"'{name}' as {name}:name=value,name=value")
        if key not in params:
            valid = f"its options are: {', '.join(params)}" if params else "it takes no options"
            raise DataError(f"--data: data source '{name}' has no option '{key}'; {valid}")
        options[key] = _typed(name, params[key], value.strip())
    source.check_options(options)
    return DataSpec(name, options)


def _pairs(rest: str, params: dict) -> list[str]:
    """'a=1,path=x,y.csv' split at the commas that start a new known option (a path may hold commas)."""
    if not rest.strip():
        return []
    pieces = rest.split(",")
    pairs: list[str] = []
    for piece in pieces:
        key = piece.partition("=")[0].strip()
        if pairs and ("=" not in piece or key not in params) and _takes_text(pairs[-1], params):
            pairs[-1] += "," + piece  # a comma inside a text value
        else:
            pairs.append(piece)
    return pairs


def _takes_text(pair: str, params: dict) -> bool:
    param = params.get(pair.partition("=")[0].strip())
    return param is not None and param.kind == "str"


def _typed(source: str, param, value: str):
    """The option's value as its declared kind (check_options then checks its range)."""
    where = f"--data: data source '{source}', option '{param.name}'"
    kind = param.kind
    try:
        if kind == "bool":
            lowered = value.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if kind == "int":
            return value if value in param.specials else int(value)
        if kind == "float":
            return float(value)
        if kind == "tuple":
            return tuple(int(v) for v in value.split("+") if v.strip())
    except ValueError:
        wanted = {"bool": "true or false", "int": "a whole number", "float": "a number",
                  "tuple": "whole numbers joined by '+', e.g. 28+28"}[kind]
        raise DataError(f"{where} must be {wanted}; got {value!r}") from None
    return value  # choice and text: as written


def augment_problem(source: str, augment: bool) -> str | None:
    """What is wrong with training setting 'augment' on this data source, or None (it fits, or is off).

    Audio sources refuse it: image flips and shifts would teach the network sounds that do not exist.
    Said by `deepwire check`, the studio's Data panel, and refused by the trainer before the first step.
    """
    if not augment or source not in SOURCES or not SOURCES[source].no_augment:
        return None
    return (f"training setting 'augment' is on, but data source '{source}' gives "
            f"{SOURCES[source].no_augment}; turn 'augment' off (the studio's Training settings, or "
            f"\"augment\": false in the project's training settings) to train on this data")

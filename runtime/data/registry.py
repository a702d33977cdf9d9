"""Every data source by name, and probing a data spec against a network's input block.

`SOURCES` maps a source name to its `Source` declaration (options as graph
`Param`s, a one-line help, `natural` and `read`). Importing this module
imports numpy and the source modules but never torch, scikit-learn or
Pillow, so `deepwire check` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from runtime.data import arrays, audio, bundled, csv_file, images, synthetic, text, vision
from runtime.data.base import DataError
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
                                    audio.SOURCES)


def source_info(name: str) -> Source:
    """The declaration of a source; DataError lists the valid names for an unknown one."""
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

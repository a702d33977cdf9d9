"""The small data sets scikit-learn ships inside its package: nothing is downloaded.

digits: 1,797 handwritten digits, 8x8 grey images with pixel values 0..16, 10 classes.
iris (150 x 4, 3 classes), wine (178 x 13, 3 classes), breast_cancer (569 x 30, 2 classes):
tables of measurements.

Their shapes are constants here, so probing never imports scikit-learn (which
takes about a second); only `read` does.

Two options make smaller tasks from them (e.g. for transfer learning:
pretrain on digits 0-4, fine-tune on 5-9 with a few samples each):
`classes` keeps only some classes, relabelled 0..k-1 in the order given
(their names stay, so a confusion matrix still says "5"), and `per_class`
keeps that many samples of each class, drawn with the project's seed.
"""

from __future__ import annotations

import numpy as np

from graph.params import Int, Text
from runtime.data.base import DataError
from runtime.data.source import Context, Natural, RawData, Source

_OPTIONS = (
    Text("classes", "", "Keep only these classes, e.g. '5,6,7,8,9' or '5-9' (empty: all); they are "
         "numbered 0, 1, ... in this order."),
    Int("per_class", 0, 0, 100000, "Keep at most this many samples of each class, drawn with the "
        "project's seed (0: all)."),
)

# name -> (sklearn loader, sample shape, classes, pixel range or None, help)
_TABLE = {
    "digits": ("load_digits", (1, 8, 8), 10, (0.0, 16.0),
               "Handwritten digits 0-9 as 8x8 grey images (1,797 samples, bundled with scikit-learn)."),
    "iris": ("load_iris", (4,), 3, None,
             "Iris flowers: 4 measurements, 3 species (150 samples, bundled with scikit-learn)."),
    "wine": ("load_wine", (13,), 3, None,
             "Wines: 13 chemical measurements, 3 cultivars (178 samples, bundled with scikit-learn)."),
    "breast_cancer": ("load_breast_cancer", (30,), 2, None,
                      "Breast tumours: 30 cell measurements, malignant or benign "
                      "(569 samples, bundled with scikit-learn)."),
}


def _natural_for(name: str):
    _, shape, classes, pixels, _ = _TABLE[name]
    what = f"the {name} images" if pixels else f"the {name} samples"
    kind = "image" if pixels else "vector"

    def natural(options: dict, context: Context) -> Natural:
        chosen = chosen_classes(options.get("classes", ""), classes, name)
        return Natural(shape, kind, "class", len(chosen) if chosen else classes, what)

    return natural


def _read_for(name: str):
    loader_name, shape, classes, pixels, help_text = _TABLE[name]

    def read(options: dict, context: Context) -> RawData:
        import sklearn.datasets  # slow import: only when the data is really loaded

        bunch = getattr(sklearn.datasets, loader_name)()
        inputs = np.asarray(bunch.data, dtype=np.float32).reshape((-1, *context.shape))
        targets = np.asarray(bunch.target, dtype=np.int64)
        class_names = [str(n) for n in bunch.target_names]
        count = classes
        chosen = chosen_classes(options.get("classes", ""), classes, name)
        if chosen:
            keep = np.isin(targets, chosen)
            inputs, targets = inputs[keep], targets[keep]
            relabel = np.zeros(classes, dtype=np.int64)
            relabel[chosen] = np.arange(len(chosen))
            targets = relabel[targets]
            class_names, count = [class_names[c] for c in chosen], len(chosen)
        if options.get("per_class"):
            rng = np.random.default_rng(context.seed)
            limit = options["per_class"]
            picked = [rng.permutation(np.flatnonzero(targets == c))[:limit] for c in range(count)]
            index = np.sort(np.concatenate(picked))
            inputs, targets = inputs[index], targets[index]
        return RawData(inputs, targets, "class", origin=name, num_classes=count,
                       class_names=class_names, pixel_range=pixels, description=help_text)

    return read


def chosen_classes(text: str, classes: int, name: str) -> list[int]:
    """'5,6,7' or '5-9' -> [5, 6, 7, ...]; [] for all; DataError names a bad entry."""
    chosen: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            low, _, high = part.partition("-")
            values = range(int(low), int(high) + 1) if high else [int(low)]
        except ValueError:
            raise DataError(f"data source '{name}', option 'classes': '{part}' is not a class number or a "
                            "range like 5-9") from None
        for value in values:
            if not 0 <= value < classes:
                raise DataError(f"data source '{name}', option 'classes': there is no class {value} "
                                f"(the classes are 0 to {classes - 1})")
            if value not in chosen:
                chosen.append(value)
    if len(chosen) == 1:
        raise DataError(f"data source '{name}', option 'classes': keep at least two classes to classify")
    return chosen


def _source(name: str, title: str) -> Source:
    return Source(name, title, _TABLE[name][4], _OPTIONS, _natural_for(name), _read_for(name))


SOURCES = (
    _source("digits", "Handwritten digits (8x8)"),
    _source("iris", "Iris flowers"),
    _source("wine", "Wine"),
    _source("breast_cancer", "Breast cancer"),
)

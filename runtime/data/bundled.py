"""The small data sets scikit-learn ships inside its package: nothing is downloaded.

digits: 1,797 handwritten digits, 8x8 grey images with pixel values 0..16, 10 classes.
iris (150 x 4, 3 classes), wine (178 x 13, 3 classes), breast_cancer (569 x 30, 2 classes):
tables of measurements.

Their shapes are constants here, so probing never imports scikit-learn (which
takes about a second); only `read` does.
"""

from __future__ import annotations

import numpy as np

from runtime.data.source import Context, Natural, RawData, Source

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
        return Natural(shape, kind, "class", classes, what)

    return natural


def _read_for(name: str):
    loader_name, shape, classes, pixels, help_text = _TABLE[name]

    def read(options: dict, context: Context) -> RawData:
        import sklearn.datasets  # slow import: only when the data is really loaded

        bunch = getattr(sklearn.datasets, loader_name)()
        inputs = np.asarray(bunch.data, dtype=np.float32).reshape((-1, *context.shape))
        targets = np.asarray(bunch.target, dtype=np.int64)
        class_names = [str(n) for n in bunch.target_names]
        return RawData(inputs, targets, "class", origin=name, num_classes=classes,
                       class_names=class_names, pixel_range=pixels, description=help_text)

    return read


def _source(name: str, title: str) -> Source:
    return Source(name, title, _TABLE[name][4], (), _natural_for(name), _read_for(name))


SOURCES = (
    _source("digits", "Handwritten digits (8x8)"),
    _source("iris", "Iris flowers"),
    _source("wine", "Wine"),
    _source("breast_cancer", "Breast cancer"),
)

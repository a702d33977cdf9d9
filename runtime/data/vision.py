"""The `torchvision` source: MNIST, FashionMNIST or CIFAR-10 from files already on disk.

torchvision is an optional extra, never required: without it this source
says how to install it. Nothing is downloaded (download=False); the files must
already be under the root folder in torchvision's layout:
    ROOT/MNIST/raw/train-images-idx3-ubyte (.gz is fine), train-labels-idx1-ubyte
    ROOT/FashionMNIST/raw/... (the same four files as MNIST)
    ROOT/cifar-10-batches-py/data_batch_1 ... data_batch_5, batches.meta
The official training part is split into train/validation/test like any
other source. Shapes are constants here, so probing never imports torchvision.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from graph.params import Choice, Int, Text
from runtime.data.base import DataError
from runtime.data.files import existing_path
from runtime.data.source import Context, Natural, RawData, Source

# name -> (sample shape, classes, where its files go under ROOT)
DATASETS = {
    "MNIST": ((1, 28, 28), 10, "ROOT/MNIST/raw/ (train-images-idx3-ubyte, train-labels-idx1-ubyte)"),
    "FashionMNIST": ((1, 28, 28), 10, "ROOT/FashionMNIST/raw/ (train-images-idx3-ubyte, ...)"),
    "CIFAR10": ((3, 32, 32), 10, "ROOT/cifar-10-batches-py/ (data_batch_1 ... data_batch_5, batches.meta)"),
}

PARAMS = (
    Choice("dataset", "MNIST", tuple(DATASETS), "Which torchvision data set to read."),
    Text("root", "", "The folder that holds the data set's files (it is never downloaded)."),
    Int("limit", 0, 0, 10_000_000, "Use only the first this-many samples (0: all), for quick experiments."),
)


def _require_torchvision(options: dict) -> None:
    if importlib.util.find_spec("torchvision") is None:
        layout = DATASETS[options["dataset"]][2]
        raise DataError(f"data source 'torchvision' needs the torchvision package, which is not installed; "
                        f"install it with: pip install torchvision, then put the {options['dataset']} files "
                        f"in {layout} and set option 'root' to ROOT")


def _natural(options: dict, context: Context) -> Natural:
    _require_torchvision(options)
    existing_path(context, options["root"], "torchvision", "root", folder=True)
    shape, classes, _ = DATASETS[options["dataset"]]
    return Natural(shape, "image", "class", classes, f"the {options['dataset']} images")


def _read(options: dict, context: Context) -> RawData:
    _require_torchvision(options)
    root = existing_path(context, options["root"], "torchvision", "root", folder=True)
    name = options["dataset"]
    shape, classes, layout = DATASETS[name]
    import torchvision.datasets  # optional extra: imported only here

    try:
        dataset = getattr(torchvision.datasets, name)(str(root), train=True, download=False)
    except (RuntimeError, OSError) as exc:
        raise DataError(f"{root}: the {name} files were not found or could not be read ({exc}); "
                        f"put them in {layout.replace('ROOT', str(root))}") from None
    data = dataset.data
    pixels = np.asarray(data.numpy() if hasattr(data, "numpy") else data, dtype=np.uint8)
    targets = dataset.targets
    labels = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets, dtype=np.int64)
    if options["limit"]:
        pixels, labels = pixels[: options["limit"]], labels[: options["limit"]]
    if pixels.ndim == 4:  # CIFAR keeps (N, H, W, C); the network wants (N, C, H, W)
        pixels = pixels.transpose(0, 3, 1, 2)
    inputs = pixels.astype(np.float32).reshape((len(pixels), *context.shape))
    names = [str(c) for c in getattr(dataset, "classes", range(classes))]
    return RawData(inputs, labels, "class", origin=name, num_classes=classes, class_names=names,
                   pixel_range=(0.0, 255.0), description=f"{len(inputs)} {name} training images from {root}.")


SOURCES = (
    Source("torchvision", "torchvision data set",
           "MNIST, FashionMNIST or CIFAR-10 from a local folder (needs the optional torchvision package).",
           PARAMS, _natural, _read, required=("root",)),
)

"""Scanning an image folder (one sub-folder per class) for the data-health report.

Reads headers only: `PIL.Image.open` gives size and mode without decoding,
and `verify()` then checks a PNG's chunks (CRCs, a truncated end) without
decompressing it. Measured on 20,000 32x32 PNGs (2 cores, warm disk cache):
header 0.63 s, header + verify 0.74 s, a full decode 1.25 s; so verify is on
by default and a full decode (`decode=True`, `deepwire data --decode`) is
asked for. Nothing is written, nothing is followed that could loop: the
class folders are read one level deep, as the image_folder source does, and
a link is looked at (not followed) before it is used.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections import Counter
from pathlib import Path

from runtime.data.health.report import ERROR, WARNING, Cancelled, Report

# the suffixes and grey modes runtime/data/images.py reads by (kept equal by tests/test_data_health.py)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
PROGRESS_EVERY = 128  # files between two progress calls


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _link_problem(path: Path, folder: Path) -> tuple[str, str] | None:
    """(code, reason) for a link that loops, dangles or leads to a folder; None for a link to a file."""
    try:
        target = os.stat(path)  # follows the link
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink_loop", "a symbolic link that loops (it leads back to itself); not followed"
        return "unreadable", f"a symbolic link to something that does not exist ({exc.strerror}); not read"
    if stat.S_ISDIR(target.st_mode):
        resolved = Path(os.path.realpath(path))
        if resolved == folder or resolved in folder.parents or folder.is_relative_to(resolved):
            return "symlink_loop", f"a link back to the folder above it ({resolved}); not followed"
        return "nested_folder", "a link to a folder; class folders are read one level deep"
    return None


def _list_class(report: Report, sub: Path) -> list[Path]:
    """The candidate image files of one class folder; everything else is recorded as skipped."""
    found = []
    try:
        entries = sorted(os.scandir(sub), key=lambda e: e.name)
    except OSError as exc:
        report.skipped.add(str(sub), "unreadable", f"the folder cannot be listed ({exc.strerror or exc})")
        return []
    for entry in entries:
        if not _visible(entry.name):
            continue  # hidden files (.DS_Store, ._x.png) are skipped by the source too, silently
        path = Path(entry.path)
        try:
            if entry.is_symlink():
                problem = _link_problem(path, sub)
                if problem is not None:
                    report.skipped.add(str(path), *problem)
                    continue
            if entry.is_dir(follow_symlinks=False):
                report.skipped.add(str(path), "nested_folder",
                                   "class folders are read one level deep")
                continue
            info = entry.stat()
        except OSError as exc:
            report.skipped.add(str(path), "changed", f"vanished or became unreadable while listed "
                                                     f"({exc.strerror or exc})")
            continue
        if not stat.S_ISREG(info.st_mode):
            report.skipped.add(str(path), "not_image", "not a regular file (a pipe, device or socket)")
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            report.skipped.add(str(path), "not_image", f"not an image by its name ('{path.suffix or 'no'}' "
                                                       f"extension; images are {', '.join(IMAGE_SUFFIXES)})")
        else:
            found.append(path)
    return found


def _read_header(image_module, path: Path, decode: bool) -> tuple[str, str] | tuple[int, int, str]:
    """(width, height, mode), or (code, reason) when the file cannot be used."""
    try:
        before = os.stat(path)
    except OSError as exc:
        return "changed", f"vanished while scanning ({exc.strerror or exc})"
    if before.st_size == 0:
        return "zero_bytes", "0 bytes"
    bomb_errors = (image_module.DecompressionBombError, image_module.DecompressionBombWarning)
    try:
        with image_module.open(path) as image:
            width, height, mode = image.size[0], image.size[1], image.mode
            if decode:
                image.load()
            else:
                image.verify()  # checks chunk CRCs and the end of the file; decodes nothing
    except bomb_errors as exc:
        return "bomb", f"{exc}".replace("could be decompression bomb DOS attack.",
                                                   "could be a decompression bomb")
    except FileNotFoundError as exc:
        return "changed", f"vanished while scanning ({exc.strerror})"
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds for a bad file
        text = str(exc) or type(exc).__name__
        return "unreadable", f"cannot be read as an image ({text})"
    try:
        after = os.stat(path)
    except OSError:
        return "changed", "vanished while scanning"
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return "changed", "changed while it was being scanned; scan again when it stops changing"
    return width, height, mode


def _image_module():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def scan_image_folder(report: Report, folder: Path, progress, stop, decode: bool = False) -> list[int] | None:
    """Fill `report` for an image folder; return every usable sample's class id (None: nothing to split)."""
    image_module = _image_module()
    if image_module is None:
        report.problem(ERROR, "source", "reading images needs Pillow; install it with: pip install Pillow")
        return None
    report.decoded = decode
    try:
        entries = sorted((e for e in os.scandir(folder) if _visible(e.name)), key=lambda e: e.name)
    except OSError as exc:
        report.problem(ERROR, "source", f"{folder}: the folder cannot be listed ({exc.strerror or exc})")
        return None
    classes: list[tuple[str, list[Path]]] = []
    loose = []
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            problem = _link_problem(path, folder)
            if problem is not None and problem[0] != "nested_folder":
                report.skipped.add(str(path), *problem)
                continue
        if entry.is_dir():
            classes.append((entry.name, []))
        else:
            loose.append(str(path))
    if loose:
        report.problem(WARNING, "not_in_class", f"{len(loose)} file(s) lie directly in {folder.name}/, "
                       "not in a class sub-folder, and are not read; move them into their class's folder",
                       loose)
    if not classes:
        report.problem(ERROR, "no_classes", f"{folder}: no class sub-folders; put the images of each class "
                       "in a sub-folder named after it (e.g. cats/ and dogs/)")
        return None
    for index, (name, _) in enumerate(classes):
        if stop():
            raise Cancelled
        classes[index] = (name, _list_class(report, folder / name))
        progress(0, None, f"listing class folders: {index + 1} of {len(classes)}")
    total = sum(len(files) for _, files in classes)
    listed_out = len(report.skipped.files)  # links, folders and non-images passed over while listing
    sizes: Counter = Counter()
    counts = [0] * len(classes)
    labels: list[int] = []
    done = 0
    with warnings.catch_warnings():
        # a picture over Pillow's pixel limit only warns at open; here it is refused like a bigger one
        warnings.simplefilter("error", image_module.DecompressionBombWarning)
        for class_id, (_, files) in enumerate(classes):
            for path in files:
                if done % PROGRESS_EVERY == 0:
                    if stop():
                        raise Cancelled
                    progress(done, total, "reading image headers")
                done += 1
                found = _read_header(image_module, path, decode)
                if isinstance(found[0], str):
                    report.skipped.add(str(path), *found)
                    continue
                width, height, mode = found
                sizes[(width, height, mode, 1 if mode in GREY_MODES else 3)] += 1
                counts[class_id] += 1
                labels.append(class_id)
    progress(total, total, "reading image headers")
    report.files_seen = total + listed_out
    report.samples = len(labels)
    report.class_names = [name for name, _ in classes]
    report.class_counts = counts
    report.image_sizes = sizes
    for (name, files), count in zip(classes, counts):
        if not files:
            report.problem(ERROR, "empty_class", f"class folder '{name}' holds no images "
                           f"({', '.join(IMAGE_SUFFIXES)}); training refuses it: add images or remove "
                           "the folder",
                           [str(folder / name)], count=1)
        elif count == 0:
            report.problem(ERROR, "empty_class", f"class folder '{name}': none of its {len(files)} image(s) "
                           "can be read; replace them or remove the folder", [str(folder / name)], count=1)
    return labels


def data_shape(report: Report) -> tuple[int, int, int] | None:
    """(channels, height, width) of the most common image kind, as the source reads it unresized."""
    rows = report.size_rows()
    if not rows:
        return None
    top = rows[0]
    return top["channels"], top["height"], top["width"]

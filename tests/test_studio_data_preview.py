"""The Data panel's preview reads only the rows it shows, off the GUI thread, however big the data.

A folder of thousands of images (or a streamed one of 40k) must not be
decoded for a grid of 24: the preview indexes the folder on its reader
thread and decodes exactly the images it paints; the window keeps
answering meanwhile (a 20 ms timer is never held up for long).
"""

from __future__ import annotations

import threading
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from graph.examples import example_path
from graph.project_io import load_project
from graph.training_config import DataSpec
from studio.document import Document
from studio.training import data_panel
from studio.training.data_panel import PREVIEW_IMAGES, PREVIEW_ROWS, DataPanel, shown_rows
from tests.test_train_fixtures import REGISTRY

CLASSES = [f"class{c}" for c in range(10)]


def _png_bytes(value: int) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("L", (8, 8), value).save(out, format="PNG")
    return out.getvalue()


def _big_folder(root: Path, per_class: int) -> Path:
    """10 class folders of `per_class` 8x8 grey PNGs (the same bytes within a class: quick to write)."""
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        data = _png_bytes(20 * c + 5)
        for i in range(per_class):
            (root / name / f"{i:05d}.png").write_bytes(data)
    return root


def _panel(qtbot, tmp_path: Path, spec: DataSpec, example: str = "digits_cnn") -> DataPanel:
    document = Document(REGISTRY, load_project(example_path(example), REGISTRY))
    document.save(tmp_path / "p.dw.json")
    document.set_training(data=spec)
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def _count_decodes(monkeypatch) -> list[tuple[str, threading.Thread]]:
    import runtime.data.images as images

    seen: list[tuple[str, threading.Thread]] = []
    real = images.decode_image

    def counted(path, *args):
        seen.append((path, threading.current_thread()))
        return real(path, *args)

    monkeypatch.setattr(images, "decode_image", counted)
    return seen


def _lateness(parent) -> list[float]:
    """Milliseconds each tick of a 20 ms timer came late: how long the GUI thread was held up."""
    late, last = [0.0], [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        late.append(1000 * (now - last[0]) - 20)
        last[0] = now

    timer = QTimer(parent)
    timer.timeout.connect(tick)
    timer.start(20)
    return late


@pytest.mark.parametrize("streamed", [False, True])
def test_a_big_image_folder_preview_decodes_only_the_images_it_shows(qtbot, tmp_path, monkeypatch, streamed):
    if streamed:  # the folder training would stream: a store, which the GUI once turned into an array
        monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    root = _big_folder(tmp_path / "big", per_class=600)  # 6,000 files: decoded whole, 1.5 MB in memory
    decoded = _count_decodes(monkeypatch)
    panel = _panel(qtbot, tmp_path, DataSpec("image_folder", {"path": str(root)}))
    decoded.clear()  # the panel's own probe reads one header (not a decode); count from the preview on
    late = _lateness(panel)
    panel.update_preview()
    qtbot.waitUntil(lambda: panel.preview_kind == "images", timeout=20000)
    assert panel.problem == ""
    assert len(decoded) == PREVIEW_IMAGES == 24  # the grid's images, not the 6,000
    assert all(thread is not threading.main_thread() for _path, thread in decoded)
    names = {Path(path).parent.name for path, _thread in decoded}
    assert names == set(CLASSES)  # rows spread over the folder (sorted by class): every class shows
    assert not panel.images.pixmap().isNull()
    qtbot.wait(60)
    assert len(late) > 2 and max(late) < 400, late  # the window kept answering while the folder was read


def test_the_preview_never_reads_a_whole_array_it_can_map(qtbot, tmp_path, monkeypatch):
    """A .npy under the in-memory line is still mapped for the preview: only the shown rows are read."""
    import runtime.data.arrays as arrays

    x = np.random.default_rng(0).normal(size=(50_000, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (np.arange(50_000) % 3).astype(np.int64))
    loaded = []
    real = arrays._Arrays.load_x
    monkeypatch.setattr(arrays._Arrays, "load_x", lambda self: loaded.append(1) or real(self))
    panel = _panel(qtbot, tmp_path, DataSpec("arrays", {"path": str(tmp_path / "x.npy"),
                                                        "labels": str(tmp_path / "y.npy")}), "iris_mlp")
    panel.update_preview()
    qtbot.waitUntil(lambda: panel.preview_kind == "table", timeout=20000)
    assert loaded == []  # never read whole
    rows = shown_rows(50_000, PREVIEW_ROWS)
    assert panel.table.rowCount() == PREVIEW_ROWS
    shown = [[float(panel.table.item(i, j).text()) for j in range(4)] for i in range(PREVIEW_ROWS)]
    assert np.allclose(shown, x[rows], rtol=6e-3, atol=1e-3)  # the very rows (to the 3 digits shown)
    assert [panel.table.item(i, 4).text() for i in range(PREVIEW_ROWS)] == [str(r % 3) for r in rows]


def test_shown_rows_spread_over_the_data():
    assert shown_rows(5, 24).tolist() == [0, 1, 2, 3, 4]
    rows = shown_rows(40_000, 24)
    assert len(rows) == 24 and rows[0] == 0 and rows[-1] == 39_999 and np.all(np.diff(rows) > 1600)


def test_the_reader_thread_hands_the_gui_a_few_rows_only(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWIRE_IN_MEMORY_BYTES", "0")
    root = _big_folder(tmp_path / "big", per_class=30)
    source = data_panel.SOURCES["image_folder"]
    sample = data_panel._read_sample(source, {"path": str(root)}, "classification", None, (1, 8, 8))
    assert sample.kind == "images" and isinstance(sample.inputs, np.ndarray)
    assert sample.inputs.shape == (24, 1, 8, 8) and sample.total == 300
    assert sample.labels[0] == "class0" and sample.labels[-1] == "class9"
    assert float(sample.inputs[-1].mean()) == 20 * 9 + 5  # class9's grey, as decoded

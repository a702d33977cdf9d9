"""Canvas speed on a 1,000-block project: opening, redrawing after an edit, panning and zooming.

Targets (issue 4): the project opens (file parsed, shapes inferred, scene
built) in under 1 s; after one parameter edit, shapes and problems are
redrawn within one frame (16 ms: the re-analysis, the item updates and the
repaint of the view); panning and zooming stay smooth. Frames are measured
offscreen: a scroll frame lets Qt scroll the viewport and repaint the strip
that came into view (what panning costs on screen); a full frame paints the
whole viewport into a pixmap (what a zoom step costs).

The network is a residual CNN stack: image -> [Conv -> BatchNorm -> ReLU ->
Add(skip)] * n -> pool -> Linear -> head, laid out in rows like a person
would, so wires cross rows and every card type is drawn.

    QT_QPA_PLATFORM=offscreen python bench/bench_canvas.py [--blocks 1000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QPoint, QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from graph.blocks import default_registry  # noqa: E402
from graph.model import Block, Edge, Network, Project  # noqa: E402
from graph.project_io import load_project, save_project  # noqa: E402

PER_ROW = 24  # cards per row of the layout


def residual_cnn(blocks: int) -> Network:
    """About `blocks` blocks: 4 per residual unit, skips wired around each unit."""
    net = Network("big")
    positions = iter((220.0 * (i % PER_ROW), 160.0 * (i // PER_ROW)) for i in range(blocks + 8))

    def add(bid: str, type_id: str, params: dict) -> str:
        net.add_block(Block(bid, type_id, bid, params, next(positions)))
        return bid

    prev = add("image", "ImageInput", {"channels": 16, "height": 8, "width": 8})
    prev_conv = add("stem", "Conv2d", {"channels": 32, "kernel_size": 3, "padding": 1})
    net.connect(Edge(prev, prev_conv, "x"))
    prev, n = prev_conv, 0
    while len(net.blocks) < blocks - 4:
        n += 1
        conv = add(f"conv{n}", "Conv2d", {"channels": 32, "kernel_size": 3, "padding": 1})
        norm = add(f"norm{n}", "BatchNorm2d", {})
        act = add(f"relu{n}", "ReLU", {})
        skip = add(f"add{n}", "Add", {"inputs": 2})
        net.connect(Edge(prev, conv, "x"))
        net.connect(Edge(conv, norm, "x"))
        net.connect(Edge(norm, act, "x"))
        net.connect(Edge(act, skip, "in1"))
        net.connect(Edge(prev, skip, "in2"))
        prev = skip
    pool = add("pool", "GlobalAvgPool", {})
    logits = add("logits", "Linear", {"features": 10})
    head = add("head", "ClassificationHead", {"classes": 10})
    net.connect(Edge(prev, pool, "x"))
    net.connect(Edge(pool, logits, "x"))
    net.connect(Edge(logits, head, "x"))
    return net


def _stats(times: list[float]) -> dict:
    """min is what an idle machine gives (the benchmark often shares its cores); median and p95."""
    times = sorted(times)
    return {"min_ms": round(times[0], 2), "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2)}


def measure(blocks: int = 1000, frames: int = 60, edits: int = 40) -> dict:
    app = QApplication.instance() or QApplication([])
    from studio.canvas import NetworkView
    from studio.document import Document

    registry = default_registry()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.dw.json"
        save_project(Project("Big", [residual_cnn(blocks)]), path)
        start = time.perf_counter()
        project = load_project(path, registry)
        loaded = time.perf_counter()
        doc = Document(registry, project)
        analysed = time.perf_counter()
        view = NetworkView(doc)
        built = time.perf_counter()
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    scene = view.network_scene
    net = doc.network()
    assert len(scene.blocks) == len(net.blocks) and len(scene.wires) == len(net.edges)

    # one parameter edit: command, model event, re-analysis, item updates, then the repaint.
    # "local": BatchNorm eps changes no shape; "cascade": Conv channels break the Add after it,
    # so every shape downstream (about 960 cards) turns to "?" and back.
    view.setZoom(1.0)
    view.centerOn(scene.blocks["conv10"].sceneBoundingRect().center())
    view.viewport().grab()

    def edit_times(block: str, name: str, values: tuple) -> tuple[list[float], list[float]]:
        update, repaint = [], []
        for i in range(edits):
            t0 = time.perf_counter()
            doc.set_param(net.name, block, name, values[i % 2])
            t1 = time.perf_counter()
            app.processEvents()  # the view repaints what changed, as on screen
            t2 = time.perf_counter()
            update.append((t1 - t0) * 1000)
            repaint.append((t2 - t0) * 1000)
        return update, repaint

    local_update, local_repaint = edit_times("norm10", "eps", (1e-3, 1e-5))
    cascade_update, cascade_repaint = edit_times("conv10", "channels", (16, 32))
    last = 16 if (edits - 1) % 2 == 0 else 32
    assert scene.blocks["conv10"].status.shape == f"{last}×8×8", scene.blocks["conv10"].status

    def frames_of(setup, step, full: bool) -> list[float]:
        """full: repaint the whole viewport (the cost after a zoom step); else let Qt scroll and
        repaint only what scrolled into view, as on screen."""
        setup()
        view.viewport().grab()
        app.processEvents()
        times = []
        for i in range(frames):
            t0 = time.perf_counter()
            step(i)
            if full:
                view.viewport().grab()
            else:
                app.processEvents()
            times.append((time.perf_counter() - t0) * 1000)
        return times

    centre = scene.items_rect().center()

    def at(zoom):
        def setup():
            view.setZoom(zoom)
            view.centerOn(centre)
        return setup

    pan = lambda i: view._pan_by(QPoint(25, 7 if i % 2 else -7))  # noqa: E731
    zoom_step = lambda i: view.zoomBy(1.04 if (i // 10) % 2 == 0 else 1 / 1.04, QPointF(800, 500))  # noqa: E731
    result = {
        "blocks": len(net.blocks),
        "wires": len(net.edges),
        "open_load_ms": round((loaded - start) * 1000, 1),
        "open_document_ms": round((analysed - loaded) * 1000, 1),
        "open_scene_ms": round((built - analysed) * 1000, 1),
        "open_total_ms": round((built - start) * 1000, 1),
        "edit_local_update": _stats(local_update),
        "edit_local_update_and_repaint": _stats(local_repaint),
        "edit_cascade_update": _stats(cascade_update),
        "edit_cascade_update_and_repaint": _stats(cascade_repaint),
        "pan_scroll_zoom_1.0": _stats(frames_of(at(1.0), pan, False)),
        "pan_scroll_zoom_0.4": _stats(frames_of(at(0.4), pan, False)),
        "pan_full_repaint_zoom_1.0": _stats(frames_of(at(1.0), pan, True)),
        "pan_full_repaint_zoom_0.4": _stats(frames_of(at(0.4), pan, True)),
        "pan_full_repaint_fit_all": _stats(frames_of(view.fitAll, pan, True)),
        "zoom_steps_0.45_to_0.66": _stats(frames_of(at(0.45), zoom_step, True)),
        "zoom_steps_1.0_to_1.48": _stats(frames_of(at(1.0), zoom_step, True)),
    }
    view.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.blocks, args.frames)
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{'load average':>34}: {load:.2f} on {os.cpu_count()} cores (timings include other processes)")
    checks = [("open < 1000 ms", result["open_total_ms"] < 1000),
              ("local edit + repaint median < 16 ms",
               result["edit_local_update_and_repaint"]["median_ms"] < 16),
              ("pan (scroll) median < 16 ms at 100 %", result["pan_scroll_zoom_1.0"]["median_ms"] < 16)]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS':>34}: {name}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

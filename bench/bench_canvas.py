"""Canvas speed on a 1,000-block project: opening, redrawing after an edit, panning and zooming.

Targets (issue 4): the project opens (file parsed, shapes inferred, scene
built) in under 1 s; after one parameter edit, shapes and problems are
redrawn within one frame (16 ms: the re-analysis, the item updates and the
repaint of the view); panning and zooming stay smooth. Frames are measured
offscreen: a scroll frame lets Qt scroll the viewport and repaint the strip
that came into view (what panning costs on screen); a full frame paints the
whole viewport into a pixmap (what a zoom step costs).

Opening is timed to the view's first paint, in rounds alternating with the
reference: the same file parsed as plain JSON into a bare QGraphicsScene
with a rectangle, a label and a curve per block and wire (what Qt alone
costs for that many items on this machine). Panning is compared with
panning that bare scene the same way.

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
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView  # noqa: E402

from bench.figures import budget_row, format_table, interleave  # noqa: E402
from graph.blocks import default_registry  # noqa: E402
from graph.model import Block, Edge, Network, Project  # noqa: E402
from graph.project_io import load_project, save_project  # noqa: E402

PER_ROW = 24  # cards per row of the layout
OPEN_MS = 1000.0
OPEN_10K_MS = 2000.0  # issue 16: a 10,000-block project opens in under 2 s


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


class _Open:
    """One project open, in both ways: DeepWire's (load, analyse, build the scene, paint the view) and
    the reference's (parse the same JSON, a bare QGraphicsScene with a rectangle, a label and a curve
    per block and wire, paint the view). The last views are kept to measure edits and panning on."""

    def __init__(self, app, path: Path):
        self.app, self.path = app, path
        self.view = self.doc = self.bare = None

    def deepwire(self) -> float:
        from studio.canvas import NetworkView
        from studio.document import Document

        self._drop("view")
        start = time.perf_counter()
        registry = default_registry()
        self.doc = Document(registry, load_project(self.path, registry))
        self.view = NetworkView(self.doc)
        self.view.resize(*VIEW_SIZE)
        self.view.show()
        self.view.viewport().grab()
        return (time.perf_counter() - start) * 1000

    def reference(self) -> float:
        self._drop("bare")
        start = time.perf_counter()
        network = json.loads(self.path.read_text())["networks"][0]
        scene = QGraphicsScene()
        where = {}
        for block in network["blocks"]:
            x, y = block.get("position", (0.0, 0.0))
            where[block["id"]] = (x, y)
            scene.addRect(x, y, 180, 96, QPen(QColor("#888")), QBrush(QColor("#f4f4f4")))
            scene.addSimpleText(block.get("name", block["id"])).setPos(x + 8, y + 8)
        for edge in network["edges"]:
            (x1, y1), (x2, y2) = where[edge["from"]], where[edge["to"]]
            curve = QPainterPath(QPointF(x1 + 180, y1 + 48))
            curve.cubicTo(x1 + 240, y1 + 48, x2 - 60, y2 + 48, x2, y2 + 48)
            scene.addPath(curve, QPen(QColor("#555"), 1.5))
        self.bare = QGraphicsView(scene)
        scene.setParent(self.bare)  # the view does not own its scene; this keeps it alive with the view
        self.bare.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.bare.resize(*VIEW_SIZE)
        self.bare.show()
        self.bare.viewport().grab()
        return (time.perf_counter() - start) * 1000

    def _drop(self, which: str) -> None:
        view = getattr(self, which)
        if view is not None:
            view.close()
            view.deleteLater()
            setattr(self, which, None)
            self.app.processEvents()


VIEW_SIZE = (1600, 1000)


def measure(quick: bool = False, blocks: int = 1000, frames: int | None = None, edits: int | None = None,
            opens: int | None = None) -> dict:
    """Rows for bench/run.py: opening (beside a bare QGraphicsScene of as many items), one edit with
    its repaint, and a pan frame (beside the bare scene's); the other frames go to details."""
    frames = frames or (30 if quick else 60)
    edits = edits or (20 if quick else 40)
    opens = opens or (3 if quick else 7)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.dw.json"
        save_project(Project("Big", [residual_cnn(blocks)]), path)
        opener = _Open(app, path)
        opened = interleave({"deepwire": opener.deepwire, "bare": opener.reference}, opens)
    details = _figures(app, opener.view, opener.doc, frames, edits)
    bare_pan = _bare_pan_frames(app, opener.bare, frames)
    opener.view.close()
    opener.bare.close()
    n = details["blocks"]
    frame = 16.0
    # 1,000 blocks: issue 4's targets (zoom shown, not judged); 10,000: issue 16's (zoom judged too)
    name = "canvas" if blocks < 5000 else f"canvas{blocks // 1000}k"
    zoom = budget_row(f"{name}.zoom", "one zoom step at 100 % (full repaint)", "ms",
                      details["zoom_steps_1.0_to_1.48"]["samples"], frame)
    return {
        "rows": [
            budget_row(f"{name}.open", f"open a {n}-block project: parse, shapes, scene, first paint",
                       "ms", opened["deepwire"], OPEN_MS if blocks < 5000 else OPEN_10K_MS, opened["bare"],
                       "bare QGraphicsScene, same items"),
            budget_row(f"{name}.edit", "one parameter edit (no shape change): update + repaint", "ms",
                       details["edit_local_update_and_repaint"]["samples"], frame),
            _info(budget_row(f"{name}.edit_cascade", f"one edit changing every shape downstream "
                             f"(~{n - 40} cards): update + repaint", "ms",
                             details["edit_cascade_update_and_repaint"]["samples"], frame)),
            budget_row(f"{name}.pan", "one pan frame at 100 % (scroll + repaint)", "ms",
                       details["pan_scroll_zoom_1.0"]["samples"], frame, bare_pan, "bare scene"),
            _info(zoom) if blocks < 5000 else zoom,
        ],
        "details": {key: ({k: v for k, v in value.items() if k != "samples"} if isinstance(value, dict)
                          else value) for key, value in details.items()},
    }


def _info(row: dict) -> dict:
    row["passed"] = None  # shown beside the judged rows; its target is the frame, but not a promise
    return row


def _bare_pan_frames(app, view, frames: int) -> list[float]:
    view.centerOn(view.scene().itemsBoundingRect().center())
    app.processEvents()
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        h, v = view.horizontalScrollBar(), view.verticalScrollBar()
        h.setValue(h.value() - 25)
        v.setValue(v.value() - (7 if i % 2 else -7))
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _stats(times: list[float]) -> dict:
    """min is what an idle machine gives (the benchmark often shares its cores); median and p95."""
    times = sorted(times)
    return {"min_ms": round(times[0], 2), "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2), "samples": times}


def _figures(app, view, doc, frames: int, edits: int) -> dict:
    """Edit, pan and zoom frames on an opened view (each as _stats, with its samples)."""
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
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(blocks=args.blocks, frames=args.frames)
    for key, value in result["details"].items():
        print(f"{key:>34}: {value}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{'load average':>34}: {load:.2f} on {os.cpu_count()} cores (timings include other processes)\n")
    print(format_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(row["passed"] is not False for row in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Preview panel latency: from selecting a block to its output drawn (issue 13, point 10).

The Preview panel keeps one warm child (runtime/preview_server.py), started
when the panel comes on screen. This opens the digits CNN's panel, waits
for the child to be ready (what a user's first look around the canvas
gives it), then selects blocks one after another and times each from the
selection to the panel's `previewReady` (the debounce included). For
reference it also times one cold `deepwire preview` process, the way each
preview used to run.

    python bench/bench_preview.py [--blocks conv1 relu1 pool1 conv2] [--no-cold]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="+", default=["conv1", "relu1", "pool", "conv2", "scores"])
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-process reference")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from graph.blocks import default_registry
    from graph.examples import example_path
    from graph.project_io import load_project
    from studio.document import Document
    from studio.insight.preview import PreviewPanel

    app = QApplication.instance() or QApplication([])
    registry = default_registry()
    document = Document(registry, load_project(example_path("digits_cnn"), registry))
    panel = PreviewPanel(document)
    panel.show()
    started = time.perf_counter()
    while not panel.server_ready:
        app.processEvents()
        time.sleep(0.005)
    print(f"warm child ready {time.perf_counter() - started:.2f} s after the panel showed")
    names = {b.name: b.id for b in document.project.network().blocks.values()}
    ready: list[str] = []
    panel.previewReady.connect(ready.append)
    for name in args.blocks:
        ready.clear()
        t0 = time.perf_counter()
        panel.show_selection("model", [names[name]])
        while not ready:
            app.processEvents()
            time.sleep(0.002)
        print(f"select {name:>6} -> drawn in {time.perf_counter() - t0:.3f} s")
    panel.shutdown()
    if not args.no_cold:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "runtime.cli", "preview", "digits_cnn", "--block", "conv1",
                            "--out", str(Path(tmp) / "p.npz")], check=True, capture_output=True)
            print(f"cold `deepwire preview` process (before): {time.perf_counter() - t0:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

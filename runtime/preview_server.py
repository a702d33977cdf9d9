"""A warm `deepwire preview` child: pays torch's import once, then answers one preview per request.

A fresh `deepwire preview` process spends 3-8 s importing torch, scikit-learn
and the runtime before it computes anything (~0.07 s). The studio's Preview
panel starts this server once, lazily, and keeps it while the window is
open, so a selected block's output arrives in a fraction of a second.

    python -m runtime.preview_server

Protocol, one JSON value per line:
    stdout  {"ready": true}                      once the imports are paid
    stdin   ["PROJECT", "--block", "b2", ...]     the arguments `deepwire preview` takes
    stdout  {"code": 0, "stdout": "...", "stderr": "..."}   one answer per request, in order

Each request runs exactly the `deepwire preview` command (same checks, same
messages, same exit codes), with its output captured into the answer. An
empty line or the end of stdin ends the server.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
from typing import TextIO

# what a preview needs, imported before the server says it is ready (measured with -X importtime)
WARM_MODULES = ("torch", "sklearn.datasets", "graph.blocks", "graph.compiler", "runtime.build",
                "runtime.export", "runtime.export_project", "runtime.preview", "runtime.commands.check",
                "runtime.commands.preview", "runtime.train.data", "runtime.train.recipes.base")


def warm_up() -> None:
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional package: a preview that needs it will say so
    from graph.blocks import default_registry

    default_registry()


def answer(args: list[str]) -> dict:
    """Run `deepwire preview ARGS`, capturing what it prints."""
    from runtime.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["preview", *args])
        except SystemExit as exit_:  # argparse refusing the arguments
            code = exit_.code if isinstance(exit_.code, int) else 2
        except Exception as exc:  # noqa: BLE001 - one bad preview must not end the server
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(f"deepwire: the preview failed ({type(exc).__name__}: {first})", file=err)
            code = 1
    return {"code": int(code), "stdout": out.getvalue(), "stderr": err.getvalue()}


def serve(stdin: TextIO, stdout: TextIO) -> int:
    warm_up()
    stdout.write(json.dumps({"ready": True}) + "\n")
    stdout.flush()
    for line in stdin:
        if not line.strip():
            break
        try:
            args = json.loads(line)
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise ValueError("a request is a JSON list of strings")
            reply = answer(args)
        except ValueError as exc:
            reply = {"code": 2, "stdout": "", "stderr": f"deepwire: bad preview request ({exc})"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin, sys.stdout))

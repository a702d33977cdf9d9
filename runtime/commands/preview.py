"""`deepwire preview PROJECT --block BLOCK --out OUT.npz`: one block's output for a few samples.

    deepwire preview digits_cnn --block conv1 --samples 4 --out conv1.npz
    deepwire preview digits_cnn --block b2 --weights runs/digits_cnn-.../best.pt --out conv1.npz

The studio runs this as a child process when a block is selected (the GUI
never imports torch) and draws the file: see runtime/preview.py for what it
holds. A line on stdout says what was computed; when the project's data
cannot be used, random inputs of the right shape are used and that line
says so.

Exit codes: 0 written, 1 the block cannot be previewed (the network has
errors, the block is unknown), 2 the project or the weights cannot be read.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="a .dw.json project file, or the name of a bundled example")
    parser.add_argument("--block", required=True, help="the block's id (or its name)")
    parser.add_argument("--network", help="the network holding the block (default: the first)")
    parser.add_argument("--weights", metavar="CHECKPOINT",
                        help="a checkpoint (a run's best.pt); without it, fresh seeded random weights")
    parser.add_argument("--samples", type=int, default=4, help="how many samples (at most 16)")
    parser.add_argument("--out", required=True, metavar="OUT.npz", help="where to write the arrays")


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from graph.compiler import CompileError
    from graph.model import ModelError
    from runtime.commands.check import open_project
    from runtime.errors import SetupError
    from runtime.export import ExportError
    from runtime.preview import PreviewError, compute_preview, save_preview

    registry = default_registry()
    opened = open_project(args.project, registry)
    if opened is None:
        return 2
    project, path = opened
    try:
        preview = compute_preview(project, registry, args.block, args.network, args.weights, args.samples,
                                  base_dir=path.parent)
    except (SetupError, ExportError) as err:  # weights that cannot be used (WeightsFileError)
        print(f"deepwire: {err}", file=sys.stderr)
        return 2
    except (PreviewError, CompileError, ModelError) as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return 1
    save_preview(preview, args.out)
    shape = "×".join(str(s) for s in preview.shape[1:]) or "scalar"
    print(f"{preview.name}: {preview.kind} {shape} for {preview.shape[0]} samples "
          f"({preview.weights} weights; {preview.source}) -> {args.out}")
    return 0

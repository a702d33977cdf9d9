"""The `deepwire` command line: one sub-command per module in runtime/commands.

Each command module defines `add_arguments(parser)` and `run(args) -> int`.
Command modules keep their imports light and import torch inside `run`, so
`deepwire check` never pays for importing torch.

Exit codes: 0 success, 1 the project has errors or training failed,
2 the file could not be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> module under runtime.commands
COMMANDS = {
    "check": "Shapes and problems of a project, as a table.",
    "export": "Export a project as Python code, a training script, ONNX or torch.export.",
    "import": "Import a PyTorch module (torch.fx) or an ONNX file as a project, weights included.",
    "evaluate": "Evaluate a finished run: confusion matrix, saliency, predictions (evaluation.json).",
    "examples": "List the bundled example projects.",
    "blocks": "List every block type: id, title, category, parameters (defaults, bounds) and ports.",
    "preview": "One block's output for a few samples (feature maps, sequences, attention) as .npz.",
    "sample": "Continue a text prompt with a trained language-model run.",
    "sweep": "Search hyper-parameters and block parameters (optuna); one run folder per trial.",
    "train": "Train a project headless, with a progress bar or JSON-lines events.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepwire",
        description="DeepWire: design, train and export neural networks by wiring blocks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _module(name).add_arguments(command)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parse_args, except that a wrong option after a command prints that command's usage, not the top one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = _subparsers(parser).get(args.command) if args.command else None
        (command or parser).error(f"unrecognized arguments: {' '.join(extra)}")  # exits 2
    return args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _module(name: str):
    # "import" is a Python keyword, so its module is import_
    return importlib.import_module(f"runtime.commands.{'import_' if name == 'import' else name}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        print("\nStart with:  deepwire examples   then   deepwire check digits_cnn")
        return 0
    args = parse(parser, argv)
    try:
        return int(_module(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deepwire blocks | head`: the reader left; nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `deepwire` command line: one sub-command per module in runtime/commands.

Each command module defines `add_arguments(parser)` and `run(args) -> int`.
Command modules keep their imports light and import torch inside `run`, so
`deepwire check` never pays for importing torch.

Exit codes: 0 success, 1 the project has errors or training failed,
2 the file could not be read or the arguments are wrong. An exception no
command expected is reported in one line, its traceback in a log file
(runtime/crash_log.py), and exits with 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from runtime.crash_log import report_internal_error

# command name -> module under runtime.commands
COMMANDS = {
    "check": "Shapes and problems of a project, as a table.",
    "export": "Export a project as Python code, a training script, ONNX or torch.export.",
    "import": "Import a PyTorch module (torch.fx) or an ONNX file as a project, weights included.",
    "evaluate": "Evaluate a finished run: confusion matrix, saliency, predictions (evaluation.json).",
    "examples": "List the bundled example projects.",
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
    args = parser.parse_args(argv)
    if args.command is None:  # e.g. `deepwire --`: options but no command
        parser.print_usage(sys.stderr)
        print("deepwire: name a command, e.g. deepwire check digits_cnn", file=sys.stderr)
        return 2
    try:
        return int(_module(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last resort: one line and a log file, never a traceback
        return report_internal_error(args.command, argv, err)


if __name__ == "__main__":
    sys.exit(main())

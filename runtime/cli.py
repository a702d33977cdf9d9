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
import contextlib
import importlib
import os
import signal
import sys
import threading

from runtime.crash_log import report_internal_error

# command name -> module under runtime.commands
COMMANDS = {
    "check": "Shapes and problems of a project, as a table.",
    "data": "Data health before training: counts per split and class, bad files, sizes, the dry run.",
    "export": "Export a project as Python code, a training script, ONNX or torch.export.",
    "import": "Import a PyTorch module (torch.fx) or an ONNX file as a project, weights included.",
    "evaluate": "Evaluate a finished run: confusion matrix, saliency, predictions (evaluation.json).",
    "examples": "List the bundled example projects.",
    "blocks": "List every block type: id, title, category, parameters (defaults, bounds) and ports.",
    "predict": "Predict with a trained run: image files or folders, .npy, .csv rows, or --text.",
    "quantize": "Post-training INT8 of a trained run (onnxruntime): accuracy, size and latency vs float.",
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


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (removing half-written temporaries) and exit with 128 + 15."""


def _terminate(signum, frame) -> None:
    raise Terminated(128 + signum)


@contextlib.contextmanager
def terminate_cleanly():
    """SIGTERM becomes an exception, so every `atomic_path` on the way out removes its temporary
    and the file it was replacing stays as it was (training installs its own handler: stop and save)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    from runtime.lifeline import die_with_parent

    die_with_parent()  # started by the studio, a sweep or torchrun: never outlive it
    argv = list(sys.argv[1:] if argv is None else argv)
    if any("\x00" in arg for arg in argv):  # no file name can hold one; os calls would raise ValueError
        bad = next(arg for arg in argv if "\x00" in arg)
        print(f"deepwire: the argument {bad[:80]!r} holds a NUL byte, which no file name or value can "
              "hold; check how it was typed or generated", file=sys.stderr)
        return 2
    try:  # Ctrl+C or SIGTERM while the commands are still being imported is an interruption too
        with terminate_cleanly():
            parser = build_parser()
            if not argv:
                parser.print_help()
                print("\nStart with:  deepwire examples   then   deepwire check digits_cnn")
                return 0
            args = parse(parser, argv)
            if args.command is None:  # e.g. `deepwire --`: options but no command
                parser.print_usage(sys.stderr)
                print("deepwire: name a command, e.g. deepwire check digits_cnn", file=sys.stderr)
                return 2
            return int(_module(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deepwire blocks | head`: the reader left; nothing is wrong
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        return 0
    except Terminated as stop:
        print("deepwire: terminated; files being written were left as they were", file=sys.stderr)
        return int(stop.code)
    except OSError as err:  # a path given to the command that the system refuses (too long, no access, ...)
        if err.filename is None:
            return report_internal_error(argv[0] if argv else "", argv, err)
        name = str(err.filename)
        shown = name if len(name) <= 120 else f"{name[:60]}...{name[-40:]} ({len(name)} characters)"
        print(f"deepwire: {shown}: {err.strerror or err}; check the path", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the last resort: one line and a log file, never a traceback
        return report_internal_error(argv[0] if argv else "", argv, err)


if __name__ == "__main__":
    sys.exit(main())

"""`deepwire train PROJECT`: train headless, with a progress bar or JSON-lines events.

    deepwire train digits_cnn --epochs 5
    deepwire train my.dw.json --events jsonl        # what the studio runs as a child process
    deepwire train my.dw.json --resume runs/my/my-20250101-120000

With `--events jsonl` every event is one JSON line on stdout (see
runtime/train/events.py); the progress bar and messages go to stderr. Stop
with Ctrl+C, SIGTERM or a line "stop" on stdin: the run saves a checkpoint
and ends with reason "stopped" (exit 0), ready for --resume.

Several processes (see runtime/train/distributed.py and the README):

    deepwire train my.dw.json --gpus 4              # one process per local GPU, via torchrun
    deepwire train my.dw.json --nproc 2             # two CPU processes (gloo), e.g. on a CPU cluster
    torchrun --nnodes 2 --node_rank 0 --rdzv_endpoint host:29500 --nproc_per_node 8 \
        -m runtime.cli train my.dw.json --out runs/big  # across machines

--batch-size is per process: each step trains on batch size x processes samples.

Exit codes: 0 trained (or stopped cleanly), 1 training failed (NaN loss,
out of memory, an error in the model), 2 the project, its data or the
arguments are wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime.commands.check import EXIT_UNREADABLE, open_project

EXIT_OK, EXIT_FAILED = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="a .dw.json project file, or the name of a bundled example")
    parser.add_argument("--epochs", type=int, metavar="N", help="passes over the training data")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="samples per step and process (with --gpus/--nproc N a step sees N times this)")
    parser.add_argument("--lr", type=float, metavar="X", help="learning rate")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where to train")
    parser.add_argument("--seed", type=int, metavar="N", help="random seed (weights, shuffling, split)")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/<project>/<project>-<time> "
                        "beside the project file; for a bundled example, in the user data folder, "
                        "$DEEPWIRE_HOME/runs when set, e.g. ~/.local/share/deepwire/runs)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in this folder from its "
                        "last checkpoint")
    parser.add_argument("--events", choices=("jsonl",), help="print one JSON event per line on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (errors are still printed)")
    parser.add_argument("--max-seconds", type=float, metavar="S",
                        help="stop cleanly (saving a checkpoint) after this many seconds of training")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for PyTorch")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes reading streamed data (big image folders, memory-mapped arrays); "
                        "default: min(4, CPUs - 1), none for small sets")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--gpus", type=int, metavar="N", help="train on N local GPUs, one process each "
                       "(DistributedDataParallel started with torchrun); 1 trains in this process")
    scale.add_argument("--nproc", type=int, metavar="N", help="train in N CPU processes (gloo), "
                       "DistributedDataParallel started with torchrun")
    parser.add_argument("--init", metavar="PATH", help="transfer learning: start from these weights (a run "
                        "folder, its best.pt, or a state_dict file); sets init_checkpoint")
    parser.add_argument("--init-blocks", metavar="LIST", help="transfer learning: the blocks to copy (ids, "
                        "names or group names, comma-separated); sets init_blocks")
    parser.add_argument("--data", metavar="SOURCE[:NAME=VALUE,...]",
                        help="train on this data instead of the project's (for this run; the run folder "
                        "records it), e.g. --data digits, --data csv:path=data.csv,label=price; "
                        "'deepwire train --data help' lists the sources")
    parser.add_argument("--from-scratch", action="store_true", help="ignore init_checkpoint and frozen "
                        "blocks: every block starts from random weights and learns (a baseline)")


def _overrides(args: argparse.Namespace) -> dict:
    wanted = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "device": args.device,
              "init_checkpoint": args.init, "init_blocks": args.init_blocks}
    if args.from_scratch:
        wanted["init_checkpoint"] = ""
    return {k: v for k, v in wanted.items() if v is not None}


def _data_sources() -> str:
    from runtime.data import SOURCES

    lines = [f"  {name:<14} {source.title}; options: {', '.join(p.name for p in source.params) or '(none)'}"
             for name, source in SOURCES.items()]
    return "data sources for --data SOURCE[:NAME=VALUE,...]:\n" + "\n".join(lines)


def _apply_data(project, text: str | None) -> str | None:
    """Set the project's data from --data (None: keep it); the message when it cannot train on any."""
    from runtime.data import DataError, parse_data_option

    if text is not None:
        try:
            project.data = parse_data_option(text)
        except DataError as err:
            return str(err)
    if not project.data.chosen:
        return ("this project has no data yet (an imported model starts without any): pass --data "
                "SOURCE[:NAME=VALUE,...], e.g. --data csv:path=data.csv,label=price ('--data help' "
                "lists the sources), or pick the data in the studio's Data panel and save")
    return None


def _fail_before_start(message: str, listeners, reason: str) -> int:
    """Bad data found before the trainer started: the same error + finished events, then exit 2."""
    from runtime.train import events as ev

    for event in (ev.RunError(message, reason, "fix the project or its data and start again"),
                  ev.Finished(reason="failed", epochs=0, steps=0, best_epoch=None, best_metric=None,
                              monitor="", metrics={}, test_metrics={}, seconds=0.0,
                              samples_per_second=0.0, run_dir="")):
        for listener in listeners:
            listener.on_event(event)
    if not _has_bar(listeners):
        print(f"deepwire: {message}", file=sys.stderr)
    return EXIT_UNREADABLE


class DataWarnings:
    """Prints the run's warnings about the data (files skipped, with their count and first names) on a
    stream, where no progress bar does: a user must learn that files were left out, not only the studio."""

    WORDS = ("skipped", "could not be read", "not usable")

    def __init__(self, stream):
        self.stream = stream

    def on_event(self, event) -> None:
        message = getattr(event, "message", None)
        if getattr(event, "kind", None) == "warning" and message and any(w in message for w in self.WORDS):
            self.stream.write(f"deepwire: warning: {message}\n")
            self.stream.flush()


def _has_bar(listeners) -> bool:
    from runtime.train.progress import ProgressBar

    return any(isinstance(listener, ProgressBar) for listener in listeners)


def _default_out(project_name: str, path: Path) -> Path:
    from runtime.run_names import default_run_dir

    return default_run_dir(project_name, path)  # the studio's rule too (runtime/run_names.py)


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from graph.params import ParamError

    registry = default_registry()
    if args.data is not None and args.data.strip().lower() == "help":
        print(_data_sources())
        return EXIT_OK
    opened = open_project(args.project, registry)
    if opened is None:
        return EXIT_UNREADABLE
    project, path = opened
    if args.resume and args.out:
        print("deepwire: give either --resume RUN_DIR (continue that run in its folder) or --out DIR "
              "(a new run), not both", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.data is not None or not project.data.chosen:  # say it once, before any process starts
        data_problem = _apply_data(project.copy(), args.data)
        if data_problem is not None:
            print(f"deepwire: {data_problem}", file=sys.stderr)
            return EXIT_UNREADABLE
    from runtime.commands.launch import launch_processes, processes_wanted

    wanted = processes_wanted(args)
    if isinstance(wanted, str):
        print(f"deepwire: {wanted}", file=sys.stderr)
        return EXIT_UNREADABLE
    if wanted > 1:
        out = args.out or (None if args.resume else str(_default_out(project.name, path)))
        return launch_processes(args, wanted, out)
    if args.gpus == 1 and not args.device:
        args.device = "cuda"
    try:
        project.training = project.training.replace(**_overrides(args))
    except ParamError as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.seed is not None:
        project.seed = args.seed
    data_problem = _apply_data(project, args.data)
    if data_problem is not None:
        print(f"deepwire: {data_problem}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.from_scratch:
        for net in project.networks:
            for block_id in net.blocks:
                net.set_frozen(block_id, False)

    import torch

    from runtime.data import DataError
    from runtime.train import JsonLinesWriter, SetupError, StopFlag, Trainer, TrainingError, TrainOptions
    from runtime.train.data import load_project_data
    from runtime.train.distributed import Cluster
    from runtime.train.progress import ProgressBar
    from runtime.train.stop import watch_stdin

    try:
        cluster = Cluster.from_env()  # rank 0 of 1 unless started by torchrun
    except SetupError as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.threads:
        torch.set_num_threads(args.threads)
    listeners = []
    if args.events == "jsonl" and cluster.is_main:
        listeners.append(JsonLinesWriter(sys.stdout))
    if not args.quiet and cluster.is_main and (args.events is None or sys.stderr.isatty()):
        listeners.append(ProgressBar(sys.stderr))
    elif cluster.is_main:
        listeners.append(DataWarnings(sys.stderr))  # skipped files are said even with --quiet or events
    stop = StopFlag()
    if args.events == "jsonl" and cluster.is_main and not sys.stdin.isatty():
        watch_stdin(stop)  # the studio may write "stop" instead of sending a signal

    from runtime.train.data import IndexProgress

    progress = IndexProgress(sys.stderr) if cluster.is_main and not args.quiet else None
    try:
        dataset = load_project_data(project, registry, base_dir=path.parent, progress=progress)
    except (DataError, SetupError) as err:
        if not cluster.is_main:
            return EXIT_UNREADABLE  # rank 0 says it
        return _fail_before_start(str(err), listeners, "data")
    if args.resume:
        run_dir = Path(args.resume)
    else:
        run_dir = Path(args.out) if args.out else _default_out(project.name, path)
    options = TrainOptions(run_dir=run_dir, resume=bool(args.resume), max_seconds=args.max_seconds,
                           project_path=path, stop=stop, cluster=cluster, workers=args.workers)
    try:
        Trainer(project, registry, dataset, options, listeners).run()
    except SetupError as err:  # the trainer has sent the error event; the bar has printed it
        if cluster.is_main and not _has_bar(listeners):
            print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    except TrainingError as err:
        if not cluster.is_main:
            print(f"deepwire: process {cluster.rank}: training failed: {err}", file=sys.stderr)
        elif not _has_bar(listeners):
            suggestion = f"\n  suggestion: {err.suggestion}" if err.suggestion else ""
            print(f"deepwire: training failed: {err}{suggestion}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

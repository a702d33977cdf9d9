"""`deepwire sweep PROJECT`: search hyper-parameters and block parameters with optuna.

    deepwire sweep digits_cnn --trials 20 --epochs 3
    deepwire sweep my.dw.json --space space.json --sampler grid
    deepwire sweep my.dw.json --trials 40 --parallel 4         # 4 trials at a time (one GPU each)
    deepwire sweep --resume runs/my/my-sweep-20250101-120000 --trials 30
    deepwire sweep my.dw.json --events jsonl                   # what the studio's Experiments panel runs

Without --space the sweep searches learning rate, optimizer, batch size,
weight decay and every Dropout rate (see runtime/sweep/space.py for the
space file format); without --space in the project's own `experiment` field
either. Every trial is an ordinary run folder in the sweep folder; the
results table is printed at the end and saved as results.json, the best
trial's project as best.dw.json. Stop with Ctrl+C, SIGTERM or a "stop" line
on stdin; --resume continues the stored study.

Exit codes: 0 the sweep ran (some trials may have failed) or was stopped,
1 no trial completed, 2 the project, the space or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime.commands.check import EXIT_UNREADABLE, open_project

EXIT_OK, EXIT_NOTHING = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", help="a .dw.json project file, or the name of a bundled "
                        "example (leave out with --resume)")
    parser.add_argument("--space", metavar="SPACE.json", help="the search space (default: the project's "
                        "experiment, else learning rate, optimizer, batch size, weight decay, dropout)")
    parser.add_argument("--trials", type=int, metavar="N", help="how many trials in all (default 20; a "
                        "resumed sweep counts its earlier trials)")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), help="how values are chosen: "
                        "tpe (Bayesian, default), random, or every combination (grid)")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="time budget: no new trial after "
                        "this, running ones are cut short")
    parser.add_argument("--metric", metavar="NAME", help="validation metric to optimise: accuracy "
                        "(maximised) or loss (minimised); default: accuracy for classifiers, else loss")
    parser.add_argument("--epochs", type=int, metavar="E", help="epochs per trial (default: the project's)")
    parser.add_argument("--out", metavar="DIR", help="sweep folder (default: "
                        "runs/<project>/<project>-sweep-<time> beside the project file; "
                        "for a bundled example, in the user data folder, "
                        "$DEEPWIRE_HOME/runs when set)")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="continue the sweep stored in this folder")
    parser.add_argument("--parallel", type=int, metavar="N", help="trials at a time, each in its own "
                        "process (default 1: one after another in this process)")
    parser.add_argument("--gpus", type=int, metavar="N", help="spread parallel trials over N GPUs "
                        "(CUDA_VISIBLE_DEVICES per trial); implies --parallel N when that is not given")
    parser.add_argument("--seed", type=int, metavar="N", help="sampler seed (default 0)")
    parser.add_argument("--no-prune", action="store_true", help="let every trial run all its epochs")
    parser.add_argument("--no-baseline", action="store_true", help="do not spend the first trial on the "
                        "project's own settings")
    parser.add_argument("--events", choices=("jsonl",), help="print one JSON event per line on stdout")


def _error(message: str) -> int:
    print(f"deepwire: {message}", file=sys.stderr)
    return EXIT_UNREADABLE


def _progress(out):
    """Prints one line per finished trial (the headless progress)."""
    def listener(event: dict) -> None:
        kind = event["kind"]
        if kind == "sweep_started":
            print(f"sweep of {event['project']} in {event['sweep_dir']}: {event['to_run']} trials to run, "
                  f"{event['sampler']} sampler, {event['direction']} validation {event['metric']}", file=out)
        elif kind == "trial_finished":
            from runtime.sweep.results import format_params

            value = "-" if event["value"] is None else f"{event['value']:.4f}"
            extra = f"  ({event['message'].splitlines()[0][:90]})" if event["message"] else ""
            print(f"trial {event['trial']:>4}  {event['state']:<8} {value:>8}  {event['seconds']:.1f}s  "
                  f"{format_params(event['params'])}{extra}", file=out, flush=True)
    return listener


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from runtime.sweep.space import SpaceError, default_space, parse_space, read_space_file

    registry = default_registry()
    if args.parallel is not None and args.parallel < 1 or args.trials is not None and args.trials < 1:
        return _error("--trials and --parallel must be at least 1")
    if args.gpus is not None and args.gpus < 0:
        return _error("--gpus must be 0 or more")
    parallel = args.parallel or (args.gpus or None)
    if args.resume and args.project:
        return _error("give either PROJECT (a new sweep) or --resume SWEEP_DIR, not both")
    if not args.resume and not args.project:
        return _error("name a project to sweep, or --resume SWEEP_DIR")

    space = None
    if not args.resume:  # a wrong project or space is reported before torch and optuna are imported
        opened = open_project(args.project, registry)
        if opened is None:
            return EXIT_UNREADABLE
        project, path = opened
        try:
            if args.space:
                space = read_space_file(args.space)
            elif project.experiment.get("space"):
                space = project.experiment["space"]
            else:
                space = default_space(project, registry)
            parse_space(space, project, registry)
        except SpaceError as err:
            return _error(str(err))

    import json

    from runtime.sweep.results import format_table
    from runtime.sweep.sweep import Sweep, SweepSettings, SweepStop
    from runtime.train.stop import stop_on_signals, watch_stdin

    listeners = []
    if args.events == "jsonl":
        def write(event: dict) -> None:
            try:
                sys.stdout.write(json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n")
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                pass
        listeners.append(write)
    out = sys.stderr if args.events else sys.stdout
    listeners.append(_progress(sys.stderr))
    stop = SweepStop()
    if args.events == "jsonl" and not sys.stdin.isatty():
        watch_stdin(stop)
    try:
        if args.resume:
            sweep = Sweep.resume(Path(args.resume), registry, listeners, stop, trials=args.trials,
                                 max_seconds=args.max_seconds, parallel=parallel, gpus=args.gpus)
        else:
            settings = SweepSettings(
                space=space, trials=args.trials or project.experiment.get("trials") or 20,
                sampler=args.sampler or project.experiment.get("sampler") or "tpe", seed=args.seed or 0,
                metric=args.metric or project.experiment.get("metric") or "auto",
                epochs=args.epochs or project.experiment.get("epochs"),
                max_seconds=args.max_seconds or project.experiment.get("max_seconds"),
                parallel=parallel or 1, gpus=args.gpus or 0, prune=not args.no_prune,
                baseline=not args.no_baseline, base_dir=str(path.parent.resolve()),
                project_path=str(path.resolve()))
            sweep_dir = Path(args.out) if args.out else _default_out(project.name, path)
            sweep = Sweep.start(project, registry, sweep_dir, settings, listeners, stop)
    except SpaceError as err:
        return _error(str(err))
    except (OSError, ValueError) as err:
        return _error(str(err))
    with stop_on_signals(stop):
        results = sweep.run()
    print(format_table(results), file=out)
    print(f"\nresults: {sweep.dir / 'results.json'}", file=out)
    if results["reason"] == "stopped":
        print(f"stopped; continue with: deepwire sweep --resume {sweep.dir}", file=out)
    return EXIT_OK if results["best"] or results["reason"] == "stopped" else EXIT_NOTHING


def _default_out(project_name: str, path: Path) -> Path:
    from runtime.run_names import default_run_dir

    return default_run_dir(project_name, path, "sweep")  # the studio's rule too (runtime/run_names.py)

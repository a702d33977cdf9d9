"""`deepwire evaluate RUN_DIR`: evaluate a finished run; `deepwire sample RUN_DIR`: continue a prompt.

    deepwire evaluate runs/Digits-MLP/Digits-MLP-20250101-120000 --split val
    deepwire sample runs/Character-Transformer/Character-Transformer-20250101-120000 --prompt "To be" \
        --temperature 0.8 --length 200

evaluate writes evaluation.json (and its pictures under evaluation/) into the
run folder (see runtime/evaluate.py) and prints a one-line summary; --json
also copies the result to another file. sample prints the continuation only
(no prompt, no newline added beyond one at the end).

Exit codes: 0 done, 2 the run folder, its checkpoint or its data cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_UNUSABLE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'deepwire train'")
    parser.add_argument("--split", choices=("val", "test", "train"), default="val",
                        help="which split to evaluate (default: val, the one the run was validated on)")
    parser.add_argument("--json", metavar="OUT", help="also write the result to this file")
    parser.add_argument("--beam", type=int, default=4, metavar="K",
                        help="seq2seq runs: beams of the beam decoding beside the greedy one (default 4)")
    parser.add_argument("--attack", choices=("fgsm", "pgd"),
                        help="adversarial robustness instead: accuracy under this attack over a range of eps")
    parser.add_argument("--eps", metavar="E[,E...]",
                        help="attack sizes: a fraction of the pixel range for images, else standard "
                             "deviations (default 0,0.02,0.05,0.1,0.15,0.2,0.3)")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps (default 10)")


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder of a language model")
    parser.add_argument("--prompt", default="", help="text to continue")
    parser.add_argument("--temperature", type=float, default=0.8, help="above 1 wilder, below 1 safer")
    parser.add_argument("--length", type=int, default=200, metavar="N", help="tokens to sample")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the sampling")


def _usable_errors():
    from graph.project_io import ProjectFileError
    from runtime.data import DataError
    from runtime.train.errors import SetupError

    return (SetupError, DataError, ProjectFileError)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime.evaluate import EVALUATION, evaluate_run

    if getattr(args, "attack", None) or getattr(args, "eps", None):
        return _run_attack(args)
    try:
        result = evaluate_run(Path(args.run_dir), args.split, args.beam)
    except _usable_errors() as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        from graph.atomic import write_text

        write_text(Path(args.json), json.dumps(result, indent=1) + "\n")
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.get("metrics", {}).items()
                        if isinstance(v, (int, float)))
    where = f"on {result['split']} ({result['size']} samples)" if "size" in result else "(its sample grids)"
    print(f"evaluated {result['kind']} run {where}: {metrics or 'no metrics'}; "
          f"wrote {Path(args.run_dir) / EVALUATION}")
    return EXIT_OK


def _run_attack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime.adversarial import DEFAULT_EPS, attack_run, format_curve

    if not args.attack:
        print("deepwire: --eps needs --attack fgsm or --attack pgd", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        eps = [float(part) for part in args.eps.split(",")] if args.eps else list(DEFAULT_EPS)
    except ValueError:
        print(f"deepwire: --eps takes numbers separated by commas (e.g. 0.05,0.1), not {args.eps!r}",
              file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        result = attack_run(Path(args.run_dir), args.attack, eps, args.steps, args.split)
    except _usable_errors() as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        from graph.atomic import write_text

        write_text(Path(args.json), json.dumps(result, indent=1) + "\n")
    print(format_curve(result))
    return EXIT_OK


def run_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runtime.evaluate import sample_text

    if args.length < 1:
        print("deepwire: --length must be at least 1", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        text = sample_text(Path(args.run_dir), args.prompt, args.temperature, args.length, args.seed)
    except _usable_errors() as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(text + "\n")
    return EXIT_OK

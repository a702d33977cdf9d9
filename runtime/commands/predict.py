"""`deepwire predict RUN_DIR INPUT... [--text TEXT] [--top K] [--json]`: a trained run's predictions.

    deepwire predict runs/Digits-CNN/Digits-CNN-20261204-120000 seven.png more_digits/
    deepwire predict runs/Iris/Iris-20261204-120000 new_flowers.csv --json
    deepwire predict runs/Character-Transformer/Character-Transformer-20261204-120000 --text "def ma"

Inputs are read and scaled the way the run's training data was (runtime/predict.py);
the table shows each input's class with its probability and the next best ones,
or the output values of a regression. --json prints one JSON object per input
instead (a JSON-lines stream), for scripts.

Exit codes: 0 done, 2 the run folder or an input cannot be used (the message names it).
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_UNUSABLE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by 'deepwire train'")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files or folders of them, .npy/.npz arrays, .csv/.tsv rows")
    parser.add_argument("--text", help="text for a model that reads characters (the next one is predicted)")
    parser.add_argument("--beam", type=int, default=1, metavar="K",
                        help="seq2seq runs: beam decoding with K beams (default 1: greedy)")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per input (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object per input instead of a table")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from graph.project_io import ProjectFileError
    from runtime.predict import PredictError, format_rows, open_predictor
    from runtime.train.errors import SetupError

    if not args.inputs and args.text is None:
        print("deepwire: give inputs to predict: image files or folders, .npy/.npz or .csv files, "
              "or --text TEXT", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.top < 1:
        print("deepwire: --top must be at least 1", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        predictor = open_predictor(Path(args.run_dir))
        rows = predictor.predict(args.inputs, args.text, args.top, args.beam)
    except (PredictError, ProjectFileError, SetupError) as err:
        print(f"deepwire: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    for note in predictor.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        print(format_rows(rows))
    return EXIT_OK

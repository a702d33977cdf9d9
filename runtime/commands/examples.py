"""`deepwire examples`: the bundled example projects, with what each one shows."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="print only the file paths, one per line")


def run(args: argparse.Namespace) -> int:
    from graph.examples import examples_dir, list_examples

    examples = list_examples()
    if not examples:
        print(f"No examples found in {examples_dir()}")
        return 1
    if args.paths:
        for example in examples:
            print(example.path)
        return 0
    width = max(len(e.name) for e in examples)
    for example in examples:
        print(f"{example.name.ljust(width)}  {example.title}")
        if example.description:
            print(f"{' ' * width}  {example.description}")
        print(f"{' ' * width}  {example.path}")
    print()
    print("Open one by name, e.g.:  deepwire check digits_cnn")
    return 0

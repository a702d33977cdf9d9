"""`deepwire data PROJECT`: the data-health report, before training (runtime/data/health).

Prints per split and per class counts, the label set, image sizes and modes,
missing values, every file that cannot be used (by name, with a count), and
the dry run: whether the samples fit the network's input block and which
block would refuse them. `--json` prints the report as documented in
runtime/data/health/report.py (schema "deepwire.data-health/1").

A progress line goes to stderr while a large folder is scanned, when stderr
is a terminal (not with --json) or with --progress. Exit codes: 0 healthy
(warnings allowed), 1 a problem would stop training, 2 no such project or
bad arguments. Never writes a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2
BAR = 24  # characters of the widest class bar
SHOWN_FILES = 5  # file names printed per problem (--json lists up to 20, and the count)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="a .dw.json project file, or the name of a bundled example")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (stable schema)")
    parser.add_argument("--decode", action="store_true",
                        help="decode every image fully (slower; finds damage a header check misses)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress line on stderr even when it is not a terminal")


class Progress:
    """One line on stderr, rewritten at most ten times a second."""

    def __init__(self, stream):
        self.stream, self.last, self.shown = stream, 0.0, False

    def __call__(self, done: int, total: int | None, what: str) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and not (total and done >= total):
            return
        self.last = now
        count = f"{done:,}/{total:,} ({done / total:.0%})" if total else (f"{done:,}" if done else "")
        self.stream.write(f"\r\x1b[K{what} {count}".rstrip())
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _shape(shape) -> str:
    return "?" if shape is None else "(B, " + ", ".join(str(d) for d in shape) + ")"


def _mode_word(mode: str) -> str:
    return {"L": "grey", "1": "black and white", "LA": "grey with alpha", "P": "palette", "RGB": "RGB",
            "RGBA": "RGB with alpha", "I;16": "16-bit grey", "I": "32-bit grey", "F": "float grey",
            "CMYK": "CMYK"}.get(mode, mode)


def _class_lines(names: list[str], counts: list[int]) -> list[str]:
    width = max(len(n) for n in names)
    width = min(width, 30)
    top = max(counts) or 1
    digits = len(f"{top:,}")
    lines = []
    for name, count in zip(names, counts):
        shown = name if len(name) <= width else name[: width - 1] + "…"
        bar = "#" * max(1 if count else 0, round(BAR * count / top))
        lines.append(f"    {shown.ljust(width)}  {count:>{digits},}  {bar}")
    return lines


def short_path(report, path: str) -> str:
    """A file as the table shows it: relative to the data folder when inside it."""
    root = report.path
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1:]
    return path


def _file_lines(report, problem, reasons: dict[str, str]) -> list[str]:
    """The files of one problem: each with its own reason when the message does not say it."""
    shown = problem.files[:SHOWN_FILES]
    more = problem.count - len(shown)
    more_text = f"(+{more:,} more; --json lists {len(problem.files)})" if more > 0 else ""
    own = [reasons.get(path, "") for path in shown]
    if any(reason and reason not in problem.message for reason in own):
        lines = [f"           {short_path(report, path)}: {reason}" for path, reason in zip(shown, own)]
        return lines + ([f"           {more_text}"] if more_text else [])
    return [f"           {', '.join(short_path(report, p) for p in shown)} {more_text}".rstrip()]


def format_report(report) -> list[str]:
    """The human table, as lines."""
    where = f"  {report.path}" if report.path else ""
    lines = [f"Project '{report.project}'  data: {report.source}{where}"]
    data = report.as_dict()
    if report.files_seen and report.image_sizes is not None:
        how = "decoding every image" if report.decoded else "headers and PNG checksums; --decode decodes all"
        lines.append(f"Scanned {report.files_seen:,} file(s) in {report.seconds:.2f} s ({how})")
    elif report.files_seen:
        lines.append(f"Scanned {report.path} in {report.seconds:.2f} s")
    if report.cancelled:
        lines.append("Cancelled: the figures below cover only what was scanned.")
    lines.append("")
    splits = data["splits"]
    split_text = "  (train {train:,} · validation {val:,} · test {test:,})".format(**splits) if splits else ""
    lines.append(f"Samples     {report.samples:,}{split_text}")
    if report.class_names is not None:
        labels = ", ".join(report.class_names[:12]) + (" ..." if len(report.class_names) > 12 else "")
        lines.append(f"Labels      {len(report.class_names)}: {labels}")
        if report.class_counts:
            lines.append("Per class")
            lines += _class_lines(report.class_names, report.class_counts)
        for row in data["class_pixels"] or []:
            lines.append(f"  {row['name']:<20} {row['fraction']:>6.1%} of the pixels ({row['pixels']:,})")
    sizes = data["images"]["sizes"] if data["images"] else []
    for index, row in enumerate(sizes[:6]):
        head = "Images      " if index == 0 else "            "
        kind = f"{row['width']}x{row['height']} {_mode_word(row['mode'])}"
        lines.append(f"{head}{row['fraction']:>6.1%}  {kind} ({row['count']:,})")
    if len(sizes) > 6:
        lines.append(f"            ... {len(sizes) - 6} more sizes or modes (see --json)")
    if report.missing is not None:
        missing = report.missing
        lines.append("Missing     " + ("none" if not missing["cells"] else
                                       f"{missing['cells']:,} value(s) in {missing['rows']:,} row(s)"))
    for run in report.dry_runs:
        verdict = "fits" if run.fits and not run.failing else ("fits, see below" if run.fits else "FAILS")
        lines.append(f"Dry run     network '{run.network}': data {_shape(run.data_shape)} into "
                     f"{run.block_type} '{run.block_name}' {_shape(run.declared)}: {verdict}")
        lines.append(f"            {run.message}")
        if run.failing:
            bad = run.failing
            lines.append(f"            first block to refuse: '{bad['name']}' ({bad['type']})")
    lines.append("")
    errors = [p for p in report.problems if p.severity == "error"]
    reasons = {path: reason for path, _, reason in report.skipped.files}
    if report.problems:
        lines.append(f"{len(errors)} error(s), {len(report.problems) - len(errors)} warning(s):")
        for problem in report.problems:
            lines.append(f"  {problem.severity:<7}  {problem.message}")
            if problem.files and not (len(problem.files) == 1 and problem.files[0] == report.path):
                lines += _file_lines(report, problem, reasons)
        lines.append("")
    if report.cancelled:
        lines.append("Not finished: the scan was cancelled.")
    elif errors:
        lines.append(f"Not ready: {len(errors)} problem(s) above would stop training; fix them first.")
    else:
        tail = " (see the warnings)." if report.problems else "."
        lines.append(f"Healthy: the data is ready to train on{tail}")
    return lines


def run(args: argparse.Namespace) -> int:
    from graph.blocks import default_registry
    from runtime.commands.check import open_project
    from runtime.data.health import check_data

    registry = default_registry()
    opened = open_project(args.project, registry)
    if opened is None:
        return EXIT_UNREADABLE
    project, path = opened
    show = args.progress or (not args.json and sys.stderr.isatty())
    progress = Progress(sys.stderr) if show else None
    try:
        report = check_data(project, registry, base_dir=path.parent, progress=progress, decode=args.decode)
    finally:
        if progress is not None:
            progress.finish()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(format_report(report)))
    return EXIT_OK if report.ok else EXIT_PROBLEMS

"""The figures every benchmark returns: robust statistics, interleaved rounds, and table rows.

A benchmark's `measure(quick) -> dict` returns {"rows": [row, ...], "details": {...}}.
A row is one target, as plain JSON:

    name        short id, e.g. "codegen.cnn"
    what        one line a reader understands
    unit        of `measured` and `reference` ("ms", "samples/s", ...)
    measured    stats of DeepWire's figure (median, q1, q3, min, max, p95, n)
    reference   {"name": ..., **stats} of the same thing done the plainest way, or None
    ratio       {"meaning": "speed" | "time", **stats over rounds}: "speed" is DeepWire's
                speed relative to the reference (above 1 = faster), "time" is how many times
                the reference's time DeepWire takes (informative: the budget is absolute)
    target      {"text": ">= 0.98x speed", "on": "ratio" | "measured", "min"/"max": number}
    passed      True / False, or None for a row that has no target (information only)

Pass/fail always reads the median, so one slow round on a shared machine does
not decide; the interquartile range (q1-q3) shows how noisy the run was.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence


def stats(values: Sequence[float]) -> dict:
    """median, quartiles, extremes and p95 of some samples (rounded for reading)."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("no samples to summarise")
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    p95 = ordered[max(0, int(round(len(ordered) * 0.95)) - 1)]
    return {key: _round(value) for key, value in (
        ("median", statistics.median(ordered)), ("q1", q1), ("q3", q3),
        ("min", ordered[0]), ("max", ordered[-1]), ("p95", p95))} | {"n": len(ordered)}


def _round(value: float) -> float:
    """Four significant digits: enough for any figure here, short to read."""
    return float(f"{value:.4g}")


def interleave(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, rotating the order every round (ABAB.., BAAB..), so a
    slow spell of the machine hits every variant alike. Returns each variant's samples."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(variants[name]())
    return samples


def speed_row(name: str, what: str, unit: str, measured: Sequence[float], reference: Sequence[float],
              reference_name: str, min_ratio: float, higher_is_faster: bool) -> dict:
    """DeepWire against its reference, measured in pairs: ratio = DeepWire's speed / the reference's
    speed per pair (times: reference / DeepWire; rates: DeepWire / reference). Passes at
    median ratio >= min_ratio."""
    if len(measured) != len(reference):
        raise ValueError(f"{name}: {len(measured)} samples against {len(reference)} reference samples")
    ratios = [m / r if higher_is_faster else r / m for m, r in zip(measured, reference)]
    row = {
        "name": name, "what": what, "unit": unit,
        "measured": stats(measured),
        "reference": {"name": reference_name, **stats(reference)},
        "ratio": {"meaning": "speed", **stats(ratios)},
        "target": {"text": f">= {min_ratio:g}x speed", "on": "ratio", "min": min_ratio},
    }
    row["passed"] = row["ratio"]["median"] >= min_ratio
    return row


def budget_row(name: str, what: str, unit: str, measured: Sequence[float], max_value: float | None,
               reference: Sequence[float] | None = None, reference_name: str | None = None) -> dict:
    """An absolute figure against a budget (passes at median < max_value; None: information only).
    With a reference measured in the same rounds, `ratio` says how many times the reference's
    time DeepWire takes, which cancels the machine's speed when comparing runs."""
    row = {"name": name, "what": what, "unit": unit, "measured": stats(measured),
           "reference": None, "ratio": None, "target": None, "passed": None}
    if reference is not None:
        if len(measured) != len(reference):
            raise ValueError(f"{name}: {len(measured)} samples against {len(reference)} reference samples")
        row["reference"] = {"name": reference_name, **stats(reference)}
        row["ratio"] = {"meaning": "time", **stats([m / r for m, r in zip(measured, reference)])}
    if max_value is not None:
        row["target"] = {"text": f"< {max_value:g} {unit}", "on": "measured", "max": max_value}
        row["passed"] = row["measured"]["median"] < max_value
    return row


def number(value: float) -> str:
    """A figure for reading: 3 significant digits below 100, whole numbers above."""
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def _spread(s: dict) -> str:
    return f"{number(s['median'])} [{number(s['q1'])}-{number(s['q3'])}]"


def row_cells(row: dict) -> list[str]:
    """benchmark, measured, reference, ratio, target, result: the table's columns for one row."""
    reference = row.get("reference")
    ratio = row.get("ratio")
    result = {True: "PASS", False: "FAIL", None: "info"}[row.get("passed")]
    return [
        row["name"],
        f"{_spread(row['measured'])} {row['unit']}",
        f"{number(reference['median'])} {row['unit']} ({reference['name']})" if reference else "-",
        f"{_spread(ratio)}x {ratio['meaning']}" if ratio else "-",
        _target_text(row),
        result,
    ]


def _target_text(row: dict) -> str:
    target = row.get("target")
    if not target:
        return "-"
    # a row shown for information keeps its target in brackets: not judged, but readable against it
    return target["text"] if row.get("passed") is not None else f"({target['text']})"


HEADER = ["benchmark", "measured: median [q1-q3]", "reference: median", "ratio: median [q1-q3]",
          "target", "result"]


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table, then what each row measures."""
    cells = [HEADER] + [row_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    name_width = max(len(row["name"]) for row in rows) if rows else 0
    lines += [""] + [f"{row['name'].ljust(name_width)}  {row['what']}" for row in rows]
    return "\n".join(lines)


def format_markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (what README.md shows), with what each measures."""
    header = ["benchmark", "what", *HEADER[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = row_cells(row)
        lines.append("| " + " | ".join([f"`{cells[0]}`", row["what"], *cells[1:]]) + " |")
    return "\n".join(lines)

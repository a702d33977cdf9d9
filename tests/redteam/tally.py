"""The red team's counts per surface (command) and input class, and one example failure of each kind.

`TALLY` is shared by every test in a session; `table()` prints it (pytest -s
shows it at the end of tests/test_redteam.py). A row per surface x class:
cases, then each failure kind; a failing row keeps its first example case.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from tests.redteam.runner import Result

KINDS = (
    "traceback",
    "internal error",
    "hang",
    "exit code",
    "code executed",
    "files changed",
    "partial output",
    "leftovers",
)
HEADERS = (
    "cases",
    "tracebacks",
    "internal",
    "hangs",
    "bad exit",
    "code ran",
    "changed",
    "partial",
    "leftovers",
)


class Tally:
    def __init__(self):
        self.counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], str] = {}

    def add(self, surface: str, klass: str, result: Result) -> list[str]:
        """Count one case; returns its failures."""
        row = self.counts[(surface, klass)]
        row["cases"] += 1
        failures = result.failures()
        for failure in failures:
            row[failure.split()[0] if failure.startswith("exit code") else failure] += 1
        if failures and (surface, klass) not in self.examples:
            self.examples[(surface, klass)] = result.describe()
        return failures

    def failed(self, surface: str, klass: str) -> int:
        row = self.counts[(surface, klass)]
        return sum(row[k if k != "exit code" else "exit"] for k in KINDS)

    def row(self, surface: str, klass: str) -> str:
        row = self.counts[(surface, klass)]
        values = [row["cases"]] + [row[k if k != "exit code" else "exit"] for k in KINDS]
        return f"{surface:<22} {klass:<12} " + " ".join(f"{v:>10}" for v in values)

    def table(self) -> str:
        lines = [f"{'surface':<22} {'class':<12} " + " ".join(f"{h:>10}" for h in HEADERS)]
        totals = Counter()
        for surface, klass in sorted(self.counts):
            lines.append(self.row(surface, klass))
            totals.update(self.counts[(surface, klass)])
        per_class = defaultdict(Counter)
        for (_surface, klass), row in self.counts.items():
            per_class[klass].update(row)
        for klass, row in sorted(per_class.items()):
            values = [row["cases"]] + [row[k if k != "exit code" else "exit"] for k in KINDS]
            lines.append(f"{'(all surfaces)':<22} {klass:<12} " + " ".join(f"{v:>10}" for v in values))
        values = [totals["cases"]] + [totals[k if k != "exit code" else "exit"] for k in KINDS]
        lines.append(f"{'TOTAL':<22} {'':<12} " + " ".join(f"{v:>10}" for v in values))
        for (surface, klass), example in sorted(self.examples.items()):
            lines.append(f"  e.g. [{surface} x {klass}] {example}")
        return "\n".join(lines)


TALLY = Tally()

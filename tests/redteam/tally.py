"""The red team's counts per surface (command) and input class, and one example failure of each kind.

`TALLY` is shared by every test in a session; `table()` prints it (pytest -s
shows it at the end of tests/test_redteam.py). A row per surface x class:
cases, then each failure kind; a failing row keeps its first example case.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from tests import reporting
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
        reporting.add("redteam", f"{surface}|{klass}|cases")
        failures = result.failures()
        for failure in failures:
            kind = failure.split()[0] if failure.startswith("exit code") else failure
            row[kind] += 1
            reporting.add("redteam", f"{surface}|{klass}|{kind}")
        if failures and (surface, klass) not in self.examples:
            self.examples[(surface, klass)] = result.describe()
            reporting.example("redteam", f"{surface}|{klass}", result.describe())
        return failures

    def failed(self, surface: str, klass: str) -> int:
        row = self.counts[(surface, klass)]
        return sum(row[k if k != "exit code" else "exit"] for k in KINDS)

    def row(self, surface: str, klass: str) -> str:
        row = self.counts[(surface, klass)]
        values = [row["cases"]] + [row[k if k != "exit code" else "exit"] for k in KINDS]
        return f"{surface:<30} {klass:<12} " + " ".join(f"{v:>10}" for v in values)

    def table(self) -> str:
        lines = [f"{'surface':<30} {'class':<12} " + " ".join(f"{h:>10}" for h in HEADERS)]
        totals = Counter()
        for surface, klass in sorted(self.counts):
            lines.append(self.row(surface, klass))
            totals.update(self.counts[(surface, klass)])
        per_class = defaultdict(Counter)
        for (_surface, klass), row in self.counts.items():
            per_class[klass].update(row)
        for klass, row in sorted(per_class.items()):
            values = [row["cases"]] + [row[k if k != "exit code" else "exit"] for k in KINDS]
            lines.append(f"{'(all surfaces)':<30} {klass:<12} " + " ".join(f"{v:>10}" for v in values))
        values = [totals["cases"]] + [totals[k if k != "exit code" else "exit"] for k in KINDS]
        lines.append(f"{'TOTAL':<30} {'':<12} " + " ".join(f"{v:>10}" for v in values))
        for (surface, klass), example in sorted(self.examples.items()):
            lines.append(f"  e.g. [{surface} x {klass}] {example}")
        return "\n".join(lines)


TALLY = Tally()


def table_from_report() -> str:
    """The table of every case run in this session, by every xdist worker (tests/reporting.py)."""
    tally = Tally()
    for key, n in reporting.COUNTS["redteam"].items():
        surface, klass, kind = key.split("|")
        tally.counts[(surface, klass)][kind] += n
    for key, text in reporting.EXAMPLES.get("redteam", {}).items():
        surface, klass = key.split("|")
        tally.examples[(surface, klass)] = text
    return tally.table()

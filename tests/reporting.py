"""Counts that stress tests report (red-team cases, kill trials), summed over pytest-xdist workers.

A test adds to `COUNTS[section][key]`; each xdist worker hands its counts to
the controller when it finishes (conftest.py: pytest_sessionfinish and
pytest_testnodedown), and the controller prints one table per section at the
end of the run, so `pytest -m slow` shows the totals however many workers
ran the cases. Examples of failures travel the same way.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

# section -> "key" (e.g. "export python|checkpoint|traceback") -> count
COUNTS: dict[str, Counter] = defaultdict(Counter)
EXAMPLES: dict[str, dict[str, str]] = defaultdict(dict)  # section -> key -> the first failing case


def add(section: str, key: str, n: int = 1) -> None:
    COUNTS[section][key] += n


def example(section: str, key: str, text: str) -> None:
    EXAMPLES[section].setdefault(key, text)


def dump() -> str:
    return json.dumps({"counts": {s: dict(c) for s, c in COUNTS.items()},
                       "examples": {s: dict(e) for s, e in EXAMPLES.items()}})


def merge(text: str) -> None:
    data = json.loads(text)
    for section, counts in data.get("counts", {}).items():
        COUNTS[section].update(counts)
    for section, examples in data.get("examples", {}).items():
        for key, value in examples.items():
            EXAMPLES[section].setdefault(key, value)

"""Shared test set-up: offscreen Qt, fixed seeds, the block registry."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# The slow stress tests (fuzzing, kills) are sized to fit CI's time on two cores; DEEPWIRE_STRESS=4
# runs four times as many cases, e.g. `DEEPWIRE_STRESS=4 pytest -m slow -s tests/test_fuzz_graphs.py`.
STRESS = float(os.environ.get("DEEPWIRE_STRESS", "1"))


def stressed(count: int) -> int:
    """A slow test's case count, scaled by DEEPWIRE_STRESS."""
    return max(1, round(count * STRESS))

from graph.blocks import default_registry  # noqa: E402


@pytest.fixture(scope="session")
def registry():
    return default_registry()

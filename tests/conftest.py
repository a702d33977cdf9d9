"""Shared test set-up: offscreen Qt, fixed seeds, the block registry."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from graph.blocks import default_registry  # noqa: E402


@pytest.fixture(scope="session")
def registry():
    return default_registry()

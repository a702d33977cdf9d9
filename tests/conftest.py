"""Shared test set-up: offscreen Qt, fixed seeds, the block registry, the stress tests' totals."""

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


@pytest.fixture
def window(qtbot, tmp_path, registry, monkeypatch):
    """A main window on the digits CNN whose dialogs answer "no" (tests/studio_support.py); a test file
    that needs another window defines its own `window`."""
    from tests.studio_support import close_window, make_window, refuse_dialogs

    refuse_dialogs(monkeypatch)
    win = make_window(qtbot, tmp_path, registry)
    yield win
    close_window(win)


@pytest.fixture(autouse=True, scope="session")
def _runs_never_in_the_users_home(tmp_path_factory):
    """Runs of examples and untitled projects go to $DEEPWIRE_HOME/runs: a temporary folder in tests."""
    previous = os.environ.get("DEEPWIRE_HOME")
    os.environ["DEEPWIRE_HOME"] = str(tmp_path_factory.mktemp("deepwire-home"))
    yield
    if previous is None:
        os.environ.pop("DEEPWIRE_HOME", None)
    else:
        os.environ["DEEPWIRE_HOME"] = previous


@pytest.fixture(autouse=True)
def _delete_closed_widgets():
    """After each test, really delete the widgets it closed with deleteLater().

    Qt deletes them only when the event loop next runs at this level, which a
    test process seldom does, so every window of every earlier test stayed
    alive (1,500 widgets each) and each app-wide style change re-polished all
    of them: two theme tests took 40-80 s each.
    """
    yield
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def pytest_sessionfinish(session):
    """An xdist worker hands the stress tests' counts (tests/reporting.py) to the controller."""
    from tests import reporting

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["deepwire_counts"] = reporting.dump()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests import reporting

    counts = getattr(node, "workeroutput", {}).get("deepwire_counts")
    if counts:
        reporting.merge(counts)


def pytest_terminal_summary(terminalreporter):
    """The red team's and the kill trials' totals, over all workers (printed only when they ran)."""
    from tests import reporting

    if reporting.COUNTS.get("redteam"):
        from tests.redteam.tally import table_from_report

        terminalreporter.write_sep("=", "red team: cases and failures per surface and input class")
        terminalreporter.write_line(table_from_report())
    if reporting.COUNTS.get("kills"):
        from tests.test_faults_kill import kill_summary

        terminalreporter.write_sep("=", "kill and signal trials")
        terminalreporter.write_line(kill_summary())


@pytest.fixture(scope="session")
def _digits_cnn_trained(tmp_path_factory):
    """digits_cnn trained 2 epochs once per test process (runtime/predict, attacks, Try It read it)."""
    from tests.test_evaluate import train

    return train("digits_cnn", tmp_path_factory.mktemp("trained") / "cnn", "--epochs", "2")


@pytest.fixture
def digits_cnn_run(_digits_cnn_trained, tmp_path):
    """A test's own copy of that run folder: what one test writes into it (an evaluation, an attack)
    never reaches another."""
    import shutil

    copy = tmp_path / "run" / _digits_cnn_trained.name
    shutil.copytree(_digits_cnn_trained, copy)
    return copy

"""DeepWire's own red team: every command crossed with every hostile input class (tests/redteam/).

One test per cell (input class x surface) runs all the cell's cases and
fails when any case printed a traceback or an "internal error" line (the
CLI's safety net: still a defect), hung, exited with a code outside the
documented ones (0, 1, 2; a pickle payload must be refused; a memory bomb
must be a problem for check), ran code, changed an input file, left a
partial output after failing, or left a process or temporary file behind.
Each cell holds a "good" case that must succeed, so a cell cannot pass by
failing early for a reason of its own.

    default:  PYTHONPATH=$PWD python -m pytest -s -q tests/test_redteam.py -m "not slow"
    slow:     PYTHONPATH=$PWD python -m pytest -s -q tests/test_redteam.py -m slow
              (20,000+ cases; DEEPWIRE_STRESS=4 runs four times as many mutations)

With -s every cell prints its counts and the session ends with the table per
surface and per input class. The safety net itself is tested at the end.
"""

from __future__ import annotations

import os

import pytest

from tests.redteam import plan
from tests.redteam.cases import run_case
from tests.redteam.cases_inputs import HugeFiles
from tests.redteam.seeds import make_seeds
from tests.redteam.tally import TALLY
from tests.redteam.workspace import Workspace


@pytest.fixture(scope="session")
def seeds(tmp_path_factory):
    return make_seeds(tmp_path_factory.mktemp("redteam-seeds"))


@pytest.fixture(scope="session")
def huge(tmp_path_factory):
    return HugeFiles(tmp_path_factory.mktemp("redteam-huge"))


@pytest.fixture(scope="module", autouse=True)
def print_table():
    yield
    print("\n\nred team counts (cases and failures per surface and input class)\n" + TALLY.table())


def _params(slow: bool):
    marks = [pytest.mark.slow] if slow else []
    return [
        pytest.param(
            klass,
            surface,
            id=f"{klass}-{surface}",
            marks=marks,
        )
        for klass, surface in plan.cells(slow)
    ]


def _run_cell(klass: str, surface: str, slow: bool, seeds, huge, tmp_path) -> None:
    built = plan.build(klass, surface, slow, seeds, huge if klass == "huge" else None)
    assert built, f"cell {klass} x {surface} has no cases"
    ws = Workspace(tmp_path / "ws")
    for case in built:
        TALLY.add(surface, klass, run_case(case, ws))
    print("\n" + TALLY.row(surface, klass))
    assert TALLY.failed(surface, klass) == 0, TALLY.examples.get((surface, klass))


@pytest.mark.parametrize(("klass", "surface"), _params(slow=False))
def test_red_team_default(klass, surface, seeds, request, tmp_path):
    huge = request.getfixturevalue("huge") if klass == "huge" else None
    _run_cell(klass, surface, False, seeds, huge, tmp_path)


@pytest.mark.parametrize(("klass", "surface"), _params(slow=True))
def test_red_team_slow(klass, surface, seeds, request, tmp_path):
    huge = request.getfixturevalue("huge") if klass == "huge" else None
    _run_cell(klass, surface, True, seeds, huge, tmp_path)


def test_an_unexpected_exception_is_one_line_and_a_log_file_not_a_traceback(tmp_path, monkeypatch, capsys):
    """The CLI's last-resort net: exit 2, one line naming the command and the log, traceback in the log."""
    from runtime import cli
    from runtime.commands import check

    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setenv("DEEPWIRE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(check, "run", broken)
    assert cli.main(["check", "iris_mlp"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepwire check: internal error: KeyError: 'surprise'")
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and lines[0].endswith(f"details in {logs[0]}")
    log = logs[0].read_text()
    assert "Traceback (most recent call last)" in log and "KeyError: 'surprise'" in log
    assert "arguments: ['check', 'iris_mlp']" in log


def test_the_harness_counts_the_safety_nets_line_as_a_failure(tmp_path, monkeypatch):
    """An internal error caught by the net is still counted (the net must not hide defects)."""
    from runtime.commands import check
    from tests.redteam.runner import judge

    monkeypatch.setattr(check, "run", lambda args: {}["boom"])
    ws = Workspace(tmp_path / "ws")
    result = judge("net", ws, ["check", "iris_mlp"], seconds=30)
    assert result.rc == 2 and result.internal and result.failures() == ["internal error"]
    assert not os.listdir(ws.tmp)


@pytest.mark.parametrize("kind", ["pickle os.system", "pickle exec", "pickle in weights", "raw pickle"])
def test_the_pickle_payloads_really_run_code_when_loaded_unsafely(tmp_path, seeds, kind):
    """So that "no marker file" in the cells above means a refused attack, not a dud."""
    import pickle

    import torch

    from tests.redteam import checkpoints

    marker = tmp_path / "PWNED"
    checkpoints.write(kind, tmp_path / "evil.pt", seeds.checkpoint, marker)
    if kind == "raw pickle":
        pickle.loads((tmp_path / "evil.pt").read_bytes())
    else:
        torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_the_pickled_npz_really_runs_code_when_loaded_unsafely(tmp_path):
    import numpy as np

    from tests.redteam import datafiles

    marker = tmp_path / "PWNED"
    (tmp_path / "evil.npz").write_bytes(datafiles.NPZ["pickled object array"](marker))
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as arrays:
        arrays["x"]
    assert marker.exists()

"""Regressions for defects the red team (tests/test_redteam.py) found outside the other fixes of issue 19.

- `deepwire train --resume` on a run whose metrics.jsonl holds bytes that are not UTF-8, lines that
  are JSON but not records, or a step that is not a number: the junk lines are dropped and the run
  continues (it raised UnicodeDecodeError / AttributeError / TypeError / ValueError).
"""

from __future__ import annotations

import json

import pytest

from runtime.cli import main
from tests.redteam import projects

JUNK = (
    b"\xff\xfe not utf-8\n",
    b'[1, 2]\n"text"\n3\nnull\n',
    b'{"type": "step", "step": "eight"}\n',
    b"[" * 50_000 + b"]" * 50_000 + b"\n",
    b'{"type": "step", "loss": ' + b"1" * 10_000 + b"}\n",
)


@pytest.mark.parametrize("junk", JUNK, ids=("undecodable", "not records", "step not a number", "deep",
                                             "digits"))
def test_resume_drops_junk_lines_of_metrics_and_continues(tmp_path, capsys, junk):
    project = projects.write(tmp_path, projects.iris())
    run = tmp_path / "run"
    assert main(["train", str(project), "--quiet", "--threads", "1", "--epochs", "1", "--out", str(run)]) == 0
    good = (run / "metrics.jsonl").read_bytes()
    (run / "metrics.jsonl").write_bytes(junk + good)

    assert (
        main(["train", str(project), "--quiet", "--threads", "1", "--epochs", "2", "--resume", str(run)]) == 0
    )
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(r, dict) and isinstance(r["step"], int) for r in records)
    assert {r["epoch"] for r in records if r["type"] == "epoch"} == {1, 2}  # epoch 1 kept, epoch 2 added

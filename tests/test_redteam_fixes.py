"""Regressions for defects the red team (tests/test_redteam.py) found outside the other fixes of issue 19.

- `deepwire train --resume` on a run whose metrics.jsonl holds bytes that are not UTF-8, lines that
  are JSON but not records, or a step that is not a number: the junk lines are dropped and the run
  continues (it raised UnicodeDecodeError / AttributeError / TypeError / ValueError).
- Found by the slow cells: a run folder whose metrics.jsonl is a folder (IsADirectoryError on --resume),
  a NUL byte in a path argument (ValueError), a 300-character file name (OSError 36), a FIFO as the
  sweep's --space file (hung), an input whose activations cannot fit (a 65536 x 65536 image: torch's
  allocator failed inside preview and export), a backbone's pretrained_weights holding other keys
  (ValueError from the generated loader).
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


def _run(*argv: str, capsys) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err, out + err
    return code, out + err


def test_resume_of_a_run_whose_metrics_file_is_a_folder_says_so(tmp_path, capsys):
    project = projects.write(tmp_path, projects.iris())
    run = tmp_path / "run"
    assert main(["train", str(project), "--quiet", "--threads", "1", "--epochs", "1", "--out", str(run)]) == 0
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").mkdir()
    code, text = _run("train", str(project), "--quiet", "--epochs", "2", "--resume", str(run), capsys=capsys)
    assert code == 2 and "metrics.jsonl is not a regular file" in text


def test_a_nul_byte_or_an_overlong_name_in_a_path_argument_is_one_line(tmp_path, capsys):
    code, text = _run("check", "digits\x00cnn", capsys=capsys)
    assert code == 2 and "NUL byte" in text
    code, text = _run("evaluate", str(tmp_path / ("n" * 300)), capsys=capsys)
    assert code == 2 and ("300 characters" in text or "too long" in text)


def test_a_pipe_as_the_space_file_is_refused_not_read(tmp_path, capsys):
    import os

    fifo = tmp_path / "space.json"
    os.mkfifo(fifo)
    code, text = _run("sweep", "iris_mlp", "--space", str(fifo), "--trials", "1", capsys=capsys)
    assert code == 2 and "not a regular file" in text


def test_activations_that_cannot_fit_are_a_problem_on_the_block(monkeypatch):
    from graph.blocks import default_registry
    from graph.examples import example_path
    from graph.project_io import load_project
    from graph.validate import analyse

    monkeypatch.setenv("DEEPWIRE_MEMORY_BYTES", str(2 * 10**9))
    registry = default_registry()
    project = load_project(example_path("digits_cnn"), registry)
    net = project.network()
    image = next(b for b in net.blocks.values() if b.type == "ImageInput")
    net.set_params(image.id, {"height": 16384, "width": 16384})
    problems = [d for d in analyse(net, registry).diagnostics if d.code == "too_large"]
    assert problems and problems[0].block == image.id and "for a batch of 2" in problems[0].message

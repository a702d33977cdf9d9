"""Run folders with hostile files: the Runs panel and the evaluation view say "this run's files are damaged".

The runs are written by hand (no training): a good one beside damaged ones, so each test also
checks that the damage stays with its run and the rest of the panel works.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from runtime.run_files import RunFileError, read_metrics, read_summary
from studio.runs.evaluation import pixmap
from studio.runs.run_info import list_runs, read_curves_checked
from studio.runs.runs_panel import RunsPanel
from tests.studio_support import refuse_dialogs

GOOD_SUMMARY = {
    "reason": "finished",
    "epochs": 2,
    "monitor": "accuracy",
    "final": {"accuracy": 0.9},
    "best_metric": 0.91,
    "config": {"recipe": "classification", "optimizer": "adam", "lr": 0.001},
}
GOOD_METRICS = [
    {"type": "epoch", "epoch": 1, "loss": 0.5},
    {"type": "validation", "epoch": 1, "loss": 0.6, "accuracy": 0.8},
]

BAD_SUMMARIES = {  # name -> (summary.json bytes, a fragment of the message)
    "a_list": (b"[1, 2, 3]", "should hold a JSON object, holds a list"),
    "not_json": (b'{"reason": ', "is not valid JSON"),
    "not_utf8": (b'{"reason": "\xff\xfe"}', "is not UTF-8 text"),
    "config_list": (json.dumps({**GOOD_SUMMARY, "config": [1]}).encode(), "'config' should be an object"),
    "lr_text": (json.dumps({**GOOD_SUMMARY, "config": {"lr": "fast"}}).encode(), "'lr' should be a number"),
    "epochs_text": (
        json.dumps({**GOOD_SUMMARY, "epochs": "two"}).encode(),
        "'epochs' should be a whole number",
    ),
    "best_list": (
        json.dumps({**GOOD_SUMMARY, "best_metric": [1]}).encode(),
        "'best_metric' should be a number",
    ),
    "final_text": (
        json.dumps({**GOOD_SUMMARY, "final": {"accuracy": "high"}}).encode(),
        "'final' > 'accuracy' should be a number",
    ),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
}


def _run(folder: Path, name: str, summary: bytes | None = None, metrics: bytes | None = None) -> Path:
    run = folder / name
    run.mkdir(parents=True)
    (run / "project.dw.json").write_text(json.dumps({"format": "deepwire", "training": {"lr": 0.001}}))
    (run / "summary.json").write_bytes(summary if summary is not None else json.dumps(GOOD_SUMMARY).encode())
    lines = metrics if metrics is not None else "".join(json.dumps(r) + "\n" for r in GOOD_METRICS).encode()
    (run / "metrics.jsonl").write_bytes(lines)
    return run


@pytest.mark.parametrize("name", sorted(BAD_SUMMARIES))
def test_a_damaged_summary_is_named_not_raised(tmp_path, name):
    content, fragment = BAD_SUMMARIES[name]
    run = _run(tmp_path, "bad", content)
    with pytest.raises(RunFileError, match="this run's files are damaged: summary.json: ") as caught:
        read_summary(run / "summary.json")
    assert fragment in str(caught.value)
    _run(tmp_path, "good")
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert runs["bad"].status.startswith("this run's files are damaged: summary.json: ")
    assert runs["good"].status == "finished" and runs["good"].best == 0.91


JUNK_LINES = b"\n".join(
    [
        b"[1, 2]",
        b'"text"',
        b'{"type": "epoch", "epoch": "x", "loss": 1}',
        b'{"type": "epoch", "epoch": 2, "loss": Infinity}',
        b"\xff\xfe",
        b"{cut",
    ]
)


def test_junk_metrics_lines_are_skipped_and_counted(tmp_path):
    run = _run(tmp_path, "junk", metrics=b"".join(json.dumps(r).encode() + b"\n" for r in GOOD_METRICS))
    (run / "metrics.jsonl").write_bytes(
        (run / "metrics.jsonl").read_bytes() + JUNK_LINES.replace(b"\xff\xfe", b"x")
    )
    records, junk = read_metrics(run / "metrics.jsonl")
    assert len(records) == 4 and junk == 4
    curves, problem = read_curves_checked(run)
    assert list(curves["epoch"]) == [1.0, 2.0] and curves["val_accuracy"][0] == 0.8
    assert (
        problem
        == "this run's files are damaged: metrics.jsonl: 4 lines are not records; the curves show the rest"
    )


@pytest.fixture
def panel(qtbot, monkeypatch):
    refuse_dialogs(monkeypatch)
    widget = RunsPanel()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


@pytest.mark.parametrize("metrics", ["undecodable", "fifo", "folder"])
def test_the_runs_panel_shows_damaged_metrics_and_goes_on(panel, tmp_path, metrics):
    _run(tmp_path, "good")
    bad = _run(tmp_path, "bad", metrics=JUNK_LINES)
    (bad / "metrics.jsonl").unlink()
    if metrics == "undecodable":
        (bad / "metrics.jsonl").write_bytes(JUNK_LINES)
    elif metrics == "fifo":
        os.mkfifo(bad / "metrics.jsonl")  # opening it would block the GUI forever
    else:
        (bad / "metrics.jsonl").mkdir()
    panel.set_folder(tmp_path)
    assert set(panel.runs) == {"good", "bad"}
    panel.set_ticked("good")
    panel.set_ticked("bad")
    panel.plot_ticked()
    assert "bad: this run's files are damaged: metrics.jsonl: " in panel.message.text()
    assert len(panel.curves["good"]) == 3  # train loss, validation loss and accuracy of the good run


def test_the_runs_panel_lists_a_damaged_summary_in_its_status_column(panel, tmp_path):
    _run(tmp_path, "good")
    _run(tmp_path, "bad", BAD_SUMMARIES["lr_text"][0])
    panel.set_folder(tmp_path)
    assert panel.item_for("bad").text(7).startswith("this run's files are damaged: summary.json: 'lr'")
    assert panel.item_for("good").text(6) == "0.91"


@pytest.mark.parametrize(
    "evaluation",
    [
        b"[]",
        b'{"kind": "classification"}',
        b'{"kind": "classification", "class_names": 3, "confusion": 1}',
        b"\xff",
        b'{"kind": "regression", "predictions": "x"}',
    ],
)
def test_a_damaged_evaluation_json_is_said_not_raised(panel, tmp_path, evaluation):
    run = _run(tmp_path, "bad")
    (run / "evaluation.json").write_bytes(evaluation)
    panel.set_folder(tmp_path)
    assert panel.show_evaluation(run) is None
    assert "could not be read: " in panel.message.text() and "evaluation.json" in panel.message.text()
    assert panel.evaluation_windows == []


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (the pixels are never there)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_a_huge_picture_in_a_run_is_never_decoded(qtbot, tmp_path, capfd):
    _png_header(tmp_path / "huge.png", 60_000, 60_000)
    (tmp_path / "junk.png").write_bytes(b"not a png")
    assert pixmap(tmp_path / "huge.png", 100).isNull()
    assert pixmap(tmp_path / "junk.png", 100).isNull()
    assert "allocation limit" not in capfd.readouterr().err

"""Training events as JSON lines: round trips, strictness, the terminal view, and a real child process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from graph.project_io import save_project
from runtime.train import events as ev
from runtime.train.images import decode_png_size, encode_png, grid_png
from runtime.train.progress import ProgressBar, format_seconds
from tests.test_train_fixtures import mlp, project

EXAMPLES = [
    ev.Started(run_dir="runs/x", project="p", recipe="classification", device="cpu (float32)", epochs=2,
               steps_per_epoch=3, batch_size=4, train_samples=12, val_samples=4, parameters={"model": 10},
               config={"lr": 0.001}, block_names={"model": {"b1": "conv"}}),
    ev.Step(epoch=1, step=10, loss=0.5, lr=1e-3, samples_per_second=1000.0, eta_seconds=3.0,
            values={"d_loss": 0.7}),
    ev.BlockStats(step=50, network="model", grad_norm={"b1": 0.1}, weight_norm={"b1": 2.0},
                  activation={"b1": {"mean": 0.0, "std": 1.0, "zeros": 0.5}}),
    ev.Epoch(epoch=1, step=3, metrics={"loss": 0.4}, lr=1e-3, seconds=0.2, samples_per_second=60.0),
    ev.Validation(epoch=1, step=3, metrics={"loss": 0.3, "accuracy": 0.9}, monitor="accuracy", best=True,
                  confusion=[[1, 0], [0, 3]], class_names=["no", "yes"]),
    ev.Samples(epoch=1, step=3, title="grid", png=grid_png([[[0.0, 1.0], [1.0, 0.0]]]), path="s/1.png"),
    ev.Samples(epoch=1, step=3, title="text", text="héllo\nworld"),
    ev.Checkpoint(epoch=1, step=3, path="runs/x/last.pt", which="last"),
    ev.RunWarning(message="careful"),
    ev.RunError(message="the loss became NaN", reason="nan", suggestion="lower the learning rate", step=7,
                epoch=1),
    ev.Finished(reason="completed", epochs=2, steps=6, best_epoch=2, best_metric=0.9, monitor="accuracy",
                metrics={"accuracy": 0.9}, test_metrics={}, seconds=1.5, samples_per_second=50.0,
                run_dir="runs/x"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=[e.kind + str(i) for i, e in enumerate(EXAMPLES)])
def test_every_event_kind_survives_a_json_line_round_trip(event):
    line = event.to_json()
    assert "\n" not in line
    back = ev.event_from_json(line)
    assert type(back) is type(event) and back == event


def test_png_bytes_travel_as_base64_and_arrive_as_the_same_bytes():
    event = EXAMPLES[5]
    data = json.loads(event.to_json())
    assert set(data["png"]) == {"base64"}
    assert ev.event_from_json(event.to_json()).png == event.png


def test_non_finite_numbers_become_null_so_the_line_is_strict_json():
    line = ev.Step(epoch=1, step=1, loss=float("nan"), lr=1e-3, samples_per_second=float("inf"),
                   eta_seconds=0.0).to_json()
    data = json.loads(line, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert data["loss"] is None and data["samples_per_second"] is None


@pytest.mark.parametrize("line, message", [
    ("not json", "not a JSON event line"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"kind": "dance"}', "unknown event kind 'dance'"),
    ('{"kind": "step", "epoch": 1}', "'step' event with missing fields"),
])
def test_malformed_lines_are_refused_with_a_reason(line, message):
    with pytest.raises(ev.EventFormatError, match=message):
        ev.event_from_json(line)


def test_jsonl_writer_writes_one_flushed_line_per_event():
    class Stream(io.StringIO):
        flushes = 0

        def flush(self):
            Stream.flushes += 1

    stream = Stream()
    writer = ev.JsonLinesWriter(stream)
    for event in EXAMPLES[:3]:
        writer.on_event(event)
    lines = stream.getvalue().splitlines()
    assert [ev.event_from_json(line) for line in lines] == EXAMPLES[:3]
    assert Stream.flushes == 3


def test_progress_bar_prints_epoch_lines_and_the_outcome():
    out = io.StringIO()
    bar = ProgressBar(out, interactive=False)
    for event in EXAMPLES:
        bar.on_event(event)
    text = out.getvalue()
    assert "Training 'p' (classification) on cpu (float32): 2 epochs x 3 steps of 4" in text
    assert "epoch 1/2  loss 0.4  (0.2s)  |  val_loss 0.3  val_accuracy 90.00%  *best*" in text
    assert "warning: careful" in text and "suggestion: lower the learning rate" in text
    assert "finished after 2 epochs, 6 steps in 0:02 (50 samples/s); best accuracy 90.00% at epoch 2" in text
    assert "\r" not in text  # no in-place redraws when not on a terminal


@pytest.mark.parametrize("epochs, steps, where", [
    (1, 125, "stopped after 1 epoch and 25 steps; continue with --resume runs/x\n"),
    (2, 200, "stopped after 2 epochs; continue with --resume runs/x\n"),
    (0, 1, "stopped after 1 step; continue with --resume runs/x\n"),
    (3, 301, "stopped after 3 epochs and 1 step; continue with --resume runs/x\n"),
])
def test_a_stopped_run_says_where_it_stopped_and_how_to_continue(epochs, steps, where):
    out = io.StringIO()
    bar = ProgressBar(out, interactive=False)
    bar.on_event(ev.Started(run_dir="runs/x", project="p", recipe="classification", device="cpu", epochs=5,
                            steps_per_epoch=100, batch_size=4, train_samples=400, val_samples=4,
                            parameters={}, config={}, block_names={}))
    bar.on_event(ev.Finished(reason="stopped", epochs=epochs, steps=steps, best_epoch=None, best_metric=None,
                             monitor="accuracy", metrics={}, test_metrics={}, seconds=3.0,
                             samples_per_second=10.0, run_dir="runs/x"))
    assert where in out.getvalue()


def test_progress_bar_redraws_in_place_with_loss_and_eta_on_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(out, interactive=True)
    bar.on_event(EXAMPLES[0])
    bar.on_event(EXAMPLES[1])
    assert "\r" in out.getvalue() and "loss 0.5" in out.getvalue() and "ETA 0:03" in out.getvalue()
    assert format_seconds(3725) == "1:02:05"


def test_png_encoder_writes_a_valid_file_with_the_exact_pixels():
    import struct
    import zlib

    pixels = __import__("numpy").array([[0, 128], [255, 7]], dtype="uint8")
    png = encode_png(pixels)
    assert decode_png_size(png) == (2, 2)
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + length])
    assert raw == bytes([0, 0, 128, 0, 255, 7])  # filter byte 0, then each row's pixels


def test_a_real_training_process_streams_parseable_events(tmp_path):
    path = tmp_path / "digits.dw.json"
    save_project(project(mlp(), epochs=2, log_every=5, stats_every=10), path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "train", str(path), "--events", "jsonl",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    events = [ev.event_from_json(line) for line in done.stdout.splitlines()]
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert {"step", "block_stats", "epoch", "validation", "checkpoint"} <= set(kinds)
    assert kinds.count("epoch") == 2 and kinds.count("validation") == 2
    started, finished = events[0], events[-1]
    assert started.train_samples + started.val_samples == 1797  # the whole digits set, split 80/20
    steps = [e for e in events if e.kind == "step"]
    assert all(s.step % 5 == 0 or s.step % started.steps_per_epoch == 0 for s in steps)
    assert finished.reason == "completed" and finished.epochs == 2
    assert finished.metrics["accuracy"] > 0.5
    assert done.stderr == ""  # the progress bar stays off when a program reads the events

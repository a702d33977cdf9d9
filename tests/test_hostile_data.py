"""Hostile data paths through every command that reads data: a clear DataError line, never a traceback.

Special files (a FIFO, /dev/zero, /dev/urandom, /proc, a name longer than the system allows, a
folder) are refused by os.stat before anything opens them, so nothing hangs or fills the memory;
malformed files (ragged CSV, unterminated quotes, NUL bytes, bad .npz, undecodable text) get the
readers' messages. Commands run in-process with an alarm, so a hang fails the test instead of
blocking the suite.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from graph.examples import example_path
from runtime.cli import main

GOOD = "a,b,c,d,label\n" + "".join(f"{i % 5}.1,{i % 3}.2,{i % 7}.3,{i % 2}.4,{i % 3}\n" for i in range(60))


def _write(folder: Path, name: str) -> Path:
    path = folder / name
    if name == "ragged.csv":
        path.write_text(GOOD + "1,2\n")
    elif name == "unterminated.csv":
        path.write_text(GOOD + '"1,2,3,4,1\n')
    elif name == "nul.csv":
        path.write_bytes(GOOD.encode().replace(b"1.2", b"1\x002", 3))
    elif name == "undecodable.csv":
        path.write_bytes(GOOD.encode() + b"\xff\xfe,1,1,1,1\n")
    elif name == "empty.csv":
        path.write_text("")
    elif name == "bad.npz":
        path.write_bytes(b"PK\x03\x04garbage" * 10)
    elif name == "random.npz":
        path.write_bytes(bytes(range(256)) * 12)
    elif name == "objects.npz":
        np.savez(path, x=np.array([{"a": 1}] * 10, dtype=object), y=np.arange(10))
    elif name == "text.npz":
        np.savez(path, x=np.array(["a"] * 10), y=np.arange(10))
    elif name == "undecodable.txt":
        path.write_bytes(b"hello \xff\xfe world" * 100)
    elif name == "fifo.csv":
        os.mkfifo(path)
    elif name == "folder.csv":
        path.mkdir()
    elif name == "long":
        path = folder / ("x" * 300 + ".csv")
    elif name.startswith("/"):
        path = Path(name)
    return path


CASES = {  # name -> a fragment of the message
    "ragged.csv": "2 values where the header has 5 columns",
    "unterminated.csv": "row 62",
    "nul.csv": "is not a number",
    "undecodable.csv": "is not valid UTF-8 text",
    "empty.csv": "is empty",
    "bad.npz": "could not be read as a numpy file",
    "random.npz": "is not a numpy .npy or .npz file",
    "objects.npz": "Python object values",
    "text.npz": "text values",
    "undecodable.txt": "is not valid UTF-8 text",
    "fifo.csv": "is not a regular file",
    "folder.csv": "is a folder, not a file",
    "long": "File name too long",
    "/dev/zero": "is not a regular file",
    "/dev/urandom": "is not a regular file",
    "/proc/self/mem": "could not be read",
    "/proc/self/status": "values where the header has",
}


def _source(path: Path) -> str:
    return {".npz": "arrays", ".txt": "text_file"}.get(path.suffix, "csv")


def _project(tmp_path: Path, name: str) -> Path:
    data = _write(tmp_path, name)
    project = json.loads(example_path("iris_mlp").read_text())
    project["data"] = {"source": _source(data), "options": {"path": str(data)}}
    path = tmp_path / "p.dw.json"
    path.write_text(json.dumps(project))
    return path


def _alarm(*_args):
    raise TimeoutError("the command hung on its data file")


def _cli(*argv: str, seconds: int = 30) -> tuple[int, str]:
    """Exit code and everything printed (check reports problems on stdout, the others on stderr)."""
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(err), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return rc, err.getvalue()


COMMANDS = {
    "check": lambda p, tmp: ("check", str(p)),
    "export_script": lambda p, tmp: ("export", str(p), "--format", "script", "-o",
                                     str(tmp / "out" / "train.py")),
    "preview": lambda p, tmp: ("preview", str(p), "--block", "b1", "--out", str(tmp / "p.npz")),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_command_refuses_hostile_data_cleanly(tmp_path, name, command):
    project = _project(tmp_path, name)
    (tmp_path / "out").mkdir()  # exports never make folders (test_export_targets.py)
    rc, err = _cli(*COMMANDS[command](project, tmp_path))
    assert "Traceback" not in err, err
    if command == "preview":  # preview falls back to random inputs of the right shape, and says so
        assert rc in (0, 1, 2), err
    elif command == "check" and name == "nul.csv":  # check reads the header; the bad row is found at reading
        assert rc == 0, err
    else:
        assert rc in (1, 2) and CASES[name] in err, err
    if command == "export_script":
        assert rc == 2 and not (tmp_path / "out" / "train.npz").exists()


@pytest.mark.parametrize("name", ["fifo.csv", "/dev/zero", "long", "ragged.csv", "bad.npz"])
def test_train_refuses_hostile_data_cleanly(tmp_path, name):
    project = _project(tmp_path, name)
    rc, err = _cli("train", str(project), "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"))
    assert rc == 2 and "Traceback" not in err and CASES[name] in err, err


def test_a_file_over_the_size_cap_is_refused_naming_the_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPWIRE_MAX_DATA_BYTES", "1000")
    (tmp_path / "big.csv").write_text(GOOD)
    project = json.loads(example_path("iris_mlp").read_text())
    project["data"] = {"source": "csv", "options": {"path": str(tmp_path / "big.csv")}}
    (tmp_path / "p.dw.json").write_text(json.dumps(project))
    rc, err = _cli("check", str(tmp_path / "p.dw.json"))
    assert rc == 1, err
    assert "the file is 1.1 KB, more than the 1.0 KB a data file may be (set DEEPWIRE_MAX_DATA_BYTES" in err


@pytest.mark.parametrize("name", ["fifo", "/dev/zero", "/dev/urandom", "huge", "long", "folder"])
def test_a_project_path_that_is_no_regular_file_is_refused_before_reading(tmp_path, name):
    from graph.project_io import ProjectFileError, load_project
    from tests.test_train_fixtures import REGISTRY

    fragments = {"fifo": "not a regular file", "/dev/zero": "not a regular file",
                 "/dev/urandom": "not a regular file", "huge": "project files are at most 50 MB",
                 "long": "File name too long", "folder": "this is a folder"}
    path = tmp_path / "p.dw.json"
    if name == "fifo":
        os.mkfifo(path)
    elif name == "huge":
        with open(path, "wb") as handle:  # sparse: costs no disk
            handle.truncate(120 * 2**20)
    elif name == "long":
        path = tmp_path / ("p" * 300 + ".dw.json")
    elif name == "folder":
        path.mkdir()
    else:
        path = Path(name)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        with pytest.raises(ProjectFileError, match=fragments[name]):
            load_project(path, REGISTRY)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _data_panel(qtbot, tmp_path: Path, data_path: Path):
    from graph.project_io import load_project
    from graph.training_config import DataSpec
    from studio.document import Document
    from studio.training.data_panel import DataPanel
    from tests.test_train_fixtures import REGISTRY

    document = Document(REGISTRY, load_project(example_path("iris_mlp"), REGISTRY))
    document.save(tmp_path / "iris.dw.json")
    document.set_training(data=DataSpec("csv", {"path": str(data_path)}))
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_the_data_panel_never_waits_on_a_pipe(qtbot, tmp_path):
    os.mkfifo(tmp_path / "fifo.csv")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        panel = _data_panel(qtbot, tmp_path, tmp_path / "fifo.csv")
        panel.update_preview()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "is not a regular file (a pipe, device or socket)" in panel.problem
    assert panel.preview_kind == "" and not panel.preview_pending()


def test_the_data_panel_reads_off_the_gui_thread_and_gives_up_after_its_timeout(qtbot, tmp_path, monkeypatch):
    import threading
    import time

    from studio.training import data_panel

    (tmp_path / "good.csv").write_text(GOOD)
    release, threads = threading.Event(), []

    def slow_read(*args):
        threads.append(threading.current_thread())
        release.wait(10)  # a disk that does not answer
        raise OSError("too late")

    monkeypatch.setattr(data_panel, "_read_sample", slow_read)
    monkeypatch.setattr(data_panel, "READ_TIMEOUT_S", 0.3)
    panel = _data_panel(qtbot, tmp_path, tmp_path / "good.csv")
    started = time.monotonic()
    panel.update_preview()
    assert time.monotonic() - started < 0.2 and panel.preview_pending()  # the GUI thread did not wait
    qtbot.waitUntil(lambda: "reading it took more than 0.3 seconds" in panel.problem, timeout=5000)
    assert threads and threads[0] is not threading.main_thread() and not panel.preview_pending()
    release.set()


def test_the_data_panel_previews_a_good_csv_from_its_reader_thread(qtbot, tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    panel = _data_panel(qtbot, tmp_path, tmp_path / "good.csv")
    panel.update_preview()
    qtbot.waitUntil(lambda: panel.preview_kind == "table", timeout=10000)
    assert panel.table.rowCount() == 8 and panel.problem == ""


@pytest.mark.parametrize("command", ["check", "train", "export"])
def test_a_command_given_a_pipe_as_its_project_says_so(tmp_path, command):
    os.mkfifo(tmp_path / "p.dw.json")
    extra = {"check": [], "train": ["--quiet"], "export": ["-o", str(tmp_path / "m.py")]}[command]
    rc, text = _cli(command, str(tmp_path / "p.dw.json"), *extra, seconds=15)
    assert rc == 2 and "this is not a regular file (a pipe, device or socket)" in text, text

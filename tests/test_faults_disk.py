"""A full disk or a read-only folder, on save and on a run folder: a clear error, nothing lost.

Tests run as root, where chmod does not stop writes, so the failures are
made the way the kernel reports them: the save's own calls (os.open for the
temporary, fsync, os.replace) raise OSError(ENOSPC / EROFS), and run folders
are placed where no folder can be made (under a file, under /proc).

Studio: File > Save shows one dialog naming the file and the cause and
saying the project is still open; the document stays dirty and unchanged,
the old file stays byte-for-byte, no temporary is left. Autosave on a full
disk reports through its `failed` signal and never raises into the event
loop. Training: an unwritable run folder is a SetupError before training; a
checkpoint that cannot be written ends the run with a "disk" error naming
the file, and the checkpoint already there still loads.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

import graph.project_io as project_io
from graph.atomic import is_temporary
from graph.project_io import dumps_project, save_project
from runtime.train.checkpoint import load_checkpoint
from runtime.train.errors import SetupError, TrainingError
from runtime.train.runs import RunFolder
from tests.studio_support import close_window, make_window, refuse_dialogs
from tests.test_train_fixtures import digits_vectors, mlp, project, run_training, single_thread  # noqa: F401

FAULTS = {
    "disk full at fsync": ("fsync", errno.ENOSPC, "No space left on device"),
    "read-only at create": ("open", errno.EROFS, "Read-only file system"),
    "read-only at rename": ("replace", errno.EROFS, "Read-only file system"),
}


def _fail(monkeypatch, call: str, code: int) -> None:
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(project_io.os, call, refuse)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_studio_save_on_a_full_or_read_only_disk_keeps_everything(qtbot, tmp_path, registry, monkeypatch,
                                                                  fault):
    call, code, words = FAULTS[fault]
    refuse_dialogs(monkeypatch)
    window = make_window(qtbot, tmp_path, registry, example="digits_mlp")
    try:
        doc = window.document
        path = tmp_path / "mine.dw.json"
        doc.save(path)
        old = path.read_bytes()
        doc.rename_block("model", next(iter(doc.network("model").blocks)), "edited")
        edited = dumps_project(doc.project)
        shown = []
        monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
        _fail(monkeypatch, call, code)

        assert window.files.save() is False
        monkeypatch.undo()  # the disk works again

        [(title, text)] = shown
        assert title == "Could not save the project"
        assert str(path) in text and words in text and "still open and unchanged" in text
        assert doc.modified and dumps_project(doc.project) == edited
        assert path.read_bytes() == old
        assert [p.name for p in tmp_path.iterdir() if is_temporary(p)] == []
        assert doc.save(path) == path and path.read_text(encoding="utf-8") == edited  # and saving works again
    finally:
        close_window(window)


def test_autosave_on_a_full_disk_reports_and_keeps_going(qtbot, tmp_path, registry, monkeypatch):
    from studio.document import Document
    from studio.files import Autosave

    doc = Document(registry)
    autosave = Autosave(doc, tmp_path / "recovery")
    failures = []
    autosave.failed.connect(failures.append)
    doc.add_block("model", "Linear")
    _fail(monkeypatch, "fsync", errno.ENOSPC)
    autosave.timer.timeout.emit()  # as the timer would, inside the event loop: must not raise
    assert len(failures) == 1 and "No space left on device" in failures[0]
    monkeypatch.undo()
    assert autosave.autosave_now() is not None  # the next tick writes it
    assert doc.modified


def test_cli_layer_save_on_a_full_disk_raises_os_error_and_keeps_the_file(tmp_path, monkeypatch, registry):
    from graph.examples import example_path
    from graph.project_io import load_project

    project = load_project(example_path("iris_mlp"), registry)
    path = tmp_path / "p.dw.json"
    save_project(project, path)
    old = path.read_bytes()
    project.name = "changed"
    _fail(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(OSError, match="No space left on device"):
        save_project(project, path)
    assert path.read_bytes() == old and project.name == "changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.dw.json"]  # no temporary left


@pytest.mark.parametrize("where", ["under a file", "under /proc", "read-only"])
def test_a_run_folder_that_cannot_be_written_is_refused_before_training(tmp_path, monkeypatch, where):
    if where == "under a file":
        (tmp_path / "file").write_text("x")
        run = tmp_path / "file" / "run"
    elif where == "under /proc":
        run = Path("/proc/deepwire-test-run")
    else:
        run = tmp_path / "run"
        real_write = Path.write_bytes

        def read_only(self, data):
            if self.parent == run:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            return real_write(self, data)
        monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(SetupError, match="cannot write the run folder") as refused:
        RunFolder(run)
    assert str(run) in str(refused.value) and "--out" in str(refused.value)


def test_a_checkpoint_on_a_full_disk_ends_the_run_clearly_and_keeps_the_last_one(tmp_path, monkeypatch,
                                                                                 single_thread):  # noqa: F811
    import torch

    real_save = torch.save
    saves = []

    def full_after_first(obj, f, *args, **kwargs):
        saves.append(f)
        if len(saves) > 1:
            Path(f).write_bytes(b"half")  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_after_first)
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as failed:
        run_training(project(mlp(hidden=8), epochs=3), digits_vectors(train=64, val=32), run)
    assert failed.value.reason == "disk"
    message = str(failed.value)
    assert "cannot write the checkpoint" in message and "No space left on device" in message
    assert "free some disk space" in failed.value.suggestion
    monkeypatch.undo()
    assert [is_temporary(f) for f in saves] == [True, True]  # written to temporaries, then renamed
    first = Path(saves[0]).name[1:].split(".dwtmp-")[0]  # .best.pt.dwtmp-<pid>-<hex>.pt -> best.pt
    kept = load_checkpoint(run / first)  # the one written before
    assert kept["epoch"] >= 1
    assert not [p for p in run.iterdir() if is_temporary(p)]

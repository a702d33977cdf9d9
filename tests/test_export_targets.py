"""Exports never lose data: not the project, not its data, not another file unless told.

`deepwire export` checks every file it is about to write before writing any
(runtime/export_targets.py): the project file, its data files and the
weights it exports are never written over (even with --force); another
existing file is replaced only with --force; two networks whose names map
to the same file name are refused, naming both; a missing output folder is
refused (exit 2) instead of being created. Each file is written to a
temporary name and renamed when complete, so a full disk mid-write leaves
the previous file byte-for-byte and no partial file (graph/atomic.py).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from graph.atomic import atomic_open, clean_temporaries, is_temporary, temporary_for, write_with
from graph.examples import resolve_project
from graph.project_io import load_project, save_project
from runtime.cli import main
from runtime.export_targets import ExportTargetError, Target, check, plan


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if is_temporary(p))


@pytest.fixture
def iris_project(tmp_path, registry) -> Path:
    path = tmp_path / "iris.dw.json"
    save_project(load_project(resolve_project("iris_mlp"), registry), path)
    return path


def test_python_export_over_the_project_file_is_refused_and_the_file_kept(capsys, iris_project):
    before = iris_project.read_bytes()
    for extra in ([], ["--force"]):
        code, out, err = run_cli(capsys, "export", iris_project, "-f", "python", "-o", iris_project, *extra)
        assert code == 2, err
        assert f"{iris_project}: is a file this export reads" in err and "choose another -o" in err
        assert "Traceback" not in err and "wrote" not in out
    assert iris_project.read_bytes() == before


def test_script_export_never_writes_its_npz_over_the_projects_data(capsys, tmp_path, registry):
    project = load_project(resolve_project("iris_mlp"), registry)
    project.data.source, project.data.options = "arrays", {"path": "data.npz"}
    path = tmp_path / "p.dw.json"
    save_project(project, path)
    data = tmp_path / "data.npz"
    np.savez(data, inputs=np.zeros((4, 4), np.float32), labels=np.zeros(4, np.int64))
    before = data.read_bytes()
    code, _, err = run_cli(capsys, "export", path, "-f", "script", "-o", tmp_path / "data.py", "--force")
    assert code == 2 and f"{data}: is a file this export reads" in err and "the script's data" in err
    assert data.read_bytes() == before and not (tmp_path / "data.py").exists()


def test_an_existing_file_is_replaced_only_with_force(capsys, tmp_path):
    out_file, npz = tmp_path / "train.py", tmp_path / "train.npz"
    npz.write_bytes(b"someone's data")
    code, out, err = run_cli(capsys, "export", "iris_mlp", "-f", "script", "-o", out_file)
    assert code == 2 and f"{npz}: already exists; add --force to replace it" in err
    assert npz.read_bytes() == b"someone's data" and not out_file.exists() and leftovers(tmp_path) == []

    code, out, err = run_cli(capsys, "export", "iris_mlp", "-f", "script", "-o", out_file, "--force")
    assert code == 0, err
    assert out_file.is_file() and np.load(npz)["train_inputs"].shape[1:] == (4,)
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-o", out_file)  # the script is now there too
    assert code == 2 and f"{out_file}" in err and "already exists" in err
    assert "HERE = Path(__file__)" in out_file.read_text(encoding="utf-8")  # still the script


def test_a_missing_output_folder_is_refused_not_created(capsys, tmp_path):
    missing = tmp_path / "missing" / "dir"
    code, out, err = run_cli(capsys, "export", "iris_mlp", "-o", missing / "x.py")
    assert code == 2 and f"the folder {missing} does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "missing").exists()
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-o", "/deepwire-no-such-folder/x.py")
    assert code == 2 and "the folder /deepwire-no-such-folder does not exist" in err
    assert not Path("/deepwire-no-such-folder").exists()


def test_networks_whose_file_names_collide_are_refused_naming_both(tmp_path):
    targets = plan("onnx", tmp_path / "m.onnx", ["my net", "my_net"], with_weights=False)
    assert [t.path.name for t in targets] == ["m.my_net.onnx", "m.my_net.onnx"]
    with pytest.raises(ExportTargetError) as refused:
        check(targets, [], force=True)
    message = str(refused.value)
    assert "network 'my net'" in message and "network 'my_net'" in message and "--network" in message
    assert list(tmp_path.iterdir()) == []
    # weights beside python code collide the same way
    with pytest.raises(ExportTargetError, match="the weights of network 'my net' and the weights of network"):
        check(plan("python", tmp_path / "m.py", ["my net", "my_net"], with_weights=True), [])
    # and distinct names pass
    check(plan("onnx", tmp_path / "m.onnx", ["generator", "critic"], with_weights=False), [])


def test_a_symlink_to_the_project_counts_as_the_project(tmp_path):
    project = tmp_path / "p.dw.json"
    project.write_text("{}")
    link = tmp_path / "model.py"
    link.symlink_to(project)
    with pytest.raises(ExportTargetError, match="is a file this export reads"):
        check([Target(link, "python")], [project], force=True)


# --- writes that fail half-way ------------------------------------------------------------------

def test_a_full_disk_mid_write_keeps_the_previous_file_and_leaves_no_partial_one(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("the good export\n")
    with pytest.raises(OSError, match="No space left"), atomic_open(path, "wb") as handle:
        handle.write(b"x" * 100_000)
        handle.flush()  # half the new file is on disk ...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... when the disk fills up
    assert path.read_text() == "the good export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_a_python_export_on_a_full_disk_keeps_the_previous_file(capsys, tmp_path, monkeypatch):
    out_file = tmp_path / "iris.py"
    out_file.write_text("# the previous export\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-o", out_file, "--force")
    assert code != 0 and "No space left on device" in err and "Traceback" not in err
    assert out_file.read_text() == "# the previous export\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt, suffix, saver", [("torch-export", ".pt2", "torch.export.save"),
                                                ("onnx", ".onnx", "torch.onnx.export")])
def test_an_export_that_fails_mid_file_keeps_the_previous_export(capsys, tmp_path, monkeypatch, fmt, suffix,
                                                                  saver):
    out_file = tmp_path / f"iris{suffix}"
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-f", fmt, "-o", out_file)
    assert code == 0, err
    good = out_file.read_bytes()
    written = []

    def full_disk(*args, **kwargs):  # half a file on disk, then ENOSPC
        target = kwargs.get("f", args[2] if saver == "torch.onnx.export" else args[1])
        written.append(Path(target))
        Path(target).write_bytes(good[: len(good) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    owner, name = saver.rsplit(".", 1)
    monkeypatch.setattr(eval(owner, {"torch": torch}), name, full_disk)
    code, _, err = run_cli(capsys, "export", "iris_mlp", "-f", fmt, "-o", out_file, "--force")
    assert code != 0 and "Traceback" not in err
    assert [is_temporary(p) and p.parent == tmp_path for p in written] == [True]  # never the file itself
    assert out_file.read_bytes() == good and leftovers(tmp_path) == []


def test_temporaries_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    mine = temporary_for(tmp_path / "a.onnx")
    mine.write_bytes(b"in progress")
    pid = os.fork()
    if pid == 0:
        temporary_for(tmp_path / "b.onnx").write_bytes(b"killed")
        os._exit(0)
    os.waitpid(pid, 0)
    [dead] = [p for p in tmp_path.iterdir() if p != mine]
    assert is_temporary(dead) and dead.name.startswith(".b.onnx.dwtmp-") and dead.suffix == ".onnx"
    assert not dead.name.endswith(".dw.json")  # a project's temporary is never taken for a project
    assert clean_temporaries(tmp_path) == [dead]
    assert sorted(tmp_path.iterdir()) == [mine]


def test_a_writer_that_writes_nothing_fails_instead_of_removing_the_file(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"old")
    with pytest.raises(OSError, match="no file"):
        write_with(path, lambda temp: None)
    assert path.read_bytes() == b"old"


# --- the studio's export dialog ----------------------------------------------------------------

def test_the_export_dialog_asks_before_replacing_a_file(qtbot, registry, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    import studio.runs.export_dialog as export_dialog
    from studio.runs.export_dialog import ExportDialog
    from tests.studio_support import example_document, refuse_dialogs

    refuse_dialogs(monkeypatch)
    asked = []

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]

    def question(parent, title, text, buttons, default):
        asked.append((title, text, default))
        return answers[len(asked) - 1]
    monkeypatch.setattr(QMessageBox, "question", question)
    runs = []

    def in_process(parent, args, done):  # the dialog's child, run here: the CLI's own output and code
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        runs.append(args)
        done(code, out.getvalue(), err.getvalue())
    monkeypatch.setattr(export_dialog, "start_cli", in_process)
    out_file = tmp_path / "digits.py"
    out_file.write_text("# an older export\n")
    dialog = ExportDialog(example_document(registry, "digits_mlp"))
    qtbot.addWidget(dialog)
    dialog.output.setText(str(out_file))
    dialog.export()  # first: Cancel keeps the file
    assert dialog.report_text == "Export cancelled: the existing files were kept"
    assert out_file.read_text() == "# an older export\n" and len(runs) == 1
    dialog.export()  # then: Yes replaces it
    assert asked[0] == asked[1]
    (title, text, default) = asked[0]
    assert [r[-1] for r in runs] == [str(out_file), str(out_file), "--force"]  # refused, asked, replaced
    assert title == "Replace existing files?" and str(out_file) in text
    assert default == QMessageBox.StandardButton.Cancel  # Enter does not replace a file
    assert dialog.report_text.startswith("Exported digits.py"), dialog.report_text
    assert "class DigitsMlp" in out_file.read_text(encoding="utf-8")
    dialog.reject()


def test_sigterm_during_an_onnx_export_keeps_the_previous_export(capsys, tmp_path, monkeypatch):
    import signal

    out_file = tmp_path / "iris.onnx"
    out_file.write_bytes(b"the previous good export")

    def killed_half_way(model, args, f, **kwargs):
        Path(f).write_bytes(b"\x08\x07half an onnx")
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. the studio closing, or `kill PID`
        Path(f).write_bytes(b"\x08\x07the rest")  # never reached: the handler raises first
    monkeypatch.setattr(torch.onnx, "export", killed_half_way)
    code, out, err = run_cli(capsys, "export", "iris_mlp", "-f", "onnx", "-o", out_file, "--force")
    assert code == 143 and "terminated" in err and "Traceback" not in err and "wrote" not in out
    assert out_file.read_bytes() == b"the previous good export" and leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the CLI's handler is gone again

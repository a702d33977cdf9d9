"""Runs belong to their project: one rule for where they live, and only the project's own are offered.

Issue 13, points 1 and 3. `deepwire train` (and sweep) and the studio put a
project's runs in the same folder (runtime/run_names.py): beside a saved
project, in the user data folder ($DEEPWIRE_HOME in tests, see conftest)
for a bundled example or an untitled project. The studio lists only the
open project's runs (by the id in their snapshot), and an export with a
run's weights is refused when the run's network is not the project's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graph.examples import examples_dir
from graph.project_io import dumps_project, load_project
from runtime.cli import main
from runtime.commands import sweep as sweep_command
from runtime.commands import train as train_command
from runtime.run_names import (
    default_run_dir,
    project_dir_of_run,
    project_runs_dir,
    runs_root,
    slug,
    user_data_dir,
)
from studio.runs.runs_panel import RunsPanel
from studio.training.panel import TrainingPanel
from tests.studio_support import example_document


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> Path:
    """One real 1-epoch run of the bundled digits_mlp, trained by `deepwire train` with no --out."""
    cwd = tmp_path_factory.mktemp("cwd")
    before_threads, before_cwd = torch.get_num_threads(), Path.cwd()
    try:
        import os

        os.chdir(cwd)
        assert main(["train", "digits_mlp", "--epochs", "1", "--quiet", "--threads", "1", "--device",
                     "cpu"]) == 0
    finally:
        os.chdir(before_cwd)
        torch.set_num_threads(before_threads)
    assert not (cwd / "runs").exists()  # not in the current folder any more
    runs = list((runs_root(None) / "Digits-MLP").iterdir())
    assert len(runs) == 1
    return runs[0]


def _fake_run(folder: Path, project, checkpoint: bool = True) -> Path:
    """A finished run folder as the trainer leaves it (no real weights: nothing here loads them)."""
    folder.mkdir(parents=True)
    (folder / "project.dw.json").write_text(dumps_project(project), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"reason": "completed", "epochs": 1, "monitor": "loss",
                                                     "final": {"loss": 0.5}}), encoding="utf-8")
    if checkpoint:
        (folder / "best.pt").write_bytes(b"")
    return folder


# --- point 3: one runs location -------------------------------------------------------------------

def test_runs_folder_rule_beside_the_file_or_in_the_user_data_folder(tmp_path, monkeypatch):
    project = tmp_path / "work" / "mine.dw.json"
    assert runs_root(project) == (tmp_path / "work" / "runs").resolve()
    assert project_runs_dir("My Net", project) == (tmp_path / "work" / "runs" / "My-Net").resolve()
    run = default_run_dir("My Net", project)
    assert run.parent == project_runs_dir("My Net", project) and run.name.startswith("My-Net-")
    assert default_run_dir("My Net", project, "sweep").name.startswith("My-Net-sweep-")
    # bundled examples and untitled projects: the per-user data folder, never the package or cwd
    assert runs_root(examples_dir() / "digits_cnn.dw.json") == runs_root(None) == user_data_dir() / "runs"
    monkeypatch.setenv("DEEPWIRE_HOME", str(tmp_path / "dw"))
    assert runs_root(None) == tmp_path / "dw" / "runs"
    monkeypatch.delenv("DEEPWIRE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "deepwire"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_data_dir() == tmp_path / "home" / ".local" / "share" / "deepwire"


def test_cli_train_sweep_and_the_studio_resolve_the_same_runs_folder(qtbot, registry, tmp_path):
    saved = tmp_path / "proj" / "digits.dw.json"
    saved.parent.mkdir()
    doc = example_document(registry, "digits_mlp")
    doc.save(saved)
    untitled = example_document(registry, "sine_lstm")
    for document, file in ((doc, saved), (untitled, examples_dir() / "sine_lstm.dw.json")):
        name = document.project.name
        training, runs = TrainingPanel(document), RunsPanel(document)
        qtbot.addWidget(training)
        qtbot.addWidget(runs)
        studio_run = training.run_dir()
        cli_run = train_command._default_out(name, file)
        assert studio_run.parent == cli_run.parent == project_runs_dir(name, document.path)
        assert sweep_command._default_out(name, file).parent == cli_run.parent
        assert runs.folder == cli_run.parent.parent == runs_root(document.path)
    assert runs_root(saved) == saved.parent / "runs"


def test_a_cli_run_of_an_example_is_listed_by_the_studio(qtbot, registry, example_run):
    assert example_run.parent == runs_root(None) / slug("Digits MLP")
    assert json.loads((example_run / "project.dw.json").read_text())["id"] == "example-digits_mlp"
    mine = RunsPanel(example_document(registry, "digits_mlp"))
    other = RunsPanel(example_document(registry, "digits_cnn"))
    for panel in (mine, other):
        qtbot.addWidget(panel)
    assert list(mine.runs) == [example_run.name] and mine.current_run().path == example_run
    assert other.runs == {}  # same folder, another project: not its run


def test_evaluate_reads_relative_data_beside_the_project_of_a_nested_run(tmp_path):
    assert project_dir_of_run(tmp_path / "runs" / "My-Net" / "My-Net-1") == tmp_path
    assert project_dir_of_run(tmp_path / "runs" / "digits_pretrain") == tmp_path  # --out runs/NAME
    assert project_dir_of_run(tmp_path / "a" / "b" / "run") == tmp_path / "a"  # --out elsewhere


# --- point 1: runs belong to a project ------------------------------------------------------------

def test_two_projects_in_one_folder_each_list_only_their_own_runs(qtbot, registry, tmp_path):
    a, b = example_document(registry, "digits_mlp"), example_document(registry, "digits_mlp")
    a.save(tmp_path / "a.dw.json")
    b.save(tmp_path / "b.dw.json")  # same name, same folder: only the id tells them apart
    assert a.project.id != b.project.id and not b.project.id.startswith("example-")
    made = {"a": [], "b": []}
    for key, doc, count in (("a", a, 2), ("b", b, 1)):
        for _ in range(count):
            made[key].append(_fake_run(default_run_dir(doc.project.name, doc.path), doc.project).name)
    panel = RunsPanel(b)
    qtbot.addWidget(panel)
    assert sorted(panel.runs) == made["b"]
    for name in made["b"]:
        panel.set_ticked(name)
    assert sorted(panel.curves) == made["b"]  # overlays: b's runs only
    b.open(tmp_path / "a.dw.json")  # File > Open of the other project
    assert sorted(panel.runs) == sorted(made["a"])
    b.save_as(tmp_path / "a renamed.dw.json")  # Save As keeps the id: the runs stay the project's
    assert sorted(panel.runs) == sorted(made["a"])
    b.project.name = "Renamed"  # a new name: new runs go to runs/Renamed/, the old ones still count
    b.save()
    renamed = _fake_run(default_run_dir(b.project.name, b.path), b.project)
    assert renamed.parent == tmp_path / "runs" / "Renamed"
    panel.refresh()
    assert sorted(panel.runs) == sorted([*made["a"], renamed.name])


def test_file_export_of_sine_lstm_never_offers_a_digits_cnn_run(qtbot, registry, tmp_path, monkeypatch):
    from studio.runs.export_dialog import ExportDialog
    from tests.studio_support import close_window, make_window, refuse_dialogs

    refuse_dialogs(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # wherever the studio keeps untitled runs
    opened = []
    monkeypatch.setattr(ExportDialog, "exec", lambda self: opened.append(self))
    window = make_window(qtbot, tmp_path, registry, "digits_cnn", show=False)
    try:
        digits = _fake_run(window.runs.folder / "digits_cnn-20260101-000000", window.document.project)
        window.runs.refresh()
        assert list(window.runs.runs) == [digits.name]
        window.files.open_path(examples_dir() / "sine_lstm.dw.json", as_copy=True, ask=False)
        assert window.document.project.name == "Sine LSTM"
        assert window.runs.runs == {} and window.runs.current_run() is None
        window.export_dialog()
        dialog = opened[-1]
        assert dialog.runs == [] and dialog.weights.count() == 1 and dialog.run_dir is None
        assert "class SineLstm" in dialog.preview.toPlainText()
        assert "DigitsCnn" not in dialog.preview.toPlainText()
        dialog.reject()
    finally:
        close_window(window)


def test_export_dialog_refuses_a_run_whose_network_changed_since(qtbot, registry, tmp_path):
    from studio.runs.export_dialog import ExportDialog

    doc = example_document(registry, "sine_lstm")
    trained = doc.project.copy()
    lstm = next(b for b in trained.network().blocks.values() if b.type == "LSTM")
    lstm.params["hidden_size"] = 16  # trained before the LSTM grew to 32
    run = _fake_run(tmp_path / "runs" / "Sine-LSTM" / "Sine-LSTM-1", trained)
    out = tmp_path / "sine.py"
    dialog = ExportDialog(doc, tmp_path / "runs", run)
    qtbot.addWidget(dialog)
    dialog.output.setText(str(out))
    assert dialog.run_dir == run  # it is this project's run: offered, but refused
    assert not dialog.export_button.isEnabled()
    assert dialog.report_text.startswith("Cannot export with the weights of Sine-LSTM-1")
    assert "block 'lstm' (b2) has hidden_size 16 in the run, 32 in the project" in dialog.report_text
    dialog.export()
    assert dialog.process is None and not out.exists() and "✓" not in dialog.report_text
    dialog.weights.setCurrentIndex(0)  # fresh weights: nothing to refuse
    assert dialog.export_button.isEnabled() and dialog.report_text == ""


def test_cli_export_refuses_weights_of_another_network(example_run, tmp_path, capsys):
    out = tmp_path / "sine.py"
    assert main(["export", "sine_lstm", "-o", str(out), "--weights", str(example_run)]) == 2
    err = capsys.readouterr()
    assert "refused: these weights were trained on another network than project 'Sine LSTM'" in err.err
    assert "a different network" in err.err
    assert f"deepwire export {example_run / 'project.dw.json'}" in err.err  # how to export it as trained
    assert "matches the in-app model" not in err.out and not out.exists()
    # a plain state_dict (no run snapshot beside it) is checked by its keys and shapes
    state = tmp_path / "state.pt"
    torch.save(torch.load(example_run / "best.pt", weights_only=True)["models"]["model"], state)
    assert main(["export", "sine_lstm", "-o", str(out), "--weights", str(state)]) == 2
    err = capsys.readouterr().err
    assert "the weights do not fit the model of network 'model': missing" in err
    assert not out.exists()


def test_cli_export_takes_a_run_folder_of_the_same_network(example_run, registry, tmp_path, capsys):
    out = tmp_path / "digits.py"
    assert main(["export", "digits_mlp", "-o", str(out), "--weights", str(example_run)]) == 0
    printed = capsys.readouterr().out
    assert "matches the in-app model" in printed and out.is_file() and out.with_suffix(".pt").is_file()
    snapshot = load_project(example_run / "project.dw.json", registry)
    assert snapshot.id == "example-digits_mlp"

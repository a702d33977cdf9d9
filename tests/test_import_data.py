"""D7 of issue 14: an imported project has no data until the user picks some.

"No data yet" is a notice (`deepwire check` exits 0, the studio's Data panel
shows it in grey and puts nothing on the input block), `deepwire train`
refuses in one line saying how to give data, and `--data SOURCE[:k=v,...]`
sets it for a run, checked by the data source's own option rules.
"""

from __future__ import annotations

import json

import pytest
from torch import nn

from graph.project_io import load_project, save_project
from graph.training_config import NO_DATA, DataSpec
from runtime.cli import main as cli_main
from runtime.data import DataError, NoDataError, parse_data_option, source_info
from runtime.importing.importer import run_import

SPEC = "tests.test_import_data"


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


@pytest.fixture
def imported(tmp_path, registry):
    report = run_import(f"{SPEC}:Classifier", tmp_path / "clf.dw.json", registry, ["4"], "classification")
    return report


def test_an_imported_project_has_no_data_and_the_note_suggests_a_fitting_set(imported, registry):
    project = load_project(imported.project_path, registry)
    assert project.data == DataSpec(NO_DATA) and not project.data.chosen
    note = next(n for n in imported.notes if "no training data yet" in n)
    assert "--data iris" in note  # iris (4 features, 3 classes) fits; it is suggested, not set


def test_check_shows_no_data_as_a_notice_and_exits_0(imported, capsys):
    assert cli_main(["check", str(imported.project_path)]) == 0
    out = capsys.readouterr().out
    assert "data: none yet" in out and "notice: no data yet" in out and "No problems found." in out
    assert cli_main(["check", str(imported.project_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["diagnostics"] == []
    assert data["notices"] and "--data" in data["notices"][0]


def test_train_without_data_exits_2_saying_how_to_give_it(imported, capsys):
    assert cli_main(["train", str(imported.project_path), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no data yet" in err and "--data" in err and "Data panel" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, problem", [
    ("nosuch", "unknown data source 'nosuch'; the sources are: digits"),
    ("iris:foo=1", "data source 'iris' has no option 'foo'; its options are: classes, per_class"),
    ("iris:per_class=many", "option 'per_class' must be a whole number; got 'many'"),
    ("iris:per_class", "'per_class' is not name=value"),
    ("sine:noise=-3", "'noise' must be"),  # the source's own bounds
    (":x=1", "give a data source"),
])
def test_bad_data_options_are_one_clear_line(imported, capsys, text, problem):
    with pytest.raises(DataError, match=None) as caught:
        parse_data_option(text)
    assert problem in str(caught.value)
    assert cli_main(["train", str(imported.project_path), "--data", text, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err


def test_data_options_are_read_as_their_declared_kinds():
    assert parse_data_option("iris") == DataSpec("iris", {})
    assert parse_data_option("iris:per_class=20") == DataSpec("iris", {"per_class": 20})
    spec = parse_data_option("sine:samples=300,noise=0.5")
    assert spec.options == {"samples": 300, "noise": 0.5}
    # a text option keeps commas and '=' that are not the start of another option
    spec = parse_data_option("csv:path=my,data=1.csv,label=price,features=a,b,header=false")
    assert spec.options == {"path": "my,data=1.csv", "label": "price", "features": "a,b", "header": False}


def test_the_no_data_source_raises_its_own_error():
    with pytest.raises(NoDataError, match="no data yet"):
        source_info(NO_DATA)


def test_data_help_lists_the_sources(capsys):
    assert cli_main(["train", "whatever.dw.json", "--data", "help"]) == 0
    out = capsys.readouterr().out
    assert "csv" in out and "image_folder" in out and "options: path" in out


def test_a_saved_project_without_data_loads_again_without_data(imported, registry, tmp_path):
    project = load_project(imported.project_path, registry)
    save_project(project, tmp_path / "again.dw.json")
    assert load_project(tmp_path / "again.dw.json", registry).data == DataSpec(NO_DATA)


@pytest.mark.slow
def test_train_with_data_from_the_command_line_trains_the_imported_model(imported, tmp_path, capsys):
    run = tmp_path / "run"
    code = cli_main(["train", str(imported.project_path), "--data", "iris:per_class=20", "--epochs", "1",
                     "--quiet", "--out", str(run)])
    assert code == 0, capsys.readouterr().err
    snapshot = json.loads((run / "project.dw.json").read_text())
    assert snapshot["data"] == {"source": "iris", "options": {"per_class": 20}}


def test_the_data_panel_shows_no_data_as_a_notice_not_a_problem(qtbot, imported, registry):
    from studio.document import Document
    from studio.training.data_panel import DataPanel

    document = Document(registry, load_project(imported.project_path, registry))
    panel = DataPanel(document)
    qtbot.addWidget(panel)
    panel.refresh()
    assert panel.problem == "" and "No data yet" in panel.notice
    assert panel.source.currentIndex() == -1 and panel.editors == {}
    assert document._data_problem is None  # nothing on the input block, no error card
    document.set_training(data=DataSpec("iris", {}))
    assert panel.notice == "" and panel.source.currentData() == "iris"

"""Search spaces: entries checked against the declarations with errors naming the entry; the default
space; grid values; the project's optional `experiment` field. No training here."""

from __future__ import annotations

import json

import pytest

from graph.examples import example_path
from graph.project_io import dumps_project, load_project, loads_project
from runtime.cli import main
from runtime.sweep.apply import InvalidTrialError, apply_values
from runtime.sweep.space import SpaceError, default_space, parse_space, project_values


@pytest.fixture
def cnn(registry):
    return load_project(example_path("digits_cnn"), registry)


@pytest.mark.parametrize("entry, expected", [
    ({"target": "block:nope.p", "low": 0, "high": 1}, "space entry 2 ('block:nope.p'): no block with id or "
                                                      "name 'nope'"),
    ({"target": "block:dropout.q"}, "block 'dropout' (Dropout) has no parameter 'q'; parameters you can "
                                    "sweep: p"),
    ({"target": "block:dropout.p", "low": 0.2, "high": 1.5}, "'high' is not allowed here: 'p' must be "
                                                            "between 0 and 1; got 1.5"),
    ({"target": "training.lr", "low": 0.0, "high": 0.1, "log": True}, "'low' is not allowed here"),
    ({"target": "training.lr", "low": 0.01, "high": 0.001}, "'low' (0.01) must be smaller than 'high'"),
    ({"target": "training.lr", "kind": "int", "low": 1, "high": 3}, "'lr' is a number setting, so it "
                                                                    "cannot be swept as 'int'"),
    ({"target": "training.optimizer", "choices": ["adam", "lion"]}, "the choice 'lion' is not allowed: "
                                                                    "'optimizer' must be one of"),
    ({"target": "training.device", "choices": ["cpu"]}, "'device' cannot be swept"),
    ({"target": "training.learning_rate", "low": 0.1, "high": 1}, "there is no training setting "
                                                                  "'learning_rate'"),
    ({"target": "block:conv1.channels", "low": 8, "high": 64, "step": 0}, "'step' is for 'int' ranges"),
    ({"target": "block:conv1.channels", "lo": 8}, "unknown field 'lo'"),
    ({"target": "training.lr", "low": 0.001}, "needs both 'low' and 'high'"),
])
def test_a_bad_entry_is_refused_with_a_message_naming_it(cnn, registry, entry, expected):
    space = [{"target": "training.lr", "low": 1e-4, "high": 1e-2, "log": True}, entry]
    with pytest.raises(SpaceError) as err:
        parse_space(space, cnn, registry)
    assert str(err.value).startswith("space entry 2")
    assert expected in str(err.value)


def test_a_bad_space_file_stops_the_cli_before_anything_trains(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps([{"target": "training.lr", "low": 1e-4, "high": 1e-2},
                                 {"target": "block:conv9.channels", "low": 8, "high": 64}]))
    assert main(["sweep", "digits_cnn", "--space", str(space), "--out", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert "space entry 2 ('block:conv9.channels'): no block with id or name 'conv9'" in err
    assert not (tmp_path / "sweep").exists()
    space.write_text("[{\"target\": \"training.lr\",}]")
    assert main(["sweep", "digits_cnn", "--space", str(space)]) == 2
    assert "line 1, column" in capsys.readouterr().err


def test_the_default_space_and_the_baseline_values(cnn, registry):
    entries = default_space(cnn, registry)
    assert [e["target"] for e in entries] == ["training.lr", "training.optimizer", "training.batch_size",
                                              "training.weight_decay", "block:dropout.p"]
    dims = parse_space(entries, cnn, registry)
    assert project_values(cnn, dims) == {"training.lr": 0.002, "training.optimizer": "adam",
                                         "training.batch_size": 64, "training.weight_decay": 0.0,
                                         "block:dropout.p": 0.3}
    assert entries[0] == {"target": "training.lr", "kind": "float", "low": 0.0002, "high": 0.02, "log": True}
    assert entries[3]["choices"] == [0.0, 1e-4, 1e-3, 1e-2] and entries[4]["high"] == 0.6
    assert dims[0].grid_values() == [0.0002, 0.002, 0.02]  # log-spaced
    channels = parse_space([{"target": "block:b2.channels", "low": 8, "high": 32, "step": 8}], cnn, registry)
    assert channels[0].grid_values() == [8, 16, 24, 32] and channels[0].target.block == "b2"


def test_applied_values_land_on_a_copy_and_invalid_values_are_diagnosed(cnn, registry):
    dims = parse_space([{"target": "block:conv1.channels", "kind": "int", "low": 8, "high": 64},
                        {"target": "training.lr", "low": 1e-4, "high": 1e-1, "log": True},
                        {"target": "block:scores.features", "choices": [10, 7]}], cnn, registry)
    trial = apply_values(cnn, dims, {"block:conv1.channels": 16, "training.lr": 0.01,
                                     "block:scores.features": 10}, registry)
    assert trial.network().blocks["b2"].params["channels"] == 16 and trial.training.lr == 0.01
    assert cnn.network().blocks["b2"].params["channels"] == 32 and cnn.training.lr == 0.002  # untouched
    with pytest.raises(InvalidTrialError, match="make the network invalid"):
        apply_values(cnn, dims, {"block:scores.features": 7}, registry)


def test_the_experiment_field_round_trips_and_is_absent_when_empty(cnn, registry):
    assert "experiment" not in dumps_project(cnn)  # existing files and golden tests stay byte-identical
    cnn.experiment = {"space": [{"target": "training.lr", "low": 1e-4, "high": 1e-2, "log": True}],
                      "trials": 12, "sampler": "random"}
    again = loads_project(dumps_project(cnn), registry)
    assert again.experiment == cnn.experiment and again == cnn
    assert again.copy().experiment == cnn.experiment
    bad = json.loads(dumps_project(cnn))
    bad["experiment"]["space"][0]["lowest"] = 1
    with pytest.raises(ValueError, match=r"experiment > space\[0\] > lowest"):
        loads_project(json.dumps(bad), registry)

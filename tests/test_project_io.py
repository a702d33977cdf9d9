"""Project files: round trips, every error a damaged file can give, atomic save, migration.

The error tests start from one small valid project (`_base()`), break one
thing, and check both where the error points and what it says. The fuzz
test corrupts random projects and requires that loading either succeeds or
raises ProjectFileError, nothing else.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graph.project_io as project_io
import graph.project_read as project_read
from graph.blocks import default_registry
from graph.model import Block, Edge, Network, Project
from graph.project_io import (
    ProjectFileError,
    dumps_project,
    load_project,
    loads_project,
    project_from_dict,
    project_to_dict,
    save_project,
)
from graph.project_migrate import CURRENT_VERSION, MIGRATIONS
from graph.spec import Registry
from graph.training_config import TrainingConfig
from graph.validate import analyse
from tests.strategies import projects

REGISTRY = default_registry()
EXAMPLES = sorted((Path(__file__).parent.parent / "assets" / "examples").glob("*.dw.json"))


def _base() -> dict:
    """A small valid project file, written by hand (some params and names left out)."""
    return {
        "format": "deepwire-project", "version": 1, "name": "Digits", "seed": 0,
        "data": {"source": "digits", "options": {}},
        "training": {"epochs": 15, "lr": 0.002},
        "networks": [{
            "name": "model",
            "blocks": [
                {"id": "b1", "type": "ImageInput", "name": "image",
                 "params": {"channels": 1, "height": 8, "width": 8}, "position": [0, 0]},
                {"id": "b2", "type": "Flatten", "name": "flat", "position": [200, 0]},
                {"id": "b3", "type": "Linear", "name": "fc", "params": {"features": 10},
                 "position": [400, 0]},
                {"id": "b4", "type": "ClassificationHead", "name": "head", "params": {"classes": 10}},
                {"id": "b5", "type": "Add", "name": "sum", "params": {"inputs": 3}, "enabled": False},
            ],
            "edges": [{"from": "b1", "to": "b2", "port": "x"}, {"from": "b2", "to": "b3", "port": "x"},
                      {"from": "b3", "to": "b4", "port": "x"}],
            "groups": [{"id": "g1", "name": "stem", "blocks": ["b1", "b2"], "collapsed": False}],
        }],
    }


def _error(data, registry: Registry = REGISTRY) -> ProjectFileError:
    text = data if isinstance(data, (str, bytes)) else json.dumps(data)
    with pytest.raises(ProjectFileError) as info:
        loads_project(text, registry, "test.dw.json")
    return info.value


# ---------------------------------------------------------------- round trips


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects(REGISTRY))
def test_random_projects_survive_save_and_load(project):
    text = dumps_project(project)
    loaded = loads_project(text, REGISTRY)
    assert loaded == project
    assert dumps_project(loaded) == text  # the same project always writes the same text


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_projects_survive_save_and_load(path, tmp_path):
    project = load_project(path, REGISTRY)
    saved = tmp_path / path.name
    save_project(project, saved)
    assert load_project(saved, REGISTRY) == project


def test_hand_written_file_gets_defaults_and_float_positions():
    project = project_from_dict(_base(), REGISTRY)
    net = project.network()
    assert net.blocks["b3"].params == {"features": 10, "bias": True, "per_position": False}
    assert net.blocks["b2"].params == {}
    assert net.blocks["b1"].position == (0.0, 0.0) and isinstance(net.blocks["b1"].position[0], float)
    assert net.blocks["b4"].position == (0.0, 0.0)
    assert net.blocks["b5"].enabled is False and net.blocks["b3"].enabled is True
    assert net.edges[1] == Edge("b2", "b3", "x")
    assert net.groups[0].blocks == ("b1", "b2")
    assert project.training.epochs == 15 and project.training.lr == 0.002
    assert project.training.batch_size == TrainingConfig().batch_size


def test_saved_text_holds_only_what_it_must():
    project = project_from_dict(_base(), REGISTRY)
    project.description = ""
    project.network().set_groups([])
    project.network().rename("modèle 💥")
    text = dumps_project(project)
    data = json.loads(text)
    assert list(data) == ["format", "version", "name", "seed", "data", "training", "networks"]
    assert data["training"] == {"epochs": 15, "lr": 0.002}  # only values that differ from the defaults
    assert "groups" not in data["networks"][0]
    blocks = data["networks"][0]["blocks"]
    assert [b.get("enabled") for b in blocks] == [None, None, None, None, False]
    assert blocks[2]["params"] == {"bias": True, "features": 10, "per_position": False}  # full params
    assert "modèle 💥" in text  # readable, not \u-escaped
    assert text.endswith("}\n") and '\n  "version": 2,' in text


def test_names_with_control_characters_and_code_load_as_plain_data():
    data = _base()
    data["name"] = "'); import os #"
    data["networks"][0]["name"] = "__import__('os')"
    data["networks"][0]["blocks"][2]["name"] = "a\nb\x00\u202e💥"
    project = project_from_dict(data, REGISTRY)
    assert project.network().blocks["b3"].name == "a\nb\x00\u202e💥"
    assert loads_project(dumps_project(project), REGISTRY) == project
    data["networks"][0]["blocks"][2]["params"]["features"] = 0
    err = _error(data)  # the name is shown escaped, so the message stays one line
    assert err.location == ("networks[0] '__import__('os')' > blocks[2] 'a\\nb\\x00\\u202e💥' "
                            "> params > features")
    assert "\n" not in str(err)


def test_shape_errors_and_loops_still_load():
    data = _base()
    data["networks"][0]["edges"] = [
        {"from": "b1", "to": "b3", "port": "x"},  # an image straight into Linear: a shape error
        {"from": "b3", "to": "b4", "port": "x"},
        {"from": "b2", "to": "b5", "port": "in1"},
        {"from": "b5", "to": "b2", "port": "x"},  # b2 -> b5 -> b2: a loop
    ]
    project = project_from_dict(data, REGISTRY)
    problems = {(d.code, d.block) for d in analyse(project.network(), REGISTRY).diagnostics}
    assert ("cycle", "b2") in problems and ("shape", "b3") in problems


def test_renamed_block_types_load_under_their_new_id():
    registry = Registry(list(default_registry()), renamed={"Dense": "Linear"})
    data = _base()
    data["networks"][0]["blocks"][2]["type"] = "Dense"
    assert project_from_dict(data, registry).network().blocks["b3"].type == "Linear"


def test_shared_modules_and_tied_parameters_survive_save_and_load():
    data = _base()
    blocks = data["networks"][0]["blocks"]
    blocks.insert(3, {"id": "b6", "type": "Linear", "name": "fc_again", "params": {"features": 10},
                      "shares": "b3"})
    data["networks"][0]["ties"] = {"b6.bias": "b3.bias"}
    project = project_from_dict(data, REGISTRY)
    net = project.networks[0]
    assert net.blocks["b6"].shares == "b3" and net.blocks["b3"].shares is None
    assert net.ties == {"b6.bias": "b3.bias"}
    text = dumps_project(project)
    saved = json.loads(text)["networks"][0]
    assert [b.get("shares") for b in saved["blocks"]] == [None, None, None, "b3", None, None]
    assert saved["ties"] == {"b6.bias": "b3.bias"}
    assert loads_project(text, REGISTRY) == project
    # a file without the fields: no sharing, no ties, and none written back
    plain = project_from_dict(_base(), REGISTRY)
    assert plain.networks[0].ties == {} and all(b.shares is None for b in plain.networks[0].blocks.values())
    assert '"shares"' not in dumps_project(plain) and '"ties"' not in dumps_project(plain)


def test_loading_does_not_change_the_data_passed_in():
    data = _base()
    kept = copy.deepcopy(data)
    project_from_dict(data, REGISTRY)
    assert data == kept


# ---------------------------------------------------------------- error cases


def _set(path, value):
    def change(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def _delete(path):
    def change(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        del data[last]
    return change


def _append(path, value):
    def change(data):
        for key in path:
            data = data[key]
        data.append(value)
    return change


NET = ("networks", 0)
BLOCK = (*NET, "blocks", 2)
EDGE = (*NET, "edges", 0)
GROUP = (*NET, "groups", 0)
M = "networks[0] 'model'"
FC = f"{M} > blocks[2] 'fc'"
NESTED = json.loads("[" * 40 + "]" * 40)

ERROR_CASES = [
    # (what is broken, change, location, part of the message)
    ("format wrong", _set(("format",), "other"), "format", "not a DeepWire project"),
    ("format missing", _delete(("format",)), "top level", "no 'format' field"),
    ("version newer", _set(("version",), 7), "version", "made by a newer DeepWire"),
    ("version text", _set(("version",), "1"), "version", "must be a whole number; got the text '1'"),
    ("version bool", _set(("version",), True), "version", "must be a whole number; got true"),
    ("version negative", _set(("version",), -1), "version", "0 or more"),
    ("version missing", _delete(("version",)), "top level", "the field 'version' is missing"),
    ("unknown top field", _set(("netwroks",), []), "netwroks", "did you mean 'networks'?"),
    ("name number", _set(("name",), 5), "name", "'name' must be text in double quotes; got the number 5"),
    ("description list", _set(("description",), []), "description", "must be text"),
    ("seed text", _set(("seed",), "0"), "seed", "must be a whole number"),
    ("seed fraction", _set(("seed",), 1.5), "seed", "must be a whole number"),
    ("seed negative", _set(("seed",), -1), "seed", "between 0 and 4294967295"),
    ("data number", _set(("data",), 3), "data", "must be an object"),
    ("data source missing", _delete(("data", "source")), "data", "the field 'source' is missing"),
    ("data source number", _set(("data", "source"), 5), "data > source", "must be text"),
    ("data source spaces", _set(("data", "source"), "my data"), "data > source", "simple name like"),
    ("data unknown field", _set(("data", "sourse"), "x"), "data > sourse", "did you mean 'source'?"),
    ("data options list", _set(("data", "options"), []), "data > options", "must be an object"),
    ("data option object", _set(("data", "options", "cols"), {"a": 1}), "data > options > cols",
     "must be a number, text"),
    ("data option NaN", _set(("data", "options", "scale"), float("nan")), "data > options > scale",
     "finite number"),
    ("data nested deep", _set(("data", "options", "x"), NESTED), "data > options > x" + "[0]" * 29,
     "nested more than 32"),  # the 33rd level
    ("training list", _set(("training",), []), "training", "must be an object"),
    ("training text", _set(("training", "lr"), "fast"), "training > lr", "'lr' must be a number"),
    ("training range", _set(("training", "lr"), 0), "training > lr", "'lr' must be between"),
    ("training unknown", _set(("training", "learning_rat"), 1), "training > learning_rat",
     "no training setting 'learning_rat'"),
    ("training infinite", _set(("training", "lr"), float("inf")), "training > lr", "finite number"),
    ("networks missing", _delete(("networks",)), "top level", "the field 'networks' is missing"),
    ("networks object", _set(("networks",), {}), "networks", "must be a list"),
    ("networks empty", _set(("networks",), []), "networks", "at least one network"),
    ("network text", _set(NET, "model"), "networks[0]", "a network must be an object"),
    ("network name missing", _delete((*NET, "name")), "networks[0]", "the field 'name' is missing"),
    ("network name number", _set((*NET, "name"), 7), "networks[0] > name", "must be text"),
    ("network duplicate", _append(("networks",), _base()["networks"][0]), "networks[1] 'model' > name",
     "two networks are named 'model'"),
    ("blocks missing", _delete((*NET, "blocks")), M, "the field 'blocks' is missing"),
    ("blocks object", _set((*NET, "blocks"), {}), f"{M} > blocks", "must be a list"),
    ("edges text", _set((*NET, "edges"), "b1->b2"), f"{M} > edges", "must be a list"),
    ("groups object", _set((*NET, "groups"), {}), f"{M} > groups", "must be a list"),
    ("block list", _set(BLOCK, []), f"{M} > blocks[2]", "a block must be an object"),
    ("block id missing", _delete((*BLOCK, "id")), FC, "the field 'id' is missing"),
    ("block id empty", _set((*BLOCK, "id"), ""), f"{FC} > id", "cannot be empty"),
    ("block id number", _set((*BLOCK, "id"), 3), f"{FC} > id", "must be text"),
    ("block id twice", _set((*BLOCK, "id"), "b1"), f"{FC} > id", "also used by blocks[0]"),
    ("type missing", _delete((*BLOCK, "type")), FC, "the field 'type' is missing"),
    ("type typo", _set((*BLOCK, "type"), "Linaer"), f"{FC} > type", "did you mean 'Linear'?"),
    ("type case", _set((*BLOCK, "type"), "linear"), f"{FC} > type", "did you mean 'Linear'?"),
    ("type unknown", _set((*BLOCK, "type"), "Quantum"), f"{FC} > type", "unknown block type 'Quantum'"),
    ("type number", _set((*BLOCK, "type"), 5), f"{FC} > type", "must be text"),
    ("block name list", _set((*BLOCK, "name"), ["fc"]), f"{M} > blocks[2] 'b3' > name", "must be text"),
    ("params list", _set((*BLOCK, "params"), []), f"{FC} > params", "must be an object"),
    ("param range", _set((*BLOCK, "params", "features"), 0), f"{FC} > params > features",
     "Linear 'fc': 'features' must be between 1 and"),
    ("param text", _set((*BLOCK, "params", "features"), "ten"), f"{FC} > params > features",
     "'features' must be a whole number"),
    ("param bool", _set((*BLOCK, "params", "bias"), "yes"), f"{FC} > params > bias", "true or false"),
    ("param unknown", _set((*BLOCK, "params", "featurs"), 3), f"{FC} > params > featurs",
     "has no parameter 'featurs'; did you mean 'features'?"),
    ("param of input", _set((*NET, "blocks", 0, "params", "channels"), 1.5),
     f"{M} > blocks[0] 'image' > params > channels", "Image input 'image': 'channels' must be a whole"),
    ("position text", _set((*BLOCK, "position"), "0,0"), f"{FC} > position", "two finite numbers"),
    ("position short", _set((*BLOCK, "position"), [1]), f"{FC} > position", "two finite numbers"),
    ("position bool", _set((*BLOCK, "position"), [True, 0]), f"{FC} > position", "got [true, the number 0]"),
    ("position NaN", _set((*BLOCK, "position"), [float("nan"), 0]), f"{FC} > position", "got [NaN"),
    ("position inf", _set((*BLOCK, "position"), [0, float("-inf")]), f"{FC} > position", "-Infinity"),
    ("enabled text", _set((*BLOCK, "enabled"), "no"), f"{FC} > enabled", "true or false"),
    ("block unknown field", _set((*BLOCK, "color"), "red"), f"{FC} > color", "a block has no field 'color'"),
    ("shares number", _set((*BLOCK, "shares"), 3), f"{FC} > shares", "'shares' must be text"),
    ("ties list", _set((*NET, "ties"), []), f"{M} > ties", "must be an object"),
    ("tie number", _set((*NET, "ties"), {"b3.weight": 4}), f"{M} > ties > b3.weight",
     "names the parameter whose tensor it uses"),
    ("edge list", _set(EDGE, []), f"{M} > edges[0]", "a wire must be an object"),
    ("edge port missing", _delete((*EDGE, "port")), f"{M} > edges[0]", "the field 'port' is missing"),
    ("edge from unknown", _set((*EDGE, "from"), "b9"), f"{M} > edges[0] > from", "no block with id 'b9'"),
    ("edge to unknown", _set((*EDGE, "to"), "b9"), f"{M} > edges[0] > to", "no block with id 'b9'"),
    ("edge port unknown", _set((*EDGE, "port"), "y"), f"{M} > edges[0] > port",
     "Flatten 'flat' has no input 'y'; its inputs are x"),
    ("edge into input", _set((*EDGE, "to"), "b1"), f"{M} > edges[0] > port",
     "Image input 'image' is an input block and takes no wires in"),
    ("edge from head", _append((*NET, "edges"), {"from": "b4", "to": "b5", "port": "in1"}),
     f"{M} > edges[3] > from", "Classification head 'head' is an output head"),
    ("edge variadic", _append((*NET, "edges"), {"from": "b1", "to": "b5", "port": "in4"}),
     f"{M} > edges[3] > port", "Add 'sum' has no input 'in4'; its inputs are in1, in2, in3"),
    ("edge port taken", _append((*NET, "edges"), {"from": "b1", "to": "b3", "port": "x"}),
     f"{M} > edges[3]", "input 'x' of Linear 'fc' already has a wire (edges[1])"),
    ("edge unknown field", _set((*EDGE, "from_port"), "out"), f"{M} > edges[0] > from_port",
     "a wire has no field 'from_port'"),
    ("group member missing", _set((*GROUP, "blocks"), ["b1", "b99"]), f"{M} > groups[0] 'stem' > blocks[1]",
     "lists the block 'b99', but this network has no block with that id"),
    ("group member number", _set((*GROUP, "blocks"), [3]), f"{M} > groups[0] 'stem' > blocks[0]",
     "block ids (text)"),
    ("group id twice", _append((*NET, "groups"), {"id": "g1", "name": "head", "blocks": []}),
     f"{M} > groups[1] 'head' > id", "two groups have the id 'g1'"),
    ("group id missing", _delete((*GROUP, "id")), f"{M} > groups[0] 'stem'", "the field 'id' is missing"),
    ("group collapsed text", _set((*GROUP, "collapsed"), "yes"), f"{M} > groups[0] 'stem' > collapsed",
     "true or false"),
]


@pytest.mark.parametrize("change, location, message", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_each_broken_field_is_named_with_what_is_wrong(change, location, message):
    data = _base()
    change(data)
    err = _error(data)
    assert err.location == location
    assert message in err.message
    assert str(err) == f"test.dw.json: {location}: {err.message}"
    assert err.path == "test.dw.json"


def test_newer_version_says_to_update():
    err = _error({**_base(), "version": CURRENT_VERSION + 1})
    assert "update DeepWire" in err.message


VALID_TEXT = json.dumps(_base(), indent=2)

TEXT_CASES = [
    ("empty", "", "file", "the file is empty"),
    ("blank", "  \n\t ", "file", "the file is empty"),
    ("not json", "hello", "line 1, column 1", "not valid JSON"),
    ("syntax", '{"format": "deepwire-project",\n  "version": 1,\n  oops}', "line 3, column 3",
     "not valid JSON"),
    ("trailing comma", '{"format": "deepwire-project",}', "line 1, column 31", "no comma after the last"),
    ("truncated", VALID_TEXT[: len(VALID_TEXT) // 2], None, "cut off"),
    ("truncated in text", '{"format": "deepwire-pro', "line 1, column 12", "cut off"),
    ("list", "[1, 2]", "top level", "a project file holds one object { ... }; got a list of 2 items"),
    ("null", "null", "top level", "got null"),
    ("number", "42", "top level", "got the number 42"),
    ("deep brackets", "[" * 100_000, "file", "nested more than"),
    ("deep in field", VALID_TEXT.replace('"options": {}', '"options": {"x": ' + "[" * 50 + "]" * 50 + "}"),
     "data > options > x" + "[0]" * 29, "nested more than 32"),
    ("duplicate key", '{"format": "deepwire-project", "format": "x"}', "file", "'format' appears twice"),
    ("huge integer", '{"format": "deepwire-project", "version": 1' + "0" * 5000 + "}", "file",
     "could not be read"),
    ("lone surrogate", VALID_TEXT.replace('"fc"', '"\\ud800"'), "networks[0] > blocks[2] > name",
     "invalid character"),
    ("NaN position", VALID_TEXT.replace("400,", "NaN,"), f"{M} > blocks[2] 'fc' > position", "got [NaN"),
    ("huge float", VALID_TEXT.replace("400,", "1e999,"), f"{M} > blocks[2] 'fc' > position", "Infinity"),
]


@pytest.mark.parametrize("text, location, message", [c[1:] for c in TEXT_CASES],
                         ids=[c[0] for c in TEXT_CASES])
def test_damaged_text_gives_one_clear_error(text, location, message):
    err = _error(text)
    if location is not None:
        assert err.location == location
    else:
        assert err.location.startswith("line ")
    assert message in err.message


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.dw.json"
    path.write_bytes(b'{\n"name": "caf\xe9"}')
    with pytest.raises(ProjectFileError) as info:
        load_project(path, REGISTRY)
    assert info.value.location == "line 2" and "not UTF-8" in info.value.message
    assert info.value.path == str(path)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.dw.json"
    path.write_bytes(b"\xef\xbb\xbf" + VALID_TEXT.encode())
    assert load_project(path, REGISTRY) == project_from_dict(_base(), REGISTRY)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ProjectFileError, match="no such file"):
        load_project(tmp_path / "nope.dw.json", REGISTRY)
    with pytest.raises(ProjectFileError, match="this is a folder"):
        load_project(tmp_path, REGISTRY)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.dw.json"
    with open(path, "wb") as handle:
        handle.truncate(project_io.MAX_FILE_BYTES + 1024)  # sparse: costs no disk
    err = pytest.raises(ProjectFileError, load_project, path, REGISTRY).value
    assert err.location == "file" and "at most 50 MB" in err.message


def test_text_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(project_io, "MAX_FILE_BYTES", 100)
    assert "at most" in _error(VALID_TEXT).message


@pytest.mark.parametrize("key, shown", [("", "''"), ("a > b", "'a > b'"), (" x", "' x'"),
                                        ("tab\there", "'tab\\there'")])
def test_odd_field_names_are_quoted_in_locations(key, shown):
    data = _base()
    data["networks"][0]["blocks"][2][key] = 1
    assert _error(data).location == f"{FC} > {shown}"
    data = _base()
    data["training"][key] = 1
    assert _error(data).location == f"training > {shown}"


def test_absurdly_large_networks_are_refused_before_they_are_built(monkeypatch):
    monkeypatch.setattr(project_read, "MAX_BLOCKS", 4)
    err = _error(_base())
    assert err.location == f"{M} > blocks" and "has 5 blocks; DeepWire handles at most 4" in err.message
    monkeypatch.setattr(project_read, "MAX_WIRES", 2)
    monkeypatch.setattr(project_read, "MAX_BLOCKS", 100)
    assert "has 3 edges" in _error(_base()).message


def test_data_that_is_not_json_is_refused():
    data = _base()
    data["networks"][0]["blocks"][0]["params"] = {1: 2}
    assert "field names must be text" in pytest.raises(ProjectFileError, project_from_dict, data,
                                                       REGISTRY).value.message
    data["networks"][0]["blocks"][0]["params"] = {"channels": {1, 2}}
    err = pytest.raises(ProjectFileError, project_from_dict, data, REGISTRY).value
    assert err.location == "networks[0] > blocks[0] > params > channels" and "not a JSON value" in err.message


# ---------------------------------------------------------------- atomic save


def _sample_project() -> Project:
    net = Network("model", [Block("b1", "VectorInput", "x", {"features": 4}),
                            Block("b2", "Linear", "fc", {"features": 2, "bias": True, "per_position": False},
                                  (10.0, 5.0))],
                  [Edge("b1", "b2", "x")])
    return Project("sample", [net])


def _leftovers(folder: Path, keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p != keep)


def test_save_writes_the_project_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "p.dw.json"
    project = _sample_project()
    save_project(project, path)
    project.network().set_param("b2", "features", 3)
    save_project(project, path)
    assert load_project(path, REGISTRY) == project
    assert path.read_text(encoding="utf-8") == dumps_project(project)
    assert _leftovers(tmp_path, path) == []


class _HalfWrittenFile:
    """A file object that writes half of what it is given, then fails like a full disk."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(28, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_save_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.dw.json"
    save_project(_sample_project(), path)
    before = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(project_io.os, "fdopen", lambda *a, **k: _HalfWrittenFile(real_fdopen(*a, **k)))
    changed = _sample_project()
    changed.name = "changed"
    with pytest.raises(OSError, match="No space left"):
        save_project(changed, path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, path) == []


def test_a_save_failing_at_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.dw.json"
    save_project(_sample_project(), path)
    before = path.read_bytes()

    def crash(src, dst):
        raise KeyboardInterrupt  # even an interrupt must not leave a temporary file

    monkeypatch.setattr(project_io.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_project(_sample_project(), path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, path) == []


def test_a_project_json_cannot_hold_is_refused_before_touching_the_file(tmp_path):
    path = tmp_path / "p.dw.json"
    save_project(_sample_project(), path)
    before = path.read_bytes()
    project = _sample_project()
    project.network().blocks["b2"].position = (float("nan"), 0.0)
    with pytest.raises(ValueError, match="block 'fc' > position: nan is not a finite number"):
        save_project(project, path)
    project.network().blocks["b2"].position = (0.0, 0.0)
    project.data.options["scale"] = float("inf")
    with pytest.raises(ValueError, match="data > options > scale"):
        save_project(project, path)
    project.data.options.clear()
    project.seed = -5
    with pytest.raises(ValueError, match="seed -5"):
        save_project(project, path)
    project.seed = 0
    project.network().rename("bad \ud800 text")  # a lone surrogate: not UTF-8
    with pytest.raises(ValueError, match="invalid character"):
        save_project(project, path)
    assert path.read_bytes() == before and _leftovers(tmp_path, path) == []


def test_save_keeps_permissions_and_symlinks(tmp_path):
    real = tmp_path / "real.dw.json"
    save_project(_sample_project(), real)
    os.chmod(real, 0o640)
    link = tmp_path / "link.dw.json"
    link.symlink_to(real)
    project = _sample_project()
    project.name = "through the link"
    save_project(project, link)
    assert link.is_symlink()
    assert load_project(real, REGISTRY).name == "through the link"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


# ---------------------------------------------------------------- migration


def _as_v0(data: dict) -> dict:
    """The prototype format: params under "config", string wires, "hyperparameters"."""
    old = copy.deepcopy(data)
    old["version"] = 0
    old["hyperparameters"] = old.pop("training")
    for net in old["networks"]:
        for block in net["blocks"]:
            if "params" in block:
                block["config"] = block.pop("params")
        net["edges"] = [f"{e['from']}.out -> {e['to']}.{e['port']}" for e in net["edges"]]
    return old


def test_every_older_version_has_a_migration():
    assert sorted(MIGRATIONS) == list(range(CURRENT_VERSION))


def test_a_version_0_file_loads_like_its_version_1_twin(tmp_path):
    path = tmp_path / "old.dw.json"
    path.write_text(json.dumps(_as_v0(_base())), encoding="utf-8")
    project = load_project(path, REGISTRY)
    assert project == project_from_dict(_base(), REGISTRY)
    assert project.network().edges[2] == Edge("b3", "b4", "x")


@pytest.mark.parametrize("wire, message", [
    ("b1 -> b2", "written like 'b1.out -> b2.x'"),
    ("b1.out b2.x", "written like 'b1.out -> b2.x'"),
    ("b1.y -> b2.x", "through its output 'out'"),
])
def test_a_version_0_wire_that_cannot_be_read(wire, message):
    old = _as_v0(_base())
    old["networks"][0]["edges"][0] = wire
    err = _error(old)
    assert err.location == "networks[0] > edges[0]" and message in err.message


def test_errors_in_a_migrated_file_say_it_was_converted():
    old = _as_v0(_base())
    old["networks"][0]["blocks"][2]["config"]["features"] = 0
    err = _error(old)
    assert err.location == f"{FC} > params > features"
    assert "older format version 0" in err.message


# ---------------------------------------------------------------- fuzzing

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_FIELD_NAMES = st.sampled_from(["id", "type", "name", "params", "position", "enabled", "from", "to", "port",
                                "blocks", "edges", "groups", "version", "format", "training", "data"])


def _containers(value, path=()):
    """Paths of every list and object inside `value` (iterative, so deep values are fine)."""
    found, stack = [], [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, (dict, list)):
            found.append(where)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((child, (*where, key)) for key, child in items)
    return found


def _at(data, path):
    for key in path:
        data = data[key]
    return data


@st.composite
def corrupted_files(draw):
    data = project_to_dict(draw(projects(REGISTRY, max_blocks=6)))
    how = draw(st.sampled_from(["delete", "replace", "insert", "truncate", "splice"]))
    containers = _containers(data)
    if how in ("delete", "replace"):
        parent = _at(data, draw(st.sampled_from(containers)))
        if parent:
            key = draw(st.sampled_from(list(parent) if isinstance(parent, dict) else range(len(parent))))
            if how == "delete":
                del parent[key]
            else:
                parent[key] = draw(_JSON)
    elif how == "insert":
        parent = _at(data, draw(st.sampled_from(containers)))
        if isinstance(parent, dict):
            parent[draw(_FIELD_NAMES | st.text(max_size=6))] = draw(_JSON)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(_JSON))
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    if how == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "splice":
        at = draw(st.integers(0, len(text)))
        junk = st.sampled_from(['"', "{", "]", ",", "NaN", "\\", "\x00"]) | st.text(max_size=4)
        text = text[:at] + draw(junk) + text[at:]
    return text


def _loads_or_project_file_error(text):
    try:
        project = loads_project(text, REGISTRY, "fuzz.dw.json")
    except ProjectFileError as err:
        assert err.path == "fuzz.dw.json" and err.location and err.message
        assert str(err).startswith(f"fuzz.dw.json: {err.location}: ")
        return
    assert loads_project(dumps_project(project), REGISTRY) == project


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_files())
def test_a_corrupted_file_loads_or_raises_only_project_file_error(text):
    _loads_or_project_file_error(text)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_files())
def test_many_corrupted_files_load_or_raise_only_project_file_error(text):
    _loads_or_project_file_error(text)


# ---------------------------------------------------------------- the project id (runs belong to it)

def test_a_new_project_has_an_id_that_survives_save_load_rename_and_save_as(tmp_path):
    project = project_from_dict({**_base(), "version": CURRENT_VERSION}, REGISTRY)
    assert project.id == ""  # written by hand without one
    fresh = Project()
    assert len(fresh.id) == 32 and fresh.id != Project().id
    first = tmp_path / "first.dw.json"
    save_project(fresh, first)
    assert json.loads(first.read_text())["id"] == fresh.id
    loaded = load_project(first, REGISTRY)
    assert loaded.id == fresh.id and loaded.copy().id == fresh.id
    loaded.name = "Renamed"
    second = tmp_path / "second.dw.json"  # Save As: the same project under another name
    save_project(loaded, second)
    assert load_project(second, REGISTRY).id == fresh.id


def test_a_version_1_file_without_an_id_loads_and_gets_one_on_its_first_save(tmp_path):
    path = tmp_path / "old.dw.json"
    path.write_text(json.dumps(_base()), encoding="utf-8")
    project = load_project(path, REGISTRY)
    assert project.id == "" and project == project_from_dict(_base(), REGISTRY)
    save_project(project, path)
    data = json.loads(path.read_text())
    assert data["version"] == CURRENT_VERSION == 2
    assert data["id"] == project.id and len(project.id) == 32
    assert list(data)[:3] == ["format", "version", "id"]
    assert load_project(path, REGISTRY).id == project.id  # stable from now on
    save_project(project, path)
    assert load_project(path, REGISTRY).id == project.id


@pytest.mark.parametrize("bad", ["'); import os #", "a" * 65, "x y", 7])
def test_an_id_that_is_not_a_short_plain_word_is_refused(bad):
    err = _error({**_base(), "version": 2, "id": bad})
    assert err.location == "id"
    assert ("letters, digits" in err.message or "text" in err.message or "empty" in err.message), err.message


def test_the_id_never_reaches_the_generated_code():
    from graph.compiler import compile_project

    data = json.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    project = project_from_dict({**data, "id": "zz_marker-123"}, REGISTRY)
    assert project.id == "zz_marker-123"
    assert "zz_marker" not in compile_project(project, REGISTRY).source


def test_every_bundled_example_has_its_own_fixed_id():
    ids = [load_project(path, REGISTRY).id for path in EXAMPLES]
    assert ids == [f"example-{path.name.removesuffix('.dw.json')}" for path in EXAMPLES]

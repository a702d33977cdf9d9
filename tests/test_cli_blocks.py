"""`deepwire blocks`, "did you mean" for PyTorch/Keras layer names, a command's usage on a bad option."""

from __future__ import annotations

import json

import pytest

from graph.blocks.aliases import FOREIGN_NAMES
from graph.examples import resolve_project
from runtime.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_blocks_json_lists_every_type_with_params_and_ports(capsys, registry):
    code, out, err = run_cli(capsys, "blocks", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["format"] == "deepwire-blocks"
    listed = {entry["type"]: entry for entry in data["blocks"]}
    assert list(listed) == [spec.type_id for spec in registry] and data["count"] == len(registry)
    conv = listed["Conv2d"]
    assert (conv["title"], conv["category"], conv["role"]) == ("Conv 2D", "Convolution", "layer")
    assert [p["name"] for p in conv["inputs"]] == ["x"] and conv["output"] == "out"
    kernel = next(p for p in conv["params"] if p["name"] == "kernel_size")
    assert (kernel["kind"], kernel["default"], kernel["minimum"], kernel["maximum"]) == ("int", 3, 1, 1024)
    padding = next(p for p in conv["params"] if p["name"] == "padding")
    assert padding["also"] == ["same", "valid"]
    head = listed["ClassificationHead"]
    assert head["output"] is None and head["role"] == "head"
    add = listed["Add"]
    assert add["inputs_from_param"] == "inputs" and [p["name"] for p in add["inputs"]] == ["in1", "in2"]
    cross = listed["CrossAttention"]
    assert [p["name"] for p in cross["inputs"]] == ["x", "context"]
    for entry in data["blocks"]:  # every default is what the declaration says, choices included
        spec = registry.get(entry["type"])
        assert {p["name"]: p["default"] for p in entry["params"]} == {
            name: list(v) if isinstance(v, tuple) else v for name, v in spec.defaults().items()}
        for p in entry["params"]:
            if p["kind"] == "choice":
                assert p["choices"] == list(spec.param(p["name"]).choices)


def test_blocks_state_where_they_deploy(capsys):
    """From the derived table (graph/deploy_support.json): what each type exported to."""
    code, out, _ = run_cli(capsys, "blocks", "LSTM", "InstanceNorm2d", "--json")
    lstm, norm = json.loads(out)["blocks"]
    assert lstm["deploy"]["onnx17"] is True and "static INT8 has no kernel" in lstm["deploy"]["int8"]
    assert list(norm["deploy_variants"]["track_running_stats=True"]) == ["onnx13", "onnx17"]
    code, out, _ = run_cli(capsys, "blocks", "LSTM")
    assert "deploys to: onnx13, onnx17, onnx, torch-export; not to: int8" in out


def test_blocks_text_groups_by_category_and_shows_bounds(capsys, registry):
    code, out, _ = run_cli(capsys, "blocks")
    assert code == 0
    for spec in registry:
        assert f"\n{spec.type_id}  ({spec.title}, {spec.role})" in out
    assert "== Convolution ==" in out
    assert "    kernel_size: int = 3  [1..1024]  Size of each filter window." in out
    assert "padding: int = 0  [0..1024, or 'same', 'valid']" in out
    assert f"{len(registry)} block types." in out


def test_blocks_for_named_types_and_an_unknown_one(capsys):
    code, out, _ = run_cli(capsys, "blocks", "LSTM", "--json")
    assert code == 0 and [b["type"] for b in json.loads(out)["blocks"]] == ["LSTM"]
    code, out, err = run_cli(capsys, "blocks", "Dense")
    assert code == 2 and out == ""
    assert "unknown block type 'Dense'; did you mean 'Linear'?" in err


@pytest.mark.parametrize("foreign, suggested", [
    ("Dense", "'Linear'"),
    ("Unflatten", "'Reshape'"),
    ("BatchNormalization", "'BatchNorm2d' or 'BatchNorm1d'"),
    ("Conv2D", "'Conv2d'"),
    ("nn.Conv2d", "'Conv2d'"),
    ("MaxPooling2D", "'MaxPool2d'"),
    ("relu", "'ReLU'"),
    ("AdaptiveAvgPool2d", "'GlobalAvgPool'"),
    ("LayerNormalization", "'LayerNorm'"),
    ("TransformerEncoderLayer", "'TransformerEncoderBlock'"),
    ("CrossEntropyLoss", "'ClassificationHead'"),
])
def test_check_suggests_the_block_for_a_pytorch_or_keras_name(capsys, tmp_path, foreign, suggested):
    data = json.loads(resolve_project("digits_mlp").read_text())
    block = data["networks"][0]["blocks"][1]
    block["type"] = foreign
    path = tmp_path / "foreign.dw.json"
    path.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "check", str(path))
    assert code == 2
    assert f"> type: unknown block type '{foreign}'; did you mean {suggested}?" in err


def test_every_foreign_name_points_at_real_types_and_shadows_none(registry):
    for name, targets in FOREIGN_NAMES.items():
        assert name.lower() not in {spec.type_id.lower() for spec in registry}, name
        assert targets and all(t in registry for t in targets), name
        assert registry.foreign_name(name) == targets


def test_a_bad_option_prints_the_commands_own_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "digits_cnn", "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: deepwire check [-h] [--json] [--target TARGET] project\n")
    assert "deepwire check: error: unrecognized arguments: --bogus" in err

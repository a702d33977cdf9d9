"""The deployability lint: the derived support file, the warnings, project targets, `check --target`.

The fast tests read graph/deploy_support.json as committed; the slow one derives it again by
exporting every block type (tests/deploy_support.py) and asserts the committed file says the same.
"""

from __future__ import annotations

import json

import pytest

from graph.blocks import default_registry
from graph.deploy import (
    REGENERATE,
    SUPPORT_FILE,
    TARGETS,
    check_targets,
    deploy_diagnostics,
    expand,
    support_table,
)
from graph.diagnostics import WARNING
from graph.model import Block, Edge, Network, Project
from graph.project_io import dumps_project, load_project, loads_project, save_project
from runtime.cli import main


def lstm_net() -> Network:
    net = Network("model")
    net.add_block(Block("seq", "SequenceInput", "seq", {"length": 6, "features": 3}, (0.0, 0.0)))
    net.add_block(Block("rnn", "LSTM", "encoder", {"hidden_size": 8}, (240.0, 0.0)))
    net.add_block(Block("out", "Output", "out", {}, (480.0, 0.0)))
    net.connect(Edge("seq", "rnn", "x"))
    net.connect(Edge("rnn", "out", "x"))
    return net


def test_support_file_covers_every_block_type_and_target():
    table = json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))
    missing = sorted(spec.type_id for spec in default_registry() if spec.type_id not in table["blocks"])
    assert missing == [], f"no deploy support data for {missing}: run `{REGENERATE}`"
    for type_id, entry in table["blocks"].items():
        assert list(entry["support"]) == list(TARGETS), f"{type_id}: targets differ; run `{REGENERATE}`"
        for target, value in entry["support"].items():
            assert value is True or (isinstance(value, str) and value), (type_id, target)
    assert table["generated_by"] == REGENERATE


def test_the_derived_facts_the_lint_relies_on():
    """What the harness found for a few types (a change here is a change of torch or onnxruntime)."""
    blocks = support_table()["blocks"]
    assert blocks["Conv2d"]["support"] == dict.fromkeys(TARGETS, True)
    assert "static INT8 has no kernel" in blocks["LSTM"]["support"]["int8"]
    assert blocks["LSTM"]["support"]["onnx"] is True
    assert "opset version 13 is not supported" in blocks["TransformerEncoderBlock"]["support"]["onnx13"]


def test_int8_target_warns_on_an_lstm_with_reason_and_alternative(registry):
    diags = deploy_diagnostics(lstm_net(), registry, ["int8"])
    assert [(d.severity, d.code, d.block, d.network) for d in diags] == [(WARNING, "deploy", "rnn", "model")]
    message = diags[0].message
    assert "'encoder'" in message and "int8" in message  # the block and the target
    assert "static INT8 has no kernel" in message  # the derived reason
    assert "--method dynamic" in message and "--keep-float encoder" in message  # the alternative
    assert deploy_diagnostics(lstm_net(), registry, ["onnx", "torch-export"]) == []
    assert deploy_diagnostics(lstm_net(), registry, []) == []


def test_a_disabled_block_is_not_linted(registry):
    net = lstm_net()
    net.set_enabled("rnn", False)
    assert deploy_diagnostics(net, registry, ["int8"]) == []


def test_mobile_preset_expands_and_names_itself(registry):
    assert expand(["mobile"]) == [("onnx13", "mobile"), ("int8", "mobile")]
    assert expand(["int8", "mobile", "onnx"]) == [("onnx13", "mobile"), ("onnx", None), ("int8", None)]
    diags = deploy_diagnostics(lstm_net(), registry, ["mobile"])
    assert [d.block for d in diags] == ["rnn"]
    assert "preset 'mobile'" in diags[0].message


# a hand-made table: the lint's reading of per-mode results, independent of what torch does today
TABLE = {"blocks": {
    **support_table()["blocks"],
    "GELU": {"case": "GELU[]", "modes": {"approximate": "none"},
             "support": {**dict.fromkeys(TARGETS, True), "onnx13": "no Gelu before opset 20"},
             "variants": {"approximate=tanh": {"onnx13": True}}},
    "LSTM": {"case": "LSTM[]", "modes": {"bidirectional": False, "output": "sequence"},
             "support": dict.fromkeys(TARGETS, True),
             "variants": {"bidirectional=True": {"torch-export": "bidirectional fails"}}},
}}


def test_per_parameter_variation_and_the_mode_offered_as_fix(registry):
    net = Network("model")
    net.add_block(Block("v", "VectorInput", "v", {"features": 4}))
    net.add_block(Block("g", "GELU", "act", {}))
    net.connect(Edge("v", "g", "x"))
    (diag,) = deploy_diagnostics(net, registry, ["onnx13"], TABLE)
    assert "no Gelu before opset 20" in diag.message
    assert "set approximate to 'tanh'" in diag.message
    assert diag.fix is not None and diag.fix.params == (("approximate", "tanh"),) and diag.fix.block == "g"
    net.blocks["g"].params["approximate"] = "tanh"
    assert deploy_diagnostics(net, registry, ["onnx13"], TABLE) == []

    lstm = lstm_net()
    assert deploy_diagnostics(lstm, registry, ["torch-export"], TABLE) == []
    lstm.blocks["rnn"].params["bidirectional"] = True
    (diag,) = deploy_diagnostics(lstm, registry, ["torch-export"], TABLE)
    assert "bidirectional fails" in diag.message
    # the case's mode deploys, but it changes what the block computes: said, never a one-click fix
    assert "set bidirectional to False (if the model can do without it" in diag.message
    assert diag.fix is None


def test_targets_are_saved_and_loaded_and_old_files_have_none(tmp_path, registry):
    project = Project("p", [lstm_net()], deploy_targets=["onnx17", "int8"])
    path = tmp_path / "p.dw.json"
    save_project(project, path)
    assert json.loads(path.read_text())["deploy_targets"] == ["onnx17", "int8"]
    assert load_project(path, registry).deploy_targets == ["onnx17", "int8"]
    assert "deploy_targets" not in dumps_project(Project("p", [lstm_net()]))  # none chosen: as before
    old = json.loads(dumps_project(Project("p", [lstm_net()])))
    old["version"] = 1
    old.pop("id", None)
    assert loads_project(json.dumps(old), registry).deploy_targets == []


def test_an_unknown_target_in_a_file_is_refused_with_its_place(registry):
    data = json.loads(dumps_project(Project("p", [lstm_net()])))
    data["deploy_targets"] = ["int8", "tflite"]
    from graph.project_io import ProjectFileError

    with pytest.raises(ProjectFileError) as info:
        loads_project(json.dumps(data), registry, "p.dw.json")
    text = str(info.value)
    assert "deploy_targets" in text and "'tflite'" in text and "onnx17" in text
    assert check_targets(["int8", "int8", "mobile"]) == ["int8", "mobile"]


def test_check_target_prints_the_warning(capsys):
    assert main(["check", "sine_classes_gru", "--target", "int8"]) == 0  # warnings only
    out = capsys.readouterr().out
    assert "Deploy targets: int8 (from --target)" in out
    lines = [line for line in out.splitlines() if "does not deploy to int8" in line]
    assert len(lines) == 1 and "GRU 'gru'" in lines[0] and "static INT8 has no kernel" in lines[0]
    assert "--keep-float gru" in lines[0] and "NAME" not in lines[0]


def test_check_target_json_and_a_bad_target(capsys, tmp_path, registry):
    path = tmp_path / "p.dw.json"
    save_project(Project("p", [lstm_net()], deploy_targets=["int8"]), path)
    assert main(["check", str(path), "--json"]) == 1  # the digits data does not fit: an error
    result = json.loads(capsys.readouterr().out)
    assert result["deploy_targets"] == ["int8"]
    deploy = [(d["severity"], d["block"]) for d in result["diagnostics"] if d["code"] == "deploy"]
    assert deploy == [("warning", "rnn")]
    assert main(["check", str(path), "--json", "--target", "onnx,torch-export"]) == 1
    assert [d for d in json.loads(capsys.readouterr().out)["diagnostics"] if d["code"] == "deploy"] == []
    assert main(["check", str(path), "--target", "tflite"]) == 2
    err = capsys.readouterr().err
    assert "unknown deploy target 'tflite'" in err and "mobile" in err and "Traceback" not in err


@pytest.mark.slow
def test_the_committed_support_file_is_what_the_harness_derives():
    """Exports every block type to every target again (several minutes on 2 cores)."""
    from runtime.export import quiet_exporters
    from tests.deploy_support import derive

    with quiet_exporters():
        derived = derive()
    committed = json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))
    differ = sorted(t for t in set(committed["blocks"]) | set(derived["blocks"])
                    if committed["blocks"].get(t) != derived["blocks"].get(t))
    assert differ == [], f"graph/deploy_support.json is out of date for {differ}: run `{REGENERATE}`"


def test_export_writes_the_opset_a_target_names(tmp_path, capsys):
    """onnx13 means something `deepwire export` can write: --opset 13, checked against the model."""
    import onnx

    out = tmp_path / "m.onnx"
    assert main(["export", "digits_cnn", "-f", "onnx", "--opset", "13", "-o", str(out)]) == 0
    opsets = {o.domain: o.version for o in onnx.load(str(out)).opset_import}
    assert opsets[""] == 13
    assert "wrote" in capsys.readouterr().out
    assert main(["export", "digits_cnn", "-f", "python", "--opset", "13", "-o", str(tmp_path / "m.py")]) == 1
    assert "only the onnx format has opsets" in capsys.readouterr().err

"""`deepwire quantize`: INT8 figures that match the written file, and refusals that write nothing (issue 17).

One real digits_cnn run (2 epochs) and one sine_classes_gru run (1 epoch), trained by
`deepwire train`, are quantized with onnxruntime; every figure the command reports is
recomputed here from the file it wrote, on the run's own validation split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from graph.atomic import is_temporary
from runtime.cli import main
from runtime.evaluate import open_run, predict
from runtime.quantize import QuantizeError, calibration_inputs, quantize_run

FAST = {"rounds": 2, "latency_batch": 64}  # timing is the benchmark's job (bench/bench_quantize.py)


def _train(tmp_path_factory, example: str, epochs: int) -> Path:
    out = tmp_path_factory.mktemp(example) / "run"
    assert main(["train", example, "--epochs", str(epochs), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "digits_cnn", 2)


@pytest.fixture(scope="module")
def gru_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "sine_classes_gru", 1)


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory, "sine_lstm", 1)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if is_temporary(p))


def _val(run: Path):
    recipe = open_run(run).recipe
    return recipe, recipe.val_data.inputs.numpy(), recipe.val_data.targets.numpy()


def test_static_figures_are_those_of_the_written_file(cnn_run, tmp_path):
    out = tmp_path / "digits.int8.onnx"
    report = quantize_run(cnn_run, out, **FAST)
    assert out.is_file() and _leftovers(tmp_path) == []
    assert report.int8_bytes == out.stat().st_size
    assert report.int8_bytes < 0.35 * report.float_bytes  # really smaller: INT8 weights, not float ones

    recipe, x, y = _val(cnn_run)
    assert report.val_samples == len(x) == len(y) > 300
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    recomputed = float(np.mean(session.run(None, {"image": x})[0].argmax(axis=1) == y))
    assert report.int8_metric == recomputed
    true, pred = predict(recipe, recipe.val_data)  # the float figure is the trained model's own
    assert abs(report.float_metric - float(np.mean(true == pred))) <= 1 / len(x)
    assert abs(report.int8_metric - report.float_metric) <= 0.01  # the target: within 1 point
    assert report.float_ms > 0 and report.int8_ms > 0 and report.latency_batch == 64

    model = onnx.load(str(out))
    ops = [node.op_type for node in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name: i.data_type for i in model.graph.initializer}
    assert inits["conv2.weight_quantized"] == onnx.TensorProto.INT8
    assert "conv2.weight" not in inits
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["preprocessing"])["classes"] == [str(i) for i in range(10)]  # travels along
    assert json.loads(props["deepwire.quantization"]) == {"method": "static", "calibration": 256,
                                                          "kept_float": [], "network": "model"}


def test_keep_float_keeps_the_named_blocks_float(cnn_run, tmp_path):
    out = tmp_path / "kept.onnx"
    report = quantize_run(cnn_run, out, keep_float=["conv1", "scores"], **FAST)
    inits = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    assert inits["conv1.weight"] == inits["scores.weight"] == onnx.TensorProto.FLOAT
    assert inits["conv2.weight_quantized"] == onnx.TensorProto.INT8
    assert report.kept_float == ["conv1", "scores"] and "conv2" in report.quantized_blocks
    _recipe, x, y = _val(cnn_run)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert report.int8_metric == float(np.mean(session.run(None, {"image": x})[0].argmax(axis=1) == y))


def test_cli_json_and_table(cnn_run, tmp_path, capsys, caplog):
    out = tmp_path / "q.onnx"
    assert main(["quantize", str(cnn_run), "-o", str(out), "--json", "--rounds", "1",
                 "--latency-batch", "32", "--method", "dynamic"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["method"] == "dynamic" and figures["int8_bytes"] == out.stat().st_size
    assert figures["size_ratio"] == pytest.approx(figures["int8_bytes"] / figures["float_bytes"])
    # dynamic INT8 gets the per-block table too (its batch norms, unfolded in the table's copy, stay float)
    assert [b["name"] for b in figures["blocks"]][-1] == "scores" and figures["block_samples"] == 64
    assert not any("per-block" in note for note in figures["notes"])
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"MatMulInteger", "ConvInteger"} & ops  # dynamic INT8 kernels, the Linear included
    assert main(["quantize", str(cnn_run), "-o", str(out), "--force", "--rounds", "1",
                 "--latency-batch", "32"]) == 0
    said = capsys.readouterr()
    text = said.out
    assert "validation accuracy" in text and "file size" in text and "CPU latency per batch of 32" in text
    # onnxruntime's per-tensor fallback for the unfolded batch norms' 1-D scales is not shown to the user
    assert not [r for r in caplog.records if "out-of-range" in r.getMessage()]
    assert "out-of-range" not in said.err


def test_each_block_is_compared_in_int8(cnn_run, tmp_path):
    """The per-block table (issue 17's per-block parity for the quantized export): each block's
    INT8 value against float, measured on an INT8 copy of the file that also outputs every block,
    beside the written file's own output error."""
    out = tmp_path / "blocks.onnx"
    report = quantize_run(cnn_run, out, **FAST)
    recipe, x, _y = _val(cnn_run)
    names = [b["name"] for b in report.blocks]
    assert names.index("conv1") < names.index("conv2") < names.index("scores") == len(names) - 1
    assert report.block_samples == 64
    assert all(b["problem"] == "" and b["max_abs_diff"] > 0 for b in report.blocks)  # INT8 drifts
    # the last block is the network's output: its figure is the written file's own drift
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x[:64]})[0]
    with torch.no_grad():
        want = recipe.model(torch.from_numpy(x[:64])).numpy()
    assert report.output_error == pytest.approx(float(np.abs(got - want).max()), rel=1e-5)
    # the table's copy (every block an output, batch norms unfolded) drifts by as much, not exactly as much
    assert 0.5 * report.output_error <= report.blocks[-1]["max_abs_diff"] <= 2 * report.output_error
    # digits_cnn's batch norms feed only ReLUs: INT8 keeps their values in [0, max], and the table says so
    norms = [b for b in report.blocks if b["type"] == "BatchNorm2d"]
    assert len(norms) == 2 and all(b["relu_next"] for b in norms)
    assert not any(b["relu_next"] for b in report.blocks if b["type"] != "BatchNorm2d")
    text = report.blocks_table()
    assert text.startswith("INT8 error per block (64 validation samples")
    assert "conv2" in text and "max rel diff" in text


def _refused(args: list[str], capsys, *expected: str) -> str:
    assert main(["quantize", *args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    for text in expected:
        assert text in captured.err
    return captured.err


@pytest.mark.slow  # trains a GRU and quantizes it twice: 15 s of the default suite's 5-minute budget
def test_recurrent_block_refused_for_static_and_kept_float_on_request(gru_run, tmp_path, capsys):
    out = tmp_path / "gru.onnx"
    _refused([str(gru_run), "-o", str(out), "--rounds", "1"], capsys, "block 'gru' (GRU)",
             "--keep-float gru")
    _refused([str(gru_run), "-o", str(out), "--method", "dynamic"], capsys, "block 'gru' (GRU)")
    assert not out.exists() and _leftovers(tmp_path) == []
    report = quantize_run(gru_run, out, keep_float=["gru"], **FAST)
    inits = {i.name: i.data_type for i in onnx.load(str(out)).graph.initializer}
    assert all(dtype == onnx.TensorProto.FLOAT for name, dtype in inits.items() if name.startswith("gru."))
    assert report.kept_float == ["gru"] and report.quantized_blocks


def test_lstm_refused_for_static_and_quantized_by_dynamic(lstm_run, tmp_path, capsys):
    out = tmp_path / "lstm.onnx"
    _refused([str(lstm_run), "-o", str(out)], capsys, "block 'lstm' (LSTM)", "--method dynamic")
    assert not out.exists()
    report = quantize_run(lstm_run, out, method="dynamic", **FAST)
    assert report.metric == "mean_abs_diff" and report.calibration == 0 and "lstm" in report.quantized_blocks
    model = onnx.load(str(out))
    assert "DynamicQuantizeLSTM" in {node.op_type for node in model.graph.node}
    assert report.int8_bytes == out.stat().st_size < report.float_bytes
    recipe, x, _y = _val(lstm_run)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # dynamic INT8 outputs vary with the thread count and the batch
    session = onnxruntime.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = recipe.model(torch.from_numpy(x)).numpy()
    name = session.get_inputs()[0].name  # ranges are per batch: the same batches of 256
    got = np.concatenate([session.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    recomputed = float(np.mean(np.abs(got.astype(np.float64) - want)))
    assert report.int8_metric == pytest.approx(recomputed, rel=1e-3)
    assert 0 < report.int8_metric < 0.05 * float(np.abs(want).mean())  # close to float, not equal to it


def test_bad_inputs_are_refused_with_a_message_and_nothing_written(cnn_run, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    not_a_run = tmp_path / "elsewhere"
    not_a_run.mkdir()
    _refused([str(not_a_run), "-o", str(out)], capsys, "no project.dw.json")
    other = Path(__file__).resolve().parent.parent / "assets" / "examples" / "digits_mlp.dw.json"
    _refused([str(cnn_run), "-o", str(out), "--project", str(other)], capsys, "run of another project")
    _refused([str(cnn_run), "-o", str(out), "--calibration", "0"], capsys, "--calibration must be")
    _refused([str(cnn_run), "-o", str(out), "--format", "torch"], capsys, "quantize_pt2e")
    _refused([str(cnn_run), "-o", str(out), "--keep-float", "nope"], capsys, "no block named 'nope'",
             "conv1")
    _refused([str(cnn_run), "-o", str(tmp_path / "q.txt")], capsys, "name it *.onnx")
    corrupt = tmp_path / "float.onnx"
    assert main(["export", str(cnn_run / "project.dw.json"), "-f", "onnx", "--weights", str(cnn_run),
                 "-o", str(corrupt)]) == 0
    corrupt.write_bytes(corrupt.read_bytes()[:20000])  # truncated mid-way
    _refused([str(cnn_run), "-o", str(out), "--onnx", str(corrupt)], capsys, "not a valid ONNX file")
    fresh = tmp_path / "fresh.onnx"  # the same network with fresh weights: not this run's model
    assert main(["export", str(cnn_run / "project.dw.json"), "-f", "onnx", "-o", str(fresh)]) == 0
    _refused([str(cnn_run), "-o", str(out), "--onnx", str(fresh)], capsys, "its outputs differ")
    assert not out.exists() and _leftovers(tmp_path) == []

    out.write_bytes(b"keep me")  # an existing file is replaced only with --force
    _refused([str(cnn_run), "-o", str(out)], capsys, "already exists; add --force")
    assert out.read_bytes() == b"keep me"


def test_calibration_data_that_does_not_fit():
    good = np.zeros((10, 1, 8, 8), np.float32)
    assert calibration_inputs(good, 4, (1, 8, 8), 0).shape == (4, 1, 8, 8)
    assert calibration_inputs(good, 99, (1, 8, 8), 0).shape == (10, 1, 8, 8)  # capped at the split
    with pytest.raises(QuantizeError, match=r"shape \(1, 8, 8\), but the network reads \(1, 28, 28\)"):
        calibration_inputs(good, 4, (1, 28, 28), 0)
    bad = good.copy()
    bad[3, 0, 2, 2] = np.nan
    with pytest.raises(QuantizeError, match="NaN or infinite"):
        calibration_inputs(bad, 4, (1, 8, 8), 0)
    with pytest.raises(QuantizeError, match="empty"):
        calibration_inputs(good[:0], 4, (1, 8, 8), 0)


def test_a_failure_after_quantizing_leaves_the_old_file(cnn_run, tmp_path, monkeypatch):
    import runtime.quantize as quantize

    out = tmp_path / "q.onnx"
    out.write_bytes(b"previous")

    def broken(*args, **kwargs):
        raise QuantizeError("the INT8 model does not load in onnxruntime (simulated)")

    monkeypatch.setattr(quantize, "_measure", broken)
    with pytest.raises(QuantizeError, match="simulated"):
        quantize_run(cnn_run, out, force=True, **FAST)
    assert out.read_bytes() == b"previous" and _leftovers(tmp_path) == []


def test_a_model_that_does_not_export_is_refused(cnn_run, tmp_path, monkeypatch):
    import runtime.export as export
    from runtime.export import ExportError

    def fails(*args, **kwargs):
        raise ExportError("network 'model': ONNX export failed: aten::weird is not supported")

    monkeypatch.setattr(export, "export_onnx", fails)
    out = tmp_path / "q.onnx"
    with pytest.raises(QuantizeError, match="aten::weird.*cannot be quantized"):
        quantize_run(cnn_run, out, **FAST)
    assert not out.exists() and _leftovers(tmp_path) == []

"""`deepwire preview`: a block's output for a few samples, checked against the model itself.

The reference values come from the full model built the same way the
exporter builds it (seeded fresh weights, or a checkpoint's), run on the
same samples, with a forward hook on the block's submodule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graph.examples import example_path
from graph.project_io import load_project, save_project
from runtime.cli import main
from runtime.export_project import prepare_models
from runtime.preview import compute_preview


def _block(project, name):
    return next(b.id for b in project.network().blocks.values() if b.name == name)


def _preview(tmp_path, *args) -> dict:
    out = tmp_path / "p.npz"
    assert main(["preview", *args, "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _reference(project, registry, block_name, inputs, weights=None):
    """The block's submodule output inside the full model (a forward hook)."""
    models, compiled = prepare_models(project, registry, weights)
    model = models["model"]
    module = getattr(model, compiled.network().module_names[_block(project, block_name)])
    seen = {}
    handle = module.register_forward_hook(lambda _m, _i, out: seen.setdefault("out", out.detach()))
    with torch.no_grad():
        model(torch.as_tensor(inputs))
    handle.remove()
    return seen["out"].numpy()


@pytest.fixture
def digits(registry):
    return load_project(example_path("digits_cnn"), registry)


def test_conv_feature_maps_equal_the_models_own(tmp_path, registry, digits):
    data = _preview(tmp_path, "digits_cnn", "--block", _block(digits, "conv1"), "--samples", "4")
    assert str(data["kind"]) == "image" and str(data["weights"]) == "random"
    assert data["output"].shape == (4, 32, 8, 8) and tuple(data["shape"]) == (4, 32, 8, 8)
    assert str(data["source"]).startswith("digits")  # real samples, not random ones
    want = _reference(digits, registry, "conv1", data["input"])
    np.testing.assert_allclose(data["output"], want, rtol=1e-5, atol=1e-5)


def test_activation_block_output_is_relu_of_the_norm(tmp_path, registry, digits):
    # relu1 is a plain function call in forward(): no submodule, no hook; the preview still sees it
    data = _preview(tmp_path, "digits_cnn", "--block", "relu1")
    assert str(data["block"]) == _block(digits, "relu1") and data["output"].shape == (4, 32, 8, 8)
    norm = _reference(digits, registry, "norm1", data["input"])
    np.testing.assert_allclose(data["output"], np.maximum(norm, 0), rtol=1e-5, atol=1e-5)
    assert (data["output"] == 0).any() and (data["output"] > 0).any()


def test_checkpoint_weights_are_used(tmp_path, registry, digits):
    models, _ = prepare_models(digits, registry)
    state = {k: v.clone() for k, v in models["model"].state_dict().items()}
    conv = next(k for k in state if k.endswith("weight") and state[k].ndim == 4)
    state[conv] *= -3.0
    checkpoint = tmp_path / "best.pt"
    torch.save({"models": {"model": state}}, checkpoint)
    data = _preview(tmp_path, "digits_cnn", "--block", "conv1", "--weights", str(checkpoint))
    assert str(data["weights"]) == str(checkpoint)
    want = _reference(digits, registry, "conv1", data["input"], weights=checkpoint)
    np.testing.assert_allclose(data["output"], want, rtol=1e-5, atol=1e-5)
    fresh = _reference(digits, registry, "conv1", data["input"])
    assert not np.allclose(data["output"], fresh)


def test_transformer_attention_rows_sum_to_one_and_respect_the_causal_mask(tmp_path):
    data = _preview(tmp_path, "char_transformer", "--block", "layer1", "--samples", "2")
    assert str(data["kind"]) == "attention"
    attention = data["attention"]
    assert attention.shape == (2, 64, 64) and data["output"].shape == (2, 64, 64)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(attention, k=1) == 0)  # causal: no step looks ahead


def test_self_attention_block_and_sequence_kind(registry):
    from graph.model import Block, Edge, Network, Project

    net = Network("model", [Block("i", "SequenceInput", "seq", {"length": 5, "features": 8}),
                            Block("a", "SelfAttention", "attend", {"heads": 2}),
                            Block("h", "RegressionHead", "out", {})],
                  [Edge("i", "a", "x"), Edge("a", "h", "x")])
    preview = compute_preview(Project("t", [net]), registry, "attend", samples=3)
    assert preview.kind == "attention" and preview.attention.shape == (3, 5, 5)
    np.testing.assert_allclose(preview.attention.sum(-1), 1.0, atol=1e-5)
    assert preview.output.shape == (3, 5, 8)
    head = compute_preview(Project("t", [net]), registry, "h", samples=2)  # a head shows its input
    assert head.kind == "attention" and head.notes


def test_unloadable_data_falls_back_to_random_inputs_and_says_so(tmp_path, registry, digits, capsys):
    digits.data.source = "csv"
    digits.data.options = {"path": str(tmp_path / "missing.csv")}
    path = tmp_path / "broken.dw.json"
    save_project(digits, path)
    data = _preview(tmp_path, str(path), "--block", "conv1", "--samples", "3")
    assert str(data["source"]).startswith("random inputs: the data could not load")
    assert data["input"].shape == (3, 1, 8, 8) and data["output"].shape == (3, 32, 8, 8)
    assert "random inputs" in capsys.readouterr().out


def test_unknown_block_is_refused(tmp_path, capsys):
    assert main(["preview", "digits_cnn", "--block", "nope", "--out", str(tmp_path / "x.npz")]) == 1
    assert "has no block 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()

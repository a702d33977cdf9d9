"""Shared modules and tied parameters (issue 14, D9): one set of weights used in more than one place.

A siamese network built by hand: its second encoder use holds no module, the compiled model has the
parameters of one encoder, both uses run the same tensors, training updates the one tensor, the
exported .py keeps it. Ties: the head's weight is the embedding's tensor, counted once; a tie whose
shapes differ, a dangling `shares` and a tie naming no block are diagnostics, not tracebacks.
"""

from __future__ import annotations

import json

import pytest
import torch

from graph.compiler import CompileError, compile_network
from graph.memory import block_weights
from graph.model import Block, Edge, ModelError, Network, Project
from graph.project_io import dumps_project, loads_project
from graph.validate import analyse
from runtime.build import load_source


def siamese(shared: bool = True) -> Network:
    net = Network("siamese")
    net.add_block(Block("l", "VectorInput", "left", {"features": 10}))
    net.add_block(Block("r", "VectorInput", "right", {"features": 10}))
    net.add_block(Block("e1", "Linear", "encoder", {"features": 8}))
    net.add_block(Block("e2", "Linear", "encoder_right", {"features": 8}, shares="e1" if shared else None))
    net.add_block(Block("cat", "Concatenate", "cat", {"inputs": 2}))
    net.add_block(Block("s", "Linear", "score", {"features": 1}))
    net.add_block(Block("o", "BinaryHead", "output", {}))
    for edge in (Edge("l", "e1", "x"), Edge("r", "e2", "x"), Edge("e1", "cat", "in1"),
                 Edge("e2", "cat", "in2"), Edge("cat", "s", "x"), Edge("s", "o", "x")):
        net.connect(edge)
    return net


def tied_lm(dim_head: int = 16) -> Network:
    net = Network("lm")
    net.add_block(Block("t", "TokenInput", "idx", {"vocab_size": 50, "length": 6}))
    net.add_block(Block("emb", "Embedding", "tokens", {"vocab_size": 50, "dim": 16}))
    net.add_block(Block("h", "Linear", "head", {"features": 50, "bias": False}))
    net.add_block(Block("o", "ClassificationHead", "output", {"classes": 50}))
    net.connect(Edge("t", "emb", "x"))
    if dim_head != 16:
        net.add_block(Block("p", "Linear", "proj", {"features": dim_head}))
        net.connect(Edge("emb", "p", "x"))
        net.connect(Edge("p", "h", "x"))
    else:
        net.connect(Edge("emb", "h", "x"))
    net.connect(Edge("h", "o", "x"))
    net.set_ties({"h.weight": "emb.weight"})
    return net


def build(net: Network, registry) -> torch.nn.Module:
    compiled = compile_network(net, registry, "Net")
    module = load_source(compiled.source)
    return getattr(module, compiled.network().class_name)()


def test_a_shared_module_is_one_submodule_used_twice(registry):
    model = build(siamese(), registry)
    separate = build(siamese(shared=False), registry)
    assert sum(p.numel() for p in model.parameters()) == 10 * 8 + 8 + 16 + 1  # one encoder
    assert sum(p.numel() for p in separate.parameters()) == 2 * (10 * 8 + 8) + 16 + 1
    source = compile_network(siamese(), registry).source
    assert source.count("nn.Linear(10, 8)") == 1
    assert "self.encoder(left)" in source and "self.encoder(right)" in source
    # same tensors on both branches: swapping the inputs swaps the two halves of the code
    left, right = torch.randn(4, 10), torch.randn(4, 10)
    a = model.encoder(left)
    b = model.encoder(right)
    with torch.no_grad():
        torch.testing.assert_close(model(left, right), model.score(torch.cat([a, b], 1)))


def test_training_updates_the_one_shared_tensor(registry):
    model = build(siamese(), registry)
    before = model.encoder.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(4, 10), torch.randn(4, 10)).sum()
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.encoder.weight)
    assert len(list(model.parameters())) == 4  # encoder weight+bias, score weight+bias


def test_parameter_counts_count_a_shared_module_once(registry):
    net = siamese()
    analysis = analyse(net, registry)
    assert analysis.ok, [d.message for d in analysis.diagnostics]
    counts = {bid: block_weights(net, registry, analysis.inference, bid) for bid in net.blocks}
    assert counts["e1"] == 88 and counts["e2"] == 0
    assert sum(counts.values()) == sum(p.numel() for p in build(net, registry).parameters())


def test_settings_follow_the_owner_and_the_owner_cannot_vanish(registry):
    net = siamese()
    net.set_param("e2", "features", 12)
    assert net.blocks["e1"].params["features"] == 12
    net.set_frozen("e1", True)
    assert net.blocks["e2"].frozen
    for edge in net.edges_of("e1"):
        net.disconnect(edge)
    with pytest.raises(ModelError, match="encoder_right"):
        net.remove_block("e1")
    assert "e1" in net.blocks


def test_a_different_input_shape_for_a_shared_module_is_diagnosed(registry):
    net = siamese()
    net.set_param("r", "features", 12)
    diags = [d for d in analyse(net, registry).diagnostics if d.code == "shares"]
    assert len(diags) == 1 and diags[0].block == "e2"
    assert "nn.Linear(12, 8)" in diags[0].message and "nn.Linear(10, 8)" in diags[0].message
    with pytest.raises(CompileError):
        compile_network(net, registry)


def test_a_dangling_shares_in_a_project_file_is_a_diagnostic(registry):
    data = json.loads(dumps_project(Project(name="s", networks=[siamese()])))
    entry = next(b for b in data["networks"][0]["blocks"] if b["id"] == "e2")
    assert entry["shares"] == "e1"
    entry["shares"] = "gone"
    project = loads_project(json.dumps(data), registry)
    diags = [d for d in analyse(project.networks[0], registry).diagnostics if d.code == "shares"]
    assert len(diags) == 1 and diags[0].is_error
    assert "'gone'" in diags[0].message and "make it independent" in diags[0].message


def test_a_tied_head_is_the_embedding_tensor(registry):
    net = tied_lm()
    analysis = analyse(net, registry)
    assert analysis.ok, [d.message for d in analysis.diagnostics]
    model = build(net, registry)
    assert model.head.weight is model.tokens.weight
    assert sum(p.numel() for p in model.parameters()) == 50 * 16
    counts = {bid: block_weights(net, registry, analysis.inference, bid) for bid in net.blocks}
    assert counts["emb"] == 800 and counts["h"] == 0
    # both keys are in the state_dict, and loading a state_dict keeps the tie
    state = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    state["head.weight"] = state["tokens.weight"]
    again = build(net, registry)
    again.load_state_dict(state)
    assert again.head.weight is again.tokens.weight
    torch.testing.assert_close(again.head.weight, state["tokens.weight"])


def test_a_tie_with_different_shapes_names_both_blocks(registry):
    net = tied_lm(dim_head=8)
    diags = [d for d in analyse(net, registry).diagnostics if d.code == "tie"]
    assert len(diags) == 1 and diags[0].is_error
    assert "'head'" in diags[0].message and "'tokens'" in diags[0].message
    assert "(50, 8)" in diags[0].message and "(50, 16)" in diags[0].message


def test_a_tie_between_a_frozen_and_a_training_block_is_a_warning(registry):
    net = tied_lm()
    net.set_frozen("emb", True)
    diags = [d for d in analyse(net, registry).diagnostics if d.code == "tie"]
    assert len(diags) == 1 and not diags[0].is_error
    assert "Embedding 'tokens' is frozen and Linear 'head' is not" in diags[0].message


def test_a_tie_naming_no_block_or_parameter_is_a_diagnostic(registry):
    net = tied_lm()
    net.set_ties({"h.wieght": "emb.weight", "zz.weight": "emb.weight"})
    messages = [d.message for d in analyse(net, registry).diagnostics if d.code == "tie"]
    assert any("has no parameter 'wieght'" in m for m in messages)
    assert any("'zz.weight' names no block" in m for m in messages)


def test_sharing_and_ties_survive_save_and_load(registry):
    project = Project(name="p", networks=[siamese(), tied_lm()])
    again = loads_project(dumps_project(project), registry)
    assert loads_project(dumps_project(again), registry) == again  # (loading fills in default settings)
    assert [list(n.blocks) for n in again.networks] == [list(n.blocks) for n in project.networks]
    assert again.networks[0].blocks["e2"].shares == "e1"
    assert again.networks[1].ties == {"h.weight": "emb.weight"}
    # a file without the fields loads with none
    data = json.loads(dumps_project(Project(name="q", networks=[siamese(shared=False)])))
    assert all("shares" not in b for b in data["networks"][0]["blocks"]) and "ties" not in data["networks"][0]


@pytest.mark.parametrize("fmt, suffix", [("python", ".py"), ("onnx", ".onnx"), ("torch-export", ".pt2")])
def test_exports_keep_the_sharing_and_check_equal(tmp_path, registry, fmt, suffix, capsys):
    from graph.project_io import save_project
    from runtime.cli import main

    project = Project(name="twins", networks=[siamese()])
    path = tmp_path / "twins.dw.json"
    save_project(project, path)
    out = tmp_path / f"twins{suffix}"
    assert main(["export", str(path), "--format", fmt, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.exists()
    if fmt == "python":
        source = out.read_text()
        assert source.count("nn.Linear(10, 8)") == 1 and "self.encoder(right)" in source
    else:
        assert "matches the in-app model" in text


def test_the_preview_of_a_use_whose_holder_is_cut_off_runs_the_holders_weights(registry):
    from runtime.export_project import prepare_models
    from runtime.preview import compute_preview

    project = Project(name="twins", networks=[siamese()])
    preview = compute_preview(project, registry, "encoder_right", samples=3)
    models, _ = prepare_models(project, registry, None, None)
    with torch.no_grad():
        want = models["siamese"].encoder(torch.as_tensor(preview.inputs))
    np_want = want.numpy()
    assert preview.output.shape == np_want.shape == (3, 8)
    assert abs(preview.output - np_want).max() < 1e-6

"""The compiler: readable code, stable identifiers, one line per block, runs as written."""

import ast

import torch

from graph.compiler import CompileError, compile_network, compile_project
from graph.model import Block, Edge, Network, Project
from graph.pycode import MODULE_ATTRIBUTES, Namespace, to_class_name
from runtime.build import load_source


def residual(name_a="fc1", name_b="fc2"):
    net = Network("model")
    for block in (Block("in", "VectorInput", "features", {"features": 8}),
                  Block("a", "Linear", name_a, {"features": 8}), Block("r", "ReLU", "relu"),
                  Block("b", "Linear", name_b, {"features": 8}), Block("add", "Add", "skip"),
                  Block("head", "RegressionHead", "out")):
        net.add_block(block)
    for src, dst, port in [("in", "a", "x"), ("a", "r", "x"), ("r", "b", "x"), ("b", "add", "in1"),
                           ("r", "add", "in2"), ("add", "head", "x")]:
        net.connect(Edge(src, dst, port))
    return net


def test_forward_reads_like_hand_written_code(registry):
    compiled = compile_network(residual(), registry, "Residual MLP")
    assert "class ResidualMlp(nn.Module):" in compiled.source
    forward = compiled.source.split("def forward")[1].split("@staticmethod")[0]
    assert [line.strip() for line in forward.strip().splitlines()[2:]] == [
        "x = self.fc1(features)  # (B, 8)",
        "x = torch.relu(x)  # (B, 8)",
        "fc2 = self.fc2(x)  # (B, 8)",
        "x = fc2 + x  # (B, 8)",
        "return x",
    ]
    assert "import torch.nn.functional as F" not in compiled.source  # no unused import


def test_line_numbers_point_at_each_block(registry):
    compiled = compile_network(residual(), registry)
    lines = compiled.source.splitlines()
    info = compiled.network()
    assert "self.fc1(" in lines[info.lines["a"] - 1]
    assert "self.fc2(" in lines[info.lines["b"] - 1]


def test_generated_module_runs_and_matches_a_hand_computation(registry):
    compiled = compile_network(residual(), registry)
    model = getattr(load_source(compiled.source), compiled.network().class_name)()
    x = torch.randn(4, 8)
    hidden = torch.relu(model.fc1(x))
    torch.testing.assert_close(model(x), model.fc2(hidden) + hidden)
    assert isinstance(model.make_loss(), torch.nn.MSELoss)
    assert compiled.network().module_names == {"a": "fc1", "b": "fc2"}


def test_hostile_names_never_become_code(registry):
    net = residual(name_a="__import__('os').system('echo pwned')", name_b='"""; import os #')
    project = Project(name="forward\nimport os", networks=[net])
    source = compile_project(project, registry).source
    tree = ast.parse(source)
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & {"__import__", "eval", "exec", "open"}
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                and any(a.name == "os" for a in n.names)]
    module = load_source(source)
    assert callable(module.ForwardImportOs)


def test_names_are_unique_and_shadow_nothing(registry):
    names = Namespace()
    got = [names.name(n) for n in ["conv", "conv", "Conv", "forward", "training", "list", "1st", "", "for"]]
    assert len(set(got)) == len(got)
    assert not set(got) & (MODULE_ATTRIBUTES | {"list", "for"})
    assert all(g.isidentifier() for g in got)
    assert to_class_name("my cool net") == "MyCoolNet" and to_class_name("3d") == "Model3d"


def test_module_attribute_list_matches_torch():
    missing = {n for n in dir(torch.nn.Module) if not n.startswith("_")} - MODULE_ATTRIBUTES
    assert missing == set()


def test_two_networks_share_one_module_and_disabled_blocks_vanish(registry):
    gen, disc = residual(), residual()
    gen.rename("generator")
    disc.rename("discriminator")
    disc.set_enabled("r", False)
    compiled = compile_project(Project(name="gan", networks=[gen, disc]), registry)
    module = load_source(compiled.source)
    assert compiled.network("generator").class_name == "Generator"
    d = getattr(module, compiled.network("discriminator").class_name)()
    assert compiled.source.count("torch.relu(") == 1  # only the generator's
    x = torch.randn(2, 8)
    torch.testing.assert_close(d(x), d.fc2(d.fc1(x)) + d.fc1(x))


def test_compile_refuses_a_network_with_errors(registry):
    net = residual()
    net.disconnect(Edge("r", "add", "in2"))
    try:
        compile_network(net, registry)
    except CompileError as err:
        assert "input 'in2' is not connected" in str(err)
        assert err.diagnostics[0].block == "add"
    else:
        raise AssertionError("expected CompileError")


def test_same_project_gives_byte_identical_code(registry):
    assert compile_network(residual(), registry).source == compile_network(residual(), registry).source

"""Round trip: the code DeepWire exports imports back as the same networks, and computes the same.

For every bundled example: export the Python code, import it with `run_import`
(no flags: shapes, heads and network names come from the exported code), and
check that each imported network has the same blocks (types and parameters)
wired the same way as the original (ids, names and positions may differ), the
same block definitions (names, bodies, exposed parameters) from their classes,
and that the model compiled from the imported project, with the weights file
the import wrote, gives exactly the outputs of the exported class with those
weights.
"""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from graph.definitions import registry_for
from graph.examples import list_examples
from graph.model import Network
from graph.project_io import load_project
from runtime.build import build_models
from runtime.export import export_python, sample_inputs, vocab_sizes
from runtime.export_project import import_module_from
from runtime.importing.importer import run_import

EXAMPLES = [e.name for e in list_examples()]


def canonical_params(registry, block) -> tuple:
    """Parameters with defaults filled in and equivalent spellings made equal."""
    spec = registry.get(block.type)
    params = spec.check_params(block.params)
    if "stride" in params and "kernel_size" in params and block.type.endswith(("Pool1d", "Pool2d")):
        params["stride"] = params["stride"] or params["kernel_size"]  # 0 means "same as kernel_size"
    if block.type in ("Conv1d", "Conv2d") and params["padding"] == "valid":
        params["padding"] = 0
    return tuple(sorted(params.items()))


def as_graph(registry, network: Network) -> nx.MultiDiGraph:
    registry = registry_for(network, registry)  # instances of the project's definitions too
    graph = nx.MultiDiGraph()
    for bid, block in network.blocks.items():
        graph.add_node(bid, label=(block.type, canonical_params(registry, block)))
    for edge in network.edges:
        graph.add_edge(edge.src, edge.dst, port=edge.dst_port)
    return graph


def same_network(registry, a: Network, b: Network) -> bool:
    return nx.is_isomorphic(as_graph(registry, a), as_graph(registry, b),
                            node_match=lambda x, y: x["label"] == y["label"],
                            edge_match=lambda x, y: sorted(e["port"] for e in x.values())
                            == sorted(e["port"] for e in y.values()))


def exposed(definition, param) -> tuple:
    """An exposed parameter by its name, default and the (block type, setting) pairs it binds."""
    blocks = definition.body.blocks
    bound = sorted((blocks[b.partition(".")[0]].type, b.partition(".")[2]) for b in param.binds)
    return param.name, param.default, bound


def test_same_network_tells_a_changed_parameter_apart(registry):
    """The comparison the round trip relies on can fail."""
    original = load_project(list_examples()[0].path, registry)
    changed = original.copy()
    net = changed.networks[0]
    block = next(b for b in net.blocks.values() if registry.get(b.type).params and b.type != "ImageInput"
                 and registry.get(b.type).role == "layer")
    spec = registry.get(block.type)
    name = spec.params[0].name
    value = block.params.get(name, spec.params[0].default)
    net.set_param(block.id, name, value + 1 if isinstance(value, int) else value)
    assert same_network(registry, original.networks[0], original.networks[0])
    if isinstance(value, int):
        assert not same_network(registry, original.networks[0], net)


@pytest.mark.parametrize("name", EXAMPLES)
def test_exported_code_imports_back_to_the_same_project(registry, tmp_path, name):
    original = load_project(next(e.path for e in list_examples() if e.name == name), registry)
    code = export_python(original, registry, tmp_path / f"{name}.py")

    report = run_import(str(code), tmp_path / "imported.dw.json", registry)

    assert report.ok, [(n.problems, n.errors, n.max_abs_diff) for n in report.networks]
    imported = load_project(report.project_path, registry)
    assert [n.name for n in imported.networks] == [n.name for n in original.networks]
    # the classes of the definitions import back as the same definitions: names, bodies, parameters
    assert imported.definitions.names() == original.definitions.names()
    for want, got in zip(original.definitions, imported.definitions):
        assert same_network(registry, want.body, got.body), f"definition '{want.name}' differs"
        assert [exposed(want, p) for p in want.params] == [exposed(got, p) for p in got.params]
    for want, got in zip(original.networks, imported.networks):
        assert len(got.blocks) == len(want.blocks) and len(got.edges) == len(want.edges)
        assert same_network(registry, want, got), f"network '{want.name}' differs after the round trip"
    assert all(r.max_abs_diff == 0.0 for r in report.networks)

    # the weights file drives the imported project's model; the exported class with the same
    # weights gives exactly the same outputs
    checkpoint = torch.load(report.weights_path, weights_only=True)
    assert imported.training.init_checkpoint == report.weights_path.name
    assert imported.training.freeze_init is False
    models, compiled = build_models(imported, registry)
    exported = import_module_from(code)
    generator = torch.Generator().manual_seed(1)
    for network in imported.networks:
        model = models[network.name]
        model.load_state_dict(checkpoint["models"][network.name])
        reference = getattr(exported, compiled.network(network.name).class_name)()
        state = checkpoint["models"][network.name]
        assert list(state) == list(reference.state_dict())  # res1.conv1.weight: the classes' own keys
        reference.load_state_dict(state, strict=True)
        info = compiled.network(network.name)
        inputs = sample_inputs(info, 3, vocab_sizes(imported, network.name), generator)
        model.eval()
        reference.eval()
        with torch.no_grad():
            assert torch.equal(model(*inputs), reference(*inputs))

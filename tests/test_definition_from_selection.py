"""graph/definition_from_selection.py without Qt: blocks become a definition, inside a network or inside
another definition's body, and an instance detached inside a definition keeps following its parameters."""

import pytest

from graph.definition_edits import detach
from graph.definition_from_selection import make_definition, selection_problem, suggested_name
from graph.examples import example_path
from graph.project_io import load_project
from graph.validate import analyse
from runtime.build import build_models


def residual(registry):
    return load_project(example_path("residual_cnn"), registry)


def weights(project, registry) -> int:
    return sum(p.numel() for p in build_models(project, registry)[0]["model"].parameters())


def test_blocks_of_a_network_become_a_definition_and_an_instance_wired_the_same_way(registry):
    project = residual(registry)
    net = project.network()
    before, count = project.copy(), weights(project, registry)
    shapes = analyse(net, registry).shapes
    edit, instance = make_definition(net, ["b2", "b3", "b4"], "Stem", registry, shapes)
    body = project.definitions.get("Stem").body
    assert [(b.id, b.type) for b in body.blocks.values()] == [
        ("x", "PortInput"), ("b2", "Conv2d"), ("b3", "BatchNorm2d"), ("b4", "ReLU"), ("out", "PortOutput")]
    assert body.blocks["x"].params == {"shape": (1, 8, 8)}  # the example shape is what the image gives
    assert list(net.blocks)[:3] == ["b1", instance, "b5"]  # the instance takes the blocks' place
    analysis = analyse(net, registry)
    assert analysis.ok and analysis.shapes[instance] == (32, 8, 8)
    assert weights(project, registry) == count
    edit.revert()
    assert project == before
    edit.apply()
    assert analyse(net, registry).ok


def test_inside_a_definition_the_bound_settings_become_the_new_definitions_parameters(registry):
    project = residual(registry)
    count = weights(project, registry)
    residual_block = project.definitions.get("ResidualBlock")
    before = project.copy()
    edit, instance = make_definition(residual_block.body, ["conv1", "norm1", "relu1"], "ConvBnRelu", registry)
    inner = project.definitions.get("ConvBnRelu")
    assert [(p.name, p.binds) for p in inner.params] == [("channels", ("conv1.channels",))]
    assert residual_block.params[0].binds == ("conv2.channels", f"{instance}.channels")
    assert analyse(project.network(), registry).ok and weights(project, registry) == count
    # detached again, inside ResidualBlock: its channels set the copies
    detached = detach(residual_block.body, instance)
    assert residual_block.params[0].binds == ("conv2.channels", f"{instance}_conv1.channels")
    assert analyse(project.network(), registry).ok and weights(project, registry) == count
    detached.revert()
    edit.revert()
    assert project == before


@pytest.mark.parametrize("ids, words", [
    ([], "Select the blocks"),
    (["b1", "b2"], "data input"),
    (["b21", "b22"], "output head"),
    (["b2", "b4"], "a definition gives one value"),
])
def test_selections_that_cannot_be_one_definition_say_why(registry, ids, words):
    net = residual(registry).network()
    assert words in selection_problem(net, ids, registry)


def test_the_suggested_name_is_free(registry):
    project = residual(registry)
    net = project.network()
    assert suggested_name(net, ["b5"], project.definitions.names(), registry) == "ResidualBlock2"
    assert suggested_name(net, ["b2"], project.definitions.names(), registry) == "Conv2dBlock"

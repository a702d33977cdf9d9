"""The bundled examples: each loads, is clean, fits its data, builds and runs with the inferred shapes.

Also checks the examples are laid out tidily (wires run left to right, no
blocks on top of each other) and that names and paths resolve the way the
command line uses them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graph.definitions import registry_for
from graph.examples import ProjectNotFoundError, examples_dir, list_examples, resolve_project
from graph.project_io import dumps_project, load_project, loads_project
from graph.validate import analyse
from runtime.build import build_models
from runtime.commands.check import data_diagnostics
from runtime.export import as_tuple, sample_inputs, vocab_sizes

REQUIRED = {
    "digits_mlp", "digits_cnn", "residual_cnn", "sine_lstm", "char_transformer", "digits_autoencoder",
    "digits_gan", "iris_mlp", "sine_classes_gru", "audio_tones_cnn", "sentiment_lstm",
    "shapes_unet",
}
EXAMPLES = [e.name for e in list_examples()]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request, registry):
    path = resolve_project(request.param)
    return request.param, load_project(path, registry)


def test_the_required_examples_are_bundled():
    assert examples_dir() == REPO / "assets" / "examples"
    assert REQUIRED <= set(EXAMPLES)


def test_listing_reads_titles_and_one_line_descriptions():
    by_name = {e.name: e for e in list_examples()}
    cnn = by_name["digits_cnn"]
    assert cnn.title == "Digits CNN"
    assert cnn.path == REPO / "assets" / "examples" / "digits_cnn.dw.json"
    for e in by_name.values():
        assert e.description and "\n" not in e.description, e.name
        assert e.title != e.path.name, f"{e.name}: the file could not be read"


def test_resolve_accepts_a_path_or_an_example_name(tmp_path):
    assert resolve_project("digits_cnn") == examples_dir() / "digits_cnn.dw.json"
    assert resolve_project("digits_cnn.dw.json") == examples_dir() / "digits_cnn.dw.json"
    own = tmp_path / "mine.dw.json"
    own.write_text("{}", encoding="utf-8")
    assert resolve_project(str(own)) == own


def test_resolve_refuses_unknown_names_and_lists_the_examples(tmp_path):
    with pytest.raises(ProjectNotFoundError) as err:
        resolve_project("no_such_thing")
    message = str(err.value)
    assert message.startswith("no_such_thing: no such project file")
    assert "digits_cnn" in message and "sine_lstm" in message
    with pytest.raises(ProjectNotFoundError, match="is a folder"):
        resolve_project(str(tmp_path))
    with pytest.raises(ProjectNotFoundError):
        resolve_project("../examples/digits_cnn")  # names never reach outside the folder


def test_a_broken_file_in_the_folder_is_still_listed(tmp_path):
    (tmp_path / "good.dw.json").write_text(json.dumps({"name": "Good", "description": "fine"}), "utf-8")
    (tmp_path / "bad.dw.json").write_text("{not json", "utf-8")
    found = {e.name: e for e in list_examples(tmp_path)}
    assert found["good"].title == "Good" and found["good"].description == "fine"
    assert found["bad"].description == "(this file could not be read)"


def test_example_has_no_problems_and_fits_its_data(example, registry):
    name, project = example
    analyses = {net.name: analyse(net, registry) for net in project.networks}
    problems = [str(d) for a in analyses.values() for d in a.diagnostics]
    assert problems == [], name
    assert data_diagnostics(project, registry, analyses, base_dir=examples_dir()) == []


def test_example_file_round_trips(example, registry):
    name, project = example
    assert loads_project(dumps_project(project), registry) == project


def test_example_is_laid_out_left_to_right(example):
    name, project = example
    for net in project.networks:
        positions = [b.position for b in net.blocks.values()]
        assert len(set(positions)) == len(positions), f"{name}: two blocks share a position"
        for edge in net.edges:
            src, dst = net.blocks[edge.src].position, net.blocks[edge.dst].position
            # left to right, or on to the next band below, as a line of text wraps
            assert dst[0] > src[0] or dst[1] > src[1], f"{name}: wire {edge} runs right to left"


def test_example_builds_and_runs_with_the_inferred_shapes(example, registry):
    name, project = example
    torch.manual_seed(0)
    models, compiled = build_models(project, registry)
    assert set(models) == {net.name for net in project.networks}
    for net in project.networks:
        info = compiled.network(net.name)
        analysis = analyse(net, registry)
        model = models[net.name].eval()
        inputs = sample_inputs(info, batch=2, vocab_sizes=vocab_sizes(project, net.name))
        with torch.no_grad():
            outputs = as_tuple(model(*inputs))
        expected = [analysis.shapes[head] for head in info.output_blocks]
        assert [tuple(o.shape) for o in outputs] == [(2, *shape) for shape in expected], name
        assert all(torch.isfinite(o).all() for o in outputs)
        declared = sum(_declared_count(registry, net, analysis, bid) for bid in net.blocks)
        assert declared == sum(p.numel() for p in model.parameters()), name


def _declared_count(registry, net, analysis, block_id) -> int:
    spec = registry_for(net, registry).get(net.blocks[block_id].type)  # definitions are block types too
    if spec.role != "layer":
        return 0
    inference = analysis.inference
    return spec.count(inference.params[block_id], inference.inputs[block_id], inference.shapes[block_id])


def test_gan_example_has_the_two_networks_the_recipe_needs(registry):
    project = load_project(resolve_project("digits_gan"), registry)
    assert project.training.recipe == "gan"
    generator, discriminator = project.network("generator"), project.network("discriminator")
    assert [b.type for b in generator.blocks.values()][0] == "NoiseInput"
    assert "Output" in {b.type for b in generator.blocks.values()}
    assert "BinaryHead" in {b.type for b in discriminator.blocks.values()}
    shapes = analyse(generator, registry).shapes
    fake = next(bid for bid, b in generator.blocks.items() if b.type == "Output")
    image = next(bid for bid, b in discriminator.blocks.items() if b.type == "ImageInput")
    assert shapes[fake] == analyse(discriminator, registry).shapes[image] == (1, 8, 8)


def test_digits_cnn_is_small_enough_to_train_fast(registry):
    project = load_project(resolve_project("digits_cnn"), registry)
    models, _ = build_models(project, registry)
    count = sum(p.numel() for p in models["model"].parameters())
    assert 25_000 <= count <= 60_000
    training = project.training
    assert (training.recipe, training.optimizer, training.batch_size) == ("classification", "adam", 64)
    assert 15 <= training.epochs <= 20 and training.lr == pytest.approx(0.002)


@pytest.mark.slow
def test_digits_cnn_reaches_98_percent_within_20_seconds_of_training(tmp_path):
    """The promise in the example's description, through the real trainer on the CPU."""
    from runtime.cli import main

    run_dir = tmp_path / "run"
    # one thread: on a shared, busy machine two threads fighting for cores are many times slower
    argv = ["train", "digits_cnn", "--out", str(run_dir), "--quiet", "--device", "cpu", "--threads", "1"]
    assert main(argv) == 0
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text("utf-8").splitlines()]
    seconds = {r["epoch"]: r["seconds"] for r in records if r["type"] == "epoch"}
    reached = [r["epoch"] for r in records if r["type"] == "validation" and r["accuracy"] >= 0.98]
    assert reached, f"best validation accuracy {max(r['accuracy'] for r in records if 'accuracy' in r):.4f}"
    elapsed = sum(s for epoch, s in seconds.items() if epoch <= reached[0])
    assert elapsed < 20, f"98% took {elapsed:.1f} s of training (epoch {reached[0]})"

"""Loading a project's data the way its network wants it (shape, kind, class count).

The network that reads the data is the first one, or a GAN's discriminator;
its input block says which shape and kind of samples to ask the data source
for, and a classification head how many classes labels may have.
"""

from __future__ import annotations

import math
from pathlib import Path

from graph.compiler import CompiledNetwork, CompiledProject, CompileError, compile_project
from graph.model import Project
from graph.spec import Registry
from runtime.data.base import Dataset
from runtime.train.errors import SetupError
from runtime.train.recipes.base import INPUT_KINDS


def compile_for_training(project: Project, registry: Registry) -> CompiledProject:
    try:
        return compile_project(project, registry)
    except CompileError as exc:
        raise SetupError(f"{exc}\nrun 'deepwire check' on the project to see every problem") from None


def data_network(project: Project, compiled: CompiledProject) -> CompiledNetwork:
    """The network that reads the data: the first one, or a GAN's discriminator."""
    if project.training.recipe == "gan":
        from runtime.train.recipes.gan import find_gan_networks

        return compiled.networks[find_gan_networks(compiled.networks)[1]]
    return compiled.network()


def data_request(project: Project, compiled: CompiledProject) -> tuple[tuple[int, ...], str, int | None]:
    """(input shape, input kind, class count or None) of the network that reads the data.

    A network with several data inputs (a siamese pair) asks for one flat vector per sample, the
    inputs' values side by side in forward() order (see `input_parts`); the recipe splits it again.
    """
    recipe = project.training.recipe
    network = data_network(project, compiled)
    reads = [(t, s) for t, s in zip(network.input_types, network.input_shapes)
             if INPUT_KINDS.get(t, "noise") != "noise"]
    if not reads:
        raise SetupError(f"network '{network.network}' must have a data input block (image, sequence, "
                         "table or token ids) for training; it has none")
    classes = None
    if recipe == "classification" and network.head_types[:1] == ["ClassificationHead"]:
        classes = network.output_shapes[0][-1]
    if recipe == "seq2seq":  # the first Token ids input reads the source; the second is the decoder's
        return tuple(seq2seq_lengths(network)[0]), "tokens", None
    if recipe == "segmentation" and network.head_types[:1] == ["SegmentationHead"]:
        classes = network.output_shapes[0][0]  # (classes, H, W): mask values must be below it
    if len(reads) > 1:
        parts = input_parts(network)
        return (sum(math.prod(shape) for _name, shape in parts),), "vector", classes
    block_type, shape = reads[0]
    return tuple(shape), INPUT_KINDS[block_type], classes


def seq2seq_lengths(network: CompiledNetwork) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(source shape, decoder input shape) of a sequence-to-sequence network: its two Token ids inputs,
    in forward() order (the source first). SetupError when it has not exactly those."""
    inputs = list(zip(network.input_names, network.input_types, network.input_shapes))
    tokens = [(n, tuple(s)) for n, t, s in inputs if t == "TokenInput"]
    others = [n for n, t, _s in inputs if t != "TokenInput"]
    if others or len(tokens) != 2:
        found = ", ".join(f"'{n}' ({t})" for n, t, _s in inputs) or "none"
        raise SetupError(f"the seq2seq recipe needs network '{network.network}' to have exactly two Token "
                         f"ids inputs, the source text first and the decoder's input (the target so far) "
                         f"second; it has {found}")
    return tokens[0][1], tokens[1][1]


def input_parts(network: CompiledNetwork) -> list[tuple[str, tuple[int, ...]]] | None:
    """(forward() argument, sample shape) of each input of a network with several data inputs; None
    for one (runtime/data/source.py, which `deepwire data` uses without torch)."""
    from runtime.data.source import several_inputs

    try:
        return several_inputs(network)
    except ValueError as err:
        raise SetupError(str(err)) from None


def load_project_data(project: Project, registry: Registry, base_dir: Path | None = None,
                      compiled: CompiledProject | None = None, progress=None) -> Dataset:
    """The project's dataset, shaped for its network (raises DataError or SetupError).

    progress: progress(what, done, total) while a big folder is indexed (see runtime/data/image_index.py).
    """
    from runtime.data import load_dataset

    compiled = compiled or compile_for_training(project, registry)
    shape, kind, classes = data_request(project, compiled)
    network = data_network(project, compiled)
    if project.training.recipe == "seq2seq":  # two token inputs, not side by side: the recipe feeds them
        parts, target_length = None, seq2seq_lengths(network)[1][0]
    else:
        parts, target_length = input_parts(network), None
    return load_dataset(project.data, project.training, project.seed, input_shape=shape, input_kind=kind,
                        num_classes=classes, base_dir=base_dir, progress=progress, input_parts=parts,
                        target_length=target_length)


class IndexProgress:
    """Prints 'indexing pets: 40,960 files' on one line of a stream (stderr) while a folder is indexed."""

    def __init__(self, stream):
        self.stream, self.shown = stream, False

    def __call__(self, what: str, done: int, total: int | None) -> None:
        end = "\n" if total is not None else ""
        if total is not None and not self.shown:
            return  # a folder indexed in under one progress step: nothing was shown, nothing to end
        self.shown = True
        self.stream.write(f"\r{what}: {done:,} files{' (done)' if total is not None else ''}{end}")
        self.stream.flush()

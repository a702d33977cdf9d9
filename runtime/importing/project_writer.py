"""Turn imported networks into a DeepWire project on disk, with the weights beside it.

The weights are written in DeepWire's checkpoint format
({"models": {network: state_dict}, "block_modules": {network: {block id:
submodule}}}) and the project's training settings point `init_checkpoint`
at that file (not frozen), so training or evaluating the imported project
starts from the imported weights. When every network compiles, the state
dicts are those of the compiled model itself (so `deepwire export --weights`
takes the file too); when an Unsupported block stops compilation, each
block's weights are stored under its block id, and transfer still finds
them by id once the problem block has been replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from graph.atomic import write_with
from graph.examples import SUFFIX
from graph.model import Definitions, Project
from graph.project_io import save_project
from graph.spec import Registry
from graph.training_config import NO_DATA, DataSpec, TrainingConfig
from graph.validate import analyse
from runtime.importing.network_builder import ImportedNetwork


def project_paths(out: str | Path, stem: str) -> tuple[Path, Path]:
    """(project file, weights file) for -o OUT: a .dw.json path, or a folder to put <stem>.dw.json in."""
    out = Path(out)
    if out.is_dir():
        project = out / f"{stem}{SUFFIX}"
    elif out.name.endswith(SUFFIX):
        project = out
    else:
        project = out.with_name(out.name + SUFFIX)
    return project, project.with_name(project.name[: -len(SUFFIX)] + ".weights.pt")


def _role(registry: Registry, type_id: str) -> str:
    """A block type's role; an instance of a definition made from a module class is a layer."""
    return registry.get(type_id).role if type_id in registry else "layer"


def choose_recipe(networks: list[ImportedNetwork], registry: Registry) -> str:
    """The training recipe the heads suggest (the user can change it)."""
    kinds = []
    for imported in networks:
        net = imported.network
        heads = [b.type for b in net.blocks.values() if _role(registry, b.type) == "head"]
        inputs = [b.type for b in net.blocks.values() if _role(registry, b.type) == "input"]
        kinds.append((heads, inputs))
    head_sets = [set(h) for h, _ in kinds]
    if len(kinds) == 2 and {"Output"} in head_sets and {"BinaryHead"} in head_sets:
        return "gan"
    heads, inputs = kinds[0]
    if "ClassificationHead" in heads and "TokenInput" in inputs:
        net = networks[0].network
        shapes = analyse(net, registry).shapes
        per_step = [shapes.get(b) for b, blk in net.blocks.items() if blk.type == "ClassificationHead"]
        if per_step and per_step[0] is not None and len(per_step[0]) == 2:  # scores for every step
            return "language_model"
    if "SegmentationHead" in heads:
        return "segmentation"
    if "ClassificationHead" in heads or "BinaryHead" in heads:
        return "classification"
    if "RegressionHead" in heads and len(inputs) == 1:
        net = networks[0].network
        analysis = analyse(net, registry)
        shapes = analysis.shapes
        ins = [shapes.get(b) for b, blk in net.blocks.items() if _role(registry, blk.type) == "input"]
        outs = [shapes.get(b) for b, blk in net.blocks.items() if _role(registry, blk.type) == "head"]
        if ins and ins == outs[:1]:
            return "autoencoder"
    return "regression"


# bundled data sets worth trying, per recipe, in order: the first that fits the network is suggested
DATA_CANDIDATES = {
    "classification": ("digits", "iris", "wine", "breast_cancer", "sine_classes"),
    "regression": ("sine",),
    "language_model": ("pydoc_text",),
    "autoencoder": ("digits",),
    "gan": ("digits",),
}


def only_plain_outputs(networks: list[ImportedNetwork], registry: Registry) -> bool:
    """True when no output says what it learns (every head is a plain Output)."""
    heads = [b.type for n in networks for b in n.network.blocks.values()
             if _role(registry, b.type) == "head"]
    return all(h == "Output" for h in heads)


def choose_data(networks: list[ImportedNetwork], registry: Registry, recipe: str) -> DataSpec | None:
    """A bundled data set that fits the imported network's input (and class count), or None."""
    from runtime.commands.check import DATA_INPUT_KINDS
    from runtime.data import DataError, probe

    net = networks[-1].network  # a GAN's data feeds its discriminator, the last network
    if recipe != "gan" and only_plain_outputs(networks, registry):
        return None  # no loss known: which data fits depends on the head the user picks
    analysis = analyse(net, registry)
    inputs = [b for b in net.blocks.values() if b.type in DATA_INPUT_KINDS]
    if len(inputs) != 1 or analysis.shapes.get(inputs[0].id) is None:
        return None
    block = inputs[0]
    classes = [analysis.inference.params[b.id]["classes"] for b in net.blocks.values()
               if b.type == "ClassificationHead" and b.id in analysis.inference.params]
    for source in DATA_CANDIDATES.get(recipe, ()):
        spec = DataSpec(source)
        try:
            found = probe(spec, analysis.shapes[block.id], DATA_INPUT_KINDS[block.type], recipe)
        except DataError:
            continue
        if classes and found.num_classes is not None and found.num_classes != classes[0] \
                and found.target_kind != "tokens":
            continue
        return spec
    return None


def build_project(name: str, networks: list[ImportedNetwork], registry: Registry, weights_file: str,
                  description: str,
                  definitions: Definitions | None = None) -> tuple[Project, DataSpec | None]:
    """The project (with no data: the user picks it), and a bundled data set that would fit, if any.

    An imported model's data is the user's: a bundled set is only suggested (the note says how to
    use it), never set, so `deepwire check` does not report a data set the model never asked for.
    """
    for imported in networks:  # instances of the model's classes read these definitions
        imported.network.library = definitions
    recipe = choose_recipe(networks, registry)
    training = TrainingConfig({"recipe": recipe, "init_checkpoint": weights_file, "freeze_init": False})
    project = Project(name=name, networks=[n.network for n in networks], data=DataSpec(NO_DATA),
                      training=training, description=description[:2000],
                      definitions=definitions if definitions is not None else Definitions())
    project.link()
    return project, choose_data(networks, registry, recipe)


def load_block_weights(models: dict[str, nn.Module], module_names: dict[str, dict[str, str]],
                       networks: list[ImportedNetwork]) -> list[str]:
    """Copy each block's imported weights into the compiled model; returns problems, if any."""
    problems = []
    for imported in networks:
        name = imported.network.name
        model = models[name]
        for bid, state in imported.weights.items():
            attr = module_names[name].get(bid)
            if attr is None:
                continue
            module = model.get_submodule(attr)
            try:
                module.load_state_dict(_by_position(module, state), strict=True)
            except RuntimeError as err:
                block = imported.network.blocks[bid].name
                problems.append(f"weights of block '{block}' do not fit: {str(err).splitlines()[0]}")
    return problems


def _by_position(module: nn.Module, state: dict[str, Any]) -> dict[str, Any]:
    """An instance's weights under its class's own keys: the original module names (layer1.0's
    conv1.weight) where the class kept them, else the same tensors in the same order where the names
    were made Python names (a Sequential subclass's 0.weight) and every shape agrees."""
    own = module.state_dict()
    if set(own) == set(state) or len(own) != len(state):
        return state
    if all(tuple(a.shape) == tuple(b.shape) for a, b in zip(own.values(), state.values())):
        return dict(zip(own, state.values()))
    return state


def checkpoint_by_block(networks: list[ImportedNetwork]) -> dict[str, Any]:
    """Weights stored per block id, for a project that does not compile yet."""
    models, block_modules = {}, {}
    for imported in networks:
        name = imported.network.name
        models[name] = {f"{bid}.{key}": value for bid, state in imported.weights.items()
                        for key, value in state.items()}
        block_modules[name] = {bid: bid for bid in imported.weights}
    return {"format": "deepwire-checkpoint", "version": 1, "models": models, "block_modules": block_modules,
            "epoch": 0, "step": 0, "metrics": {}}


def write(project: Project, checkpoint: dict[str, Any], project_path: Path, weights_path: Path) -> None:
    project_path.parent.mkdir(parents=True, exist_ok=True)
    write_with(weights_path, lambda temp: torch.save(checkpoint, temp))
    save_project(project, project_path)

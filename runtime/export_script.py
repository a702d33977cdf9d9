"""The standalone training script: the project's model classes and a short training loop for its recipe.

    write_training_script(project, registry, "train_digits.py")
    # -> train_digits.py and train_digits.npz (the data, already split and normalised)
    python train_digits.py --epochs 5          # needs only torch and numpy

The script holds exactly the classes the app trains (the compiler's
source), the project's optimizer, schedule, batch size, epochs, seed and
loss (each head's `make_loss()`), evaluates on the validation split every
epoch and saves the weights with `torch.save(model.state_dict(), ...)`, so
they load straight back into the app. Training only starts under
`if __name__ == "__main__":`, so importing the file is harmless.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from graph.atomic import write_text
from graph.compiler import CompiledNetwork, CompiledProject, compile_project
from graph.model import Project
from graph.pycode import reads_name
from graph.spec import Registry
from runtime.data.base import Dataset
from runtime.train import script_parts as parts
from runtime.train.errors import SetupError


def write_training_script(project: Project, registry: Registry, out_path: str | Path,
                          data_path: str | Path | None = None, dataset: Dataset | None = None,
                          base_dir: str | Path | None = None) -> Path:
    """Write the script to `out_path` and its data to `data_path` (default: beside it, as .npz).

    dataset: the data to export; by default the project's own data source is loaded
    (relative file paths are read from base_dir).
    """
    from runtime.data import write_npz
    from runtime.train.data import load_project_data

    out = Path(out_path)
    data_file = Path(data_path) if data_path is not None else out.with_suffix(".npz")
    compiled = compile_project(project, registry)
    if dataset is None:
        dataset = load_project_data(project, registry, Path(base_dir) if base_dir else None, compiled)
    write_npz(dataset, data_file)
    beside = data_file.resolve().parent == out.resolve().parent
    data_name = data_file.name if beside else str(data_file.resolve())
    source = render_training_script(project, compiled, data_name, out.with_suffix(".pt").name, out.name,
                                    dataset.extra.get("pixel_range"))
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_text(out, source)


def render_training_script(project: Project, compiled: CompiledProject, data_file: str,
                           weights_file: str, script_name: str = "train.py",
                           pixel_range: tuple[float, float] | None = None) -> str:
    """pixel_range: the data's valid input range (adversarial training keeps perturbed images inside)."""
    config = project.training
    if config.recipe == "gan":
        from runtime.train.recipes.gan import find_gan_networks

        g_name, d_name = find_gan_networks(compiled.networks)
        generator, discriminator = compiled.networks[g_name], compiled.networks[d_name]
        training = parts.TRAIN_GAN.format(generator=generator.class_name,
                                          discriminator=discriminator.class_name)
        pieces = [_optimizer(config), training]
        extra = {"D_LEARNING_RATE": config.d_lr or config.lr, "LATENT_SIZE": generator.input_shapes[0][0]}
        main_class = f"{generator.class_name} and {discriminator.class_name}"
    else:
        network = compiled.network()
        kind = _output_kind(config.recipe, network)
        frozen = frozen_modules(project, network)
        training = _with_frozen(_train_one(config, network, kind), frozen)
        pieces = [_optimizer(config), _schedule(config), parts.LOSS[kind], _evaluate(kind, config.recipe)]
        extra = {"FROZEN": frozen} if frozen else {}
        if _adversarial(config, network, kind):
            training = _with_adversarial(training)
            pieces.append(parts.ADVERSARIAL)
            extra.update(ADVERSARIAL=config.adversarial, ADVERSARIAL_EPS=config.adversarial_eps,
                         ADVERSARIAL_WEIGHT=config.adversarial_weight,
                         ADVERSARIAL_STEPS=config.adversarial_steps,
                         PIXEL_RANGE=tuple(pixel_range) if pixel_range else None)
        pieces.append(training)
        main_class = network.class_name
    settings = _settings(project, data_file, weights_file, extra)
    body = _model_classes(compiled.source) + "\n\n" + settings + parts.SETUP + "".join(pieces)
    header = _docstring(project, main_class, data_file, script_name)
    return header + "\n" + _imports(body) + "\n\n" + body


def _output_kind(recipe: str, network: CompiledNetwork) -> str:
    if len(network.head_types) != 1:
        raise SetupError(f"network '{network.network}' needs exactly one output head to be trained by "
                         "a script")
    head, shape = network.head_types[0], network.output_shapes[0]
    if recipe == "seq2seq":
        return "seq2seq"
    if recipe == "autoencoder":
        return "self"
    if head == "ClassificationHead":
        return "per_step" if len(shape) == 2 else "class"
    if head == "BinaryHead":
        return "binary"
    if head == "SegmentationHead":
        return "mask"
    if head == "RegressionHead":
        return "value"
    raise SetupError(f"network '{network.network}' ends in a {head}, which has no loss to train with")


def _clean(text: str) -> str:
    """User text made safe for a docstring (no quotes or backslashes that could end it)."""
    return re.sub(r"[^\w .,:;()+\-]", "", text)[:80] or "the project"


def _docstring(project: Project, main_class: str, data_file: str, script_name: str) -> str:
    config = project.training
    return (
        f'"""Training script for {_clean(project.name)}, exported by DeepWire.\n\n'
        f"Trains {main_class} ({config.recipe}) with {config.optimizer}, learning rate {config.lr:g}, "
        f"{config.epochs} epochs\nof batches of {config.batch_size}. The data, already split and "
        f"normalised, is in {_clean(Path(data_file).name)}\n(numpy arrays: train_inputs, train_targets, "
        "val_inputs, ...). Needs only torch and numpy:\n\n"
        f"    python {_clean(script_name)} [--epochs N] [--batch-size N] [--data FILE.npz] "
        "[--out WEIGHTS.pt]\n\n"
        "On several GPUs or machines, start it with torchrun (one process per GPU; --batch-size is per\n"
        "process, so a step sees batch size x processes samples):\n\n"
        f"    torchrun --nproc_per_node=4 {_clean(script_name)}\n"
        '"""\n'
    )


def _imports(body: str) -> str:
    standard = ["import argparse"] + (["import math"] if reads_name(body, "math") else [])
    standard += ["import os", "import time", "from pathlib import Path"]
    third = ["import numpy as np", "import torch", "import torch.distributed as dist"]
    if reads_name(body, "F"):
        third.append("import torch.nn.functional as F  # noqa: N812 - PyTorch's usual name for it")
    third += ["from torch import nn", "from torch.nn.parallel import DistributedDataParallel",
              "from torch.utils.data import DistributedSampler"]
    return "\n".join(standard) + "\n\n" + "\n".join(third) + "\n"


def _model_classes(source: str) -> str:
    """The generated classes without the module docstring and imports (the script has its own)."""
    tree = ast.parse(source)
    first = next(node for node in tree.body if isinstance(node, ast.ClassDef))
    return "\n".join(source.splitlines()[first.lineno - 1:]).rstrip() + "\n"


def _settings(project: Project, data_file: str, weights_file: str, extra: dict) -> str:
    config = project.training
    values = {"TITLE": project.name, "EPOCHS": config.epochs, "BATCH_SIZE": config.batch_size,
              "LEARNING_RATE": config.lr, "WEIGHT_DECAY": config.weight_decay}
    if config.schedule != "onecycle" and (config.schedule != "constant" or config.warmup_epochs):
        values["WARMUP_EPOCHS"] = config.warmup_epochs
    if config.grad_clip and config.recipe != "gan":
        values["GRAD_CLIP"] = config.grad_clip
    values.update(extra)
    values.update({"SEED": project.seed, "DATA_FILE": data_file, "WEIGHTS_FILE": weights_file})
    lines = ["# The project's settings (change them here; --epochs, --data and --out override three)"]
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    lines.append("HERE = Path(__file__).resolve().parent")
    return "\n".join(lines) + "\n"


def _optimizer(config) -> str:
    expression = parts.OPTIMIZERS[config.optimizer].format(
        momentum=config.momentum, nesterov=config.nesterov and config.momentum > 0, beta1=config.beta1)
    return parts.OPTIMIZER.format(optimizer=expression)


def _schedule(config) -> str:
    if config.schedule == "onecycle":
        warm = config.warmup_epochs / config.epochs if config.warmup_epochs else 0.3
        return parts.SCHEDULE_ONECYCLE.format(pct_start=round(min(max(warm, 0.01), 0.99), 4))
    if config.schedule == "constant" and not config.warmup_epochs:
        return ""
    words = {"constant": "A constant rate", "step": f"Step decay (x{config.gamma:g} every {config.step_size} "
             "epochs)", "cosine": "Cosine decay to zero"}[config.schedule]
    if config.warmup_epochs:
        words += " after a linear warm-up"
    body = parts.SCHEDULE_BODIES[config.schedule].format(gamma=config.gamma, step_size=config.step_size)
    return parts.SCHEDULE_LAMBDA.format(description=words, body=body)


def _evaluate(kind: str, recipe: str) -> str:
    if kind == "seq2seq":  # the decoder reads the target so far; accuracy over the steps that are not PAD
        text = parts.EVALUATE.format(
            what=" and accuracy (teacher forcing)", counters="correct, ", zeros="0, ",
            accumulate="        correct += ((output.argmax(-1) == y) & (y != PAD)).sum().item()\n",
            finish='    metrics["accuracy"] = correct / count\n')
        for old, new in (("output = model(x)\n", "output = model(x, decoder_input(y))\n"),
                         ("count += y.numel()\n", "count += (y != PAD).sum().item()\n")):
            assert old in text, f"the evaluation's text changed: no {old!r}"
            text = text.replace(old, new, 1)
        return text
    if kind in parts.CORRECT:
        finish = '    metrics["accuracy"] = correct / count\n'
        if recipe == "language_model":
            finish += '    metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))\n'
        return parts.EVALUATE.format(what=" and accuracy", counters="correct, ", zeros="0, ",
                                     accumulate=f"        correct += {parts.CORRECT[kind]}\n", finish=finish)
    accumulate = ("        diff = output.float() - y.reshape(output.shape).float()\n"
                  "        abs_error += diff.abs().sum().item()\n"
                  "        sq_error += diff.square().sum().item()\n")
    finish = ('    metrics["mae"] = abs_error / count\n'
              '    metrics["rmse"] = math.sqrt(sq_error / count)\n')
    return parts.EVALUATE.format(what=", mean absolute and root mean squared error",
                                 counters="abs_error, sq_error, ", zeros="0.0, 0.0, ", accumulate=accumulate,
                                 finish=finish)


SCHEDULE_CALL = ("    steps_per_epoch = math.ceil(len(sampler) / args.batch_size)\n"
                 "    schedule = make_schedule(optimizer, steps_per_epoch, args.epochs)\n")


def frozen_modules(project: Project, network: CompiledNetwork) -> list[str]:
    """Submodules the script keeps fixed: frozen blocks, and the copied ones when freeze_init is on."""
    net = project.network(network.network)
    ids = [bid for bid, block in net.blocks.items() if block.frozen and block.enabled]
    config = project.training
    if config.init_checkpoint and config.freeze_init and config.init_blocks:
        from runtime.train.transfer import resolve_blocks

        ids += resolve_blocks(config.init_blocks, project).get(net.name, [])
    return list(dict.fromkeys(network.module_names[b] for b in ids if b in network.module_names))


def _with_frozen(training: str, frozen: list[str]) -> str:
    """The training loop with --init WEIGHTS (the pretrained start) and the frozen blocks kept fixed."""
    if not frozen:
        return training

    def insert(before: str, text: str) -> str:
        # the loop's text is ours (script_parts.TRAIN_ONE): a missing anchor is a bug, never a silent skip
        assert before in training, f"training loop has no line {before!r}"
        return training.replace(before, text + before, 1)

    training = insert(
        "    args = parser.parse_args()\n",
        '    parser.add_argument("--init", help="a state_dict to start from (e.g. the weights of the run "\n'
        '                                       "you transfer from); the frozen blocks keep it")\n')
    # before DistributedDataParallel wraps the network: it only syncs what requires a gradient
    training = insert(
        "    model = parallel(net, world, device)\n",
        "    if args.init:\n"
        "        load_init(net, args.init, device)\n"
        "    freeze(net)\n")
    old_optimizer = "    optimizer = make_optimizer(net.parameters())\n"
    assert old_optimizer in training
    trainable = "    optimizer = make_optimizer([p for p in net.parameters() if p.requires_grad])\n"
    training = training.replace(old_optimizer, trainable, 1)
    training = insert("        sampler.set_epoch(epoch)\n",
                      "        freeze(net)  # evaluate() switched every block back to training\n")
    return parts.FREEZE + training


def _adversarial(config, network: CompiledNetwork, kind: str) -> bool:
    """Whether the script trains adversarially, as DeepWire does (recipes/adversary.py)."""
    if config.adversarial == "off" or kind == "self":
        return False  # an autoencoder trains without it in DeepWire too (with a warning)
    if "TokenInput" in network.input_types:
        raise SetupError(f"adversarial training perturbs the inputs by small steps, but network "
                         f"'{network.network}' reads token ids, which have none; set adversarial to off")
    return True


def _with_adversarial(training: str) -> str:
    """The training loop learning from each batch and its perturbed copy, in one forward pass."""
    step = ("            x = x_train[batch]\n"
            "            loss = compute_loss(loss_fn, model(x), y_train[batch])\n")
    assert step in training, "the training loop's step changed"  # our own text: never a silent skip
    training = training.replace(step, (
        "            x, y = x_train[batch], y_train[batch]\n"
        "            moved = perturbed(net, loss_fn, x, y, bounds)\n"
        "            output = model(torch.cat([x, moved]))  # one forward pass over both halves\n"
        "            loss = ((1 - ADVERSARIAL_WEIGHT) * compute_loss(loss_fn, output[:len(x)], y)\n"
        "                    + ADVERSARIAL_WEIGHT * compute_loss(loss_fn, output[len(x):], y))\n"), 1)
    load = '    x_val, y_val = load_split(data, "val", device)\n'
    assert load in training
    return training.replace(load, load + "    bounds = perturbation_bounds(data, device)\n", 1)


def _train_one(config, network: CompiledNetwork, kind: str) -> str:
    text = _train_one_text(config, network, kind)
    if kind == "seq2seq":  # two inputs: the source ids, and the decoder's input made from the target
        old = "loss = compute_loss(loss_fn, model(x), y_train[batch])\n"
        assert old in text, "the training loop's text changed: no loss line to feed the decoder in"
        fed = "y = y_train[batch]\n            loss = compute_loss(loss_fn, model(x, decoder_input(y)), y)\n"
        return text.replace(old, fed, 1)
    if len(network.input_names) < 2:
        return text
    # several inputs: the .npz holds them side by side, one flat vector per sample (as DeepWire trains)
    shapes = [tuple(int(d) for d in s) for s in network.input_shapes]
    anchor = f"    net = {network.class_name}().to(device)\n"
    if anchor not in text:
        raise AssertionError("the training loop's text changed: no 'net = ...' line to split inputs after")
    split = (anchor +
             f"    # the data holds the inputs {', '.join(network.input_names)} side by side, one flat\n"
             "    # vector per sample: each batch is cut apart before forward() (its state_dict unchanged)\n"
             f"    shapes = {shapes!r}\n"
             "    sizes = [math.prod(shape) for shape in shapes]\n\n"
             "    def split_inputs(_module, args):\n"
             "        if len(args) != 1 or args[0].shape[-1:] != (sum(sizes),):\n"
             "            return None\n"
             "        pieces = torch.split(args[0], sizes, dim=1)\n"
             "        return tuple(p.reshape(len(p), *shape) for p, shape in zip(pieces, shapes))\n\n"
             "    net.register_forward_pre_hook(split_inputs)\n")
    return text.replace(anchor, split, 1)


def _train_one_text(config, network: CompiledNetwork, kind: str) -> str:
    scheduled = not (config.schedule == "constant" and not config.warmup_epochs)
    loss_fn = "net.make_loss()" if network.losses[0] is not None else "nn.MSELoss()"
    if kind == "seq2seq":
        loss_fn = "nn.CrossEntropyLoss(ignore_index=PAD)"
    return parts.TRAIN_ONE.format(
        cls=network.class_name, loss_fn=loss_fn,
        target="x" if kind == "self" else "y_train[batch]",
        clip="            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)\n"
             if config.grad_clip else "",
        make_schedule=SCHEDULE_CALL if scheduled else "",
        step_schedule="            schedule.step()\n" if scheduled else "")

"""Evaluating a finished run: what the trained model gets right and wrong, written to evaluation.json.

    result = evaluate_run(Path("runs/digits-20250101-120000"), split="val")

The run's own project snapshot and best checkpoint (weights only) are
loaded, and the data is rebuilt exactly as training built it (same seed,
same fractions: runtime/train/data.py), so "val" is the very split the run
was validated on. The recipe decides what is worth showing:

    classification  confusion matrix, per-class precision/recall/F1, the sample
                    indices of every (true, predicted) cell (capped) with small
                    PNG thumbnails of image samples, saliency maps of a few samples
    regression      predicted vs true pairs (capped)
    autoencoder     input / reconstruction pairs as one PNG
    segmentation    per-class IoU and Dice, the pixel confusion matrix, image / true mask / predicted
                    mask pictures of the worst and best samples (runtime/evaluate_segmentation.py)
    gan             the per-epoch sample grids already in samples/
    language model  metrics and the per-epoch texts; `sample_text` continues a prompt
    seq2seq         exact match and character error rate of greedy and beam decoding, a table
                    of (source, target, greedy, beam) worst first; `translate` decodes a text

Pictures go to <run>/evaluation/ and evaluation.json names them relative
to the run folder, so the studio can show them without torch.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph.atomic import write_text
from graph.blocks import default_registry
from graph.project_io import load_project
from runtime.build import build_models
from runtime.run_names import project_dir_of_run
from runtime.train.checkpoint import load_checkpoint, load_models
from runtime.train.data import compile_for_training, load_project_data
from runtime.train.device import DeviceSplit, Precision
from runtime.train.errors import SetupError
from runtime.train.events import plain_json
from runtime.train.images import encode_png, grid, grid_png
from runtime.train.recipes import Recipe, RecipeSetup, make_recipe
from runtime.train.recipes.autoencoder import image_shape_for
from runtime.train.runs import BEST, LAST, SAMPLES, SNAPSHOT

EVALUATION = "evaluation.json"
PICTURES = "evaluation"
INDICES_PER_CELL = 50
THUMBNAILS_PER_CELL = 12
SALIENCY_SAMPLES = 6
MAX_PAIRS = 2000
BEAM_SIZE = 4  # seq2seq: the beam evaluation and `translate` use by default
BEAM_SAMPLES = 200  # seq2seq: samples also decoded with the beam (one at a time: slower than greedy)
MAX_EXAMPLES = 100  # seq2seq: rows of the examples table


@dataclass
class OpenedRun:
    """A run's project, data and trained models, ready to evaluate on the CPU."""

    path: Path
    recipe: Recipe
    checkpoint: Path
    epoch: int


def open_run(run_dir: Path) -> OpenedRun:
    """Snapshot + data + best weights of a run folder (SetupError, DataError or ProjectFileError)."""
    run_dir = Path(run_dir)
    if not (run_dir / SNAPSHOT).is_file():
        raise SetupError(f"{run_dir}: no {SNAPSHOT} here; choose a run folder written by 'deepwire train'")
    checkpoint = run_dir / BEST if (run_dir / BEST).is_file() else run_dir / LAST
    if not checkpoint.is_file():
        raise SetupError(f"{run_dir}: this run saved no checkpoint ({BEST} or {LAST}), so there are no "
                         "trained weights to evaluate; train it for at least one epoch")
    registry = default_registry()
    project = load_project(run_dir / SNAPSHOT, registry)
    compiled = compile_for_training(project, registry)
    # runs live in <project folder>/runs/<project>/<run>: relative data paths were read beside the project
    dataset = load_project_data(project, registry, base_dir=project_dir_of_run(run_dir), compiled=compiled)
    torch.manual_seed(project.seed)
    models, _ = build_models(project, registry, compiled)
    state = load_checkpoint(checkpoint)
    load_models(models, state, str(checkpoint))
    for model in models.values():
        model.eval()
    device = torch.device("cpu")
    setup = RecipeSetup(project, compiled, models, dataset, project.training, device,
                        Precision(device, False), [])
    return OpenedRun(run_dir, make_recipe(setup), checkpoint, int(state.get("epoch", 0)))


def _split(recipe: Recipe, name: str) -> DeviceSplit:
    split = {"val": recipe.val_data, "test": recipe.test_data, "train": recipe.train_data}[name]
    if split is None:
        hint = ("set test_fraction above 0 and train again" if name == "test"
                else "set val_fraction above 0 and train again, or evaluate --split train")
        raise SetupError(f"this run has no {name} split; {hint}")
    return split


def evaluate_run(run_dir: Path, split: str = "val", beam: int = BEAM_SIZE) -> dict[str, Any]:
    """Evaluate a run on one split, write <run>/evaluation.json and return what it holds.

    beam: seq2seq runs, the beam size of the beam decoding beside the greedy one.
    """
    if beam < 1:
        raise SetupError(f"the beam size must be at least 1, not {beam}")
    opened = open_run(run_dir)
    recipe = opened.recipe
    kind = recipe.config.recipe
    result: dict[str, Any] = {"run": str(opened.path), "split": split, "recipe": kind,
                              "checkpoint": opened.checkpoint.name, "epoch": opened.epoch}
    # pictures go to a fresh folder that replaces the old one only once this evaluation succeeded,
    # so a failed one leaves the previous evaluation.json and its pictures intact
    pictures = opened.path / (PICTURES + ".new")
    shutil.rmtree(pictures, ignore_errors=True)
    pictures.mkdir()
    try:
        if kind == "gan":
            result["kind"] = "gan"
            result["grids"] = sorted(f"{SAMPLES}/{p.name}" for p in (opened.path / SAMPLES).glob("*.png"))
        else:
            data = _split(recipe, split)
            result["size"] = len(data)
            result["metrics"] = recipe.evaluate(data).metrics
            if kind == "seq2seq":
                result.update(seq2seq_examples(recipe, data, result["metrics"], beam))
            elif kind == "language_model":
                result["kind"] = "language_model"
                result["texts"] = sorted(f"{SAMPLES}/{p.name}" for p in (opened.path / SAMPLES).glob("*.txt"))
            elif kind == "segmentation":
                from runtime.evaluate_segmentation import segmentation_result

                result.update(segmentation_result(recipe, data, pictures))
            elif kind == "autoencoder":
                result["kind"] = "autoencoder"
                result["pairs_png"] = _reconstructions(recipe, data, pictures)
            elif getattr(recipe, "monitor", "") == "accuracy":
                result.update(_classification(recipe, data, pictures))
            else:
                result.update(_regression(recipe, data))
        _keep_attacks(opened.path, result, pictures)
        text = json.dumps(plain_json(result), indent=1, allow_nan=False)
    except BaseException:
        shutil.rmtree(pictures, ignore_errors=True)
        raise
    shutil.rmtree(opened.path / PICTURES, ignore_errors=True)
    pictures.rename(opened.path / PICTURES)
    write_text(opened.path / EVALUATION, text + "\n")
    return result


def _keep_attacks(run_dir: Path, result: dict[str, Any], pictures: Path) -> None:
    """An earlier `--attack` result (runtime/adversarial.py) survives a new evaluation, pictures too."""
    try:
        previous = json.loads((run_dir / EVALUATION).read_text())
    except (OSError, ValueError):
        return
    attacks = previous.get("attacks") if isinstance(previous, dict) else None
    if not isinstance(attacks, dict) or result.get("kind") != "classification":
        return
    result["attacks"] = attacks
    for picture in (run_dir / PICTURES).glob("attack_*.png"):
        shutil.copy2(picture, pictures / picture.name)


# --- classification -----------------------------------------------------------------------------

@torch.no_grad()
def predict(recipe: Recipe, data: DeviceSplit) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) over a split, flattened for per-step heads."""
    truths, preds = [], []
    for x, y in data.batches(recipe.eval_batch_size()):
        out = recipe.model(x).float()
        if recipe.head == "BinaryHead":
            pred = (out.reshape(-1) > 0).long()
        else:
            pred = out.argmax(dim=-1).reshape(-1)
        truths.append(y.reshape(-1).cpu().numpy())
        preds.append(pred.cpu().numpy())
    return np.concatenate(truths).astype(np.int64), np.concatenate(preds).astype(np.int64)


def _classification(recipe: Recipe, data: DeviceSplit, pictures: Path) -> dict[str, Any]:
    true, pred = predict(recipe, data)
    classes = recipe.classes
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (true, pred), 1)
    names = list(recipe.class_names or [])[:classes]
    names += [str(i) for i in range(len(names), classes)]
    per_class = []
    for c in range(classes):
        tp = int(confusion[c, c])
        predicted, actual = int(confusion[:, c].sum()), int(confusion[c].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"class": names[c], "precision": precision, "recall": recall, "f1": f1,
                          "support": actual})
    image_shape = _image_shape(recipe)
    inputs = data.inputs.cpu().numpy() if len(true) == len(data) else None  # per-step heads: no pictures
    cells = []
    for t, p in zip(*np.nonzero(confusion)):
        where = np.flatnonzero((true == t) & (pred == p))
        cell = {"true": int(t), "predicted": int(p), "count": int(len(where)),
                "indices": where[:INDICES_PER_CELL].tolist(), "images": []}
        if image_shape is not None and inputs is not None:
            for i in where[:THUMBNAILS_PER_CELL]:
                name = f"{PICTURES}/sample_{int(i)}.png"
                path = pictures / Path(name).name
                if not path.exists():
                    path.write_bytes(grid_png(_pixels(recipe, inputs[i:i + 1], image_shape)))
                cell["images"].append(name)
        cells.append(cell)
    accuracy = float(np.mean(true == pred)) if len(true) else 0.0
    out = {"kind": "classification", "class_names": names, "confusion": confusion.tolist(),
           "per_class": per_class, "cells": cells, "accuracy": accuracy}
    if image_shape is not None and inputs is not None:
        out["saliency"] = _saliency(recipe, data, true, pred, image_shape, pictures)
    return out


def _image_shape(recipe: Recipe) -> tuple[int, ...] | None:
    dataset = recipe.setup.dataset
    if dataset.input_kind not in ("image", "vector"):
        return None
    return image_shape_for(tuple(dataset.input_shape), dataset.extra)


def _pixels(recipe: Recipe, x: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Samples turned back into their original values (undoing the normalisation), as (N, C, H, W)."""
    dataset = recipe.setup.dataset
    x = np.asarray(x, np.float32)
    if dataset.std is not None and dataset.mean is not None:
        x = x * dataset.std + dataset.mean
    return x.reshape(len(x), *image_shape)


def _saliency(recipe: Recipe, data: DeviceSplit, true: np.ndarray, pred: np.ndarray,
              image_shape: tuple[int, ...], pictures: Path) -> list[dict[str, Any]]:
    """|d score(predicted class) / d input|, max over channels, normalised, over a grey copy in red."""
    count = min(SALIENCY_SAMPLES, len(data))
    wrong = [int(i) for i in np.flatnonzero(true != pred)[: count // 2]]
    chosen = (wrong + [i for i in range(len(data)) if i not in wrong])[:count]
    x = data.inputs[chosen].detach().clone().float().requires_grad_(True)
    out = recipe.model(x).float()
    scores = out.reshape(len(chosen)) if recipe.head == "BinaryHead" else out[torch.arange(len(chosen)),
                                                                               torch.as_tensor(pred[chosen])]
    grad, = torch.autograd.grad(scores.sum(), x)
    heat = grad.abs().reshape(len(chosen), *image_shape).amax(dim=1).numpy()  # (N, H, W)
    images = _pixels(recipe, data.inputs[chosen].cpu().numpy(), image_shape)
    result = []
    for k, i in enumerate(chosen):
        h = heat[k] / max(float(heat[k].max()), 1e-12)
        base = grid(images[k:k + 1], columns=1, padding=0).astype(np.float32) / 255.0
        if base.ndim == 3:
            base = base.mean(axis=2)
        zoom = base.shape[0] // h.shape[0]
        h = h.repeat(zoom, axis=0).repeat(zoom, axis=1)
        grey = np.stack([base, base, base], axis=2) * 0.6
        overlay = grey.copy()
        overlay[:, :, 0] = np.clip(grey[:, :, 0] + h, 0, 1)  # strong gradients glow red
        overlay[:, :, 1] = grey[:, :, 1] * (1 - h)
        overlay[:, :, 2] = grey[:, :, 2] * (1 - h)
        gap = np.full((base.shape[0], 2, 3), 0.15, np.float32)
        picture = np.concatenate([np.stack([base] * 3, axis=2), gap, overlay], axis=1)
        name = f"{PICTURES}/saliency_{i}.png"
        (pictures / Path(name).name).write_bytes(encode_png((picture * 255 + 0.5).astype(np.uint8)))
        result.append({"index": i, "true": int(true[i]), "predicted": int(pred[i]), "png": name})
    return result


# --- regression and autoencoders ----------------------------------------------------------------

@torch.no_grad()
def _regression(recipe: Recipe, data: DeviceSplit) -> dict[str, Any]:
    predicted, target = [], []
    for x, y in data.batches(recipe.eval_batch_size()):
        out = recipe.model(x).float()
        predicted.append(out.reshape(len(x), -1)[:, 0].cpu().numpy())
        target.append(y.float().reshape(len(x), -1)[:, 0].cpu().numpy())
    p, t = np.concatenate(predicted)[:MAX_PAIRS], np.concatenate(target)[:MAX_PAIRS]
    return {"kind": "regression", "predicted": p.tolist(), "true": t.tolist()}


@torch.no_grad()
def _reconstructions(recipe: Recipe, data: DeviceSplit, pictures: Path) -> str | None:
    if recipe.image_shape is None:
        return None
    x = data.inputs[:8].float()
    out = recipe.model(x).float()
    both = torch.cat([x, out]).reshape(-1, *recipe.image_shape).numpy()
    name = f"{PICTURES}/reconstructions.png"
    low, high = float(x.min()), float(x.max())
    (pictures / Path(name).name).write_bytes(grid_png(both, columns=len(x), value_range=(low, high)))
    return name


# --- language models ------------------------------------------------------------------------------

@torch.no_grad()
def sample_text(run_dir: Path, prompt: str, temperature: float, length: int, seed: int = 0) -> str:
    """`length` tokens sampled after `prompt` by a language-model run (decoded to text)."""
    recipe = open_run(run_dir).recipe
    if recipe.config.recipe != "language_model":
        raise SetupError(f"{run_dir}: this run trained a {recipe.config.recipe} model; only language "
                         "models continue text")
    if temperature <= 0:
        raise SetupError("the temperature must be above 0 (try 0.8)")
    vocab = recipe.vocab
    index = {token: i for i, token in enumerate(vocab)}
    window_size = recipe.train_data.inputs.shape[1]
    ids = [index[ch] for ch in prompt if ch in index]
    fill = index.get(" ", 0)
    ids = ([fill] * window_size + ids)[-window_size:]  # short prompts are padded on the left
    window = torch.tensor(ids, dtype=torch.long).reshape(1, -1)
    generator = torch.Generator().manual_seed(seed)
    produced = []
    for _ in range(length):
        scores = recipe.model(window).float()
        last = scores[0, -1] if recipe.per_step else scores[0]
        token = torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=generator)
        produced.append(int(token))
        window = torch.cat([window[:, 1:], token.reshape(1, 1)], dim=1)
    return recipe.decode(produced)


# --- sequence to sequence -------------------------------------------------------------------------

def seq2seq_examples(recipe: Recipe, data: DeviceSplit, metrics: dict[str, float],
                     beam: int = BEAM_SIZE) -> dict[str, Any]:
    """Greedy answers of the split (capped), beam answers of the first BEAM_SAMPLES and of the table's
    rows; the table worst first (greedy character error rate, then beam's), mistakes before the rest."""
    from runtime.train.decoding import character_error_rate, exact_match, levenshtein

    limit = min(len(data), MAX_PAIRS)
    sources, references, greedy = recipe.decode_split(data, limit)
    errors = [levenshtein(a, r) / max(len(r), 1) for a, r in zip(greedy, references)]
    metrics.update({"exact_match": exact_match(greedy, references),
                    "cer": character_error_rate(greedy, references)})
    order = sorted(range(limit), key=lambda i: -errors[i])[:MAX_EXAMPLES]
    chosen = sorted(set(range(min(BEAM_SAMPLES, limit))) | set(order))
    beamed: dict[int, str] = {}
    for start in range(0, len(chosen), 256):
        part = chosen[start:start + 256]
        for i, ids in zip(part, recipe.beam(data.inputs[torch.tensor(part)], beam)):
            beamed[i] = recipe.text(ids)
    first = range(min(BEAM_SAMPLES, limit))
    beam_answers, beam_references = [beamed[i] for i in first], [references[i] for i in first]
    metrics["beam_exact_match"] = exact_match(beam_answers, beam_references)
    metrics["beam_cer"] = character_error_rate(beam_answers, beam_references)
    order.sort(key=lambda i: (-errors[i], -levenshtein(beamed[i], references[i]) / max(len(references[i]), 1),
                              i))
    rows = [{"index": i, "source": sources[i], "target": references[i], "greedy": greedy[i],
             "beam": beamed[i], "cer": errors[i]} for i in order]
    return {"kind": "seq2seq", "decoded": limit, "beam_size": beam, "beam_samples": len(first),
            "examples": rows}


@torch.no_grad()
def translate(run_dir: Path, text: str, beam: int = 1) -> str:
    """What a seq2seq run writes for `text`: greedy (beam 1) or beam decoding."""
    recipe = open_run(run_dir).recipe
    if recipe.config.recipe != "seq2seq":
        raise SetupError(f"{run_dir}: this run trained a {recipe.config.recipe} model; only seq2seq models "
                         "translate text")
    return translate_with(recipe, text, beam)


def translate_with(recipe: Recipe, text: str, beam: int = 1) -> str:
    if beam < 1:
        raise SetupError("the beam size must be at least 1")
    if len(text) > recipe.source_length:
        raise SetupError(f"the text has {len(text)} characters; this model reads at most "
                         f"{recipe.source_length} (its source input's length)")
    source = recipe.encode_source(text)
    if beam == 1:
        return recipe.text(recipe.greedy(source)[0].tolist())
    return recipe.text(recipe.beam(source, beam)[0])

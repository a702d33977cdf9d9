"""How robust a trained classifier is: accuracy under FGSM and PGD attacks over a range of eps.

    result = attack_run(Path("runs/Digits-CNN/Digits-CNN-20261204-120000"), "pgd", [0.05, 0.1, 0.2])

Networks are susceptible to adversarial examples: an input changed by a
little, in the direction that raises the loss most, is misclassified. For
each eps the run's validation split (the one it was validated on, rebuilt as
training built it: runtime/evaluate.py) is attacked and classified again:

    fgsm  one step of size eps along the sign of the loss gradient
          (Goodfellow et al. 2015)
    pgd   `steps` steps of size 2.5 eps / steps from a random start, each projected back
          into the eps-ball around the input (Madry et al. 2018)

eps is measured in the data's own units: a fraction of the pixel range for
images with a known range (eps 0.1 on the 0..16 digits moves a pixel by up
to 1.6, on 0..255 files by 25.5), and the perturbed image stays inside that
range; for other inputs eps is in standard deviations of each feature. The
result (clean and adversarial accuracy per eps, and a picture of a few
perturbed samples with their new predictions) goes into evaluation.json's
"attack" entry and <run>/evaluation/attack_*.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional

from graph.atomic import write_text
from runtime.train.errors import SetupError
from runtime.train.events import plain_json
from runtime.train.images import grid_png
from runtime.train.perturb import Scale, perturb

METHODS = ("fgsm", "pgd")
DEFAULT_EPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
MAX_EPS = 10.0  # beyond this the "perturbation" replaces the input: refused as a typo
EXAMPLES = 8  # perturbed samples drawn per picture
BATCH = 256


def attack_run(run_dir: Path, method: str, eps_values: list[float], steps: int = 10,
               split: str = "val", seed: int = 0) -> dict[str, Any]:
    """Attack a classification run on one split; the result is merged into evaluation.json."""
    from runtime.evaluate import EVALUATION, PICTURES, _split, evaluate_run, open_run

    if method not in METHODS:
        raise SetupError(f"unknown attack {method!r}; choose one of {', '.join(METHODS)}")
    if not eps_values or any(not 0 <= e <= MAX_EPS for e in eps_values):
        raise SetupError(f"every eps must be between 0 and {MAX_EPS:g} (e.g. --eps 0.05,0.1,0.2)")
    if method == "pgd" and not 1 <= steps <= 1000:
        raise SetupError("--steps must be between 1 and 1000")
    opened = open_run(run_dir)
    recipe = opened.recipe
    if recipe.config.recipe != "classification" or getattr(recipe, "monitor", "") != "accuracy":
        raise SetupError(f"{run_dir}: attacks measure a classifier's accuracy; this run trained a "
                         f"{recipe.config.recipe} model")
    dataset = recipe.setup.dataset
    if dataset.input_kind == "tokens":
        raise SetupError(f"{run_dir}: the network reads token ids, which have no small steps to take; "
                         "attacks need images, sequences or tables")
    data = _split(recipe, split)
    evaluation = Path(run_dir) / EVALUATION
    if _evaluated_split(evaluation) != split:  # the Evaluation view shows the attack beside the rest
        evaluate_run(Path(run_dir), split)
    scale = Scale(dataset, recipe.device)
    torch.manual_seed(seed)
    curve = []
    examples: dict[str, Any] = {}
    pictures = Path(run_dir) / PICTURES
    pictures.mkdir(exist_ok=True)
    clean = None
    for eps in sorted(set(float(e) for e in eps_values)):
        correct = total = 0
        shown = None
        for x, y in data.batches(BATCH):
            adv = x if eps == 0 else _perturb(recipe, x, y, eps, method, steps, scale)
            with torch.no_grad():
                pred = _predicted(recipe, adv)
            truth = y.reshape(-1)
            correct += int((pred == truth).sum())
            total += len(truth)
            if shown is None:
                shown = (adv[:EXAMPLES].detach(), pred[:EXAMPLES], truth[:EXAMPLES])
        accuracy = correct / total if total else 0.0
        if eps == 0:
            clean = accuracy
        curve.append({"eps": eps, "accuracy": accuracy})
        if shown is not None and scale.image_shape is not None and eps > 0:
            name = f"{PICTURES}/attack_{method}_{eps:g}.png"
            pixels = scale.to_raw(shown[0]).reshape(len(shown[0]), *scale.image_shape)
            (Path(run_dir) / name).write_bytes(grid_png(pixels))
            examples[f"{eps:g}"] = {"png": name, "predicted": shown[1].tolist(), "true": shown[2].tolist()}
    if clean is None:  # the clean accuracy is always reported beside the attacked ones
        with torch.no_grad():
            hits = [(_predicted(recipe, x) == y.reshape(-1)).sum().item() for x, y in data.batches(BATCH)]
        clean = sum(hits) / len(data) if len(data) else 0.0
    result = {"method": method, "split": split, "size": len(data), "unit": scale.unit,
              "steps": steps if method == "pgd" else 1, "clean_accuracy": clean, "curve": curve,
              "examples": examples, "class_names": list(recipe.class_names or [])}
    record = json.loads(evaluation.read_text())  # just written by evaluate_run, or checked by it
    attacks = record.get("attacks") if isinstance(record.get("attacks"), dict) else {}
    attacks[method] = result
    record["attacks"] = attacks
    write_text(evaluation, json.dumps(plain_json(record), indent=1, allow_nan=False) + "\n")
    return result


def _evaluated_split(path: Path) -> str | None:
    """The split a readable classification evaluation.json covers; None when there is none."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("kind") != "classification" or "confusion" not in record:
        return None
    return record.get("split")


def _loss(recipe, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = recipe.model(x).float()
    if recipe.head == "BinaryHead":
        return functional.binary_cross_entropy_with_logits(out.reshape(-1), y.float().reshape(-1))
    return functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1).long())


def _predicted(recipe, x: torch.Tensor) -> torch.Tensor:
    out = recipe.model(x).float()
    if recipe.head == "BinaryHead":
        return (out.reshape(-1) > 0).long()
    return out.argmax(dim=-1).reshape(-1)


def _perturb(recipe, x: torch.Tensor, y: torch.Tensor, eps: float, method: str, steps: int,
             scale: Scale) -> torch.Tensor:
    return perturb(lambda inputs: _loss(recipe, inputs, y), x, eps, method, steps, scale)


def format_curve(result: dict[str, Any]) -> str:
    """The accuracy per eps as a small table."""
    lines = [f"{result['method'].upper()} on the {result['split']} split ({result['size']} samples); "
             f"eps in {result['unit']}"
             + (f", {result['steps']} steps" if result["method"] == "pgd" else ""),
             f"{'eps':>8}  accuracy"]
    for point in result["curve"]:
        lines.append(f"{point['eps']:>8g}  {100 * point['accuracy']:6.2f}%")
    return "\n".join(lines)

"""The `adversarial` training setting: each step also learns from its batch perturbed by FGSM or PGD.

Checked: the perturbation leaves the network's gradients alone; with weight
1 a step's loss is the loss on the perturbed batch (higher than on the
clean one), with weight 0 the clean loss; token inputs are refused with a
message; recipes without it say so; and (slow) a digits CNN trained with
PGD keeps more accuracy under a PGD attack than the same CNN trained plainly.
"""

from __future__ import annotations

import pytest
import torch

from graph.blocks import default_registry
from graph.examples import resolve_project
from graph.project_io import load_project
from runtime.adversarial import attack_run
from runtime.build import build_models
from runtime.train.data import compile_for_training, load_project_data
from runtime.train.device import Precision
from runtime.train.errors import SetupError
from runtime.train.perturb import Scale, perturb
from runtime.train.recipes import RecipeSetup, make_recipe
from tests.test_evaluate import train


def _recipe(example: str, **training):
    registry = default_registry()
    project = load_project(resolve_project(example), registry)
    project.training = project.training.replace(**training)
    compiled = compile_for_training(project, registry)
    dataset = load_project_data(project, registry, compiled=compiled)
    torch.manual_seed(0)
    models, _ = build_models(project, registry, compiled)
    device = torch.device("cpu")
    setup = RecipeSetup(project, compiled, models, dataset, project.training, device,
                        Precision(device, False), [])
    return make_recipe(setup), setup


def test_the_perturbation_leaves_the_networks_gradients_alone():
    recipe, setup = _recipe("digits_cnn", adversarial="pgd")
    x = recipe.train_data.inputs[:32].float()
    y = recipe.train_data.targets[:32].reshape(-1)
    for p in recipe.model.parameters():
        p.grad = torch.full_like(p, 0.25)
    moved = perturb(lambda inputs: recipe._loss_of(recipe.model(inputs), y), x, 0.1, "pgd", 3,
                    Scale(setup.dataset))
    assert all(torch.equal(p.grad, torch.full_like(p, 0.25)) for p in recipe.model.parameters())
    step = Scale(setup.dataset).step(0.1)  # 1.6 of 0..16 pixels, in standardised units
    assert float(((moved - x).abs() - step).max()) <= 1e-5 and float((moved - x).abs().max()) > 0


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_a_steps_loss_mixes_the_clean_and_the_perturbed_batch(method):
    x_y = None
    losses, clean = {}, {}
    for weight in (0.0, 1.0):
        recipe, _ = _recipe("digits_cnn", adversarial=method, adversarial_weight=weight,
                            adversarial_eps=0.2, adversarial_steps=5)
        assert recipe.adversary is not None and recipe.adversary.method == method
        if x_y is None:
            x_y = recipe.train_data.inputs[:64].float(), recipe.train_data.targets[:64]
        recipe.model.eval()  # no dropout: the same batch gives the same clean loss every time
        losses[weight] = float(recipe.step_loss(*x_y).detach())
        clean[weight] = float(recipe._loss_of(recipe.model(x_y[0]), x_y[1]).detach())
    assert clean[0.0] == pytest.approx(clean[1.0], rel=1e-6)  # the same weights in both
    assert losses[0.0] == pytest.approx(clean[0.0], rel=1e-5)  # weight 0: the clean loss exactly
    assert losses[1.0] > 1.05 * clean[1.0]  # the perturbation raised the loss


def test_token_inputs_are_refused_and_other_recipes_say_they_train_without_it():
    with pytest.raises(SetupError, match="reads token ids .* set adversarial to off"):
        _recipe("sentiment_lstm", adversarial="fgsm")
    with pytest.raises(SetupError, match="adversarial_eps 0 changes nothing"):
        _recipe("digits_cnn", adversarial="fgsm", adversarial_eps=0.0)
    recipe, setup = _recipe("digits_autoencoder", adversarial="fgsm")
    assert any("the autoencoder recipe trains without it" in w for w in setup.warnings)
    plain, _ = _recipe("digits_cnn")
    assert plain.adversary is None


@pytest.mark.slow
def test_pgd_training_keeps_more_accuracy_under_a_pgd_attack(tmp_path):
    import json

    from graph.examples import resolve_project as find

    source = json.loads(find("digits_cnn").read_text())
    runs = {}
    for name, extra in (("plain", {}), ("pgd", {"adversarial": "pgd", "adversarial_eps": 0.1})):
        project = dict(source, name=f"digits-{name}")
        project.pop("id", None)
        project["training"] = dict(source["training"], **extra)
        path = tmp_path / f"{name}.dw.json"
        path.write_text(json.dumps(project))
        run = train(str(path), tmp_path / name, "--epochs", "8")
        runs[name] = {p["eps"]: p["accuracy"] for p in attack_run(run, "pgd", [0.0, 0.1])["curve"]}
    assert runs["pgd"][0.0] > 0.95  # still a good classifier on clean digits
    assert runs["pgd"][0.1] > runs["plain"][0.1] + 0.05, runs

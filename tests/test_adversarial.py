"""`deepwire evaluate RUN --attack fgsm|pgd`: accuracy under attack, checked against a hand-written FGSM.

The reference attack below is a few lines of plain torch on the run's own
model and validation split (the textbook x + eps * sign(grad), clipped to
the pixel range); DeepWire's curve must match it, perturbations must stay
inside the eps-ball and the pixel range, and PGD must be at least as
strong as FGSM.
"""

from __future__ import annotations

import json

import pytest
import torch

from runtime.adversarial import _perturb, attack_run
from runtime.cli import main as cli_main
from runtime.evaluate import open_run
from runtime.train.perturb import Scale
from tests.test_evaluate import train

EPS = [0.0, 0.05, 0.1, 0.2]


def _reference_fgsm(run_dir, eps: float) -> float:
    recipe = open_run(run_dir).recipe
    data = recipe.val_data
    dataset = recipe.setup.dataset
    mean = torch.as_tensor(dataset.mean, dtype=torch.float32)
    std = torch.as_tensor(dataset.std, dtype=torch.float32)
    x = data.inputs.detach().clone().float() * std + mean  # back to raw 0..16 pixels
    y = data.targets.reshape(-1)
    x.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(recipe.model((x - mean) / std), y)
    (grad,) = torch.autograd.grad(loss, x)
    adversarial = (x + eps * 16.0 * grad.sign()).clamp(0, 16).detach()
    with torch.no_grad():
        return float((recipe.model((adversarial - mean) / std).argmax(-1) == y).float().mean())


def test_fgsm_curve_matches_a_hand_written_attack_and_pgd_is_stronger(digits_cnn_run):
    fgsm = attack_run(digits_cnn_run, "fgsm", EPS)
    pgd = attack_run(digits_cnn_run, "pgd", EPS, steps=10)
    evaluation = json.loads((digits_cnn_run / "evaluation.json").read_text())
    assert fgsm["clean_accuracy"] == pytest.approx(evaluation["accuracy"])
    assert fgsm["unit"] == "fraction of the pixel range 0..16"
    by_eps = {p["eps"]: p["accuracy"] for p in fgsm["curve"]}
    assert by_eps[0.0] == pytest.approx(evaluation["accuracy"])
    for eps in (0.05, 0.1, 0.2):
        assert by_eps[eps] == pytest.approx(_reference_fgsm(digits_cnn_run, eps), abs=1.5 / fgsm["size"])
    assert by_eps[0.2] < by_eps[0.05] < by_eps[0.0]  # a bigger step hurts more
    strong = {p["eps"]: p["accuracy"] for p in pgd["curve"]}
    assert all(strong[e] <= by_eps[e] + 1e-9 for e in (0.1, 0.2))
    assert strong[0.2] < 0.5  # 10 steps of PGD at a fifth of the range break most predictions
    # both attacks, and their pictures, are in the run's evaluation for the studio
    assert set(evaluation["attacks"]) == {"fgsm", "pgd"}
    for attack in evaluation["attacks"].values():
        for shown in attack["examples"].values():
            assert (digits_cnn_run / shown["png"]).is_file() and len(shown["predicted"]) == 8


def test_perturbations_stay_inside_the_eps_ball_and_the_pixel_range(digits_cnn_run):
    recipe = open_run(digits_cnn_run).recipe
    scale = Scale(recipe.setup.dataset)
    x = recipe.val_data.inputs[:64].float()
    y = recipe.val_data.targets[:64].reshape(-1)
    for method in ("fgsm", "pgd"):
        adversarial = _perturb(recipe, x, y, 0.1, method, 10, scale)
        raw, before = torch.as_tensor(scale.to_raw(adversarial)), torch.as_tensor(scale.to_raw(x))
        assert float((raw - before).abs().max()) <= 0.1 * 16 + 1e-4
        assert float(raw.min()) >= -1e-4 and float(raw.max()) <= 16 + 1e-4
        assert float((raw - before).abs().max()) > 0.5  # it did move


def test_a_new_evaluation_keeps_the_attack_results(digits_cnn_run, capsys):
    assert cli_main(["evaluate", str(digits_cnn_run), "--attack", "fgsm", "--eps", "0.1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("FGSM on the val split (359 samples)") and table[-1].split()[0] == "0.1"
    assert cli_main(["evaluate", str(digits_cnn_run)]) == 0
    evaluation = json.loads((digits_cnn_run / "evaluation.json").read_text())
    png = evaluation["attacks"]["fgsm"]["examples"]["0.1"]["png"]
    assert (digits_cnn_run / png).is_file()


def test_attacks_refuse_what_they_cannot_measure(digits_cnn_run, tmp_path, capsys):
    sine = train("sine_lstm", tmp_path / "sine", "--max-seconds", "2")
    cases = [
        (["evaluate", str(sine), "--attack", "fgsm"], "attacks measure a classifier's accuracy"),
        (["evaluate", str(digits_cnn_run), "--attack", "fgsm", "--eps", "0.1,x"], "--eps takes numbers"),
        (["evaluate", str(digits_cnn_run), "--attack", "pgd", "--eps", "-1"], "every eps must be between 0"),
        (["evaluate", str(digits_cnn_run), "--eps", "0.1"], "--eps needs --attack"),
        (["evaluate", str(digits_cnn_run), "--attack", "pgd", "--steps", "0"], "--steps must be between"),
    ]
    for argv, expected in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)

"""The exported standalone training script: readable, importable without training, and it trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.build import build_models
from runtime.export_project import import_module_from
from runtime.export_script import write_training_script
from tests.test_train_fixtures import REGISTRY, _digits, digits_pixels, digits_vectors, mlp, project
from tests.test_train_recipes import gan_networks

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _ruff(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), str(path)], capture_output=True, text=True)


def test_classifier_script_trains_and_its_weights_load_into_the_app_model(tmp_path):
    data = digits_vectors(train=600, val=300)
    proj = project(mlp(), epochs=1, lr=0.01, schedule="cosine", warmup_epochs=1, grad_clip=5.0)
    script = write_training_script(proj, REGISTRY, tmp_path / "train_digits.py", dataset=data)

    assert (tmp_path / "train_digits.npz").is_file()
    text = script.read_text()
    assert "class TestProject(nn.Module)" in text and 'if __name__ == "__main__":' in text
    assert "EPOCHS = 1" in text and "LEARNING_RATE = 0.01" in text and "GRAD_CLIP = 5.0" in text
    assert _ruff(script).returncode == 0, _ruff(script).stdout

    module = import_module_from(script)  # importing defines things and trains nothing
    assert not (tmp_path / "train_digits.pt").exists() and hasattr(module, "main")

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stdout and "val_accuracy" in done.stdout

    weights = torch.load(tmp_path / "train_digits.pt", weights_only=True)
    models, _ = build_models(proj, REGISTRY)
    model = models["model"]
    model.load_state_dict(weights)  # the exported classes are the app's classes: same keys and shapes
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.val.inputs)).argmax(1).numpy()
    accuracy = float(np.mean(predicted == data.val.targets))
    assert accuracy > 0.7  # one epoch on 600 digits; chance is 0.1


def test_gan_script_trains_both_networks_and_saves_each(tmp_path):
    proj = project(gan_networks(), recipe="gan", epochs=1, lr=2e-4, beta1=0.5, d_lr=1e-4)
    script = write_training_script(proj, REGISTRY, tmp_path / "gan.py", dataset=digits_pixels(low=-1.0))
    text = script.read_text()
    assert "D_LEARNING_RATE = 0.0001" in text and "LATENT_SIZE = 8" in text and "betas=(0.5, 0.999)" in text
    assert _ruff(script).returncode == 0, _ruff(script).stdout
    done = subprocess.run([sys.executable, str(script), "--epochs", "2"], capture_output=True, text=True,
                          timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "epoch 2/2  d_loss" in done.stdout
    models, _ = build_models(proj, REGISTRY)
    for name in ("generator", "discriminator"):
        models[name].load_state_dict(torch.load(tmp_path / f"gan.{name}.pt", weights_only=True))


@pytest.mark.parametrize("settings, optimizer", [
    ({"optimizer": "sgd", "nesterov": True, "schedule": "step"}, "torch.optim.SGD("),
    ({"optimizer": "rmsprop", "schedule": "onecycle"}, "torch.optim.RMSprop("),
    ({"optimizer": "adamw", "schedule": "constant"}, "torch.optim.AdamW("),
], ids=["sgd-step", "rmsprop-onecycle", "adamw-constant"])
def test_every_optimizer_and_schedule_renders_ruff_clean_code(tmp_path, settings, optimizer):
    proj = project(mlp(), **settings)
    script = write_training_script(proj, REGISTRY, tmp_path / "s.py", dataset=digits_vectors(40, 20))
    assert _ruff(script).returncode == 0, _ruff(script).stdout
    text = script.read_text()
    assert optimizer in text
    assert ("make_schedule" in text) == (settings["schedule"] != "constant")


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_an_adversarially_trained_projects_script_trains_on_perturbed_batches(tmp_path, method):
    data = digits_vectors(train=300, val=100)
    raw_train = _digits(400)[0][:300]  # what digits_vectors standardised with
    data.mean, data.std = raw_train.mean(axis=0), raw_train.std(axis=0) + 1e-6
    data.extra["pixel_range"] = (0.0, 16.0)
    proj = project(mlp(), epochs=1, lr=0.01, adversarial=method, adversarial_eps=0.1, adversarial_steps=2)
    script = write_training_script(proj, REGISTRY, tmp_path / "robust.py", dataset=data)
    text = script.read_text()
    assert f"ADVERSARIAL = {method!r}" in text and "PIXEL_RANGE = (0.0, 16.0)" in text
    assert "ADVERSARIAL_STEPS = 2" in text
    assert "moved = perturbed(net, loss_fn, x, y, bounds)" in text
    assert _ruff(script).returncode == 0, _ruff(script).stdout
    module = import_module_from(script)
    # the script's perturbation stays inside the eps box and the pixel range, in raw pixels
    npz = dict(np.load(tmp_path / "robust.npz"))
    bounds = module.perturbation_bounds(npz, torch.device("cpu"))
    net = module.TestProject()
    x = torch.from_numpy(npz["train_inputs"][:32])
    y = torch.from_numpy(npz["train_targets"][:32])
    moved = module.perturbed(net, net.make_loss(), x, y, bounds)
    mean, std = torch.from_numpy(npz["mean"]), torch.from_numpy(npz["std"])
    raw, before = moved * std + mean, x * std + mean
    assert float((raw - before).abs().max()) <= 1.6 + 1e-4 and float((raw - before).abs().max()) > 0.5
    assert float(raw.min()) >= -1e-4 and float(raw.max()) <= 16 + 1e-4
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stdout and "val_accuracy" in done.stdout

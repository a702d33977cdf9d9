"""Optimizers, learning-rate schedules, gradient clipping and early stopping."""

from __future__ import annotations

import math

import pytest
import torch

from graph.training_config import TrainingConfig
from runtime.train.optim import OPTIMIZERS, SCHEDULES, lr_factor, make_optimizer, make_scheduler
from runtime.train.updater import Updater
from tests.test_train_fixtures import (  # noqa: F401 - single_thread is a fixture
    digits_vectors,
    mlp,
    project,
    run_training,
    single_thread,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(4, 2)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_and_schedule_constructs_and_steps(name, schedule):
    config = TrainingConfig({"optimizer": name, "schedule": schedule, "epochs": 3, "lr": 0.05,
                             "warmup_epochs": 1, "step_size": 1, "nesterov": True, "weight_decay": 0.01})
    model = _model()
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=4)
    update = Updater(optimizer, scheduler, None, grad_clip=0.0)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    before = model.weight.detach().clone()
    rates = []
    for _ in range(12):
        rates.append(update.lr)  # the rate this step uses
        loss = torch.nn.functional.cross_entropy(model(x), y)
        update(loss)
    assert not torch.equal(before, model.weight)
    assert type(optimizer).__name__.lower() == {"sgd": "sgd", "adam": "adam", "adamw": "adamw",
                                                 "rmsprop": "rmsprop"}[name]
    assert all(0 < r <= 0.05 + 1e-12 for r in rates)
    if schedule != "constant":
        assert len(set(rates)) > 1  # the rate really moves


def test_nesterov_and_momentum_reach_sgd():
    config = TrainingConfig({"optimizer": "sgd", "momentum": 0.8, "nesterov": True})
    group = make_optimizer(_model().parameters(), config).param_groups[0]
    assert group["momentum"] == 0.8 and group["nesterov"] is True


def test_linear_warmup_then_constant():
    config = TrainingConfig({"epochs": 4, "warmup_epochs": 2})
    factors = [lr_factor(config, 5, step) for step in range(20)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[10:] == [1.0] * 10


def test_step_schedule_decays_every_step_size_epochs():
    config = TrainingConfig({"epochs": 6, "schedule": "step", "step_size": 2, "gamma": 0.5})
    per_epoch = [lr_factor(config, 3, epoch * 3) for epoch in range(6)]
    assert per_epoch == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_cosine_falls_from_full_to_zero():
    config = TrainingConfig({"epochs": 2, "schedule": "cosine"})
    assert lr_factor(config, 10, 0) == 1.0
    assert lr_factor(config, 10, 10) == pytest.approx(0.5)
    assert lr_factor(config, 10, 20) == pytest.approx(0.0, abs=1e-12)


def test_one_cycle_peaks_at_the_configured_rate_and_ends_low():
    config = TrainingConfig({"epochs": 2, "schedule": "onecycle", "lr": 0.1})
    optimizer = make_optimizer(_model().parameters(), config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=10)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(0.1, rel=0.02)
    assert rates[0] < 0.01 and rates[-1] < 0.001


def test_constant_rate_needs_no_scheduler_in_the_hot_loop():
    optimizer = make_optimizer(_model().parameters(), TrainingConfig())
    assert make_scheduler(optimizer, TrainingConfig(), 10) is None


def test_gradient_clipping_bounds_the_update():
    model = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    update = Updater(optimizer, None, None, grad_clip=0.5)
    loss = (model(torch.full((1, 4), 100.0)) - 1e6).pow(2).mean()  # an enormous gradient
    update(loss)
    assert model.weight.norm().item() == pytest.approx(0.5, rel=1e-5)


def test_nothing_to_train_is_explained():
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        make_optimizer(frozen.parameters(), TrainingConfig())


def test_early_stopping_ends_the_run_after_patience_epochs_without_improvement(tmp_path):
    # a learning rate of zero never improves after the first epoch
    proj = project(mlp(), epochs=20, lr=1e-7, early_stopping=2, monitor="loss")
    summary, events = run_training(proj, digits_vectors(train=128, val=64), tmp_path / "run")
    validations = events.of("validation")
    assert summary["reason"] == "early_stopped" == events.of("finished")[0].reason
    assert len(validations) < 20
    best = min(range(len(validations)), key=lambda i: validations[i].metrics["loss"])
    assert len(validations) - 1 - best == 2  # exactly `patience` epochs after the best one
    assert summary["best_epoch"] == best + 1
    assert math.isclose(summary["best_metric"], validations[best].metrics["loss"])

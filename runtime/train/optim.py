"""Optimizers and learning-rate schedules from a TrainingConfig.

Schedules step once per optimizer step (not per epoch), so warm-up and
cosine decay are smooth even for runs of a few epochs. Every schedule is a
plain torch scheduler whose state_dict goes into the checkpoint, so a
resumed run continues on the same curve. A constant schedule without
warm-up has no scheduler at all: nothing to step in the hot loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from graph.training_config import TrainingConfig
from runtime.train.errors import SetupError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "onecycle")


def make_optimizer(params: Iterable[torch.nn.Parameter], config: TrainingConfig,
                   lr: float | None = None,
                   pretrained: Iterable[torch.nn.Parameter] = ()) -> torch.optim.Optimizer:
    """The configured optimizer over the trainable `params` (lr overrides config.lr, e.g. a GAN's
    discriminator). Frozen parameters (requires_grad False) are left out. The `pretrained` ones among
    them learn at lr * config.pretrained_lr_scale, in a second parameter group (group 0 is the rest,
    whose rate is the one reported)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise SetupError("there is nothing to train: every block is frozen or has no weights; "
                         "unfreeze a block or add a block with weights (e.g. Linear)")
    lr = config.lr if lr is None else lr
    slow_ids = {id(p) for p in pretrained}
    slow = [p for p in params if id(p) in slow_ids]
    if slow and config.pretrained_lr_scale != 1.0:
        rest = [p for p in params if id(p) not in slow_ids]
        groups = [{"params": rest, "lr": lr}] if rest else []
        groups.append({"params": slow, "lr": lr * config.pretrained_lr_scale})
        params = groups
    decay = config.weight_decay
    name = config.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay,
                               nesterov=config.nesterov and config.momentum > 0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(config.beta1, 0.999), weight_decay=decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(config.beta1, 0.999), weight_decay=decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    raise ValueError(f"unknown optimizer '{name}'; expected one of {', '.join(OPTIMIZERS)}")


def lr_factor(config: TrainingConfig, steps_per_epoch: int, step: int) -> float:
    """Multiplier of the base learning rate after `step` optimizer steps (all but one-cycle)."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(config.warmup_epochs * steps_per_epoch, total)
    if step < warmup:
        # linear ramp that reaches the full rate at the end of warm-up, never exactly 0
        return (step + 1) / warmup
    schedule = config.schedule
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        epoch = step // steps_per_epoch
        return config.gamma ** (epoch // config.step_size)
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown schedule '{schedule}'; expected one of {', '.join(SCHEDULES)}")


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step scheduler, or None when the rate never changes."""
    if config.schedule == "constant" and config.warmup_epochs == 0:
        return None
    if config.schedule == "onecycle":
        total = max(2, config.epochs * steps_per_epoch)
        # one-cycle has its own warm-up; warmup_epochs, when set, decides how long it lasts
        warm = config.warmup_epochs / config.epochs if config.warmup_epochs else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total,
            pct_start=min(max(warm, 0.01), 0.99), cycle_momentum=False)

    def factor(step: int) -> float:
        return lr_factor(config, steps_per_epoch, step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])

"""One optimizer step: backward, optional unscale / statistics / clipping, step, schedule.

Each trained network (or GAN half) has one `Updater`; recipes call
`updater(loss)` and never touch optimizers, scalers or schedulers, so mixed
precision, gradient clipping and per-block statistics work the same in
every recipe. The common case (no clipping, no statistics this step, no
scaler) runs exactly what a hand-written loop runs.
"""

from __future__ import annotations

import torch

from runtime.train.stats import BlockStatsCollector


class Updater:
    def __init__(self, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                 scaler: torch.amp.GradScaler | None, grad_clip: float,
                 stats: BlockStatsCollector | None = None):
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.grad_clip = grad_clip
        self.stats = stats
        self.capture = False  # the trainer sets this on statistics steps
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        # one-cycle refuses to step past its planned length (a resumed run given more epochs)
        self.schedule_limit = getattr(scheduler, "total_steps", None)

    def __call__(self, loss: torch.Tensor) -> None:
        optimizer = self.optimizer
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler
        if scaler is None:
            loss.backward()
        else:
            scaler.scale(loss).backward()
        if self.grad_clip or self.capture:
            if scaler is not None:
                scaler.unscale_(optimizer)  # clip and measure true gradients, not scaled ones
            if self.capture and self.stats is not None:
                self.stats.capture_gradients()
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        scheduler = self.scheduler
        if scheduler is not None:
            if self.schedule_limit is None or scheduler.last_epoch < self.schedule_limit - 1:
                scheduler.step()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

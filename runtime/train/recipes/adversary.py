"""Adversarial training: each step also learns from its batch perturbed by FGSM or PGD.

The perturbation is the one `deepwire evaluate --attack` measures robustness
with (runtime/adversarial.py), in the same units: eps is a fraction of the
pixel range for images with a known range, standard deviations otherwise,
and perturbed images stay inside the valid range. The step's loss is

    (1 - adversarial_weight) * loss(clean) + adversarial_weight * loss(perturbed)

(Goodfellow et al. 2015 mix both; Madry et al. 2018 train on PGD inputs only,
weight 1). Token ids have no small steps to take, so such inputs are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from runtime.train.errors import SetupError
from runtime.train.perturb import Scale, perturb
from runtime.train.recipes.base import RecipeSetup, split_flat_inputs


class Adversary:
    def __init__(self, scale: Scale, method: str, eps: float, steps: int, network: nn.Module):
        self.scale, self.method, self.eps, self.steps = scale, method, eps, steps
        self.network = network  # what the attack differentiates: never the DDP wrapper (see plain_network)

    @classmethod
    def for_setup(cls, setup: RecipeSetup, network: str, model: nn.Module) -> Adversary:
        config, dataset = setup.config, setup.dataset
        if dataset.input_kind in ("tokens", "noise") or dataset.extra.get("max_token_id") is not None:
            raise SetupError(f"adversarial training perturbs the inputs by small steps, but network "
                             f"'{network}' reads token ids from '{dataset.name}', which have none; set "
                             "adversarial to off")
        if config.adversarial_eps <= 0:
            raise SetupError("adversarial training with adversarial_eps 0 changes nothing; set it above 0 "
                             "(e.g. 0.1), or set adversarial to off")
        plain = plain_network(model)
        parts = dataset.extra.get("input_parts")
        if parts:  # several inputs fed as one flat vector: the plain network cuts it up too
            split_flat_inputs(plain, parts)
        return cls(Scale(dataset, setup.device), config.adversarial, config.adversarial_eps,
                   config.adversarial_steps, plain)

    def perturb(self, loss_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return perturb(loss_of, x, self.eps, self.method, self.steps, self.scale)


def plain_network(model: nn.Module) -> nn.Module:
    """The network inside the training wrappers. The attack's gradients are for the inputs only
    (torch.autograd.grad), which DistributedDataParallel cannot take: it waits for a backward pass
    that reduces every parameter's gradient, and refuses the next forward pass without one."""
    from runtime.train.accelerate import CompiledOrEager

    while True:
        if isinstance(model, CompiledOrEager):
            model = model.eager
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model

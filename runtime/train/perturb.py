"""Small input perturbations that raise a loss (FGSM, PGD), in the data's own units.

Shared by adversarial training (runtime/train/recipes/adversary.py) and the
robustness evaluation (`deepwire evaluate --attack`, runtime/adversarial.py),
so a network is trained against exactly the attack it is measured with.
`Scale` converts between the network's standardised inputs and the data's
units: eps is a fraction of the pixel range for images with a known range
(the perturbed image stays inside it), standard deviations otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


class Scale:
    """Between the network's (standardised) inputs and the data's own units, and the valid range."""

    def __init__(self, dataset, device: torch.device | str = "cpu"):
        def tensor(values):
            return None if values is None else torch.as_tensor(values, dtype=torch.float32, device=device)

        self.mean, self.std = tensor(dataset.mean), tensor(dataset.std)
        self.pixel_range = dataset.extra.get("pixel_range")
        from runtime.train.recipes.autoencoder import image_shape_for

        self.image_shape = (image_shape_for(tuple(dataset.input_shape), dataset.extra)
                            if dataset.input_kind in ("image", "vector") else None)
        self.unit = ("fraction of the pixel range {:g}..{:g}".format(*self.pixel_range)
                     if self.pixel_range else "standard deviations of each feature")

    def step(self, eps: float) -> torch.Tensor | float:
        """eps in the network's input units."""
        if self.pixel_range:
            raw = eps * (self.pixel_range[1] - self.pixel_range[0])
            return raw / self.std if self.std is not None else raw
        return eps  # already in standard deviations (standardised inputs) or the raw units

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pixel_range:
            return x
        low, high = self.pixel_range
        if self.std is None:
            return x.clamp(low, high)
        low_t, high_t = (low - self.mean) / self.std, (high - self.mean) / self.std
        return torch.maximum(torch.minimum(x, high_t), low_t)

    def to_raw(self, x: torch.Tensor) -> np.ndarray:
        x = x.detach().float()
        if self.std is not None:
            x = x * self.std + self.mean
        return x.cpu().numpy()


def perturb(loss_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float, method: str,
            steps: int, scale: Scale) -> torch.Tensor:
    """`x` moved by at most eps (in the data's units) to raise `loss_of(x)`: FGSM or PGD. Only the
    inputs get a gradient (torch.autograd.grad): the network's .grad fields are left as they were,
    so adversarial training can call this between its own backward passes."""
    size = scale.step(eps)

    def gradient(inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_of(inputs).float(), inputs)
        return grad

    if method == "fgsm":
        return scale.clip(x + size * gradient(x).sign()).detach()
    alpha = size * (2.5 / steps)
    adv = scale.clip(x + (torch.rand_like(x) * 2 - 1) * size)
    for _ in range(steps):
        adv = adv + alpha * gradient(adv).sign()
        adv = scale.clip(torch.max(torch.min(adv, x + size), x - size)).detach()
    return adv

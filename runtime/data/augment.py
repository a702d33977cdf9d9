"""Image augmentation on a batch: random horizontal flips and random crops with padding.

Vectorised tensor operations on whatever device the batch is on (no Python
loop over samples), so it costs next to nothing on a GPU. The trainer applies
it to training batches of images when config.augment is set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn with the generator on its own device, then moved to the batch."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device)


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, pad: int | None = None,
                  flip: bool = True) -> torch.Tensor:
    """Randomly flip each image left-right (p = 0.5) and shift it by up to `pad` pixels.

    x: (B, C, H, W). The shift pads with zeros (the mean after normalisation)
    and crops back to H x W at a random offset per sample. pad defaults to
    1 pixel for images under 16 pixels (8x8 digits) and 2 otherwise.
    Returns a new tensor of the same shape, dtype and device.
    """
    if x.dim() != 4:
        raise ValueError(f"augment_batch expects images (B, C, H, W); got a tensor of shape {tuple(x.shape)}")
    batch, _, height, width = x.shape
    if pad is None:
        pad = 1 if min(height, width) < 16 else 2
    out = x
    if flip:
        flipped = _uniform((batch,), generator, x.device) < 0.5
        out = torch.where(flipped[:, None, None, None], out.flip(-1), out)
    if pad > 0:
        padded = F.pad(out, (pad, pad, pad, pad))
        offsets = (_uniform((2, batch), generator, x.device) * (2 * pad + 1)).long().clamp_(max=2 * pad)
        rows = offsets[0][:, None] + torch.arange(height, device=x.device)  # (B, H)
        cols = offsets[1][:, None] + torch.arange(width, device=x.device)  # (B, W)
        samples = torch.arange(batch, device=x.device)[:, None, None, None]
        channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        out = padded[samples, channels, rows[:, None, :, None], cols[:, None, None, :]]
    return out

"""Image augmentation: shapes kept, samples really change, every output is a flip/shift of its input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from runtime.data import augment_batch


def _batch() -> torch.Tensor:
    return torch.arange(16 * 2 * 8 * 8, dtype=torch.float32).reshape(16, 2, 8, 8)


def _candidates(image: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every flip and shift augment_batch may produce from one image."""
    out = []
    for source in (image, image.flip(-1)):
        padded = F.pad(source[None], (pad, pad, pad, pad))[0]
        h, w = image.shape[-2:]
        out += [padded[:, r:r + h, c:c + w] for r in range(2 * pad + 1) for c in range(2 * pad + 1)]
    return out


def test_augment_keeps_shape_dtype_and_changes_some_samples():
    x = _batch()
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    changed = (out != x).flatten(1).any(1)
    assert 4 <= int(changed.sum()) <= 16
    assert torch.equal(x, _batch())  # the input batch is left alone


def test_every_output_is_a_flip_and_shift_of_its_own_input():
    x = _batch()
    out = augment_batch(x, torch.Generator().manual_seed(1), pad=1)
    for image, result in zip(x, out):
        assert any(torch.equal(result, candidate) for candidate in _candidates(image, 1))


def test_flip_only_flips_about_half_and_generator_makes_it_reproducible():
    x = torch.randn(200, 1, 5, 5)
    out = augment_batch(x, torch.Generator().manual_seed(2), pad=0)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 60 < int(flipped.sum()) < 140
    again = augment_batch(x, torch.Generator().manual_seed(2), pad=0)
    assert torch.equal(out, again)


def test_default_padding_is_two_pixels_for_larger_images():
    x = torch.randn(64, 3, 16, 16)
    out = augment_batch(x, torch.Generator().manual_seed(3), flip=False)
    # a shift of 2 pixels leaves a 2-pixel zero border on some samples
    zero_rows = (out[:, :, :2, :] == 0).flatten(1).all(1)
    assert bool(zero_rows.any())
    assert not bool((out[:, :, :3, :] == 0).flatten(1).all(1).any())


def test_augment_refuses_non_images():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        augment_batch(torch.zeros(4, 10))

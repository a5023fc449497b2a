"""Data augmentation on whole batches (N×C×H×W float tensors).

Every random draw comes from the ``torch.Generator`` passed in, so a seeded
generator reproduces a run exactly. All operations are vectorised over the
batch: no Python loop over images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nsganet.errors import NsganetError


def _randint(high: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` integers in ``[0, high)`` drawn on the generator's device, moved to ``device``."""
    return torch.randint(high, (n,), generator=generator, device=generator.device).to(device)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each image by ``padding`` pixels and crop it back to H×W at a random offset per image."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    dy = _randint(2 * padding + 1, n, generator, x.device)
    dx = _randint(2 * padding + 1, n, generator, x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # N×H
    cols = dx[:, None] + torch.arange(w, device=x.device)  # N×W
    batch = torch.arange(n, device=x.device)[:, None, None]
    # The advanced indices are split by a slice, so the result is laid out N×H×W×C.
    cropped = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return cropped.permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 0.5."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a size×size square per image around a random centre, clipped at the borders (DeVries & Taylor 2017)."""
    if size <= 0:
        return x
    n, _, h, w = x.shape
    top = _randint(h, n, generator, x.device) - size // 2
    left = _randint(w, n, generator, x.device) - size // 2
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # N×H
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # N×W
    mask = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(mask[:, None], 0.0)


@dataclass(frozen=True)
class Augmentation:
    """Which augmentations a training batch gets; applied in the order crop, flip, cutout."""

    crop_padding: int = 0
    flip: bool = False
    cutout: int = 0

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.cutout < 0:
            raise NsganetError(f"crop padding and cutout size must be >= 0, got {self.crop_padding} and "
                               f"{self.cutout}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.crop_padding, generator)
        if self.flip:
            x = random_hflip(x, generator)
        return cutout(x, self.cutout, generator)

"""Data augmentation on whole batches (N×C×H×W float tensors): random crop, horizontal flip, cutout.

Every random draw comes from the ``torch.Generator`` passed in, so a seeded
generator reproduces a run exactly. The draws of a batch are made first
(:meth:`Augmentation.draw`, per image, in a fixed order) and applied after
(:meth:`Augmentation.apply`): a process that holds only a share of a batch
(one rank of a multi-process run) draws for the whole batch and applies the
rows of its share, so the shares make up the batch one process would have.
Crops are slice copies per image (a loop of ``N`` memory copies, several
times faster than a gather over every pixel); flips and cutout are
vectorised over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from nsganet.errors import NsganetError


def _randint(high: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` integers in ``[0, high)`` drawn on the generator's device."""
    return torch.randint(high, (n,), generator=generator, device=generator.device)


#: Turns an image's pixels (C×H×W, e.g. uint8) into the float values a network takes (e.g. normalised).
Convert = Callable[[torch.Tensor], torch.Tensor]


def shifted(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, padding: int,
            convert: Convert | None = None) -> torch.Tensor:
    """Each image cropped at offset (dy, dx) of itself zero-padded by ``padding`` px: a shift, zero-filled.

    With ``convert`` the images are raw pixels converted (normalised) as they
    are copied: one pass over the batch instead of two, the padding being a
    zero of the converted values.
    """
    n, c, h, w = x.shape
    dtype = x.dtype if convert is None else torch.float32
    # One-channel batches keep the strides of an N×H×W×C buffer (free for one channel): convolutions pick
    # their kernels by strides, and this keeps results bit-identical to earlier releases.
    out = torch.zeros((n, h, w, 1), dtype=dtype).permute(0, 3, 1, 2) if c == 1 else torch.zeros((n, c, h, w),
                                                                                                  dtype=dtype)
    for i, (y, z) in enumerate(zip((dy - padding).tolist(), (dx - padding).tolist())):
        rows, cols = h - abs(y), w - abs(z)
        if rows > 0 and cols > 0:
            window = x[i, :, max(0, y):max(0, y) + rows, max(0, z):max(0, z) + cols]
            out[i, :, max(0, -y):max(0, -y) + rows, max(0, -z):max(0, -z) + cols] = \
                window if convert is None else convert(window)
    return out


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each image by ``padding`` pixels and crop it back to H×W at a random offset per image."""
    if padding <= 0:
        return x
    dy, dx = _randint(2 * padding + 1, len(x), generator), _randint(2 * padding + 1, len(x), generator)
    return shifted(x, dy, dx, padding)


def flipped(x: torch.Tensor, flip: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """The images where ``flip`` is set, flipped left-right (``inplace``: in ``x``, touching only those)."""
    flip = flip.to(x.device)
    if not bool(flip.any()):
        return x
    if inplace:
        rows = flip.nonzero().flatten()
        x[rows] = x[rows].flip(3)
        return x
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 0.5."""
    return flipped(x, torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5)


def cut(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a size×size square per image at (top, left), clipped at the borders."""
    _, _, h, w = x.shape
    top, left = top.to(x.device), left.to(x.device)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # N×H
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # N×W
    mask = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(mask[:, None], 0.0)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a size×size square per image around a random centre, clipped at the borders (DeVries & Taylor 2017)."""
    if size <= 0:
        return x
    _, _, h, w = x.shape
    top = _randint(h, len(x), generator) - size // 2
    left = _randint(w, len(x), generator) - size // 2
    return cut(x, top, left, size)


@dataclass(frozen=True)
class Draws:
    """The random choices of a batch's augmentation, one entry per image (None: that augmentation is off)."""

    dy: torch.Tensor | None
    dx: torch.Tensor | None
    flip: torch.Tensor | None
    top: torch.Tensor | None
    left: torch.Tensor | None

    def rows(self, index: slice | torch.Tensor) -> Draws:
        """The draws of some of the images (e.g. a process's share of the batch)."""
        return Draws(*(None if t is None else t[index] for t in (self.dy, self.dx, self.flip, self.top, self.left)))


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

    def draw(self, n: int, height: int, width: int, generator: torch.Generator) -> Draws:
        """The random choices for ``n`` images of height×width, in the order :meth:`__call__` makes them."""
        span = 2 * self.crop_padding + 1
        dy, dx = (_randint(span, n, generator), _randint(span, n, generator)) if self.crop_padding > 0 else (None,
                                                                                                           None)
        flip = torch.rand(n, generator=generator, device=generator.device) < 0.5 if self.flip else None
        top = left = None
        if self.cutout > 0:
            top = _randint(height, n, generator) - self.cutout // 2
            left = _randint(width, n, generator) - self.cutout // 2
        return Draws(dy, dx, flip, top, left)

    def apply(self, x: torch.Tensor, draws: Draws, convert: Convert | None = None) -> torch.Tensor:
        """``x`` augmented with ``draws`` (one entry per image of ``x``).

        With ``convert`` (raw pixels to network values, per image) ``x`` is
        converted on the way: the batch is copied once, then flipped in place.
        """
        if draws.dy is not None and draws.dx is not None:
            x = shifted(x, draws.dy, draws.dx, self.crop_padding, convert)
        elif convert is not None:
            x = torch.stack([convert(image) for image in x]) if len(x) else x.to(torch.float32)
        owned = convert is not None or draws.dy is not None
        if draws.flip is not None:
            x = flipped(x, draws.flip, inplace=owned)
        if draws.top is not None and draws.left is not None:
            x = cut(x, draws.top, draws.left, self.cutout)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.draw(x.shape[0], x.shape[2], x.shape[3], generator))

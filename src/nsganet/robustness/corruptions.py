"""Common image corruptions at five severities, after Hendrycks & Dietterich's CIFAR-10-C.

Each corruption maps a batch of images in [0, 1] (N x C x H x W, float, any
channel count) to a corrupted batch of the same shape and dtype, clamped to
[0, 1]. Random corruptions draw from a ``torch.Generator``, so a seed fixes
the result. Severity parameters are those CIFAR-10-C uses for its 32 x 32
images, in pixels; on smaller images (the 8 x 8 digits) the spatial ones
(blur, pixelate) are therefore relatively stronger, and sizes are rounded so
that every severity still changes the image. ``saturate`` needs colour
(three channels); every other corruption works on any channel count.

Left out: corruptions that need image assets or heavy geometry (frost, snow,
spatter, glass and zoom blur, elastic transform).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from nsganet.errors import NsganetError
from nsganet.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _param(values: Sequence[Any], severity: int) -> Any:
    """The parameter of ``severity`` (1..5) from a tuple of five."""
    return values[severity - 1]


# ------------------------------------------------------------------------------------------------------- noise

#: name -> corruption(images, severity, generator); images float in [0, 1], N x C x H x W
CORRUPTIONS: Registry[Corruption] = Registry("corruption")
#: corruptions defined for colour (3-channel) images only
RGB_ONLY: set[str] = set()


def corruption(name: str, rgb_only: bool = False) -> Callable[[Corruption], Corruption]:
    """Register a corruption function under ``name`` (``rgb_only``: for colour images only)."""

    def register(fn: Corruption) -> Corruption:
        if rgb_only:
            RGB_ONLY.add(name)
        return CORRUPTIONS.add(name, fn)

    return register

@corruption("gaussian_noise")
def gaussian_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation 0.04 .. 0.10."""
    sigma = _param((0.04, 0.06, 0.08, 0.09, 0.10), severity)
    return x + sigma * torch.randn(x.shape, generator=generator)


@corruption("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Poisson (photon) noise: pixels become counts of a Poisson process with 500 .. 50 photons at full scale."""
    photons = _param((500, 250, 100, 75, 50), severity)
    return torch.poisson(x * photons, generator=generator) / photons


@corruption("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Salt-and-pepper noise: 1 % .. 7 % of the values become 0 or 1 (half each)."""
    amount = _param((0.01, 0.02, 0.03, 0.05, 0.07), severity)
    u = torch.rand(x.shape, generator=generator)
    out = torch.where(u < amount / 2, torch.ones_like(x), x)
    return torch.where((u >= amount / 2) & (u < amount), torch.zeros_like(x), out)


@corruption("speckle_noise")
def speckle_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Multiplicative Gaussian noise of standard deviation 0.06 .. 0.20 (brighter pixels get more)."""
    sigma = _param((0.06, 0.10, 0.12, 0.16, 0.20), severity)
    return x + x * sigma * torch.randn(x.shape, generator=generator)


# -------------------------------------------------------------------------------------------------------- blur
def _filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image with its own odd-sized kernel (N x k x k, or 1 x k x k for all), replicating edges."""
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    kernels = kernels.expand(n, k, k) if kernels.shape[0] == 1 else kernels
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0).unsqueeze(1)  # (n*c) x 1 x k x k
    padded = F.pad(x.reshape(1, n * c, h, w), (pad, pad, pad, pad), mode="replicate")
    # conv2d correlates; flipping makes it a convolution (matters for the one-sided motion kernel only)
    return F.conv2d(padded, weight.flip(-1, -2), groups=n * c).reshape(n, c, h, w)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-t * t / (2 * sigma * sigma))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum()).to(torch.float32)


@corruption("gaussian_blur")
def gaussian_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with sigma 0.4 .. 1 pixel."""
    sigma = _param((0.4, 0.6, 0.7, 0.8, 1.0), severity)
    return _filter(x, _gaussian_kernel(sigma).unsqueeze(0))


@corruption("defocus_blur")
def defocus_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Out-of-focus blur: a disk of radius 0.3 .. 1.5 pixels, softened by a small Gaussian against aliasing."""
    radius, alias = _param(((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)), severity)
    size = math.ceil(radius) + 1
    t = torch.arange(-size, size + 1, dtype=torch.float32)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius * radius).to(torch.float32)
    disk = disk / disk.sum()
    g = torch.exp(-torch.arange(-1.0, 2.0) ** 2 / (2 * alias * alias))  # 3x3 anti-aliasing Gaussian
    soft = F.conv2d(F.pad(disk[None, None], (1, 1, 1, 1)), (torch.outer(g, g) / torch.outer(g, g).sum())[None, None])
    return _filter(x, soft[0] / soft.sum())


@corruption("motion_blur")
def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Blur along a random direction (within 45 degrees of horizontal, per image), Gaussian taps of sigma 1 .. 3."""
    sigma = _param((1.0, 1.5, 2.0, 2.5, 3.0), severity)
    length = math.ceil(2 * sigma)
    angles = (torch.rand(x.shape[0], generator=generator) * 90.0 - 45.0) * (math.pi / 180.0)
    kernels = torch.zeros(x.shape[0], 2 * length + 1, 2 * length + 1)
    for i in range(length + 1):  # one-sided taps, splatted bilinearly onto the grid
        weight = math.exp(-i * i / (2 * sigma * sigma))
        px, py = length + i * torch.cos(angles), length - i * torch.sin(angles)
        x0, y0 = px.floor().long(), py.floor().long()
        fx, fy = px - x0, py - y0
        rows = torch.arange(x.shape[0])
        for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                              (1, 1, fx * fy)):
            xs, ys = (x0 + dx).clamp(0, 2 * length), (y0 + dy).clamp(0, 2 * length)
            kernels.index_put_((rows, ys, xs), weight * share, accumulate=True)
    kernels = kernels / kernels.sum(dim=(1, 2), keepdim=True)
    return _filter(x, kernels)


# ---------------------------------------------------------------------------------------------------- weather
def _fractal(n: int, h: int, w: int, decay: float, generator: torch.Generator) -> torch.Tensor:
    """Plasma-like fractal noise in [0, 1] (N x 1 x H x W): octaves of random grids, each 1/decay as strong."""
    size = 2 ** max(1, math.ceil(math.log2(max(h, w))))
    total = torch.zeros(n, 1, size, size)
    amplitude, cells = 1.0, 1
    while cells <= size:
        grid = torch.rand(n, 1, cells + 1, cells + 1, generator=generator) * 2 - 1
        total += amplitude * F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=True)
        amplitude, cells = amplitude / decay, cells * 2
    total = total[..., :h, :w]
    low = total.amin(dim=(2, 3), keepdim=True)
    high = total.amax(dim=(2, 3), keepdim=True)
    return (total - low) / (high - low).clamp_min(1e-12)


@corruption("fog")
def fog(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Fog: add a smooth fractal haze of strength 0.2 .. 1.5, then rescale so that the brightest pixel stays put."""
    strength, decay = _param(((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)), severity)
    n, _, h, w = x.shape
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    hazy = x + strength * _fractal(n, h, w, decay, generator)
    return hazy * peak / (peak + strength)


@corruption("brightness")
def brightness(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Raise the HSV value (the largest channel) by 0.05 .. 0.3, keeping hue and saturation."""
    shift = _param((0.05, 0.1, 0.15, 0.2, 0.3), severity)
    value = x.amax(dim=1, keepdim=True)
    raised = (value + shift).clamp(max=1.0)
    return torch.where(value > 0, x * raised / value.clamp_min(1e-12), raised.expand_as(x))


@corruption("contrast")
def contrast(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Shrink every channel towards its image mean, to 75 % .. 15 % of the original contrast."""
    factor = _param((0.75, 0.5, 0.4, 0.3, 0.15), severity)
    mean = x.mean(dim=(2, 3), keepdim=True)
    return (x - mean) * factor + mean


@corruption("saturate", rgb_only=True)
def saturate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Scale the HSV saturation (colour images only): down to 30 % and 10 %, then up 2x, 5x (+0.1), 20x (+1)."""
    if x.shape[1] != 3:
        raise NsganetError(f"saturate needs colour images (3 channels), got {x.shape[1]}")
    scale, offset = _param(((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 1.0)), severity)
    value = x.amax(dim=1, keepdim=True)
    low = x.amin(dim=1, keepdim=True)
    sat = torch.where(value > 0, (value - low) / value.clamp_min(1e-12), torch.zeros_like(value))
    new_sat = (sat * scale + offset).clamp(0.0, 1.0)
    # For fixed hue and value, V - channel is proportional to the saturation; grey pixels take hue 0 (red).
    coloured = value - (value - x) * new_sat / sat.clamp_min(1e-12)
    red = torch.zeros_like(x)
    red[:, 0:1] = 1.0
    grey = value - value * new_sat * (1 - red)
    return torch.where(sat > 0, coloured, grey)


# ---------------------------------------------------------------------------------------------------- digital
@corruption("pixelate")
def pixelate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Average down to 95 % .. 65 % of the size (at least one pixel smaller), then enlarge with nearest pixels.

    On images of a few pixels neighbouring severities can round to the same
    size (8 x 8: 7, 7, 7, 6, 5 pixels).
    """
    factor = _param((0.95, 0.9, 0.85, 0.75, 0.65), severity)
    h, w = x.shape[-2:]
    small = (max(1, min(h - 1, round(h * factor))), max(1, min(w - 1, round(w * factor))))
    return F.interpolate(F.interpolate(x, size=small, mode="area"), size=(h, w), mode="nearest")


@corruption("jpeg_compression")
def jpeg_compression(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Save as JPEG at quality 80 .. 40 and read back (Pillow; each channel alone unless there are 3)."""
    from PIL import Image

    quality = _param((80, 65, 58, 50, 40), severity)
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    out = torch.empty_like(x)

    def roundtrip(array: torch.Tensor, mode: str) -> torch.Tensor:
        buffer = io.BytesIO()
        Image.fromarray(array.numpy()).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as image:
            decoded = torch.frombuffer(bytearray(image.convert(mode).tobytes()), dtype=torch.uint8)
        return decoded.reshape(array.shape)

    for i in range(x.shape[0]):
        if x.shape[1] == 3:
            rgb = roundtrip(pixels[i].permute(1, 2, 0).contiguous(), "RGB")
            out[i] = rgb.permute(2, 0, 1).to(x.dtype) / 255
        else:
            for c in range(x.shape[1]):
                out[i, c] = roundtrip(pixels[i, c].contiguous(), "L").to(x.dtype) / 255
    return out


def corruption_names(channels: int | None = None, names: str | Sequence[str] | None = "all") -> list[str]:
    """Validated corruption names: ``"all"`` (those that apply to ``channels``), ``"none"``, or a list / ``a,b,c``."""
    if names is None:
        return []
    if isinstance(names, str):
        text = names.strip()
        if text == "none":
            return []
        if text == "all":
            return [n for n in CORRUPTIONS if channels in (None, 3) or n not in RGB_ONLY]
        names = [n.strip() for n in text.split(",")]
    chosen: list[str] = []
    for name in names:
        if name not in CORRUPTIONS:
            raise NsganetError(f"unknown corruption {name!r}; known corruptions: all, none, {', '.join(CORRUPTIONS)}")
        if name in RGB_ONLY and channels is not None and channels != 3:
            raise NsganetError(f"corruption {name} needs colour images (3 channels); these have {channels}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def check_severity(severity: object) -> int:
    """``severity`` as an int in 1..5, or a one-line error."""
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise NsganetError(f"corruption severity must be an integer from 1 to 5, got {severity!r}")
    return severity


def corrupt(images: torch.Tensor, name: str, severity: int, generator: torch.Generator | None = None,
            seed: int = 0) -> torch.Tensor:
    """Corruption ``name`` at ``severity`` (1..5) of a float batch in [0, 1]; random draws from ``generator``.

    Without a generator, one is seeded with ``seed``. The result has the
    input's shape and dtype and lies in [0, 1].
    """
    fn = CORRUPTIONS.get(name)
    check_severity(severity)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.dtype.is_floating_point:
        raise NsganetError("corruptions take a float tensor of images, N x C x H x W, with values in [0, 1]")
    if images.numel() and (float(images.min()) < 0 or float(images.max()) > 1):
        raise NsganetError(f"corruptions take images in [0, 1], got values in [{float(images.min()):.3g}, "
                           f"{float(images.max()):.3g}]")
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    x = images.detach().to("cpu", torch.float32)
    out = fn(x, severity, generator)
    return out.clamp_(0.0, 1.0).to(device=images.device, dtype=images.dtype)

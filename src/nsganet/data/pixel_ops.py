"""PIL's image operations (ImageOps, ImageEnhance, Image.transform/rotate/resize) on batches of tensors.

AutoAugment and RandAugment were defined on 8-bit PIL images; these are the
same operations on N×C×H×W float batches of pixels in [0, 1], one argument
per image (a tensor of N values, or one number for all). Every result is
rounded to the 256 levels of an 8-bit image, as PIL's results are, so the
operations compose as they do on PIL images:

* the look-up operations (:func:`invert`, :func:`posterize`, :func:`solarize`,
  :func:`solarize_add`, :func:`auto_contrast`, :func:`equalize`) and the
  enhancements :func:`color`, :func:`contrast` and :func:`brightness` give
  PIL's results exactly on 8-bit images (PIL's formulas and integer
  arithmetic, its RGB-to-grey weights, its truncating blend);
* :func:`sharpness` blends with PIL's SMOOTH filter (border pixels kept), equal
  to PIL's result within one level (float summation order);
* the geometric operations follow PIL's conventions (output pixel centres
  mapped through the inverse affine matrix, PIL's rotation matrix, points
  outside the image take the fill colour) and PIL's nearest, bilinear and
  bicubic (a = -1) filters of ``Image.transform``, neighbours clamped at the
  border, results truncated to levels: PIL's results on 8-bit images.

Grey (one-channel) batches behave as PIL ``L`` images; three-channel ones as
``RGB`` images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: interpolation modes of the geometric operations
MODES = ("nearest", "bilinear", "bicubic")

Arg = torch.Tensor | float


def levels(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit levels (0..255, as floats) of [0, 1] pixels."""
    return (x * 255.0).round_().clamp_(0.0, 255.0)


def quantized(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels rounded to the nearest of the 256 levels of an 8-bit image."""
    return levels(x).div_(255.0)


def per_image(value: Arg, n: int, dtype: torch.dtype = torch.float32,
              device: torch.device | None = None) -> torch.Tensor:
    """``value`` (one number, or N of them) as an N×1×1×1 tensor, to broadcast over a batch."""
    t = torch.as_tensor(value, dtype=dtype, device=device)
    return (t.expand(n) if t.dim() == 0 else t.reshape(n)).reshape(n, 1, 1, 1)


def _lookup(v: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Levels ``v`` (N×C×H×W) mapped through ``table`` (N×C×256 levels), as [0, 1] pixels."""
    n, c, h, w = v.shape
    index = v.long().reshape(n, c, h * w)
    return table.to(torch.float32).gather(2, index).reshape(n, c, h, w).div_(255.0)


# -- look-up operations (ImageOps) --------------------------------------------------------------------------------

def invert(x: torch.Tensor) -> torch.Tensor:
    """``ImageOps.invert``: 255 - v."""
    return (255.0 - levels(x)).div_(255.0)


def posterize(x: torch.Tensor, bits: Arg) -> torch.Tensor:
    """``ImageOps.posterize``: keep the ``bits`` (0..8) most significant bits of every level."""
    step = torch.pow(2.0, 8.0 - per_image(bits, len(x), device=x.device).clamp(0, 8))
    return torch.floor(levels(x) / step).mul_(step).div_(255.0)


def solarize(x: torch.Tensor, threshold: Arg) -> torch.Tensor:
    """``ImageOps.solarize``: invert the levels at or above ``threshold`` (0..256; 256 changes nothing)."""
    v = levels(x)
    return torch.where(v < per_image(threshold, len(x), device=x.device), v, 255.0 - v).div_(255.0)


def solarize_add(x: torch.Tensor, add: Arg, threshold: float = 128.0) -> torch.Tensor:
    """timm's ``solarize_add``: add ``add`` to the levels below ``threshold``, capped at 255."""
    v = levels(x)
    raised = (v + per_image(add, len(x), device=x.device)).clamp_(max=255.0)
    return torch.where(v < threshold, raised, v).div_(255.0)


def auto_contrast(x: torch.Tensor) -> torch.Tensor:
    """``ImageOps.autocontrast`` (no cutoff): stretch each channel's levels to span 0..255.

    PIL's table ``int(i * scale + offset)`` with ``scale = 255 / (hi - lo)``,
    computed in double precision; a channel of one level is left alone.
    """
    v = levels(x)
    lo = v.amin(dim=(2, 3)).double()
    hi = v.amax(dim=(2, 3)).double()
    scale = torch.full_like(hi, 255.0) / (hi - lo).clamp_min(1.0)  # a true division (255.0 / t is 255 * (1 / t))
    offset = -lo * scale
    table = torch.trunc(torch.arange(256, dtype=torch.float64, device=x.device) * scale[..., None]
                        + offset[..., None]).clamp_(0, 255)
    table = torch.where((hi > lo)[..., None], table, torch.arange(256, dtype=torch.float64, device=x.device))
    return _lookup(v, table)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """``ImageOps.equalize``: each channel's histogram equalised with PIL's integer formula.

    ``step = (pixels - count of the highest level) // 255`` and level ``i``
    maps to ``(step // 2 + pixels below level i) // step`` (capped at 255); a
    channel with ``step`` 0 is left alone.
    """
    v = levels(x)
    n, c, h, w = v.shape
    flat = v.long().reshape(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.int64, device=x.device).scatter_add_(1, flat, torch.ones_like(flat))
    steps = torch.arange(256, device=x.device)
    top = torch.where(hist > 0, steps, -1).amax(dim=1, keepdim=True)
    step = (h * w - hist.gather(1, top)) // 255
    below = hist.cumsum(dim=1) - hist
    table = ((step // 2 + below) // step.clamp_min(1)).clamp_(max=255)
    table = torch.where(step > 0, table, steps)
    return _lookup(v, table.reshape(n, c, 256))


# -- enhancements (ImageEnhance): blends with a degenerate image --------------------------------------------------

def _blend(degenerate: torch.Tensor, v: torch.Tensor, factor: Arg) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, image, factor)`` on levels: truncated towards zero, clipped to 0..255."""
    f = per_image(factor, len(v), device=v.device)
    return torch.trunc(degenerate + f * (v - degenerate)).clamp_(0.0, 255.0).div_(255.0)


def grey_levels(v: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert("L")`` of levels: ``(19595 R + 38470 G + 7471 B + 2^15) >> 16`` for RGB, N×1×H×W."""
    if v.shape[1] == 1:
        return v
    if v.shape[1] == 3:
        r, g, b = v.long().unbind(1)
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).unsqueeze(1).to(v.dtype)
    return v.mean(dim=1, keepdim=True).round_()


def color(x: torch.Tensor, factor: Arg) -> torch.Tensor:
    """``ImageEnhance.Color``: blend with the grey image (0: grey, 1: unchanged); grey images stay."""
    v = levels(x)
    return _blend(grey_levels(v).expand_as(v), v, factor)


def contrast(x: torch.Tensor, factor: Arg) -> torch.Tensor:
    """``ImageEnhance.Contrast``: blend with the image's mean grey level, ``int(mean + 0.5)`` (0: flat)."""
    v = levels(x)
    mean = torch.floor(grey_levels(v).double().mean(dim=(1, 2, 3)) + 0.5).to(v.dtype)
    return _blend(mean.view(-1, 1, 1, 1).expand_as(v), v, factor)


def brightness(x: torch.Tensor, factor: Arg) -> torch.Tensor:
    """``ImageEnhance.Brightness``: blend with black (0: black, 1: unchanged)."""
    v = levels(x)
    return _blend(torch.zeros_like(v), v, factor)


def smooth(v: torch.Tensor) -> torch.Tensor:
    """PIL's ``ImageFilter.SMOOTH`` of levels: 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13, rounded; borders kept."""
    c, h, w = v.shape[1:]
    if h < 3 or w < 3:
        return v.clone()
    kernel = torch.ones(3, 3, dtype=v.dtype, device=v.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    inner = torch.floor(F.conv2d(v, kernel, groups=c) + 0.5).clamp_(0.0, 255.0)
    out = v.clone()
    out[:, :, 1:-1, 1:-1] = inner
    return out


def sharpness(x: torch.Tensor, factor: Arg) -> torch.Tensor:
    """``ImageEnhance.Sharpness``: blend with the smoothed image (0: smoothed, 1: unchanged, 2: sharpened)."""
    v = levels(x)
    return _blend(smooth(v), v, factor)


# -- geometric operations (Image.transform with an affine matrix) -------------------------------------------------

def _fill(fill: float | tuple[float, ...] | torch.Tensor, c: int, x: torch.Tensor) -> torch.Tensor:
    """The fill colour (one value or one per channel, [0, 1]) as a 1×C×1×1 tensor."""
    t = torch.as_tensor(fill, dtype=x.dtype, device=x.device).flatten()
    return (t.expand(c) if t.numel() == 1 else t).reshape(1, c, 1, 1)


def affine(x: torch.Tensor, matrix: torch.Tensor, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
           mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """PIL's ``Image.transform(size, AFFINE, (a, b, c, d, e, f))`` per image.

    ``matrix`` (N×6) maps output to input coordinates: the output pixel whose
    centre is (u, v) (= (x + 0.5, y + 0.5)) takes the input at
    ``(a u + b v + c, d u + e v + f)``; points outside the input take
    ``fill``. ``mode`` is one of :data:`MODES`, or a boolean tensor choosing
    ``bicubic`` (True) or ``bilinear`` (False) per image (timm's random
    interpolation).
    """
    n, c, h, w = x.shape
    if isinstance(mode, torch.Tensor):
        out = torch.empty_like(x)
        for chosen, name in ((mode, "bicubic"), (~mode, "bilinear")):
            rows = chosen.to(x.device).nonzero().flatten()
            if len(rows):
                out[rows] = affine(x[rows], matrix[rows.to(matrix.device)], fill, name)
        return out
    if mode not in MODES:
        raise ValueError(f"interpolation must be one of {', '.join(MODES)}, got {mode!r}")
    m = matrix.to(device=x.device, dtype=torch.float64).reshape(n, 6, 1, 1)
    u = (torch.arange(w, dtype=torch.float64, device=x.device) + 0.5).view(1, 1, w)
    v = (torch.arange(h, dtype=torch.float64, device=x.device) + 0.5).view(1, h, 1)
    ui = m[:, 0] * u + m[:, 1] * v + m[:, 2]  # N×H×W input coordinates
    vi = m[:, 3] * u + m[:, 4] * v + m[:, 5]
    inside = ((ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)).unsqueeze(1)
    if mode == "nearest":  # PIL: the pixel the point falls in
        out = _taps(x, torch.floor(vi).long(), torch.floor(ui).long()).div_(255.0)
    else:
        out = _interpolated(x, ui, vi, mode)
    return quantized(torch.where(inside, out.to(x.dtype), _fill(fill, c, x)))


def _taps(x: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """The levels (float64) of ``x`` at pixel (row, col) (N×H×W indices, clamped to the image), N×C×H×W."""
    n, c, h, w = x.shape
    index = (row.clamp(0, h - 1) * w + col.clamp(0, w - 1)).reshape(n, 1, h * w).expand(n, c, h * w)
    return levels(x).double().reshape(n, c, h * w).gather(2, index).reshape(n, c, h, w)


def _cubic(v1: torch.Tensor, v2: torch.Tensor, v3: torch.Tensor, v4: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """PIL's cubic convolution (a = -1) between v2 and v3 at fraction ``d``, in PIL's order of operations."""
    p2, p3, p4 = -v1 + v3, 2 * (v1 - v2) + v3 - v4, -v1 + v2 - v3 + v4
    return v2 + d * (p2 + d * (p3 + d * p4))


def _interpolated(x: torch.Tensor, ui: torch.Tensor, vi: torch.Tensor, mode: str) -> torch.Tensor:
    """PIL's bilinear / bicubic filters of ``Image.transform`` at input points (ui, vi), as [0, 1] pixels.

    The neighbours of ``(u - 0.5, v - 0.5)`` (2x2 or 4x4, clamped at the
    border) are combined along x, then along y, in double precision, and the
    result truncated to a level (bicubic clipped to 0..255 first), as PIL.
    """
    xs, ys = ui - 0.5, vi - 0.5
    col, row = torch.floor(xs), torch.floor(ys)
    dx, dy = (xs - col).unsqueeze(1), (ys - row).unsqueeze(1)
    col, row = col.long(), row.long()
    if mode == "bilinear":
        rows = []
        for r in (0, 1):
            a, b = _taps(x, row + r, col), _taps(x, row + r, col + 1)
            rows.append(a + (b - a) * dx)
        value = rows[0] + (rows[1] - rows[0]) * dy
    else:
        rows = [_cubic(*(_taps(x, row + r, col + s) for s in (-1, 0, 1, 2)), dx) for r in (-1, 0, 1, 2)]
        value = _cubic(*rows, dy).clamp_(0.0, 255.0)
    return torch.trunc(value).div_(255.0)


def _matrix(n: int, a: Arg = 1.0, b: Arg = 0.0, c: Arg = 0.0, d: Arg = 0.0, e: Arg = 1.0,
            f: Arg = 0.0) -> torch.Tensor:
    """N×6 affine matrices from coefficients (numbers, or N values each)."""
    return torch.stack([torch.as_tensor(k, dtype=torch.float64).expand(n).reshape(n) for k in (a, b, c, d, e, f)],
                       dim=1)


def rotation_matrix(degrees: Arg, n: int, width: int, height: int) -> torch.Tensor:
    """PIL's ``Image.rotate`` matrix (counter-clockwise about the centre; entries rounded to 15 decimals)."""
    angle = -torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float64).expand(n).reshape(n) % 360.0)
    cos, sin = torch.round(torch.cos(angle), decimals=15), torch.round(torch.sin(angle), decimals=15)
    cx, cy = width / 2.0, height / 2.0
    return _matrix(n, cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy)


def rotate(x: torch.Tensor, degrees: Arg, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
           mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """``Image.rotate(degrees)``: counter-clockwise about the centre, same size, corners filled."""
    return affine(x, rotation_matrix(degrees, len(x), x.shape[3], x.shape[2]), fill, mode)


def shear_x(x: torch.Tensor, factor: Arg, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
            mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """Affine ``(1, factor, 0, 0, 1, 0)``: row v is shifted left by ``factor * v`` pixels."""
    return affine(x, _matrix(len(x), b=factor), fill, mode)


def shear_y(x: torch.Tensor, factor: Arg, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
            mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """Affine ``(1, 0, 0, factor, 1, 0)``: column u is shifted up by ``factor * u`` pixels."""
    return affine(x, _matrix(len(x), d=factor), fill, mode)


def translate_x(x: torch.Tensor, pixels: Arg, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
                mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """Affine ``(1, 0, pixels, 0, 1, 0)``: the image moves ``pixels`` to the left."""
    return affine(x, _matrix(len(x), c=pixels), fill, mode)


def translate_y(x: torch.Tensor, pixels: Arg, fill: float | tuple[float, ...] | torch.Tensor = 0.5,
                mode: str | torch.Tensor = "bilinear") -> torch.Tensor:
    """Affine ``(1, 0, 0, 0, 1, pixels)``: the image moves ``pixels`` up."""
    return affine(x, _matrix(len(x), f=pixels), fill, mode)


def resized_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                 width: torch.Tensor, bicubic: torch.Tensor) -> torch.Tensor:
    """Each image's box (top, left, height, width) resized back to the batch's H×W (bicubic or bilinear)."""
    h, w = x.shape[2:]
    out = torch.empty_like(x)
    for i, (t, lft, bh, bw, cubic) in enumerate(zip(top.tolist(), left.tolist(), height.tolist(), width.tolist(),
                                                    bicubic.tolist())):
        crop = x[i:i + 1, :, t:t + bh, lft:lft + bw]
        out[i:i + 1] = F.interpolate(crop, size=(h, w), mode="bicubic" if cubic else "bilinear",
                                     align_corners=False)
    return quantized(out)


def _uniform(n: int, generator: torch.Generator, low: float = 0.0, high: float = 1.0,
             size: tuple[int, ...] = ()) -> torch.Tensor:
    """``n`` (× ``size``) uniform draws in [low, high), float64, from ``generator``."""
    u = torch.rand((n, *size), generator=generator, device=generator.device, dtype=torch.float64)
    return low + (high - low) * u


def random_boxes(n: int, height: int, width: int, generator: torch.Generator, area: tuple[float, float],
                 log_ratio: tuple[float, float], strict: bool, attempts: int = 10) -> tuple[torch.Tensor, ...]:
    """Boxes of a random share ``area`` of the image and aspect ratio exp(``log_ratio``), one per image.

    The rejection sampling of torchvision's / timm's ``RandomResizedCrop`` and
    timm's ``RandomErasing``, vectorised: ``attempts`` candidates per image,
    ``w = round(sqrt(A r))`` and ``h = round(sqrt(A / r))``, the first that
    fits (``w < W`` with ``strict``, else ``w <= W``; the same for h) placed
    uniformly. Returns (found, top, left, h, w); where none fits, found is
    False and the box is the whole image.
    """
    target = _uniform(n, generator, *area, size=(attempts,)) * (height * width)
    ratio = torch.exp(_uniform(n, generator, *log_ratio, size=(attempts,)))
    place = _uniform(n, generator, size=(2,))
    bw = torch.round(torch.sqrt(target * ratio)).long()
    bh = torch.round(torch.sqrt(target / ratio)).long()
    fits = (bw < width) & (bh < height) if strict else (bw <= width) & (bh <= height)
    fits &= (bw > 0) & (bh > 0)
    found = fits.any(dim=1)
    first = torch.where(fits, torch.arange(attempts, device=fits.device), attempts).amin(dim=1).clamp_(
        max=attempts - 1)
    bh = torch.where(found, bh.gather(1, first[:, None]).squeeze(1), height)
    bw = torch.where(found, bw.gather(1, first[:, None]).squeeze(1), width)
    top = torch.floor(place[:, 0] * (height - bh + 1)).long()
    left = torch.floor(place[:, 1] * (width - bw + 1)).long()
    return found, top, left, bh, bw


#: RandomResizedCrop's defaults (timm and torchvision): 8% to all of the image, aspect ratio 3/4 to 4/3
CROP_SCALE, CROP_RATIO = (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0)


def crop_boxes(n: int, height: int, width: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """RandomResizedCrop's boxes: (top, left, h, w), the whole image where ten attempts find none."""
    _, top, left, bh, bw = random_boxes(n, height, width, generator, CROP_SCALE,
                                        (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])), strict=False)
    return top, left, bh, bw

"""NSGANetV2's training augmentations on tensor batches: RandAugment, AutoAugment's CIFAR-10 policy, random erasing.

NSGANetV2 fine-tunes ImageNet networks with timm's pipeline (random resized
crop, flip, RandAugment ``rand-m9-mstd0.5``, normalisation, random erasing in
``pixel`` mode) and CIFAR networks with torchvision's (random crop, flip,
AutoAugment's CIFAR-10 policy, cutout, normalisation). Here every step runs on
N×C×H×W batches (the operations in :mod:`nsganet.data.pixel_ops`) and draws
every random choice from the ``torch.Generator`` passed in, per image and in a
fixed order, so a seed reproduces a run; as in
:class:`nsganet.data.augment.Augmentation` the draws of a batch are made first
(``draw``) and applied after (``apply``), so a process holding a share of the
batch applies that share's rows and gets what one process would have.

:class:`RecipeAugmentation` is the whole pipeline. It works on pixels
(``pixel_space``): the loaders hand it raw 0-255 images and a function that
normalises them, which it calls after the pixel-space steps and before random
erasing (which timm applies to normalised images).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from nsganet.data import pixel_ops as ops
from nsganet.data.augment import cut, flipped, shifted
from nsganet.data.augment_names import CROPS, ERASE_MODES
from nsganet.errors import NsganetError

# -- RandAugment (timm) -------------------------------------------------------------------------------------------

#: timm's RandAugment operations (``_RAND_TRANSFORMS``), one of which is drawn per layer
RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
            "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")

#: timm's magnitude scale: magnitude M means level M / 10 of each operation's range
MAX_LEVEL = 10.0


def rand_argument(name: str, magnitude: torch.Tensor, negate: torch.Tensor,
                  translate_pct: float = 0.45) -> torch.Tensor:
    """The argument of RandAugment operation ``name`` at ``magnitude`` (0..10), as timm's level functions.

    Rotate: ±30 degrees x M/10; ShearX/Y: ±0.3 x M/10; TranslateX/YRel:
    ±``translate_pct`` x M/10 of the image side; Color/Contrast/Brightness/
    Sharpness: factor 0.1 + 1.8 x M/10; Posterize: int(4 x M/10) bits;
    Solarize: threshold int(256 x M/10); SolarizeAdd: int(110 x M/10) added.
    ``negate`` (per image) flips the sign of the signed ones.
    """
    level = magnitude.double() / MAX_LEVEL
    sign = torch.where(negate, -1.0, 1.0).double()
    if name == "Rotate":
        return level * 30.0 * sign
    if name in ("ShearX", "ShearY"):
        return level * 0.3 * sign
    if name in ("TranslateXRel", "TranslateYRel"):
        return level * translate_pct * sign
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return level * 1.8 + 0.1
    if name == "Posterize":
        return torch.trunc(level * 4.0)
    if name == "Solarize":
        return torch.trunc(level * 256.0)
    if name == "SolarizeAdd":
        return torch.trunc(level * 110.0)
    return torch.zeros_like(level)  # AutoContrast, Equalize, Invert take none


def apply_op(name: str, x: torch.Tensor, arg: torch.Tensor, fill: tuple[float, ...],
             mode: str | torch.Tensor) -> torch.Tensor:
    """Operation ``name`` on ``x`` with one argument per image (translations: in pixels, or as a share of the
    side for the ``Rel`` ones); geometric operations fill with ``fill`` and interpolate with ``mode``."""
    if name == "AutoContrast":
        return ops.auto_contrast(x)
    if name == "Equalize":
        return ops.equalize(x)
    if name == "Invert":
        return ops.invert(x)
    if name == "Posterize":
        return ops.posterize(x, arg)
    if name == "Solarize":
        return ops.solarize(x, arg)
    if name == "SolarizeAdd":
        return ops.solarize_add(x, arg)
    enhance = {"Color": ops.color, "Contrast": ops.contrast, "Brightness": ops.brightness,
               "Sharpness": ops.sharpness}
    if name in enhance:
        return enhance[name](x, arg)
    if name == "Rotate":
        return ops.rotate(x, arg, fill, mode)
    if name == "ShearX":
        return ops.shear_x(x, arg, fill, mode)
    if name == "ShearY":
        return ops.shear_y(x, arg, fill, mode)
    if name in ("TranslateX", "TranslateXRel"):
        return ops.translate_x(x, arg * x.shape[3] if name.endswith("Rel") else arg, fill, mode)
    if name in ("TranslateY", "TranslateYRel"):
        return ops.translate_y(x, arg * x.shape[2] if name.endswith("Rel") else arg, fill, mode)
    raise ValueError(f"unknown augmentation operation {name!r}")


def _rows_where(mask: torch.Tensor) -> torch.Tensor:
    return mask.nonzero().flatten()


@dataclass(frozen=True)
class RandAugmentDraws:
    """Per image and layer: the operation, whether it applies, its magnitude, sign and interpolation."""

    op: torch.Tensor  # N×L operation indices
    applies: torch.Tensor  # N×L
    magnitude: torch.Tensor  # N×L, noised and clipped
    negate: torch.Tensor  # N×L
    bicubic: torch.Tensor  # N×L

    def rows(self, index: slice | torch.Tensor) -> RandAugmentDraws:
        return RandAugmentDraws(*(t[index] for t in dataclasses.astuple(self)))


@dataclass(frozen=True)
class RandAugment:
    """timm's RandAugment: ``num_layers`` operations drawn uniformly (with replacement) from :data:`RAND_OPS`
    per image, each applied with probability ``prob`` at a magnitude drawn from N(``magnitude``,
    ``magnitude_std``) clipped to [0, ``magnitude_max``] (uniform on [0, magnitude] when the std is infinite).

    Geometric operations fill with ``fill`` (timm: the normalisation mean
    rounded to 8-bit levels) and interpolate bilinearly or bicubically at
    random, as timm's default ``random`` interpolation.
    """

    magnitude: float = 9.0
    magnitude_std: float = 0.5
    num_layers: int = 2
    prob: float = 0.5
    magnitude_max: float = MAX_LEVEL
    translate_pct: float = 0.45
    fill: tuple[float, ...] = (0.5,)
    ops: tuple[str, ...] = RAND_OPS

    def draw(self, n: int, generator: torch.Generator) -> RandAugmentDraws:
        """The random choices of ``n`` images."""
        shape, device = (n, self.num_layers), generator.device
        op = torch.randint(len(self.ops), shape, generator=generator, device=device)
        applies = torch.rand(shape, generator=generator, device=device, dtype=torch.float64) < self.prob
        noise = torch.randn(shape, generator=generator, device=device, dtype=torch.float64)
        uniform = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
        if math.isinf(self.magnitude_std):
            magnitude = uniform * self.magnitude
        else:
            magnitude = self.magnitude + self.magnitude_std * noise
        magnitude = magnitude.clamp(0.0, self.magnitude_max)
        negate = torch.rand(shape, generator=generator, device=device, dtype=torch.float64) > 0.5
        bicubic = torch.rand(shape, generator=generator, device=device, dtype=torch.float64) < 0.5
        return RandAugmentDraws(op, applies, magnitude, negate, bicubic)

    def apply(self, x: torch.Tensor, draws: RandAugmentDraws) -> torch.Tensor:
        """``x`` ([0, 1] pixels) with each image's drawn operations applied, layer after layer."""
        x = x.clone()
        for layer in range(self.num_layers):
            for k, name in enumerate(self.ops):
                rows = _rows_where((draws.op[:, layer] == k) & draws.applies[:, layer])
                if len(rows):
                    arg = rand_argument(name, draws.magnitude[rows, layer], draws.negate[rows, layer],
                                        self.translate_pct)
                    x[rows.to(x.device)] = apply_op(name, x[rows.to(x.device)], arg, self.fill,
                                                    draws.bicubic[rows, layer])
        return x


def parse_rand_augment(text: str) -> RandAugment:
    """A RandAugment from timm's configuration string, e.g. ``rand-m9-mstd0.5``.

    Sections after ``rand``: ``m`` magnitude (default 10), ``n`` layers
    (default 2), ``mstd`` magnitude noise (over 100: uniform), ``mmax`` the
    magnitude's upper bound (default 10).
    """
    parts = text.split("-")
    if parts[0] != "rand":
        raise NsganetError(f"a RandAugment setting starts with 'rand', got {text!r}")
    values = {"m": MAX_LEVEL, "n": 2.0, "mstd": 0.0, "mmax": MAX_LEVEL}
    for part in parts[1:]:
        match = re.fullmatch(r"(mstd|mmax|m|n)(\d+(?:\.\d+)?)", part)
        if match is None:
            raise NsganetError(f"unknown RandAugment section {part!r} in {text!r} (use m, n, mstd, mmax; e.g. "
                               "rand-m9-mstd0.5)")
        values[match.group(1)] = float(match.group(2))
    layers = values["n"]
    if layers != int(layers) or layers < 1:
        raise NsganetError(f"RandAugment's layer count must be a positive integer, got {text!r}")
    std = math.inf if values["mstd"] > 100 else values["mstd"]
    return RandAugment(magnitude=values["m"], magnitude_std=std, num_layers=int(layers),
                       magnitude_max=values["mmax"])


# -- AutoAugment's CIFAR-10 policy --------------------------------------------------------------------------------

#: AutoAugment's 25 CIFAR-10 sub-policies: two (operation, probability, magnitude index 0..9) each
CIFAR10_POLICY: tuple[tuple[tuple[str, float, int], tuple[str, float, int]], ...] = (
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)),
    (("Equalize", 0.2, 8), ("Equalize", 0.6, 4)),
    (("Color", 0.9, 9), ("Equalize", 0.6, 6)),
    (("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
)

#: the fill colour of AutoAugment's geometric operations: grey 128
AUTOAUGMENT_FILL = (128.0 / 255.0,)

#: interpolation of AutoAugment's geometric operations (PIL defaults as the policy calls them)
AUTOAUGMENT_MODES = {"ShearX": "bicubic", "ShearY": "bicubic", "TranslateX": "nearest", "TranslateY": "nearest",
                     "Rotate": "nearest"}


def _linspace(low: float, high: float, index: torch.Tensor) -> torch.Tensor:
    """Entry ``index`` of numpy's ``linspace(low, high, 10)``."""
    return low + index.double() * ((high - low) / 9.0)


def autoaugment_argument(name: str, index: torch.Tensor, negate: torch.Tensor, width: int,
                         height: int) -> torch.Tensor:
    """The argument of AutoAugment operation ``name`` at magnitude ``index`` (0..9), as the CIFAR-10 policy's
    published implementation maps it.

    ShearX/Y: ±linspace(0, 0.3); TranslateX/Y: ±linspace(0, 150/331) of the
    image side, in pixels; Rotate: linspace(0, 30) degrees (counter-clockwise,
    never negated); Color/Contrast/Sharpness/Brightness: factor 1 ±
    linspace(0, 0.9); Posterize: round(linspace(8, 4)) bits; Solarize:
    threshold linspace(256, 0).
    """
    sign = torch.where(negate, -1.0, 1.0).double()
    if name in ("ShearX", "ShearY"):
        return _linspace(0.0, 0.3, index) * sign
    if name == "TranslateX":
        return _linspace(0.0, 150.0 / 331.0, index) * width * sign
    if name == "TranslateY":
        return _linspace(0.0, 150.0 / 331.0, index) * height * sign
    if name == "Rotate":
        return _linspace(0.0, 30.0, index)
    if name in ("Color", "Contrast", "Sharpness", "Brightness"):
        return 1.0 + _linspace(0.0, 0.9, index) * sign
    if name == "Posterize":
        return torch.round(_linspace(8.0, 4.0, index))
    if name == "Solarize":
        return _linspace(256.0, 0.0, index)
    return torch.zeros_like(index, dtype=torch.float64)  # AutoContrast, Equalize, Invert


@dataclass(frozen=True)
class AutoAugmentDraws:
    """Per image: the sub-policy, whether each of its two operations applies, and their signs."""

    policy: torch.Tensor  # N
    applies: torch.Tensor  # N×2 uniform draws, compared with the operations' probabilities
    negate: torch.Tensor  # N×2

    def rows(self, index: slice | torch.Tensor) -> AutoAugmentDraws:
        return AutoAugmentDraws(*(t[index] for t in dataclasses.astuple(self)))


@dataclass(frozen=True)
class AutoAugment:
    """AutoAugment: one sub-policy drawn uniformly per image, whose two operations apply in turn, each with its
    probability (``u < p``), at its magnitude index. The default ``policy`` is the CIFAR-10 one."""

    policy: tuple[tuple[tuple[str, float, int], ...], ...] = CIFAR10_POLICY
    fill: tuple[float, ...] = AUTOAUGMENT_FILL

    def draw(self, n: int, generator: torch.Generator) -> AutoAugmentDraws:
        """The random choices of ``n`` images."""
        device = generator.device
        policy = torch.randint(len(self.policy), (n,), generator=generator, device=device)
        applies = torch.rand((n, 2), generator=generator, device=device, dtype=torch.float64)
        negate = torch.rand((n, 2), generator=generator, device=device, dtype=torch.float64) < 0.5
        return AutoAugmentDraws(policy, applies, negate)

    def apply(self, x: torch.Tensor, draws: AutoAugmentDraws) -> torch.Tensor:
        """``x`` ([0, 1] pixels) with each image's sub-policy applied."""
        x = x.clone()
        _, _, h, w = x.shape
        for stage in range(2):
            for s, sub_policy in enumerate(self.policy):
                name, p, index = sub_policy[stage]
                rows = _rows_where((draws.policy == s) & (draws.applies[:, stage] < p))
                if len(rows):
                    arg = autoaugment_argument(name, torch.full((len(rows),), index), draws.negate[rows, stage], w, h)
                    x[rows.to(x.device)] = apply_op(name, x[rows.to(x.device)], arg, self.fill,
                                                    AUTOAUGMENT_MODES.get(name, "nearest"))
        return x


#: the named augmentation policies besides RandAugment strings
AUTO_AUGMENT_NAMES = ("cifar10",)


def policy_named(name: str, fill: tuple[float, ...] = (0.5,)) -> RandAugment | AutoAugment:
    """``cifar10`` (AutoAugment's CIFAR-10 policy) or a RandAugment string (``rand-m9-mstd0.5``); RandAugment
    fills with ``fill``, AutoAugment with its own grey."""
    if name == "cifar10":
        return AutoAugment()
    if name.startswith("rand"):
        return dataclasses.replace(parse_rand_augment(name), fill=tuple(fill))
    raise NsganetError(f"unknown augmentation policy {name!r}: use cifar10 or a RandAugment string such as "
                       "rand-m9-mstd0.5")


# -- random erasing (timm) ----------------------------------------------------------------------------------------



@dataclass(frozen=True)
class ErasingDraws:
    """Per image: whether a box is erased, the box, and the seed of its random values."""

    erase: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    seed: torch.Tensor

    def rows(self, index: slice | torch.Tensor) -> ErasingDraws:
        return ErasingDraws(*(t[index] for t in dataclasses.astuple(self)))


@dataclass(frozen=True)
class RandomErasing:
    """timm's random erasing of normalised images: with probability ``prob`` an image gets one box of 2% to 1/3
    of its area and aspect ratio 0.3 to 1/0.3 (the first of ten candidates that fits, none if none does),
    replaced by zeros (``const``), one normal value per channel (``rand``) or per pixel (``pixel``)."""

    prob: float = 0.5
    mode: str = "const"
    min_area: float = 0.02
    max_area: float = 1.0 / 3.0
    min_aspect: float = 0.3

    def __post_init__(self) -> None:
        if self.mode not in ERASE_MODES:
            raise NsganetError(f"random erasing mode must be one of {', '.join(ERASE_MODES)}, got {self.mode!r}")
        if not 0.0 <= self.prob <= 1.0:
            raise NsganetError(f"random erasing probability must be in [0, 1], got {self.prob!r}")

    def draw(self, n: int, height: int, width: int, generator: torch.Generator) -> ErasingDraws:
        """The random choices of ``n`` images of height×width."""
        erase = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64) < self.prob
        log_ratio = (math.log(self.min_aspect), math.log(1.0 / self.min_aspect))
        found, top, left, bh, bw = ops.random_boxes(n, height, width, generator, (self.min_area, self.max_area),
                                                    log_ratio, strict=True)
        seed = torch.randint(2**62, (n,), generator=generator, device=generator.device)
        return ErasingDraws(erase & found, top, left, bh, bw, seed)

    def apply(self, x: torch.Tensor, draws: ErasingDraws) -> torch.Tensor:
        """``x`` (normalised) with the drawn boxes erased; each box's random values come from its own seed."""
        x = x.clone()
        c = x.shape[1]
        for i in _rows_where(draws.erase).tolist():
            t, lft, h, w = (int(v[i]) for v in (draws.top, draws.left, draws.height, draws.width))
            values = torch.zeros((c, 1, 1), dtype=x.dtype)
            if self.mode != "const":
                generator = torch.Generator().manual_seed(int(draws.seed[i]))
                values = torch.randn((c, h, w) if self.mode == "pixel" else (c, 1, 1), generator=generator,
                                     dtype=x.dtype)
            x[i, :, t:t + h, lft:lft + w] = values.to(x.device)
        return x


# -- the whole pipeline -------------------------------------------------------------------------------------------



@dataclass(frozen=True)
class RecipeDraws:
    """The random choices of a batch for :class:`RecipeAugmentation` (None: that step is off)."""

    crop: tuple[torch.Tensor, ...] | None
    flip: torch.Tensor | None
    policy: RandAugmentDraws | AutoAugmentDraws | None
    cutout: tuple[torch.Tensor, torch.Tensor] | None
    erasing: ErasingDraws | None

    def rows(self, index: slice | torch.Tensor) -> RecipeDraws:
        """The draws of some of the images (e.g. a process's share of the batch)."""
        return RecipeDraws(None if self.crop is None else tuple(t[index] for t in self.crop),
                           None if self.flip is None else self.flip[index],
                           None if self.policy is None else self.policy.rows(index),
                           None if self.cutout is None else tuple(t[index] for t in self.cutout),
                           None if self.erasing is None else self.erasing.rows(index))


#: Maps 0-255 pixel values (float batches) to what the network takes, e.g. normalised.
Convert = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class RecipeAugmentation:
    """A training augmentation run on pixels, then normalised: crop, flip, policy, cutout | normalise | erasing.

    ``crop`` is ``pad`` (zero-pad by ``crop_padding`` px and crop back at a
    random offset: torchvision's ``RandomCrop(padding=...)``) or ``resized``
    (``RandomResizedCrop``: 8% to all of the image, aspect 3/4 to 4/3, resized
    back bilinearly or bicubically at random). ``flip`` flips left-right with
    probability 0.5. ``policy`` is a :class:`RandAugment` or
    :class:`AutoAugment`. ``cutout`` squares (DeVries & Taylor) and crop padding
    take the colour ``fill`` ([0, 1] per channel; black in the NSGANetV2 CIFAR
    pipeline, which cuts out before normalising). ``erasing`` runs on the
    normalised images, as timm's.
    """

    pixel_space: ClassVar[bool] = True  # the loaders hand it raw pixels and their normalisation

    crop: str = "pad"
    crop_padding: int = 0
    flip: bool = False
    policy: RandAugment | AutoAugment | None = None
    cutout: int = 0
    fill: tuple[float, ...] = (0.0,)
    erasing: RandomErasing | None = None

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise NsganetError(f"crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if self.crop_padding < 0 or self.cutout < 0:
            raise NsganetError(f"crop padding and cutout size must be >= 0, got {self.crop_padding} and "
                               f"{self.cutout}")

    def draw(self, n: int, height: int, width: int, generator: torch.Generator) -> RecipeDraws:
        """The random choices for ``n`` images of height×width, step by step in pipeline order."""
        device = generator.device
        crop: tuple[torch.Tensor, ...] | None = None
        if self.crop == "resized":
            crop = (*ops.crop_boxes(n, height, width, generator),
                    torch.rand(n, generator=generator, device=device) < 0.5)
        elif self.crop_padding > 0:
            span = 2 * self.crop_padding + 1
            crop = (torch.randint(span, (n,), generator=generator, device=device),
                    torch.randint(span, (n,), generator=generator, device=device))
        flip = torch.rand(n, generator=generator, device=device) < 0.5 if self.flip else None
        policy = self.policy.draw(n, generator) if self.policy is not None else None
        cutout = None
        if self.cutout > 0:
            cutout = (torch.randint(height, (n,), generator=generator, device=device) - self.cutout // 2,
                      torch.randint(width, (n,), generator=generator, device=device) - self.cutout // 2)
        erasing = self.erasing.draw(n, height, width, generator) if self.erasing is not None else None
        return RecipeDraws(crop, flip, policy, cutout, erasing)

    def apply(self, x: torch.Tensor, draws: RecipeDraws, convert: Convert | None = None) -> torch.Tensor:
        """``x`` (raw 0-255 pixels, e.g. uint8) augmented with ``draws`` and converted by ``convert``
        (0-255 pixels to network values; default: to [0, 1])."""
        x = x.to(torch.float32).div(255.0)
        n, c, _, _ = x.shape
        fill = torch.as_tensor(self.fill, dtype=x.dtype).flatten().expand(c).reshape(1, c, 1, 1)
        if draws.crop is not None and self.crop == "resized":
            x = ops.resized_crop(x, *draws.crop)
        elif draws.crop is not None:
            dy, dx = draws.crop
            kept = shifted(torch.ones((n, 1, *x.shape[2:]), dtype=x.dtype), dy, dx, self.crop_padding) > 0
            x = torch.where(kept, shifted(x, dy, dx, self.crop_padding), fill)
        if draws.flip is not None:
            x = flipped(x, draws.flip)
        if draws.policy is not None and self.policy is not None:
            x = self.policy.apply(x, draws.policy)  # type: ignore[arg-type]
        if draws.cutout is not None:
            top, left = draws.cutout
            holes = cut(torch.ones((n, 1, *x.shape[2:]), dtype=x.dtype), top, left, self.cutout) == 0
            x = torch.where(holes, fill, x)
        if convert is not None:
            x = convert(x.mul_(255.0))
        if draws.erasing is not None and self.erasing is not None:
            x = self.erasing.apply(x, draws.erasing)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator, convert: Convert | None = None) -> torch.Tensor:
        """``x`` (raw 0-255 pixels) augmented with fresh draws from ``generator`` and converted by ``convert``."""
        return self.apply(x, self.draw(x.shape[0], x.shape[2], x.shape[3], generator), convert)

"""The shape of the once-for-all MobileNetV3 family: widths, strides, activations and the choices of its space.

Torch-free, so that the search space, the cost model and the look-up tables can
decode and price architectures without importing torch; the networks
(:mod:`nsganet.nn.mobilenetv3`, :mod:`nsganet.nn.mobilenetv3_supernet`) are built
from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: Activations a stage may use (OFA's names).
ACTIVATIONS = ("relu", "h_swish")
#: Every channel count of the network is a multiple of this (OFA's ``MyNetwork.CHANNEL_DIVISIBLE``).
CHANNEL_DIVISIBLE = 8
#: Squeeze-and-excitation keeps ``channels // SE_REDUCTION`` (made divisible) hidden units.
SE_REDUCTION = 4


def make_divisible(value: float, divisor: int = CHANNEL_DIVISIBLE, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor``, never more than 10 % below (TF/OFA's rule, bit for bit)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def middle_channels(in_channels: int, expand_ratio: float) -> int:
    """Width of an inverted bottleneck's expanded (depthwise) part."""
    return make_divisible(round(in_channels * expand_ratio))


def se_channels(channels: int) -> int:
    """Hidden units of the squeeze-and-excitation of ``channels`` channels."""
    return make_divisible(channels // SE_REDUCTION)


#: Images of this many px or more get OFA's ImageNet layout (stem stride 2); smaller ones the small preset.
LARGE_IMAGES = 128
#: Every input resolution of OFA's ImageNet space: OFA trains its supernet on 128..224 px and NSGANetV2 searches
#: it at 192..256 px, both in steps of 4.
OFA_RESOLUTIONS = tuple(range(128, 257, 4))


@dataclass(frozen=True)
class SupernetConfig:
    """Shape of an OFA MobileNetV3 supernet and the choices of its search space.

    Channel counts are the width-1.0 values; the ``*_width`` properties scale
    them by ``width_mult`` and make them divisible by 8, as OFA does. The
    network is: stem 3x3 conv (``stem_stride``, h-swish), a fixed MBConv
    (3x3, expansion 1, ReLU, residual when widths agree), five elastic stages
    of up to ``max(depths)`` MBConv layers (first layer of a stage strided),
    a final 1x1 expansion, global pooling, the 1x1 feature-mix layer (no BN),
    dropout and the classifier. Choice tuples are sorted ascending.
    """

    width_mult: float = 1.0
    stem_channels: int = 16
    stem_stride: int = 2
    first_block_channels: int = 16
    stage_channels: tuple[int, ...] = (24, 40, 80, 112, 160)
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    stage_acts: tuple[str, ...] = ("relu", "relu", "h_swish", "h_swish", "h_swish")
    stage_se: tuple[bool, ...] = (False, True, False, True, True)
    final_expand_channels: int = 960
    feature_mix_channels: int = 1280
    resolutions: tuple[int, ...] = OFA_RESOLUTIONS
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    expand_ratios: tuple[float, ...] = (3, 4, 6)
    depths: tuple[int, ...] = (2, 3, 4)
    dropout: float = 0.1
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("stage_channels", "stage_strides", "stage_acts", "stage_se", "resolutions", "kernel_sizes",
                     "expand_ratios", "depths"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n = len(self.stage_channels)
        if n == 0 or not len(self.stage_strides) == len(self.stage_acts) == len(self.stage_se) == n:
            raise ValueError("stage_channels, stage_strides, stage_acts and stage_se need one entry per stage")
        if any(a not in ACTIVATIONS for a in self.stage_acts):
            raise ValueError(f"stage activations must be among {', '.join(ACTIVATIONS)}")
        if any(s not in (1, 2) for s in (self.stem_stride, *self.stage_strides)):
            raise ValueError("strides must be 1 or 2")
        for name in ("resolutions", "kernel_sizes", "expand_ratios", "depths"):
            values = getattr(self, name)
            if not values or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be positive and strictly increasing")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError("kernel sizes must be odd")
        if self.width_mult <= 0 or not 0 <= self.dropout < 1:
            raise ValueError("width_mult must be positive and dropout in [0, 1)")

    # -- presets ---------------------------------------------------------------------------
    @classmethod
    def imagenet(cls, width_mult: float = 1.0) -> SupernetConfig:
        """OFA's ImageNet supernet (``ofa_mbv3_d234_e346_k357_w{width_mult}``), resolutions 128..256 step 4."""
        return cls(width_mult=width_mult)

    @classmethod
    def large(cls, image_size: int = 224, width_mult: float = 1.0) -> SupernetConfig:
        """OFA's ImageNet layout (stem stride 2, 32x downsampling) for images of ``image_size`` px (128 or more).

        Resolutions run from three quarters of ``image_size`` up to it in steps
        of 4 (168..224 for 224 px images; OFA's ImageNet supernet spans 128..256),
        so every subnet computes at or below the resolution the data are held at.
        """
        if image_size < LARGE_IMAGES:
            raise ValueError(f"the large MobileNetV3 supernet is for images of {LARGE_IMAGES} px or more, got "
                             f"{image_size}")
        low = 4 * math.ceil(0.75 * image_size / 4)
        return cls(width_mult=width_mult, resolutions=tuple(range(low, image_size + 1, 4)))

    @classmethod
    def for_images(cls, image_size: int, width_mult: float | None = None) -> SupernetConfig:
        """The preset for images of ``image_size`` px: :meth:`large` from :data:`LARGE_IMAGES` px, else :meth:`small`
        (default widths 1.0 and 0.5)."""
        if image_size >= LARGE_IMAGES:
            return cls.large(image_size, width_mult or 1.0)
        return cls.small(max(image_size, 16), width_mult or 0.5)

    @classmethod
    def small(cls, image_size: int = 32, width_mult: float = 0.5) -> SupernetConfig:
        """A CPU-sized supernet for small images (28-32 px: CIFAR, MNIST-like data).

        Stem stride 1 and OFA's stage strides (2, 2, 2, 1, 2): the network
        downsamples 16x instead of 32x, so the last feature map is 2x2 at
        17-32 px. Smaller images set the leading stage strides to 1 until
        ``image_size`` still ends at 2x2 or more (16 px: (1, 2, 2, 1, 2)).
        Resolutions are ``image_size - 8 .. image_size`` in steps of 4, dropping
        those whose last feature map would be smaller than 2x2. At the default
        half width (stages of 16, 24, 40, 56 and 80 channels) a sandwich-rule
        step (largest, smallest and two random subnets, forward and backward)
        on a batch of 64 32-px images took 0.85 s on one thread of a busy
        2-core CPU; ``width_mult=0.35`` (8 to 56 channels) took 0.6 s.
        """
        if image_size < 4:
            raise ValueError(f"the small MobileNetV3 supernet needs images of 4 px or more, got {image_size}")
        strides = [2, 2, 2, 1, 2]
        while image_size <= math.prod(strides):
            strides[strides.index(2)] = 1
        strides_t = tuple(strides)
        total = math.prod(strides_t)
        resolutions = tuple(r for r in range(image_size - 8, image_size + 1, 4) if r > total)
        return cls(width_mult=width_mult, stem_stride=1, stage_strides=strides_t, resolutions=resolutions)

    # -- scaled widths ---------------------------------------------------------------------
    def _scale(self, channels: int) -> int:
        return make_divisible(channels * self.width_mult)

    @property
    def stem_width(self) -> int:
        return self._scale(self.stem_channels)

    @property
    def first_block_width(self) -> int:
        return self._scale(self.first_block_channels)

    @property
    def stage_widths(self) -> tuple[int, ...]:
        return tuple(self._scale(c) for c in self.stage_channels)

    @property
    def final_expand_width(self) -> int:
        return self._scale(self.final_expand_channels)

    @property
    def feature_mix_width(self) -> int:
        return self._scale(self.feature_mix_channels)

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def max_depth(self) -> int:
        return max(self.depths)


def plain_config(config: SupernetConfig) -> dict[str, Any]:
    """``config`` as plain values (lists, numbers, strings): how files record it."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}

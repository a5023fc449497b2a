"""The once-for-all MobileNetV3 search space of NSGANetV2 (elastic depth, kernel, expansion, resolution).

This module is torch-free: it holds the supernet's shape (:class:`SupernetConfig`),
the integer encoding and the closed-form costs, so that strategies and the
surrogate-assisted search can decode and price thousands of candidates without
importing torch. The networks live in :mod:`nsganet.nn.mobilenetv3`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsganet.errors import InvalidArchitecture
from nsganet.spaces.base import Encoding, SearchSpace

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
    resolutions: tuple[int, ...] = tuple(range(192, 257, 4))
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
        """OFA's ImageNet supernet (``ofa_mbv3_d234_e346_k357_w{width_mult}``), resolutions 192..256 step 4."""
        return cls(width_mult=width_mult)

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


def _format_ratio(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class _Layout:
    """Where each variable of the genome lives."""

    depth_vars: tuple[int, ...]
    kernel_vars: tuple[tuple[int, ...], ...]  # [stage][layer]
    expand_vars: tuple[tuple[int, ...], ...]
    resolution_var: int
    n_var: int


class MobileNetV3Space(SearchSpace):
    """NSGANetV2's once-for-all MobileNetV3 space: 46 integers for the default supernet.

    Genome: for each of the five stages ``[depth, kernel x 4, expansion x 4]``
    (indices into :attr:`SupernetConfig.depths`, ``kernel_sizes`` and
    ``expand_ratios``), then the index of the input resolution. Layer ``j`` of a
    stage exists only when the stage's depth exceeds ``j``, so the kernel and
    expansion variables of layers 3 and 4 are conditional on the depth variable
    (see :class:`~nsganet.spaces.base.Encoding`). Units: one per stage depth,
    one per layer (its kernel and expansion) and one for the resolution;
    blocks: one per stage (depth unit and layer units) and one for the
    resolution. Canonical string: the resolution, then per stage its active
    layers as ``k<kernel>e<expansion>``::

        r224 | k3e4 k5e6 | k7e3 k3e3 k5e4 | k3e3 k3e3 | k5e6 k5e6 k7e4 k3e3 | k3e4 k7e6

    """

    name = "mobilenetv3"

    def __init__(self, config: SupernetConfig | None = None) -> None:
        self.config = config if config is not None else SupernetConfig.imagenet()
        cfg = self.config
        per_stage = 1 + 2 * cfg.max_depth
        depth_vars, kernel_vars, expand_vars = [], [], []
        for s in range(cfg.num_stages):
            base = s * per_stage
            depth_vars.append(base)
            kernel_vars.append(tuple(base + 1 + j for j in range(cfg.max_depth)))
            expand_vars.append(tuple(base + 1 + cfg.max_depth + j for j in range(cfg.max_depth)))
        n_var = cfg.num_stages * per_stage + 1
        self.layout = _Layout(tuple(depth_vars), tuple(kernel_vars), tuple(expand_vars), n_var - 1, n_var)
        upper = np.zeros(n_var, dtype=np.int64)
        units: list[tuple[int, ...]] = []
        blocks: list[tuple[int, ...]] = []
        conditions: list[tuple[int, int, int]] = []
        for s in range(cfg.num_stages):
            upper[depth_vars[s]] = len(cfg.depths) - 1
            first = len(units)
            units.append((depth_vars[s],))
            for j in range(cfg.max_depth):
                k, e = kernel_vars[s][j], expand_vars[s][j]
                upper[k], upper[e] = len(cfg.kernel_sizes) - 1, len(cfg.expand_ratios) - 1
                units.append((k, e))
                needed = next(i for i, d in enumerate(cfg.depths) if d > j)  # least depth index using layer j
                if needed > 0:
                    conditions += [(k, depth_vars[s], needed), (e, depth_vars[s], needed)]
            blocks.append(tuple(range(first, len(units))))
        upper[n_var - 1] = len(cfg.resolutions) - 1
        units.append((n_var - 1,))
        blocks.append((len(units) - 1,))
        self.encoding = Encoding(lower=np.zeros(n_var, dtype=np.int64), upper=upper, units=tuple(units),
                                 blocks=tuple(blocks), conditions=tuple(conditions))
        self._layer_tokens = {f"k{k}e{_format_ratio(e)}": (ki, ei) for ki, k in enumerate(cfg.kernel_sizes)
                              for ei, e in enumerate(cfg.expand_ratios)}
        self._resolution_tokens = {f"r{r}": i for i, r in enumerate(cfg.resolutions)}

    # -- decoding --------------------------------------------------------------------------
    def to_config(self, genome: np.ndarray) -> dict[str, Any]:
        """The architecture a genome encodes, layer by layer (active layers only).

        Keys: ``resolution``; ``depths`` (layers per stage); and, one entry per
        active layer in network order, ``stage``, ``kernel_sizes``,
        ``expand_ratios``, ``strides``, ``in_channels``, ``mid_channels``,
        ``out_channels``, ``acts`` and ``se``. Both the supernet (to activate a
        subnet) and the static network (to build one) read this.
        """
        genome = self.check(genome)
        cfg, lay = self.config, self.layout
        out: dict[str, Any] = {"resolution": cfg.resolutions[int(genome[lay.resolution_var])], "depths": []}
        for key in ("stage", "kernel_sizes", "expand_ratios", "strides", "in_channels", "mid_channels",
                    "out_channels", "acts", "se"):
            out[key] = []
        channels = cfg.first_block_width
        for s, width in enumerate(cfg.stage_widths):
            depth = cfg.depths[int(genome[lay.depth_vars[s]])]
            out["depths"].append(depth)
            for j in range(depth):
                expand = cfg.expand_ratios[int(genome[lay.expand_vars[s][j]])]
                out["stage"].append(s)
                out["kernel_sizes"].append(cfg.kernel_sizes[int(genome[lay.kernel_vars[s][j]])])
                out["expand_ratios"].append(expand)
                out["strides"].append(cfg.stage_strides[s] if j == 0 else 1)
                out["in_channels"].append(channels)
                out["mid_channels"].append(middle_channels(channels, expand))
                out["out_channels"].append(width)
                out["acts"].append(cfg.stage_acts[s])
                out["se"].append(cfg.stage_se[s])
                channels = width
        return out

    def to_string(self, genome: np.ndarray) -> str:
        arch = self.to_config(genome)
        parts, pos = [f"r{arch['resolution']}"], 0
        for depth in arch["depths"]:
            layers = zip(arch["kernel_sizes"][pos:pos + depth], arch["expand_ratios"][pos:pos + depth])
            parts.append(" ".join(f"k{k}e{_format_ratio(e)}" for k, e in layers))
            pos += depth
        return " | ".join(parts)

    def from_string(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"mobilenetv3 architecture must be a string, got {type(text).__name__}")
        cfg, lay = self.config, self.layout
        parts = [p.strip() for p in text.split("|")]
        if len(parts) != cfg.num_stages + 1:
            raise InvalidArchitecture(
                f"mobilenetv3 architecture needs 'r<resolution> | <stage 1> | ... | <stage {cfg.num_stages}>' "
                f"({cfg.num_stages + 1} parts separated by '|'), found {len(parts)} part(s)")
        genome = np.zeros(self.encoding.n_var, dtype=np.int64)
        if parts[0] not in self._resolution_tokens:
            raise InvalidArchitecture(f"mobilenetv3 resolution {parts[0][:20]!r} is not one of "
                                      f"{', '.join(self._resolution_tokens)}")
        genome[lay.resolution_var] = self._resolution_tokens[parts[0]]
        for s, part in enumerate(parts[1:]):
            tokens = part.split()
            if len(tokens) not in cfg.depths:
                raise InvalidArchitecture(
                    f"mobilenetv3 stage {s + 1} has {len(tokens)} layer(s); a stage has "
                    f"{', '.join(map(str, cfg.depths))} layers")
            genome[lay.depth_vars[s]] = cfg.depths.index(len(tokens))
            for j, token in enumerate(tokens):
                if token not in self._layer_tokens:
                    raise InvalidArchitecture(
                        f"mobilenetv3 stage {s + 1} layer {token[:20]!r} is not 'k<kernel>e<expansion>' with "
                        f"kernel in {', '.join(map(str, cfg.kernel_sizes))} and expansion in "
                        f"{', '.join(map(_format_ratio, cfg.expand_ratios))}")
                genome[lay.kernel_vars[s][j]], genome[lay.expand_vars[s][j]] = self._layer_tokens[token]
        return self.encoding.canonical(genome)

    # -- extremes --------------------------------------------------------------------------
    def smallest(self) -> np.ndarray:
        """Least depth, kernel, expansion and resolution everywhere."""
        return self.encoding.lower.copy()

    def largest(self) -> np.ndarray:
        """Greatest depth, kernel, expansion and resolution everywhere."""
        return self.encoding.upper.copy()

    # -- costs -----------------------------------------------------------------------------
    @staticmethod
    def _check_options(options: dict[str, Any]) -> None:
        unknown = [name for name in options if name != "dropout"]
        if unknown:
            raise TypeError(f"mobilenetv3 build got unknown options: {', '.join(unknown)}")

    def analytic_costs(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32,
                       in_channels: int = 3, **options: Any) -> dict[str, float]:
        """Closed-form MACs (convolutions and the classifier) and parameters of :meth:`build`'s network.

        The network resizes its input to the genome's resolution, so
        ``input_size`` does not matter. Parameters include batch-norm scales
        and shifts, convolution and classifier biases; pooling, activations,
        squeeze-excitation gating and the residual additions cost no MACs.
        """
        self._check_options(options)
        arch = self.to_config(genome)
        cfg = self.config
        size = math.ceil(arch["resolution"] / cfg.stem_stride)
        c0, c1 = cfg.stem_width, cfg.first_block_width
        macs = in_channels * c0 * 9 * size * size
        params = in_channels * c0 * 9 + 2 * c0
        macs += (c0 * 9 + c0 * c1) * size * size  # first block: depthwise 3x3, project (no expansion)
        params += c0 * 9 + 2 * c0 + c0 * c1 + 2 * c1
        for cin, mid, cout, k, stride, se in zip(arch["in_channels"], arch["mid_channels"], arch["out_channels"],
                                                 arch["kernel_sizes"], arch["strides"], arch["se"]):
            out_size = math.ceil(size / stride)
            macs += cin * mid * size * size + (mid * k * k + mid * cout) * out_size * out_size
            params += cin * mid + 2 * mid + mid * k * k + 2 * mid + mid * cout + 2 * cout
            if se:
                hidden = se_channels(mid)
                macs += 2 * mid * hidden
                params += 2 * mid * hidden + hidden + mid
            size = out_size
        last, final, mix = arch["out_channels"][-1], cfg.final_expand_width, cfg.feature_mix_width
        macs += last * final * size * size + final * mix + mix * num_classes
        params += last * final + 2 * final + final * mix + mix * num_classes + num_classes
        return {"flops": macs / 1e6, "params": params / 1e6}

    # -- network ---------------------------------------------------------------------------
    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
              **options: Any) -> Any:
        """The static MobileNetV3 of a genome, randomly initialised.

        Its forward pass resizes any input to the genome's resolution, so
        ``input_size`` only documents what it will be fed. Option: ``dropout``
        before the classifier (default: the config's).
        """
        self._check_options(options)
        from nsganet.nn.mobilenetv3 import MobileNetV3

        return MobileNetV3.from_config(self.config, self.to_config(genome), num_classes=num_classes,
                                       in_channels=in_channels, dropout=options.get("dropout"))

    # -- analysis --------------------------------------------------------------------------
    def operations(self, genome: np.ndarray) -> list[str]:
        """The choices of an architecture: ``r<resolution>``, ``d<depth>`` per stage, ``k<kernel>`` and
        ``e<expansion>`` per active layer."""
        arch = self.to_config(genome)
        return [f"r{arch['resolution']}", *(f"d{d}" for d in arch["depths"]),
                *(f"k{k}" for k in arch["kernel_sizes"]), *(f"e{_format_ratio(e)}" for e in arch["expand_ratios"])]

"""The once-for-all MobileNetV3 search space of NSGANetV2 (elastic depth, kernel, expansion, resolution).

This module is torch-free: it holds the integer encoding and the closed-form
costs over a supernet shape (:class:`~nsganet.nn.mobilenetv3_shape.SupernetConfig`),
so that strategies and the surrogate-assisted search can decode and price
thousands of candidates without importing torch. The space is a
:class:`~nsganet.spaces.base.SupernetSpace` (its networks are subnets of OFA's
elastic MobileNetV3, :mod:`nsganet.nn.mobilenetv3_supernet`) and a
:class:`~nsganet.spaces.base.LayerwiseSpace` (per-layer latency tables). The
static networks live in :mod:`nsganet.nn.mobilenetv3`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nsganet.errors import InvalidArchitecture
from nsganet.nn.mobilenetv3_shape import SupernetConfig, middle_channels, plain_config, se_channels
from nsganet.spaces.base import (
    SPACES,
    DrawableSpace,
    Encoding,
    ForeignNetFiles,
    ForeignNetwork,
    LayerwiseSpace,
    SupernetSpace,
)
from nsganet.spaces.mobilenetv3_layers import LayerSetting, network_layers

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

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


@SPACES.register()
class MobileNetV3Space(SupernetSpace, LayerwiseSpace, ForeignNetFiles, DrawableSpace):
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

    def __init__(self, config: SupernetConfig | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, Mapping):
            config = SupernetConfig(**config)
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

    @property
    def options(self) -> dict[str, Any]:
        """The supernet shape, ``{"config": {...}}``: ``MobileNetV3Space(**options)`` rebuilds this space."""
        return {"config": plain_config(self.config)}

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

    def draw(self, genome: np.ndarray, path: str | Path) -> None:
        """Draw the network: per stage its width, output side and active layers (kernel, expansion)."""
        from nsganet.spaces.drawing import Stage, draw_mobilenetv3

        arch, cfg = self.to_config(genome), self.config
        side = math.ceil(arch["resolution"] / cfg.stem_stride)
        stem = (cfg.first_block_width, side)
        stages, pos = [], 0
        for s, depth in enumerate(arch["depths"]):
            side = math.ceil(side / cfg.stage_strides[s])
            layers = list(zip(arch["kernel_sizes"][pos:pos + depth], arch["expand_ratios"][pos:pos + depth]))
            stages.append(Stage(cfg.stage_widths[s], side, cfg.stage_se[s], layers, cfg.max_depth))
            pos += depth
        draw_mobilenetv3(arch["resolution"], stem, stages, path,
                         title=f"mobilenetv3: {self.to_string(genome)} - MBConv layers, kernel k x k, expansion e; "
                               "SE: squeeze-excitation")

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

    resizes_input: ClassVar[bool] = True

    def input_resolution(self, genome: np.ndarray, input_size: int) -> int:
        """The genome's own resolution: the network resizes whatever it is fed to it."""
        return int(self.to_config(genome)["resolution"])

    # -- weight sharing (SupernetSpace) ------------------------------------------------------
    def for_images(self, image_size: int, width_mult: float | None = None) -> MobileNetV3Space:
        """The preset for ``image_size`` px: OFA's ImageNet layout from 128 px, else the small one (at least
        16 px: tiny images are upsampled in the network); see :meth:`SupernetConfig.for_images`."""
        return MobileNetV3Space(SupernetConfig.for_images(image_size, width_mult))

    def new_supernet(self, num_classes: int, in_channels: int) -> nn.Module:
        from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet

        return MobileNetV3Supernet(self.config, num_classes=num_classes, in_channels=in_channels)

    def activate(self, supernet: nn.Module, genome: np.ndarray) -> None:
        supernet.set_active(self.to_config(genome))

    def extract(self, supernet: nn.Module, genome: np.ndarray) -> nn.Module:
        self.activate(supernet, genome)
        return supernet.get_active_subnet()

    def prepare_transfer(self, supernet: nn.Module, num_classes: int) -> None:
        """A new classifier when the class count differs; expanded channels sorted by importance (OFA)."""
        if supernet.num_classes != num_classes:
            from torch import nn

            supernet.classifier = nn.Linear(supernet.classifier.in_features, num_classes)
            supernet.num_classes = num_classes
        supernet.sort_channels()

    @classmethod
    def read_published(cls, path: Path) -> tuple[MobileNetV3Space, nn.Module, dict[str, Any]] | None:
        """An OFA MobileNetV3 supernet checkpoint: the published ``ofa_mbv3_d234_e346_k357_w1.0`` and ``_w1.2``
        (ImageNet, 1000 classes, RGB), or one of the same layout at other widths (either key layout OFA reads).

        Its inputs are normalised with ImageNet's statistics (their mean over
        the channels for a one-channel supernet), as OFA trained them.
        """
        from nsganet.nn.ofa_weights import (
            IMAGENET_MEAN,
            IMAGENET_STD,
            load_ofa_state_dict,
            ofa_supernet_config,
            read_ofa_checkpoint,
        )

        state = read_ofa_checkpoint(path)
        config, num_classes, in_channels = ofa_supernet_config(state)
        space = cls(config)
        supernet = space.new_supernet(num_classes, in_channels)
        load_ofa_state_dict(supernet, state)
        mean, std = (list(IMAGENET_MEAN), list(IMAGENET_STD)) if in_channels == 3 else (
            [sum(IMAGENET_MEAN) / 3] * in_channels, [sum(IMAGENET_STD) / 3] * in_channels)
        info = {"num_classes": num_classes, "in_channels": in_channels, "mean": mean, "std": std,
                "dataset": "imagenet (OFA)" if num_classes == 1000 else "OFA checkpoint"}
        return space, supernet.eval(), info

    # -- NSGANetV2's network files (ForeignNetFiles) -------------------------------------------
    foreign_marker: ClassVar[str] = "net.config"

    def write_foreign_files(self, folder: Path, genome: np.ndarray, model: nn.Module,
                            trained: bool = False) -> list[str]:
        """NSGANetV2's ``net.subnet``, ``net.config`` and ``net.inherited`` (``net.init`` when ``trained``; see
        :mod:`.mobilenetv3_files`)."""
        from nsganet.spaces.mobilenetv3_files import write_files

        return write_files(self, folder, genome, model, trained)

    @classmethod
    def read_foreign_files(cls, folder: Path) -> ForeignNetwork:
        """The network of NSGANetV2's ``net.config`` (and ``net.init`` or ``net.inherited``) in ``folder``."""
        from nsganet.spaces.mobilenetv3_files import read_files

        return read_files(cls, folder)

    # -- per-layer latency (LayerwiseSpace) ---------------------------------------------------
    #: ``small``: the preset a search on small images trains (10 classes of 1-channel images, as the digits);
    #: ``imagenet``: OFA's supernet (1000 classes, RGB).
    presets: ClassVar[dict[str, tuple[int, int]]] = {"small": (10, 1), "imagenet": (1000, 3)}

    @classmethod
    def preset(cls, name: str, image_size: int | None = None, width_mult: float | None = None) -> MobileNetV3Space:
        """``small`` (for ``image_size`` px, default 16; width 0.5) or ``imagenet`` (resolutions 128..256; width 1)."""
        from nsganet.errors import ConfigError

        if name == "imagenet":
            if image_size is not None:
                raise ConfigError("--image-size shapes the small preset; the imagenet one has resolutions 128..256")
            return cls(SupernetConfig.imagenet(width_mult or 1.0))
        if name == "small":
            try:
                return cls(SupernetConfig.small(image_size or 16, width_mult=width_mult or 0.5))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return super().preset(name, image_size, width_mult)

    @property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(self.config.resolutions)

    def with_resolution(self, genome: np.ndarray, resolution: int) -> np.ndarray:
        genome = np.array(genome, dtype=np.int64)
        genome[self.layout.resolution_var] = self.config.resolutions.index(resolution)
        return genome

    def layers(self, genome: np.ndarray, num_classes: int, in_channels: int) -> list[LayerSetting]:
        return network_layers(self.config, self.to_config(genome), num_classes, in_channels)

    def layer_settings(self, resolutions: tuple[int, ...], num_classes: int, in_channels: int) -> list[LayerSetting]:
        """Every kernel size and expansion ratio at every position of every stage at its largest depth.

        A shallower stage uses a prefix of those positions, so this covers every network.
        """
        cfg, lay = self.config, self.layout
        seen: dict[str, LayerSetting] = {}
        for resolution in resolutions:
            for ki in range(len(cfg.kernel_sizes)):
                for ei in range(len(cfg.expand_ratios)):
                    genome = self.largest()
                    for s in range(cfg.num_stages):
                        genome[list(lay.kernel_vars[s])] = ki
                        genome[list(lay.expand_vars[s])] = ei
                    for layer in self.layers(self.with_resolution(genome, resolution), num_classes, in_channels):
                        seen.setdefault(layer.key, layer)
        return list(seen.values())

    def channels_last(self, in_channels: int, batch_size: int) -> bool:
        """Whether the layers after the stem see channels-last tensors (the torch back-end).

        The network converts its input to channels-last; a convolution keeps
        that layout unless its input is ambiguous (one channel: both layouts
        have the same strides), when PyTorch picks the contiguous one for
        everything after.
        """
        import torch

        size = self.config.resolutions[0]
        stem = LayerSetting("stem", in_channels, self.config.stem_width, size, kernel=3,
                            stride=self.config.stem_stride).build().eval()
        x = torch.zeros(batch_size, in_channels, size, size)
        with torch.inference_mode():
            y = stem(x.contiguous(memory_format=torch.channels_last))
        return bool(y.is_contiguous(memory_format=torch.channels_last))

    # -- analysis --------------------------------------------------------------------------
    def operations(self, genome: np.ndarray) -> list[str]:
        """The choices of an architecture: ``r<resolution>``, ``d<depth>`` per stage, ``k<kernel>`` and
        ``e<expansion>`` per active layer."""
        arch = self.to_config(genome)
        return [f"r{arch['resolution']}", *(f"d{d}" for d in arch["depths"]),
                *(f"k{k}" for k in arch["kernel_sizes"]), *(f"e{_format_ratio(e)}" for e in arch["expand_ratios"])]

"""MobileNetV3 networks of the once-for-all space: the static subnet and the elastic supernet.

:class:`MobileNetV3` is one architecture (what ``space.build(genome)`` returns
and what :meth:`MobileNetV3Supernet.get_active_subnet` fills with inherited
weights). :class:`MobileNetV3Supernet` is OFA's elastic MobileNetV3: every
architecture of :class:`~nsganet.spaces.mobilenetv3.MobileNetV3Space` is a
subnet of it, activated by its genome. Both resize their input to the
architecture's resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig, se_channels
from nsganet.supernet.elastic import DynamicMBConv, HSigmoid, global_pool, make_activation

__all__ = ["LayerSpec", "MBConv", "MobileNetV3", "MobileNetV3Supernet", "SupernetConfig"]


def _prepare_input(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """``x`` bilinearly resized to ``resolution`` x ``resolution`` (when it is not), channels-last on CPU.

    On CPU, depthwise convolutions (their weight gradients above all) run two
    to three times faster in channels-last layout; activations keep the layout
    of the input through the network, so converting the input is enough.
    """
    if tuple(x.shape[-2:]) != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    if x.device.type == "cpu" and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class ConvBNAct(nn.Sequential):
    """Convolution without bias ("same" padding), optional batch norm, optional activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 act: str | None = None, bn: bool = True) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                                          bias=False))
        if bn:
            self.add_module("bn", nn.BatchNorm2d(out_channels))
        if act is not None:
            self.add_module("act", make_activation(act))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: pooled features -> 1x1 conv, ReLU, 1x1 conv, hard sigmoid -> channel gates."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True)
        self.gate = HSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(global_pool(x)))))


@dataclass(frozen=True)
class LayerSpec:
    """One inverted-bottleneck layer of a static MobileNetV3."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    mid_channels: int
    act: str
    se: bool
    expand: bool = True  # a 1x1 expansion convolution (the first block has none)


class MBConv(nn.Module):
    """Inverted bottleneck: [1x1 expand, BN, act], kxk depthwise, BN, act, [SE], 1x1 project, BN, [+ input]."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        mid = spec.mid_channels
        if spec.expand:
            self.expand = nn.Conv2d(spec.in_channels, mid, 1, bias=False)
            self.expand_bn = nn.BatchNorm2d(mid)
            self.expand_act = make_activation(spec.act)
        elif mid != spec.in_channels:
            raise ValueError("an MBConv without expansion keeps its input width")
        self.depthwise = nn.Conv2d(mid, mid, spec.kernel_size, spec.stride, spec.kernel_size // 2, groups=mid,
                                   bias=False)
        self.depthwise_bn = nn.BatchNorm2d(mid)
        self.depthwise_act = make_activation(spec.act)
        self.se = SqueezeExcite(mid, se_channels(mid)) if spec.se else None
        self.project = nn.Conv2d(mid, spec.out_channels, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(spec.out_channels)
        self.residual = spec.stride == 1 and spec.in_channels == spec.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand_act(self.expand_bn(self.expand(x))) if self.spec.expand else x
        h = self.depthwise_act(self.depthwise_bn(self.depthwise(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project(h))
        return h + x if self.residual else h


def _first_block_spec(config: SupernetConfig) -> LayerSpec:
    """OFA's fixed first block: 3x3 depthwise, expansion 1, ReLU, no SE."""
    return LayerSpec(config.stem_width, config.first_block_width, 3, 1, config.stem_width, "relu", False,
                     expand=False)


def _set_bn(module: nn.Module, momentum: float, eps: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum, m.eps = momentum, eps


class MobileNetV3(nn.Module):
    """A static MobileNetV3 of the once-for-all space.

    Stem conv (3x3, h-swish), ``blocks`` (the fixed first block, then one
    :class:`MBConv` per layer spec), final 1x1 expansion (BN, h-swish), global
    average pooling, 1x1 feature-mix conv (no BN, h-swish), dropout and a linear
    classifier. The forward pass first resizes the input to ``resolution``.
    """

    def __init__(self, layers: Sequence[LayerSpec], resolution: int, num_classes: int = 10, in_channels: int = 3,
                 stem_stride: int = 2, final_expand_channels: int = 960, feature_mix_channels: int = 1280,
                 dropout: float = 0.1, bn_momentum: float = 0.1, bn_eps: float = 1e-5) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a MobileNetV3 needs at least one layer")
        self.resolution = resolution
        self.stem = ConvBNAct(in_channels, layers[0].in_channels, 3, stem_stride, "h_swish")
        self.blocks = nn.ModuleList(MBConv(spec) for spec in layers)
        last = layers[-1].out_channels
        self.final_expand = ConvBNAct(last, final_expand_channels, 1, act="h_swish")
        self.feature_mix = ConvBNAct(final_expand_channels, feature_mix_channels, 1, act="h_swish", bn=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_mix_channels, num_classes)
        _set_bn(self, bn_momentum, bn_eps)

    @classmethod
    def from_config(cls, config: SupernetConfig, arch: Mapping[str, Any], num_classes: int = 10,
                    in_channels: int = 3, dropout: float | None = None) -> MobileNetV3:
        """The network of ``arch`` (:meth:`MobileNetV3Space.to_config`) in the supernet shape ``config``."""
        specs = [_first_block_spec(config)]
        for cin, cout, k, s, mid, act, se in zip(arch["in_channels"], arch["out_channels"], arch["kernel_sizes"],
                                                  arch["strides"], arch["mid_channels"], arch["acts"], arch["se"]):
            specs.append(LayerSpec(cin, cout, k, s, mid, act, se))
        return cls(specs, arch["resolution"], num_classes=num_classes, in_channels=in_channels,
                   stem_stride=config.stem_stride, final_expand_channels=config.final_expand_width,
                   feature_mix_channels=config.feature_mix_width,
                   dropout=config.dropout if dropout is None else dropout, bn_momentum=config.bn_momentum,
                   bn_eps=config.bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(_prepare_input(x, self.resolution))
        for block in self.blocks:
            x = block(x)
        x = self.feature_mix(global_pool(self.final_expand(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


class MobileNetV3Supernet(nn.Module):
    """OFA's elastic MobileNetV3: every architecture of the space is a subnet sharing these weights.

    Each stage holds ``max(config.depths)`` :class:`~nsganet.supernet.elastic.DynamicMBConv`
    layers; the active subnet (:meth:`set_active` with a genome of
    :attr:`space`) runs the first ``depth`` of them with its kernel sizes and
    expansion ratios, at its resolution. Module names follow the static
    :class:`MobileNetV3` (``stem``, ``first_block``, ``stages.S.L``,
    ``final_expand``, ``feature_mix``, ``classifier``).
    """

    def __init__(self, config: SupernetConfig | None = None, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config if config is not None else SupernetConfig.imagenet()
        self.space = MobileNetV3Space(self.config)
        self.num_classes, self.in_channels = num_classes, in_channels
        cfg = self.config
        first = _first_block_spec(cfg)
        self.stem = ConvBNAct(in_channels, cfg.stem_width, 3, cfg.stem_stride, "h_swish")
        self.first_block = MBConv(first)
        self.stages = nn.ModuleList()
        channels = first.out_channels
        for width, stride, act, se in zip(cfg.stage_widths, cfg.stage_strides, cfg.stage_acts, cfg.stage_se):
            stage = nn.ModuleList()
            for j in range(cfg.max_depth):
                stage.append(DynamicMBConv(channels, width, cfg.kernel_sizes, cfg.expand_ratios,
                                           stride if j == 0 else 1, act, se))
                channels = width
            self.stages.append(stage)
        self.final_expand = ConvBNAct(channels, cfg.final_expand_width, 1, act="h_swish")
        self.feature_mix = ConvBNAct(cfg.final_expand_width, cfg.feature_mix_width, 1, act="h_swish", bn=False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.feature_mix_width, num_classes)
        _set_bn(self, cfg.bn_momentum, cfg.bn_eps)
        self._genome = self.space.largest()
        self._depths: list[int] = []
        self._resolution = cfg.resolutions[-1]
        self.set_max()

    # -- the active subnet -----------------------------------------------------------------
    def set_active(self, genome: np.ndarray) -> None:
        """Activate the subnet of a genome of :attr:`space` (inactive variables are ignored)."""
        genome = self.space.check(genome)
        arch = self.space.to_config(genome)
        layers = iter(zip(arch["kernel_sizes"], arch["expand_ratios"]))
        for stage, depth in zip(self.stages, arch["depths"]):
            for layer in stage[:depth]:
                layer.active_kernel_size, layer.active_expand_ratio = next(layers)
        self._depths = list(arch["depths"])
        self._resolution = arch["resolution"]
        self._genome = genome

    def set_max(self) -> None:
        """Activate the largest subnet."""
        self.set_active(self.space.largest())

    def set_min(self) -> None:
        """Activate the smallest subnet."""
        self.set_active(self.space.smallest())

    def sample_active(self, rng: np.random.Generator) -> np.ndarray:
        """Activate a uniformly drawn subnet and return its (canonical) genome."""
        genome = self.space.sample(rng, 1)[0]
        self.set_active(genome)
        return genome.copy()

    @property
    def active_genome(self) -> np.ndarray:
        return self._genome.copy()

    @property
    def active_resolution(self) -> int:
        return self._resolution

    def active_layers(self) -> list[DynamicMBConv]:
        """The elastic layers the active subnet runs, in order."""
        return [layer for stage, depth in zip(self.stages, self._depths) for layer in stage[:depth]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the active subnet (the input resized to its resolution)."""
        x = self.first_block(self.stem(_prepare_input(x, self._resolution)))
        for layer in self.active_layers():
            x = layer(x)
        x = self.feature_mix(global_pool(self.final_expand(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))

    # -- weights ---------------------------------------------------------------------------
    @torch.no_grad()
    def sort_channels(self) -> None:
        """Reorder every layer's expanded channels by importance (see :meth:`DynamicMBConv.sort_channels`).

        The largest expansion of every layer computes the same function
        afterwards; smaller expansions then keep the most important channels.
        """
        for stage in self.stages:
            for layer in stage:
                layer.sort_channels()

    @torch.no_grad()
    def get_active_subnet(self) -> MobileNetV3:
        """A standalone :class:`MobileNetV3` of the active subnet, carrying copies of its weights.

        Channels are sliced, depthwise kernels transformed to the active size,
        batch-norm statistics and affine parameters sliced; the result computes
        what :meth:`forward` computes for the active subnet, in the same mode.
        """
        arch = self.space.to_config(self._genome)
        subnet = MobileNetV3.from_config(self.config, arch, num_classes=self.num_classes,
                                         in_channels=self.in_channels)
        reference = next(self.parameters())
        subnet.to(device=reference.device, dtype=reference.dtype)
        subnet.stem.load_state_dict(self.stem.state_dict())
        subnet.blocks[0].load_state_dict(self.first_block.state_dict())
        for block, layer in zip(subnet.blocks[1:], self.active_layers()):
            _copy_layer(block, layer)
        subnet.final_expand.load_state_dict(self.final_expand.state_dict())
        subnet.feature_mix.load_state_dict(self.feature_mix.state_dict())
        subnet.classifier.load_state_dict(self.classifier.state_dict())
        subnet.dropout.p = self.dropout.p
        return subnet.train(self.training)


def _copy_bn(target: nn.BatchNorm2d, source: nn.BatchNorm2d) -> None:
    n = target.num_features
    target.weight.copy_(source.weight[:n])
    target.bias.copy_(source.bias[:n])
    target.running_mean.copy_(source.running_mean[:n])
    target.running_var.copy_(source.running_var[:n])
    target.num_batches_tracked.copy_(source.num_batches_tracked)
    target.momentum, target.eps = source.momentum, source.eps


def _copy_layer(block: MBConv, layer: DynamicMBConv) -> None:
    """Fill a static block with the active slice of an elastic layer's weights."""
    spec = block.spec
    mid = spec.mid_channels
    if mid != layer.active_mid_channels or spec.kernel_size != layer.active_kernel_size:
        raise RuntimeError("static block and elastic layer disagree on the active configuration")
    block.expand.weight.copy_(layer.expand.active_weight(mid, spec.in_channels))
    _copy_bn(block.expand_bn, layer.expand_bn)
    block.depthwise.weight.copy_(layer.depthwise.active_filter(mid, spec.kernel_size))
    _copy_bn(block.depthwise_bn, layer.depthwise_bn)
    if block.se is not None and layer.se is not None:
        hidden = block.se.reduce.out_channels
        block.se.reduce.weight.copy_(layer.se.reduce.weight[:hidden, :mid])
        block.se.reduce.bias.copy_(layer.se.reduce.bias[:hidden])
        block.se.expand.weight.copy_(layer.se.expand.weight[:mid, :hidden])
        block.se.expand.bias.copy_(layer.se.expand.bias[:mid])
    block.project.weight.copy_(layer.project.active_weight(spec.out_channels, mid))
    _copy_bn(block.project_bn, layer.project_bn)

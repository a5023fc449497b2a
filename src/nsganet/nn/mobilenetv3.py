"""Static MobileNetV3 networks of the once-for-all space, and the layers and activations they are made of.

:class:`MobileNetV3` is one architecture: what ``space.build(genome)`` returns
and what :meth:`~nsganet.nn.mobilenetv3_supernet.MobileNetV3Supernet.get_active_subnet`
fills with inherited weights. It resizes its input to the architecture's
resolution. Activations and pooling follow OFA's definitions exactly (the
elastic layers of the supernet use the same ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nsganet.nn.micro import drop_path
from nsganet.nn.mobilenetv3_shape import SupernetConfig, se_channels

__all__ = ["ConvBNAct", "HSigmoid", "HSwish", "Head", "LayerSpec", "MBConv", "MobileNetV3", "global_pool",
           "make_activation", "prepare_input"]

# -- activations and pooling (OFA's definitions) -----------------------------------------------


class HSwish(nn.Module):
    """Hard swish, ``x * relu6(x + 3) / 6`` (OFA's formula; evaluated in this order for bitwise agreement)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


class HSigmoid(nn.Module):
    """Hard sigmoid, ``relu6(x + 3) / 6``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


def make_activation(name: str) -> nn.Module:
    """``relu`` or ``h_swish``."""
    if name == "relu":
        return nn.ReLU()
    if name == "h_swish":
        return HSwish()
    raise ValueError(f"unknown activation {name!r}")


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling as OFA computes it (width, then height)."""
    return x.mean(3, keepdim=True).mean(2, keepdim=True)


# -- layers -------------------------------------------------------------------------------------


def prepare_input(x: torch.Tensor, resolution: int) -> torch.Tensor:
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
    """Inverted bottleneck: [1x1 expand, BN, act], kxk depthwise, BN, act, [SE], 1x1 project, BN, [+ input].

    With a residual, training drops the branch of whole samples with
    probability ``drop_prob`` (drop-path, NSGANetV2's drop-connect); 0 (the
    default) and eval mode leave the block as it is.
    """

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
        self.drop_prob = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand_act(self.expand_bn(self.expand(x))) if self.spec.expand else x
        h = self.depthwise_act(self.depthwise_bn(self.depthwise(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project(h))
        if not self.residual:
            return h
        if self.training and self.drop_prob > 0:
            h = drop_path(h, self.drop_prob)
        return h + x


def first_block_spec(config: SupernetConfig) -> LayerSpec:
    """OFA's fixed first block: 3x3 depthwise, expansion 1, ReLU, no SE."""
    return LayerSpec(config.stem_width, config.first_block_width, 3, 1, config.stem_width, "relu", False,
                     expand=False)


def set_bn(module: nn.Module, momentum: float, eps: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum, m.eps = momentum, eps


class MobileNetV3(nn.Module):
    """A static MobileNetV3 of the once-for-all space.

    Stem conv (3x3, h-swish), ``blocks`` (the fixed first block, then one
    :class:`MBConv` per layer spec), final 1x1 expansion (BN, h-swish), global
    average pooling, 1x1 feature-mix conv (no BN, h-swish), dropout and a linear
    classifier. The forward pass first resizes the input to ``resolution``.

    ``drop_path_prob`` (0 unless set, e.g. per epoch by the re-training loop)
    drops the residual branches of the blocks while training, block ``i`` of
    ``n`` with rate ``drop_path_prob * i / n`` as NSGANetV2's
    ``MobileInvertedResidualBlock``; the classifier dropout is ``dropout.p``.
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
        set_bn(self, bn_momentum, bn_eps)
        self._drop_path_prob = 0.0

    @property
    def drop_path_prob(self) -> float:
        """The drop-path rate the blocks' rates are scaled from (block ``i`` of ``n``: ``rate * i / n``)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        self._drop_path_prob = float(value)
        for i, block in enumerate(self.blocks):
            block.drop_prob = self._drop_path_prob * i / len(self.blocks)

    @classmethod
    def from_config(cls, config: SupernetConfig, arch: Mapping[str, Any], num_classes: int = 10,
                    in_channels: int = 3, dropout: float | None = None) -> MobileNetV3:
        """The network of ``arch`` (:meth:`MobileNetV3Space.to_config`) in the supernet shape ``config``."""
        specs = [first_block_spec(config)]
        for cin, cout, k, s, mid, act, se in zip(arch["in_channels"], arch["out_channels"], arch["kernel_sizes"],
                                                  arch["strides"], arch["mid_channels"], arch["acts"], arch["se"]):
            specs.append(LayerSpec(cin, cout, k, s, mid, act, se))
        return cls(specs, arch["resolution"], num_classes=num_classes, in_channels=in_channels,
                   stem_stride=config.stem_stride, final_expand_channels=config.final_expand_width,
                   feature_mix_channels=config.feature_mix_width,
                   dropout=config.dropout if dropout is None else dropout, bn_momentum=config.bn_momentum,
                   bn_eps=config.bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(prepare_input(x, self.resolution))
        for block in self.blocks:
            x = block(x)
        x = self.feature_mix(global_pool(self.final_expand(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


class Head(nn.Module):
    """The network's head on its own (global pooling, feature mix, dropout, classifier), e.g. to time it."""

    def __init__(self, in_channels: int, mix_channels: int, classes: int) -> None:
        super().__init__()
        self.feature_mix = ConvBNAct(in_channels, mix_channels, 1, act="h_swish", bn=False)
        self.dropout = nn.Dropout(0.0)
        self.classifier = nn.Linear(mix_channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.feature_mix(global_pool(x)), 1)))

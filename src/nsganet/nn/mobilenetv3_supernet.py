"""OFA's elastic MobileNetV3 supernet: every architecture of the space is a subnet sharing its weights.

Each stage holds ``max(config.depths)`` elastic layers
(:class:`~nsganet.nn.elastic.DynamicMBConv`); the active subnet
(:meth:`MobileNetV3Supernet.set_active` with an architecture decoded by
:meth:`~nsganet.spaces.mobilenetv3.MobileNetV3Space.to_config`) runs the first
``depth`` of them with its kernel sizes and expansion ratios, at its
resolution. The space maps genomes to architectures
(:meth:`~nsganet.spaces.mobilenetv3.MobileNetV3Space.activate`); the network
knows only its shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nsganet.nn.elastic import DynamicMBConv
from nsganet.nn.mobilenetv3 import ConvBNAct, MBConv, MobileNetV3, first_block_spec, global_pool, prepare_input, set_bn
from nsganet.nn.mobilenetv3_shape import SupernetConfig

__all__ = ["MobileNetV3Supernet"]


class MobileNetV3Supernet(nn.Module):
    """OFA's elastic MobileNetV3: every architecture of the space is a subnet sharing these weights.

    Each stage holds ``max(config.depths)`` :class:`~nsganet.nn.elastic.DynamicMBConv`
    layers; the active subnet (:meth:`set_active`) runs the first ``depth`` of
    them with its kernel sizes and expansion ratios, at its resolution; a new
    supernet runs its largest subnet. Module names follow the static
    :class:`~nsganet.nn.mobilenetv3.MobileNetV3` (``stem``, ``first_block``,
    ``stages.S.L``, ``final_expand``, ``feature_mix``, ``classifier``).
    """

    def __init__(self, config: SupernetConfig | None = None, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config if config is not None else SupernetConfig.imagenet()
        self.num_classes, self.in_channels = num_classes, in_channels
        cfg = self.config
        first = first_block_spec(cfg)
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
        set_bn(self, cfg.bn_momentum, cfg.bn_eps)
        # until set_active: the largest subnet (every layer at its largest kernel and expansion)
        self._arch: Mapping[str, Any] | None = None
        self._depths = [cfg.max_depth] * cfg.num_stages
        self._resolution = cfg.resolutions[-1]

    # -- the active subnet -----------------------------------------------------------------
    def set_active(self, arch: Mapping[str, Any]) -> None:
        """Activate the subnet ``arch``: a decoded architecture of this shape (``MobileNetV3Space.to_config``)."""
        layers = iter(zip(arch["kernel_sizes"], arch["expand_ratios"]))
        for stage, depth in zip(self.stages, arch["depths"]):
            for layer in stage[:depth]:
                layer.active_kernel_size, layer.active_expand_ratio = next(layers)
        self._depths = list(arch["depths"])
        self._resolution = int(arch["resolution"])
        self._arch = arch

    @property
    def active_resolution(self) -> int:
        return self._resolution

    def active_layers(self) -> list[DynamicMBConv]:
        """The elastic layers the active subnet runs, in order."""
        return [layer for stage, depth in zip(self.stages, self._depths) for layer in stage[:depth]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the active subnet (the input resized to its resolution)."""
        x = self.first_block(self.stem(prepare_input(x, self._resolution)))
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
        if self._arch is None:
            raise RuntimeError("activate a subnet (MobileNetV3Space.activate) before extracting it")
        subnet = MobileNetV3.from_config(self.config, self._arch, num_classes=self.num_classes,
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

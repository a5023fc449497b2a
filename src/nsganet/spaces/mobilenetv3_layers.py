"""The layers of a once-for-all MobileNetV3 network as a latency look-up table sees them.

A network of the space is a chain of layers whose settings repeat across
architectures: the stem, the fixed first block, each MBConv layer (input and
output width, kernel, expansion, stride, input resolution, activation,
squeeze-excitation), the final 1x1 expansion and the head (pooling, feature
mix, classifier). :func:`network_layers` walks one architecture; torch is
imported only when a setting is built as a module to be timed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nsganet.nn.mobilenetv3_shape import SupernetConfig


@dataclass(frozen=True)
class LayerSetting:
    """One layer of a MobileNetV3 network: its kind, widths, kernel, stride and input size.

    ``mbconv`` layers also carry the expanded width (``mid_channels``), the
    activation, squeeze-excitation and whether there is a 1x1 expansion (the
    fixed first block has none); the ``head`` has ``out_channels`` feature-mix
    units and ``classes`` outputs.
    """

    kind: str
    in_channels: int
    out_channels: int
    size: int
    kernel: int = 1
    stride: int = 1
    mid_channels: int = 0
    act: str = ""
    se: bool = False
    expand: bool = False
    classes: int = 0

    @property
    def key(self) -> str:
        """A unique, readable name of the setting (the table's key)."""
        base = f"{self.kind} {self.in_channels}>{self.out_channels} r{self.size}"
        if self.kind == "mbconv":
            return (f"{base} m{self.mid_channels} k{self.kernel} s{self.stride} {self.act}"
                    f"{' se' if self.se else ''}{'' if self.expand else ' noexpand'}")
        if self.kind == "stem":
            return f"{base} k{self.kernel} s{self.stride}"
        if self.kind == "head":
            return f"{base} c{self.classes}"
        return base

    @property
    def takes_input(self) -> bool:
        """The stem reads the network's input."""
        return self.kind == "stem"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.size, self.size)

    def build(self) -> Any:
        """The layer as a module, built as :class:`~nsganet.nn.mobilenetv3.MobileNetV3` builds it."""
        from nsganet.nn.mobilenetv3 import ConvBNAct, Head, LayerSpec, MBConv

        if self.kind == "stem":
            return ConvBNAct(self.in_channels, self.out_channels, self.kernel, self.stride, "h_swish")
        if self.kind == "mbconv":
            return MBConv(LayerSpec(self.in_channels, self.out_channels, self.kernel, self.stride, self.mid_channels,
                                    self.act, self.se, expand=self.expand))
        if self.kind == "final_expand":
            return ConvBNAct(self.in_channels, self.out_channels, 1, act="h_swish")
        return Head(self.in_channels, self.out_channels, self.classes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def network_layers(config: SupernetConfig, arch: Mapping[str, Any], num_classes: int,
                   in_channels: int) -> list[LayerSetting]:
    """The layers of the network ``arch`` (:meth:`MobileNetV3Space.to_config`) of the supernet ``config``.

    Feature maps shrink as in ``analytic_costs``: a stride-2 layer with "same"
    padding maps ``n`` pixels to ``ceil(n / 2)``.
    """
    resolution = int(arch["resolution"])
    layers = [LayerSetting("stem", in_channels, config.stem_width, resolution, kernel=3, stride=config.stem_stride)]
    size = math.ceil(resolution / config.stem_stride)
    layers.append(LayerSetting("mbconv", config.stem_width, config.first_block_width, size, kernel=3, stride=1,
                               mid_channels=config.stem_width, act="relu", se=False, expand=False))
    for cin, cout, k, stride, mid, act, se in zip(arch["in_channels"], arch["out_channels"], arch["kernel_sizes"],
                                                   arch["strides"], arch["mid_channels"], arch["acts"], arch["se"]):
        layers.append(LayerSetting("mbconv", int(cin), int(cout), size, kernel=int(k), stride=int(stride),
                                   mid_channels=int(mid), act=str(act), se=bool(se), expand=True))
        size = math.ceil(size / stride)
    last = int(arch["out_channels"][-1]) if arch["out_channels"] else config.first_block_width
    layers.append(LayerSetting("final_expand", last, config.final_expand_width, size))
    layers.append(LayerSetting("head", config.final_expand_width, config.feature_mix_width, size,
                               classes=num_classes))
    return layers

"""The NSGANetV1 cell network: Normal and Reduction cells stacked as in Fig. 2."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nsganet.nn.micro_ops import FactorizedReduce, ReLUConvBN, make_operation


@dataclass(frozen=True)
class NodeSpec:
    """One node of a cell: two (input, operation) branches whose outputs are added.

    Inputs are numbered chronologically: 0 is h(i-2), 1 is h(i-1) and ``2 + k``
    the output of node ``k`` of the same cell.
    """

    input_a: int
    op_a: str
    input_b: int
    op_b: str


def unused_nodes(nodes: Sequence[NodeSpec]) -> list[int]:
    """Indices (2 + k) of the nodes no other node reads: the cell concatenates them as its output."""
    used = {n.input_a for n in nodes} | {n.input_b for n in nodes}
    return [2 + k for k in range(len(nodes)) if 2 + k not in used]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability ``drop_prob`` (scaled to keep the mean)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class MicroCell(nn.Module):
    """A Normal or Reduction cell.

    Both inputs are first mapped to ``channels`` by 1x1 convolutions (h(i-2)
    also halved in resolution when the previous cell reduced). In a Reduction
    cell the operations reading the cell inputs use stride 2. The outputs of
    the nodes no other node reads are concatenated.
    """

    def __init__(self, nodes: Sequence[NodeSpec], prev_prev_channels: int, prev_channels: int, channels: int,
                 reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(prev_prev_channels, channels) if reduction_prev
                            else ReLUConvBN(prev_prev_channels, channels, 1))
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1)
        self.inputs: list[tuple[int, int]] = []
        self.ops = nn.ModuleList()
        self.is_identity: list[bool] = []
        for node in nodes:
            self.inputs.append((node.input_a, node.input_b))
            for index, name in ((node.input_a, node.op_a), (node.input_b, node.op_b)):
                stride = 2 if reduction and index < 2 else 1
                self.ops.append(make_operation(name, channels, stride))
                self.is_identity.append(name == "identity")
        self.concat = unused_nodes(nodes)
        self.out_channels = channels * len(self.concat)
        self.drop_prob = 0.0

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k, (a, b) in enumerate(self.inputs):
            branches = []
            for j, source in ((2 * k, a), (2 * k + 1, b)):
                h = self.ops[j](states[source])
                if self.training and self.drop_prob > 0 and not self.is_identity[j]:
                    h = drop_path(h, self.drop_prob)
                branches.append(h)
            states.append(branches[0] + branches[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier at 2/3 depth (Szegedy et al.), pooled adaptively so any input size works."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


#: The stems a micro network may start with: CIFAR's (one 3x3 convolution at full resolution) or ImageNet's
#: (two stride-2 stems, 8x smaller feature maps before the first cell).
STEMS = ("cifar", "imagenet")


def conv_bn(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    """A 3x3 convolution of ``stride`` and its batch norm."""
    return [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels)]


class MicroNetwork(nn.Module):
    """Stem, then ``layers`` Normal cells per stage with a Reduction cell between the three stages.

    Cell ``k`` (counting every cell) works at ``channels + k * channel_increment``
    channels: width grows gradually with depth instead of doubling at each
    reduction (Fig. 2b). With ``auxiliary`` the network also returns the
    logits of an auxiliary head after the second reduction when training.
    ``drop_path_prob`` (set per epoch by the trainer) drops branches of the cells.

    ``stem`` is ``cifar`` (one 3x3 convolution of ``stem_multiplier *
    channels`` at full resolution, the CIFAR setting) or ``imagenet`` (V1's
    ImageNet mobile setting, as NASNet and DARTS: a first stem of two stride-2
    3x3 convolutions to ``channels`` and a second stride-2 one, feeding the
    first cell the two at 1/4 and 1/8 of the input side; with the two
    reduction cells the last feature map is 1/32 of the input, 7x7 at 224 px).
    """

    def __init__(self, normal: Sequence[NodeSpec], reduce: Sequence[NodeSpec], num_classes: int = 10,
                 in_channels: int = 3, channels: int = 16, channel_increment: int = 4, layers: int = 2,
                 auxiliary: bool = False, stem_multiplier: int = 3, stem: str = "cifar") -> None:
        super().__init__()
        if channels < 2 or layers < 1 or channel_increment < 0:
            raise ValueError("micro network needs channels >= 2, layers >= 1 and channel_increment >= 0")
        if stem not in STEMS:
            raise ValueError(f"micro network stem must be one of {', '.join(STEMS)}, got {stem!r}")
        if stem == "imagenet":
            self.stem = nn.Sequential(*conv_bn(in_channels, channels // 2, 2), nn.ReLU(inplace=True),
                                      *conv_bn(channels // 2, channels, 2))
            self.stem1: nn.Module | None = nn.Sequential(nn.ReLU(inplace=False), *conv_bn(channels, channels, 2))
            prev_prev, prev, reduction_prev = channels, channels, True
        else:
            stem_channels = stem_multiplier * channels
            self.stem = nn.Sequential(*conv_bn(in_channels, stem_channels, 1))
            self.stem1 = None
            prev_prev, prev, reduction_prev = stem_channels, stem_channels, False
        total = 3 * layers + 2
        reductions = {layers, 2 * layers + 1}
        self.cells = nn.ModuleList()
        self.aux_after = 2 * layers + 1 if auxiliary else -1
        self.auxiliary_head: AuxiliaryHead | None = None
        for k in range(total):
            reduction = k in reductions
            cell = MicroCell(reduce if reduction else normal, prev_prev, prev, channels + k * channel_increment,
                             reduction, reduction_prev)
            self.cells.append(cell)
            prev_prev, prev, reduction_prev = prev, cell.out_channels, reduction
            if k == self.aux_after:
                self.auxiliary_head = AuxiliaryHead(prev, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, num_classes)

    @property
    def drop_path_prob(self) -> float:
        return self.cells[0].drop_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        for cell in self.cells:
            cell.drop_prob = value

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem(x)
        s1 = s0 if self.stem1 is None else self.stem1(s0)
        aux = None
        for k, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if k == self.aux_after and self.training and self.auxiliary_head is not None:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.pool(s1), 1))
        return logits if aux is None else (logits, aux)

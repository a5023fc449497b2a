"""The NAS-Bench-201 cell and network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nsganet.nn.ops import ClassifierHead, ReLUConvBN, ResidualReduction


def make_op(name: str, channels: int) -> nn.Module | None:
    """The module of a NAS-Bench-201 operation; ``None`` for the 'none' (zero) operation."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}")


class NB201Cell(nn.Module):
    """A DAG of four nodes; node i sums op(node j) over the edges j -> i.

    ``edges[i - 1]`` lists the operation names feeding node ``i`` from nodes
    ``0..i-1``. Edges with the 'none' operation are left out; a node with no
    remaining input outputs zeros.
    """

    def __init__(self, edges: Sequence[Sequence[str]], channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        self.wiring: list[list[tuple[int, int]]] = []  # per node: (source node, op index)
        for node_edges in edges:
            inputs = []
            for source, name in enumerate(node_edges):
                op = make_op(name, channels)
                if op is not None:
                    inputs.append((source, len(self.ops)))
                    self.ops.append(op)
            self.wiring.append(inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for inputs in self.wiring:
            if inputs:
                out = self.ops[inputs[0][1]](nodes[inputs[0][0]])
                for source, index in inputs[1:]:
                    out = out + self.ops[index](nodes[source])
            else:
                out = torch.zeros_like(x)
            nodes.append(out)
        return nodes[-1]


class NB201Network(nn.Module):
    """Stem, three stages of cells separated by residual reductions, classifier.

    The NAS-Bench-201 macro skeleton: 3x3 conv stem + BN at ``channels``, then
    ``cells_per_stage`` cells per stage at ``channels``, ``2*channels`` and
    ``4*channels``.
    """

    def __init__(self, edges: Sequence[Sequence[str]], num_classes: int = 10, in_channels: int = 3,
                 channels: int = 16, cells_per_stage: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(NB201Cell(edges, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = ClassifierHead(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))

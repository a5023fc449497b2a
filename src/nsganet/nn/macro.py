"""The NSGA-Net macro network: phases of Genetic CNN DAGs, each with an optional residual bit.

A phase is a DAG of K convolution nodes (Xie & Yuille, Genetic CNN, 2017); NSGA-Net
(Lu et al., 2019) adds one bit per phase that adds the phase input to its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Convolution without bias, batch norm, ReLU: the operation of every node (Genetic CNN)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=False),
        )


@dataclass(frozen=True)
class PhaseGraph:
    """The wiring of a phase decoded from its connection bits; nodes are numbered 1..K.

    ``active`` lists the nodes with at least one edge (isolated nodes are
    dropped, as in Genetic CNN); ``predecessors[k]`` the nodes feeding node
    ``k`` (empty: node ``k`` reads the input node); ``sinks`` the active nodes
    without successors, which feed the output node.
    """

    nodes: int
    active: tuple[int, ...]
    predecessors: dict[int, tuple[int, ...]]
    sinks: tuple[int, ...]

    @classmethod
    def from_connections(cls, connections: Sequence[Sequence[int]]) -> PhaseGraph:
        """Decode ``connections[j - 2][i - 1]`` = edge from node ``i`` to node ``j`` (``i < j``)."""
        for index, bits in enumerate(connections):
            if len(bits) != index + 1 or any(bit not in (0, 1) for bit in bits):
                raise ValueError(f"node {index + 2} needs {index + 1} connection bit(s) of 0/1, got {list(bits)}")
        nodes = len(connections) + 1
        preds = {j: tuple(i for i, bit in enumerate(connections[j - 2], start=1) if bit) for j in range(2, nodes + 1)}
        preds[1] = ()
        has_successor = {i for sources in preds.values() for i in sources}
        active = tuple(k for k in range(1, nodes + 1) if preds[k] or k in has_successor)
        return cls(
            nodes=nodes,
            active=active,
            predecessors={k: preds[k] for k in active},
            sinks=tuple(k for k in active if k not in has_successor),
        )


def _sum(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total


class Phase(nn.Module):
    """One phase: input node, the active DAG nodes, output node, optional residual.

    The input node (1x1 conv-BN-ReLU, as NSGA-Net's phase input convolution)
    maps ``in_channels`` to ``channels`` and feeds every active node without an
    active predecessor; a node sums its inputs and applies a 3x3
    conv-BN-ReLU. The output node sums the active nodes without successors (or
    takes the input node's output when no node is active) and applies a 3x3
    conv-BN-ReLU, Genetic CNN's default output node, so a phase always holds
    at least two convolutions. With ``skip`` the input node's output is added
    to the output node's (NSGA-Net's residual bit).
    """

    def __init__(self, connections: Sequence[Sequence[int]], skip: bool, in_channels: int, channels: int) -> None:
        super().__init__()
        self.graph = PhaseGraph.from_connections(connections)
        self.skip = bool(skip)
        self.input_node = ConvBNReLU(in_channels, channels, kernel=1)
        self.nodes = nn.ModuleDict({f"node{k}": ConvBNReLU(channels, channels) for k in self.graph.active})
        self.output_node = ConvBNReLU(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_node(x)
        outputs: dict[int, torch.Tensor] = {}
        for k in self.graph.active:
            sources = self.graph.predecessors[k]
            inputs = _sum([outputs[i] for i in sources]) if sources else x
            outputs[k] = self.nodes[f"node{k}"](inputs)
        merged = _sum([outputs[k] for k in self.graph.sinks]) if self.graph.sinks else x
        out = self.output_node(merged)
        return out + x if self.skip else out


class HalvingMaxPool(nn.Module):
    """2x2 max pooling with stride 2, skipped when a side is already below 2 (so tiny inputs still work)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 2:
            return x
        return nn.functional.max_pool2d(x, kernel_size=2, stride=2)


def phase_widths(channels: int | Sequence[int], phases: int) -> tuple[int, ...]:
    """Per-phase widths: an int is the first phase's width, doubled at every following phase."""
    if isinstance(channels, Integral):
        widths = tuple(int(channels) * 2 ** p for p in range(phases))
    else:
        widths = tuple(int(c) for c in channels)
    if len(widths) != phases or any(c < 1 for c in widths):
        raise ValueError(f"channels must be a positive int or {phases} positive widths, got {channels!r}")
    return widths


class MacroNetwork(nn.Module):
    """Stem, phases separated by 2x2 max pooling, global average pooling, dropout and a classifier.

    ``phases[p]`` holds the connection bits of phase ``p`` (see :class:`Phase`)
    and ``skips[p]`` its residual bit. The 3x3 conv-BN-ReLU stem maps
    ``in_channels`` to the first phase's width. Pooling is skipped once the
    feature map is smaller than 2x2, so any input of at least 1x1 works; with
    three phases an 8x8 input ends at 2x2.
    """

    def __init__(self, phases: Sequence[Sequence[Sequence[int]]], skips: Sequence[bool], num_classes: int = 10,
                 in_channels: int = 3, channels: int | Sequence[int] = 32, dropout: float = 0.0) -> None:
        super().__init__()
        if len(phases) != len(skips) or not phases:
            raise ValueError(f"need one skip bit per phase, got {len(phases)} phase(s) and {len(skips)} bit(s)")
        widths = phase_widths(channels, len(phases))
        self.stem = ConvBNReLU(in_channels, widths[0])
        layers: list[nn.Module] = []
        previous = widths[0]
        for p, (connections, skip, width) in enumerate(zip(phases, skips, widths)):
            if p > 0:
                layers.append(HalvingMaxPool())
            layers.append(Phase(connections, skip, previous, width))
            previous = width
        self.phases = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.phases(self.stem(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))

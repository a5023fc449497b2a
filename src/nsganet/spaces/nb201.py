"""The NAS-Bench-201 cell search space (6 edges, 5 operations, 15,625 architectures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nsganet.errors import InvalidArchitecture
from nsganet.spaces.base import SPACES, DescribedSpace, DrawableSpace, Encoding
from nsganet.utils.checks import CHANNELS, LAYERS, Bound

#: Operations in ascending order of complexity; a variable's value indexes this tuple.
OPERATIONS = ("none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")
_OP_INDEX = {name: i for i, name in enumerate(OPERATIONS)}
#: Number of incoming edges of nodes 1, 2, 3 (node 0 is the cell input).
_NODE_INPUTS = (1, 2, 3)
#: The four paths from the cell input (node 0) to its output (node 3), as genome positions of their edges.
_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
_CONVS = (_OP_INDEX["nor_conv_1x1"], _OP_INDEX["nor_conv_3x3"])


@SPACES.register()
class NB201Space(DescribedSpace, DrawableSpace):
    """NAS-Bench-201: one cell of four nodes, an operation on each of its six edges.

    Genome: six integers in ``0..4``, one per edge in NAS-Bench-201 string order
    (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), values indexing :data:`OPERATIONS`.
    Each edge, an (input, operation) pair like one branch of an NSGANetV1 node,
    is a unit; the cell is the one block. (Whole nodes as units were tried:
    swapping a node exchanges up to half of the genome, which made crossover too
    disruptive on NAS-Bench-201.)
    Canonical string: NAS-Bench-201's, e.g.
    ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.
    """

    name = "nb201"
    proxy_knobs = ("channels", "cells_per_stage")
    proxy_defaults = (8, 1)
    option_bounds: ClassVar[dict[str, Bound]] = {"channels": CHANNELS, "cells_per_stage": LAYERS}

    def __init__(self) -> None:
        self.encoding = Encoding(
            lower=np.zeros(6, dtype=np.int64),
            upper=np.full(6, len(OPERATIONS) - 1, dtype=np.int64),
            units=tuple((edge,) for edge in range(6)),
        )

    def smallest(self) -> np.ndarray:
        return np.zeros(6, dtype=np.int64)

    def largest(self) -> np.ndarray:
        return np.full(6, _OP_INDEX["nor_conv_3x3"], dtype=np.int64)

    def edges(self, genome: np.ndarray) -> list[list[str]]:
        """Operation names per node, each list indexed by source node."""
        genome = self.check(genome)
        out, pos = [], 0
        for n_in in _NODE_INPUTS:
            out.append([OPERATIONS[v] for v in genome[pos:pos + n_in]])
            pos += n_in
        return out

    def to_string(self, genome: np.ndarray) -> str:
        nodes = ["|" + "|".join(f"{op}~{src}" for src, op in enumerate(node)) + "|"
                 for node in self.edges(genome)]
        return "+".join(nodes)

    def from_string(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"nb201 architecture must be a string, got {type(text).__name__}")
        nodes = text.strip().split("+")
        if len(nodes) != len(_NODE_INPUTS):
            raise InvalidArchitecture(
                f"nb201 architecture {text!r} must have 3 nodes separated by '+', found {len(nodes)}")
        genome: list[int] = []
        for node_id, (node, n_in) in enumerate(zip(nodes, _NODE_INPUTS), start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise InvalidArchitecture(f"nb201 node {node_id} {node!r} must be enclosed in '|'")
            edges = node[1:-1].split("|")
            if len(edges) != n_in:
                raise InvalidArchitecture(
                    f"nb201 node {node_id} {node!r} must have {n_in} edge(s), found {len(edges)}")
            for source, edge in enumerate(edges):
                op, sep, index = edge.partition("~")
                if not sep or op not in _OP_INDEX:
                    raise InvalidArchitecture(
                        f"nb201 edge {edge!r} of node {node_id}: unknown operation "
                        f"(expected one of {', '.join(OPERATIONS)} followed by '~input')")
                if index != str(source):
                    raise InvalidArchitecture(
                        f"nb201 edge {edge!r} of node {node_id}: input index must be {source}")
                genome.append(_OP_INDEX[op])
        return np.asarray(genome, dtype=np.int64)

    def draw(self, genome: np.ndarray, path: str | Path) -> None:
        """Draw the cell: four nodes, an operation box on each of the six edges (``none`` edges dashed)."""
        from nsganet.spaces.drawing import draw_nb201

        draw_nb201(self.edges(genome), path, title=f"nb201 cell: {self.to_string(genome)}")

    def analytic_costs(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32,
                       in_channels: int = 3, channels: int = 16, cells_per_stage: int = 5,
                       **options: Any) -> dict[str, float]:
        """Closed-form MACs and parameters of :meth:`build`'s network (see nn/nb201.py).

        Only convolutions and the classifier count as MACs; parameters include
        batch-norm scales and shifts. Edge operations other than the two
        convolutions cost nothing, so a cell's cost is the sum over its edges.
        """
        if options:
            raise TypeError(f"nb201 build got unknown options: {', '.join(options)}")
        ops = self.check(genome)
        n_1x1 = int(np.sum(ops == _OP_INDEX["nor_conv_1x1"]))
        n_3x3 = int(np.sum(ops == _OP_INDEX["nor_conv_3x3"]))
        c, size = channels, input_size
        macs = in_channels * c * 9 * size * size  # stem
        params = in_channels * c * 9 + 2 * c
        for stage in range(3):
            if stage > 0:  # residual reduction: 3x3 stride-2 conv, 3x3 conv, 1x1 shortcut after 2x2 pooling
                conv_size, pool_size = (size + 1) // 2, size // 2
                macs += (9 * c * 2 * c + 9 * 4 * c * c) * conv_size ** 2 + c * 2 * c * pool_size ** 2
                params += 9 * c * 2 * c + 9 * 4 * c * c + c * 2 * c + 2 * (2 * c) * 2
                c, size = 2 * c, conv_size
            macs += cells_per_stage * (n_1x1 + 9 * n_3x3) * c * c * size * size
            params += cells_per_stage * (n_1x1 * (c * c + 2 * c) + n_3x3 * (9 * c * c + 2 * c))
        macs += c * num_classes  # head: BN, pooling, linear
        params += 2 * c + c * num_classes + num_classes
        return {"flops": macs / 1e6, "params": params / 1e6}

    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32,
              in_channels: int = 3, channels: int = 16, cells_per_stage: int = 5,
              **options: Any) -> Any:
        """The NAS-Bench-201 network; ``input_size`` only needs to be divisible by 4."""
        if options:
            raise TypeError(f"nb201 build got unknown options: {', '.join(options)}")
        from nsganet.nn.nb201 import NB201Network

        return NB201Network(self.edges(genome), num_classes=num_classes, in_channels=in_channels,
                            channels=channels, cells_per_stage=cells_per_stage)

    def descriptors(self, genomes: np.ndarray) -> np.ndarray:
        """What each cell computes, from its live paths (input-to-output paths without a ``none`` edge).

        Columns, each scaled to [0, 1]: the number of live paths; how many
        edges on live paths hold each operation other than ``none``; the most
        convolutions, and the most 3x3 convolutions, along one live path;
        whether the output is connected at all; and per path its number of
        convolutions (a dead path below every live one).
        """
        genomes = np.asarray(genomes, dtype=np.int64).reshape(-1, 6)
        paths = [genomes[:, list(path)] for path in _PATHS]
        live = np.stack([np.all(p != _OP_INDEX["none"], axis=1) for p in paths], axis=1)  # (n, 4)
        on_live = np.zeros(genomes.shape, dtype=bool)
        for k, path in enumerate(_PATHS):
            on_live[:, list(path)] |= live[:, [k]]
        convs = np.stack([np.isin(p, _CONVS).sum(axis=1) for p in paths], axis=1)
        convs3 = np.stack([(p == _OP_INDEX["nor_conv_3x3"]).sum(axis=1) for p in paths], axis=1)
        lengths = np.array([len(path) for path in _PATHS])
        columns = [live.sum(axis=1) / len(_PATHS)]
        columns += [((genomes == op) & on_live).sum(axis=1) / 6 for op in range(1, len(OPERATIONS))]
        columns += [np.where(live, convs, 0).max(axis=1) / 3, np.where(live, convs3, 0).max(axis=1) / 3,
                    live.any(axis=1).astype(float)]
        columns += list((np.where(live, convs, -1) + 1).T / (lengths[:, None] + 1))
        return np.stack(columns, axis=1).astype(float)

    def operations(self, genome: np.ndarray) -> list[str]:
        """The operation on each of the six edges (``none`` included), from :data:`OPERATIONS`."""
        return [op for node in self.edges(genome) for op in node]

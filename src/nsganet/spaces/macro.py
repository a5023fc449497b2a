"""The NSGA-Net macro search space: Genetic CNN phases plus a residual bit per phase."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nsganet.errors import InvalidArchitecture
from nsganet.spaces.base import SPACES, DrawableSpace, Encoding
from nsganet.utils.checks import CHANNELS, Bound


@SPACES.register()
class MacroSpace(DrawableSpace):
    """NSGA-Net's macro space (Lu et al., GECCO 2019), Genetic CNN's encoding (Xie & Yuille, 2017).

    The network has ``phases`` phases (3 in NSGA-Net); each phase is a DAG of
    ``nodes`` convolution nodes (6 in NSGA-Net, so 5 + 4 + 3 + 2 + 1 = 15
    connection bits) plus one residual ("skip") bit: 16 bits per phase, 48 in
    all, 2^48 genomes. See :class:`nsganet.nn.macro.Phase` for the wiring.

    Genome, per phase: the input bits of node 2 (one bit: from node 1), of
    node 3 (two bits: from nodes 1, 2), ..., of node K (K - 1 bits), then the
    skip bit; bits are 0..1. This is NSGA-Net's bit-string order. Units: one
    per node 2..K holding its input bits, then one holding the skip bit; blocks:
    one per phase, its units in that order (so the Bayesian network learns
    each phase's nodes chronologically and crossover can swap whole phases).

    Canonical string: phases separated by ``' | '``; within a phase, each
    node's input bits as a group, groups and the final skip bit separated by
    ``'-'``. NSGA-Net's published macro architecture reads::

        1-00-010-0111-10011-0 | 0-00-010-0101-11111-0 | 0-01-101-1011-10011-0
    """

    name = "macro"
    proxy_knobs = ("channels", None)
    proxy_defaults = (16, None)
    option_bounds: ClassVar[dict[str, Bound]] = {"channels": CHANNELS, "dropout": Bound(0, high=1)}

    def __init__(self, phases: int = 3, nodes: int = 6) -> None:
        if phases < 1 or nodes < 2:
            raise ValueError(f"macro space needs at least 1 phase and 2 nodes, got {phases} and {nodes}")
        self.phases = phases
        self.nodes = nodes
        self.bits_per_phase = nodes * (nodes - 1) // 2 + 1
        units: list[tuple[int, ...]] = []
        for p in range(phases):
            start = p * self.bits_per_phase
            for j in range(2, nodes + 1):  # node j reads nodes 1..j-1
                first = start + (j - 2) * (j - 1) // 2
                units.append(tuple(range(first, first + j - 1)))
            units.append((start + self.bits_per_phase - 1,))
        per_phase = nodes  # nodes - 1 node units and the skip unit
        n_var = phases * self.bits_per_phase
        self.encoding = Encoding(
            lower=np.zeros(n_var, dtype=np.int64),
            upper=np.ones(n_var, dtype=np.int64),
            units=tuple(units),
            blocks=tuple(tuple(range(p * per_phase, (p + 1) * per_phase)) for p in range(phases)),
        )

    # -- decoding --------------------------------------------------------------------------
    def decode(self, genome: np.ndarray) -> list[tuple[list[list[int]], bool]]:
        """Per phase, the input bits of nodes 2..K and the skip bit."""
        genome = self.check(genome)
        out = []
        for p in range(self.phases):
            bits = [int(v) for v in genome[p * self.bits_per_phase:(p + 1) * self.bits_per_phase]]
            connections = [bits[(j - 2) * (j - 1) // 2:(j - 1) * j // 2] for j in range(2, self.nodes + 1)]
            out.append((connections, bool(bits[-1])))
        return out

    def to_string(self, genome: np.ndarray) -> str:
        phases = []
        for connections, skip in self.decode(genome):
            groups = ["".join(str(bit) for bit in node) for node in connections]
            phases.append("-".join([*groups, str(int(skip))]))
        return " | ".join(phases)

    def from_string(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"macro architecture must be a string, got {type(text).__name__}")
        phases = [phase.strip() for phase in text.split("|")]
        if len(phases) != self.phases:
            raise InvalidArchitecture(f"macro architecture {text!r} must have {self.phases} phase(s) "
                                      f"separated by '|', found {len(phases)}")
        genome: list[int] = []
        for p, phase in enumerate(phases, start=1):
            groups = phase.split("-")
            if len(groups) != self.nodes:
                raise InvalidArchitecture(
                    f"macro phase {p} {phase!r} must have {self.nodes} groups separated by '-' (the input bits "
                    f"of nodes 2..{self.nodes}, then the skip bit), found {len(groups)}")
            for g, group in enumerate(groups):
                expected = g + 1 if g < self.nodes - 1 else 1
                what = f"node {g + 2}" if g < self.nodes - 1 else "the skip bit"
                if not group or set(group) - {"0", "1"}:
                    raise InvalidArchitecture(f"macro phase {p}, {what}: {group!r} must consist of 0s and 1s")
                if len(group) != expected:
                    raise InvalidArchitecture(
                        f"macro phase {p}, {what}: {group!r} must have {expected} bit(s), found {len(group)}")
                genome += [int(bit) for bit in group]
        return np.asarray(genome, dtype=np.int64)

    def draw(self, genome: np.ndarray, path: str | Path) -> None:
        """Draw each phase: its convolution nodes, their connections, the residual when its bit is set."""
        from nsganet.spaces.drawing import draw_macro

        text = self.to_string(genome)
        draw_macro(self.decode(genome), text.split(" | "), path,
                   title=f"macro: {text} - phases in sequence, 2x2 max pooling between them, width doubling per "
                         "phase; a node sums its inputs")

    # -- network ---------------------------------------------------------------------------
    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
              channels: int | Sequence[int] = 32, dropout: float = 0.0, **options: Any) -> Any:
        """The macro network: ``channels`` is the first phase's width (doubled per phase) or one width per phase.

        ``input_size`` is not needed: pooling is skipped once a side is below 2, so any input size works.
        """
        if options:
            raise TypeError(f"macro build got unknown options: {', '.join(options)}")
        from nsganet.nn.macro import MacroNetwork

        decoded = self.decode(genome)
        return MacroNetwork([connections for connections, _ in decoded], [skip for _, skip in decoded],
                            num_classes=num_classes, in_channels=in_channels, channels=channels, dropout=dropout)

    # -- analysis --------------------------------------------------------------------------
    def operations(self, genome: np.ndarray) -> list[str]:
        """Per phase ``p``: ``phase<p>:conv`` for each active node, ``phase<p>:residual`` when its skip bit is set.

        A node is active when it has an edge (Genetic CNN drops isolated nodes,
        see :class:`nsganet.nn.macro.PhaseGraph`): every active node is one
        3x3 convolution of the phase.
        """
        out: list[str] = []
        for p, (connections, skip) in enumerate(self.decode(genome), start=1):
            active = set()
            for j, bits in enumerate(connections, start=2):  # node j reads node i + 1 when bits[i] is set
                for i, bit in enumerate(bits):
                    if bit:
                        active.update((i + 1, j))
            out += [f"phase{p}:conv"] * len(active)
            if skip:
                out.append(f"phase{p}:residual")
        return out

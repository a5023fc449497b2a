"""The NSGANetV1 cell search space ("micro"): a Normal and a Reduction cell of five nodes each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nsganet.errors import ConfigError, InvalidArchitecture
from nsganet.spaces.base import SPACES, DrawableSpace, Encoding
from nsganet.utils.checks import CHANNELS, LAYERS, MAX_CHANNELS, Bound

#: The twelve operations in ascending order of complexity (mirrors nsganet.nn.micro_ops.OPERATIONS,
#: kept here so that decoding genomes never imports torch).
OPERATIONS = ("identity", "max_pool_3x3", "avg_pool_3x3", "squeeze_excitation", "lbc_3x3", "lbc_5x5",
              "dil_conv_3x3", "dil_conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7")
_OP_INDEX = {name: i for i, name in enumerate(OPERATIONS)}
NODES = 5
#: The stems a micro network may start with (mirrors nsganet.nn.micro.STEMS, torch-free here).
STEMS = ("cifar", "imagenet")
BLOCKS = ("normal", "reduce")
_BRANCH = re.compile(r"^([a-z0-9_]+)\((h-2|h-1|n\d+)\)$")


def input_name(index: int) -> str:
    """Chronological input index -> name: 0 = h-2, 1 = h-1, 2 + k = node k."""
    return "h-2" if index == 0 else "h-1" if index == 1 else f"n{index - 2}"


def _input_index(name: str) -> int:
    return 0 if name == "h-2" else 1 if name == "h-1" else 2 + int(name[1:])


@SPACES.register()
class MicroSpace(DrawableSpace):
    """NSGANetV1's cell space (Sec. III-A): 40 integers, 10^33 architectures.

    Genome: Normal cell then Reduction cell; per cell five nodes; per node
    ``(input_a, op_a, input_b, op_b)``. Node ``k`` may read h(i-2) (0), h(i-1)
    (1) or an earlier node ``j < k`` (2 + j), so inputs are ordered
    chronologically; operations index :data:`OPERATIONS` (ordered by
    complexity). Units are nodes, blocks are the two cells. Canonical string::

        normal: sep_conv_3x3(h-1) + identity(h-2) | max_pool_3x3(n0) + dil_conv_5x5(h-1) | ...; reduce: ...
    """

    name = "micro"
    proxy_knobs = ("channels", "layers")
    proxy_defaults = (8, 1)
    option_bounds: ClassVar[dict[str, Bound]] = {
        "channels": CHANNELS, "layers": LAYERS, "channel_increment": Bound(0, high=MAX_CHANNELS, integer=True),
        "stem_multiplier": Bound(1, high=16, integer=True)}

    def __init__(self) -> None:
        upper = []
        for _ in BLOCKS:
            for k in range(NODES):
                upper += [k + 1, len(OPERATIONS) - 1, k + 1, len(OPERATIONS) - 1]
        self.encoding = Encoding(
            lower=np.zeros(len(upper), dtype=np.int64),
            upper=np.asarray(upper, dtype=np.int64),
            units=tuple(tuple(range(4 * u, 4 * u + 4)) for u in range(len(BLOCKS) * NODES)),
            blocks=tuple(tuple(range(b * NODES, (b + 1) * NODES)) for b in range(len(BLOCKS))),
        )

    # -- decoding --------------------------------------------------------------------------
    def cells(self, genome: np.ndarray) -> dict[str, list[tuple[int, str, int, str]]]:
        """Per cell, the nodes as (input_a, op_a, input_b, op_b)."""
        genome = self.check(genome)
        out: dict[str, list[tuple[int, str, int, str]]] = {}
        for b, block in enumerate(BLOCKS):
            nodes = []
            for k in range(NODES):
                ia, oa, ib, ob = (int(v) for v in genome[4 * (b * NODES + k): 4 * (b * NODES + k) + 4])
                nodes.append((ia, OPERATIONS[oa], ib, OPERATIONS[ob]))
            out[block] = nodes
        return out

    def to_string(self, genome: np.ndarray) -> str:
        parts = []
        for block, nodes in self.cells(genome).items():
            text = " | ".join(f"{oa}({input_name(ia)}) + {ob}({input_name(ib)})" for ia, oa, ib, ob in nodes)
            parts.append(f"{block}: {text}")
        return "; ".join(parts)

    def from_string(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"micro architecture must be a string, got {type(text).__name__}")
        cells = [c.strip() for c in text.split(";")]
        if len(cells) != len(BLOCKS):
            raise InvalidArchitecture(f"micro architecture needs '{BLOCKS[0]}: ...; {BLOCKS[1]}: ...', "
                                      f"found {len(cells)} part(s)")
        genome: list[int] = []
        for block, cell in zip(BLOCKS, cells):
            label, sep, body = cell.partition(":")
            if not sep or label.strip() != block:
                raise InvalidArchitecture(f"micro cell {cell[:40]!r} must start with '{block}:'")
            nodes = [n.strip() for n in body.split("|")]
            if len(nodes) != NODES:
                raise InvalidArchitecture(f"micro {block} cell must have {NODES} nodes separated by '|', "
                                          f"found {len(nodes)}")
            for k, node in enumerate(nodes):
                branches = [b.replace(" ", "") for b in node.split("+")]
                if len(branches) != 2:
                    raise InvalidArchitecture(f"micro {block} node {k} {node!r} must be 'op(input) + op(input)'")
                for branch in branches:
                    match = _BRANCH.match(branch)
                    if match is None:
                        raise InvalidArchitecture(
                            f"micro {block} node {k}: {branch!r} is not 'operation(input)' with input h-2, h-1 "
                            f"or an earlier node n0, n1, ...")
                    if match.group(1) not in _OP_INDEX:
                        raise InvalidArchitecture(
                            f"micro {block} node {k}: unknown operation {match.group(1)!r}; operations: "
                            f"{', '.join(OPERATIONS)}")
                    index = _input_index(match.group(2))
                    if index > k + 1:
                        raise InvalidArchitecture(
                            f"micro {block} node {k} cannot read {match.group(2)}: only h-2, h-1 and earlier nodes")
                    genome += [index, _OP_INDEX[match.group(1)]]
        return np.asarray(genome, dtype=np.int64)

    def draw(self, genome: np.ndarray, path: str | Path) -> None:
        """Draw the Normal and Reduction cells one below the other, each under its part of the string."""
        from nsganet.spaces.drawing import draw_micro

        parts = [p.strip() for p in self.to_string(genome).split(";")]
        titles = {b: f"{b} cell - {p.partition(':')[2].strip()}" for b in BLOCKS for p in parts
                  if p.startswith(f"{b}:")}
        rest = [p for p in parts if p.partition(":")[0] not in BLOCKS]  # e.g. micro-inc's "increment: 6"
        draw_micro(self.cells(genome), titles, path, title=f"{self.name}: {'; '.join(rest)}" if rest else "")

    # -- extremes --------------------------------------------------------------------------
    def smallest(self) -> np.ndarray:
        """Identity/pooling chains: one node output concatenated, no learned operation."""
        genome = []
        for block in BLOCKS:
            first = _OP_INDEX["max_pool_3x3" if block == "reduce" else "identity"]
            genome += [1, first, 1, first]
            for k in range(1, NODES):
                genome += [k + 1, 0, k + 1, 0]
        return np.asarray(genome, dtype=np.int64)

    def largest(self) -> np.ndarray:
        """Every node reads the cell inputs with the costliest operation: five outputs concatenated."""
        return np.asarray([1, len(OPERATIONS) - 1, 0, len(OPERATIONS) - 1] * (len(BLOCKS) * NODES), dtype=np.int64)

    # -- network ---------------------------------------------------------------------------
    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
              channels: int = 16, channel_increment: int = 4, layers: int = 2, auxiliary: bool = False,
              stem_multiplier: int = 3, stem: str = "cifar", **options: Any) -> Any:
        """The NSGANetV1 network: ``layers`` Normal cells per stage, ``channels`` growing by ``channel_increment``.

        ``stem`` is ``cifar`` (full resolution) or ``imagenet`` (V1's ImageNet
        mobile setting: two stride-2 stems; see :class:`nsganet.nn.micro.MicroNetwork`).
        """
        if options:
            raise TypeError(f"micro build got unknown options: {', '.join(options)}")
        if stem not in STEMS:
            raise ConfigError(f"micro stem must be one of {', '.join(STEMS)}, got {stem!r}")
        from nsganet.nn.micro import MicroNetwork, NodeSpec

        cells = {block: [NodeSpec(*node) for node in nodes] for block, nodes in self.cells(genome).items()}
        return MicroNetwork(cells["normal"], cells["reduce"], num_classes=num_classes, in_channels=in_channels,
                            channels=channels, channel_increment=channel_increment, layers=layers,
                            auxiliary=auxiliary, stem_multiplier=stem_multiplier, stem=stem)

    # -- analysis --------------------------------------------------------------------------
    def operations(self, genome: np.ndarray) -> list[str]:
        """The operation of every branch of both cells: 20 names, from :data:`OPERATIONS`."""
        return [op for nodes in self.cells(genome).values() for _, op_a, _, op_b in nodes for op in (op_a, op_b)]

"""The NSGANetV1 cell space with the channel increment searched too ("micro-inc", V1 Sec. III-A (i)).

V1 searches "a factor that gradually increments the channel size of each block
with depth" (Fig. 2b). The ``micro`` space builds every network with one
``channel_increment`` (a build option); this space adds it to the genome as a
41st variable, its own unit and block, so the search picks it per architecture
and the Bayesian network models it apart from the cells. Strings append it::

    normal: ...; reduce: ...; increment: 6
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nsganet.errors import InvalidArchitecture
from nsganet.spaces.base import SPACES, Encoding
from nsganet.spaces.micro import MicroSpace

#: The channel increments per cell the search chooses from, in ascending order (0: constant width per stage).
INCREMENTS = (0, 2, 4, 6, 8)
_LABEL = "increment"


@SPACES.register()
class MicroIncrementSpace(MicroSpace):
    """:class:`MicroSpace` plus the channel increment per cell, chosen from :data:`INCREMENTS`."""

    name = "micro-inc"

    def __init__(self) -> None:
        super().__init__()
        cells = self.encoding
        n = cells.n_var
        self.encoding = Encoding(lower=np.append(cells.lower, 0), upper=np.append(cells.upper, len(INCREMENTS) - 1),
                                 units=(*cells.units, (n,)), blocks=(*cells.blocks, (len(cells.units),)))

    def increment(self, genome: np.ndarray) -> int:
        """The channel increment per cell of ``genome``."""
        return INCREMENTS[int(self.check(genome)[-1])]

    def to_string(self, genome: np.ndarray) -> str:
        return f"{super().to_string(genome)}; {_LABEL}: {self.increment(genome)}"

    def from_string(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise InvalidArchitecture(f"{self.name} architecture must be a string, got {type(text).__name__}")
        cells, sep, last = text.rpartition(";")
        label, colon, value = last.partition(":")
        if not sep or not colon or label.strip() != _LABEL:
            raise InvalidArchitecture(f"{self.name} architecture must end with '; {_LABEL}: N', N one of "
                                      f"{', '.join(map(str, INCREMENTS))}")
        value = value.strip()
        if not value.isdigit() or int(value) not in INCREMENTS:
            raise InvalidArchitecture(f"{self.name} {_LABEL} must be one of {', '.join(map(str, INCREMENTS))}, "
                                      f"got {value[:20]!r}")
        return np.append(super().from_string(cells), INCREMENTS.index(int(value)))

    def smallest(self) -> np.ndarray:
        return np.append(super().smallest(), 0)

    def largest(self) -> np.ndarray:
        return np.append(super().largest(), len(INCREMENTS) - 1)

    def build(self, genome: np.ndarray, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
              channels: int = 16, layers: int = 2, auxiliary: bool = False, stem_multiplier: int = 3,
              stem: str = "cifar", **options: Any) -> Any:
        """The NSGANetV1 network with the genome's channel increment (not a build option here: it is searched)."""
        genome = self.check(genome)
        return super().build(genome, num_classes=num_classes, input_size=input_size, in_channels=in_channels,
                             channels=channels, channel_increment=self.increment(genome), layers=layers,
                             auxiliary=auxiliary, stem_multiplier=stem_multiplier, stem=stem, **options)

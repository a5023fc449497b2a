"""Random search: batches of distinct, never-evaluated architectures drawn uniformly."""

from __future__ import annotations

import dataclasses

import numpy as np

from nsganet.strategies.archive import Archive
from nsganet.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register()
@dataclasses.dataclass
class RandomSearch(Strategy):
    """Uniform sampling without repetition; ``pop_size`` is the batch size."""

    name = "random"

    def ask(self, archive: Archive) -> np.ndarray:
        return self.sample_new(self.pop_size, archive, set())

    def tell(self, X: np.ndarray, F: np.ndarray) -> None:
        self.generation += 1

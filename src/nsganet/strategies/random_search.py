"""Random search: distinct, never-evaluated architectures drawn uniformly; constraints only filter the front."""

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
        if self.generation == 0:  # a warm start's architectures first
            return self.seeded(self.pop_size, archive, lambda n, taken: self.sample_new(n, archive, taken))
        return self.sample_new(self.pop_size, archive, set())

    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        self.generation += 1

"""Random search: distinct, never-evaluated architectures drawn uniformly; constraints only filter the front."""

from __future__ import annotations

import dataclasses

import numpy as np

from nsganet.strategies.archive import Archive, genome_key
from nsganet.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register()
@dataclasses.dataclass
class RandomSearch(Strategy):
    """Uniform sampling without repetition; ``pop_size`` is the batch size."""

    name = "random"
    supports_async = True

    def ask(self, archive: Archive) -> np.ndarray:
        if self.generation == 0:  # a warm start's architectures first
            return self.seeded(self.pop_size, archive, lambda n, taken: self.sample_new(n, archive, taken))
        return self.sample_new(self.pop_size, archive, set())

    def tell(self, X: np.ndarray, F: np.ndarray, V: np.ndarray | None = None) -> None:
        self.generation += 1

    def ask_async(self, archive: Archive, n: int, pending: np.ndarray) -> np.ndarray:
        """A warm start's architectures not yet proposed first, then uniform samples."""
        taken = self.pending_keys(pending)
        first = []
        initial = self.context.initial
        if initial is not None and len(initial):
            for genome in self.encoding.canonical(np.asarray(initial, dtype=np.int64).reshape(-1, self.encoding.n_var)):
                key = genome_key(genome)
                if len(first) < n and key not in taken and key not in archive:
                    taken.add(key)
                    first.append(genome)
        rest = self.sample_new(n - len(first), archive, taken)
        return np.vstack([np.asarray(first, dtype=np.int64).reshape(len(first), self.encoding.n_var), rest])

    def tell_async(self, x: np.ndarray, f: np.ndarray, v: float | None = None) -> None:
        self.count_completion()

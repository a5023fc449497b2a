"""The archive of evaluated architectures that strategies read."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def genome_key(genome: np.ndarray | Iterable[int]) -> tuple[int, ...]:
    """Hashable identity of a genome."""
    return tuple(int(v) for v in genome)


class Archive:
    """Every evaluated genome with its objective values, in evaluation order.

    Failed evaluations are kept (so they are never proposed again) with NaN
    objective values.
    """

    def __init__(self, n_var: int, n_obj: int) -> None:
        self.n_var, self.n_obj = n_var, n_obj
        self._X: list[tuple[int, ...]] = []
        self._F: list[np.ndarray] = []
        self._keys: set[tuple[int, ...]] = set()

    def add(self, genome: np.ndarray, objectives: np.ndarray | None) -> None:
        key = genome_key(genome)
        if key in self._keys:
            raise ValueError(f"genome {key} is already in the archive")
        f = np.full(self.n_obj, np.nan) if objectives is None else np.asarray(objectives, dtype=float)
        self._keys.add(key)
        self._X.append(key)
        self._F.append(f)

    def __contains__(self, genome: object) -> bool:
        return genome_key(genome) in self._keys  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._X)

    @property
    def keys(self) -> frozenset[tuple[int, ...]]:
        return frozenset(self._keys)

    @property
    def X(self) -> np.ndarray:
        return np.asarray(self._X, dtype=np.int64).reshape(len(self._X), self.n_var)

    @property
    def F(self) -> np.ndarray:
        return np.asarray(self._F, dtype=float).reshape(len(self._F), self.n_obj)

    def successful(self) -> tuple[np.ndarray, np.ndarray]:
        """Genomes and objectives of the evaluations that succeeded."""
        X, F = self.X, self.F
        ok = ~np.isnan(F).any(axis=1)
        return X[ok], F[ok]

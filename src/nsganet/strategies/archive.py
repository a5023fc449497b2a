"""The archive of evaluated architectures that strategies read."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def genome_key(genome: np.ndarray | Iterable[int]) -> tuple[int, ...]:
    """Hashable identity of a genome."""
    return tuple(int(v) for v in genome)


class Archive:
    """Every evaluated genome with its objective values and constraint violation, in evaluation order.

    Failed evaluations are kept (so they are never proposed again) with NaN
    objective values and violation. The violation is 0 for a feasible genome
    (and for every genome of an unconstrained run), else its total violation.
    """

    def __init__(self, n_var: int, n_obj: int) -> None:
        self.n_var, self.n_obj = n_var, n_obj
        self._X: list[tuple[int, ...]] = []
        self._F: list[np.ndarray] = []
        self._V: list[float] = []
        self._keys: set[tuple[int, ...]] = set()

    def add(self, genome: np.ndarray, objectives: np.ndarray | None, violation: float = 0.0) -> None:
        key = genome_key(genome)
        if key in self._keys:
            raise ValueError(f"genome {key} is already in the archive")
        f = np.full(self.n_obj, np.nan) if objectives is None else np.asarray(objectives, dtype=float)
        self._keys.add(key)
        self._X.append(key)
        self._F.append(f)
        self._V.append(np.nan if objectives is None else float(violation))

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

    @property
    def V(self) -> np.ndarray:
        """Constraint violation of each genome (0: feasible; NaN: failed)."""
        return np.asarray(self._V, dtype=float)

    def scored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Genomes, objectives and constraint violations of the evaluations that succeeded."""
        X, F, V = self.X, self.F, self.V
        ok = ~np.isnan(F).any(axis=1)
        return X[ok], F[ok], V[ok]

    def successful(self) -> tuple[np.ndarray, np.ndarray]:
        """Genomes and objectives of the evaluations that succeeded."""
        X, F = self.X, self.F
        ok = ~np.isnan(F).any(axis=1)
        return X[ok], F[ok]

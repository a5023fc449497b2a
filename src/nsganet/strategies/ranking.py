"""Non-dominated ranking, crowding distance, NSGA-II survival and tournament selection.

Ranking is delegated to moocore's non-dominated sorting; rows containing NaN
(failed evaluations) rank after every valid row.
"""

from __future__ import annotations

import moocore
import numpy as np


def nondominated_rank(F: np.ndarray) -> np.ndarray:
    """Pareto rank of each row (0 = non-dominated); rows with NaN get the worst rank."""
    F = np.asarray(F, dtype=float)
    rank = np.empty(len(F), dtype=np.int64)
    valid = ~np.isnan(F).any(axis=1)
    if valid.any():
        rank[valid] = moocore.pareto_rank(F[valid])
    rank[~valid] = (rank[valid].max() + 1) if valid.any() else 0
    return rank


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of the rows of one front (extremes get infinity)."""
    F = np.asarray(F, dtype=float)
    n, m = F.shape
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for j in range(m):
        order = np.argsort(F[:, j], kind="stable")
        values = F[order, j]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def rank_and_crowding(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank and within-front crowding distance of every row; invalid rows get distance -inf."""
    rank = nondominated_rank(F)
    crowding = np.full(len(F), -np.inf)
    valid = ~np.isnan(np.asarray(F, dtype=float)).any(axis=1)
    for r in np.unique(rank[valid]):
        members = np.flatnonzero((rank == r) & valid)
        crowding[members] = crowding_distance(F[members])
    return rank, crowding


def survival_order(F: np.ndarray) -> np.ndarray:
    """Indices of all rows, best first: by rank, then by decreasing crowding distance."""
    rank, crowding = rank_and_crowding(F)
    return np.lexsort((-crowding, rank))


def survive(F: np.ndarray, n: int) -> np.ndarray:
    """NSGA-II environmental selection: indices of the ``n`` rows that survive."""
    return survival_order(F)[:n]


def binary_tournament(rank: np.ndarray, crowding: np.ndarray, n: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``n`` winners of binary tournaments: lower rank wins, then larger crowding, then chance."""
    size = len(rank)
    a = rng.integers(0, size, n)
    b = (a + rng.integers(1, size, n)) % size if size > 1 else a
    coin = rng.random(n) < 0.5
    a_better = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowding[a] > crowding[b]))
    b_better = (rank[b] < rank[a]) | ((rank[a] == rank[b]) & (crowding[b] > crowding[a]))
    return np.where(a_better, a, np.where(b_better, b, np.where(coin, a, b)))

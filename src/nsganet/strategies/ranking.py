"""Non-dominated ranking, crowding distance, NSGA-II survival and tournament selection.

Ranking is delegated to moocore's non-dominated sorting; rows containing NaN
(failed evaluations) rank after every valid row. With a violation array
(a constrained run: 0 feasible, > 0 the total constraint violation) ranking is
Deb's constrained domination: feasible rows are ranked by Pareto dominance,
then infeasible rows follow, one rank per level of violation (smaller first).
Without violation, or with none positive, the ranking is the unconstrained one.
"""

from __future__ import annotations

import moocore
import numpy as np


def _violated(V: np.ndarray | None, n: int) -> np.ndarray | None:
    """Which rows violate a constraint, or None when none does (the unconstrained ranking applies)."""
    if V is None:
        return None
    violated = np.asarray(V, dtype=float).reshape(n) > 0  # NaN (a failed row): not violated, ranked as failed
    return violated if violated.any() else None


def nondominated_rank(F: np.ndarray, V: np.ndarray | None = None) -> np.ndarray:
    """Pareto rank of each row (0 = non-dominated); rows with NaN get the worst rank.

    With ``V`` (each row's constraint violation) infeasible rows rank after
    the feasible ones, by increasing violation (equal violations share a rank).
    """
    F = np.asarray(F, dtype=float)
    rank = np.empty(len(F), dtype=np.int64)
    valid = ~np.isnan(F).any(axis=1)
    violated = _violated(V, len(F))
    if violated is None:
        if valid.any():
            rank[valid] = moocore.pareto_rank(F[valid])
        rank[~valid] = (rank[valid].max() + 1) if valid.any() else 0
        return rank
    feasible, infeasible = valid & ~violated, valid & violated
    top = 0
    if feasible.any():
        rank[feasible] = moocore.pareto_rank(F[feasible])
        top = int(rank[feasible].max()) + 1
    if infeasible.any():
        levels = np.unique(np.asarray(V, dtype=float)[infeasible], return_inverse=True)[1]
        rank[infeasible] = top + levels.ravel()
        top = int(rank[infeasible].max()) + 1
    rank[~valid] = top
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


def rank_and_crowding(F: np.ndarray, V: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank (constrained by ``V``, see :func:`nondominated_rank`) and within-front crowding distance of every
    row; invalid rows get distance -inf."""
    rank = nondominated_rank(F, V)
    crowding = np.full(len(F), -np.inf)
    valid = ~np.isnan(np.asarray(F, dtype=float)).any(axis=1)
    for r in np.unique(rank[valid]):
        members = np.flatnonzero((rank == r) & valid)
        crowding[members] = crowding_distance(F[members])
    return rank, crowding


def survival_order(F: np.ndarray, V: np.ndarray | None = None) -> np.ndarray:
    """Indices of all rows, best first: by (constrained) rank, then by decreasing crowding distance."""
    rank, crowding = rank_and_crowding(F, V)
    return np.lexsort((-crowding, rank))


def survive(F: np.ndarray, n: int, V: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II environmental selection (constrained by ``V``): indices of the ``n`` rows that survive."""
    return survival_order(F, V)[:n]


def feasible_front(F: np.ndarray, V: np.ndarray | None = None) -> np.ndarray:
    """The rows of ``F`` that succeeded, are feasible (``V`` not positive) and are non-dominated among those."""
    F = np.asarray(F, dtype=float)
    violated = _violated(V, len(F))
    keep = ~np.isnan(F).any(axis=1) & (True if violated is None else ~violated)
    F = F[keep]
    return F[nondominated_rank(F) == 0]


def binary_tournament(rank: np.ndarray, crowding: np.ndarray, n: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``n`` winners of binary tournaments: lower rank wins, then larger crowding, then chance.

    With a constrained rank (:func:`nondominated_rank` with violation) this is
    Deb's tournament: feasible beats infeasible, the smaller violation beats the larger.
    """
    size = len(rank)
    a = rng.integers(0, size, n)
    b = (a + rng.integers(1, size, n)) % size if size > 1 else a
    coin = rng.random(n) < 0.5
    a_better = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowding[a] > crowding[b]))
    b_better = (rank[b] < rank[a]) | ((rank[a] == rank[b]) & (crowding[b] > crowding[a]))
    return np.where(a_better, a, np.where(b_better, b, np.where(coin, a, b)))

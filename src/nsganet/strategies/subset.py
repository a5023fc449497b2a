"""Subset selection of NSGANetV2: keep the K candidates that best fill the gaps of the front.

Candidates proposed by the surrogate search are many and often crowd one region
of the trade-off. Like MSuNAS, the K to evaluate are those whose cost values,
merged with the cost values of the archive's non-dominated set, are spread most
evenly: the standard deviation of the gaps between consecutive sorted values
is minimised. A greedy construction followed by best-improvement swaps finds
the subset (deterministically; the original ran a small genetic algorithm on
the same objective).
"""

from __future__ import annotations

import numpy as np


def spread_score(values: np.ndarray) -> float:
    """Standard deviation of the gaps between consecutive sorted values (lower: more even)."""
    values = np.sort(np.asarray(values, dtype=float))
    if len(values) < 3:
        return 0.0
    return float(np.std(np.diff(values)))


def select_spread(candidates: np.ndarray, front: np.ndarray, k: int, max_swaps: int = 100) -> np.ndarray:
    """Indices of ``k`` of ``candidates`` (1-D cost values) that spread the ``front``'s costs most evenly.

    Returns all indices when there are at most ``k`` candidates. Ties keep the
    lower index, so the result depends only on the inputs.
    """
    candidates = np.asarray(candidates, dtype=float).ravel()
    front = np.asarray(front, dtype=float).ravel()
    n = len(candidates)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)

    def score(chosen: list[int]) -> float:
        return spread_score(np.concatenate([front, candidates[chosen]]))

    chosen: list[int] = []
    for _ in range(k):  # greedy: add the candidate that keeps the gaps most even
        rest = [i for i in range(n) if i not in chosen]
        chosen.append(min(rest, key=lambda i: (score([*chosen, i]), i)))
    best = score(chosen)
    for _ in range(max_swaps):  # best-improvement swaps until none helps
        outside = [i for i in range(n) if i not in chosen]
        move = None
        for slot in range(k):
            for i in outside:
                trial = chosen.copy()
                trial[slot] = i
                value = score(trial)
                if value < best - 1e-12:
                    best, move = value, (slot, i)
        if move is None:
            break
        chosen[move[0]] = move[1]
    return np.sort(np.asarray(chosen, dtype=np.int64))


def _unit_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower corner and side lengths that map ``points`` into the unit box (a constant column keeps scale 1)."""
    low, high = points.min(axis=0), points.max(axis=0)
    return low, np.where(high > low, high - low, 1.0)


def _volume(points: np.ndarray) -> float:
    """Hypervolume of normalised points against the reference point 1.1 in every objective."""
    import moocore

    return float(moocore.hypervolume(points, ref=np.full(points.shape[1], 1.1))) if len(points) else 0.0


def _greedy_gain(gain_rows: np.ndarray, added_rows: np.ndarray, base: np.ndarray, pool: list[int],
                 k: int) -> list[int]:
    """Up to ``k`` of ``pool``, each the one whose ``gain_rows`` point adds most hypervolume to ``base`` and
    the picks so far (each pick joining at its ``added_rows`` point); stops when no point adds anything."""
    chosen: list[int] = []
    current = _volume(base)
    while len(chosen) < k:
        rest = [i for i in pool if i not in chosen]
        if not rest:
            break
        gains = [_volume(np.vstack([base, gain_rows[i]])) - current for i in rest]
        best = int(np.argmax(gains))
        if gains[best] <= 1e-12:
            break
        chosen.append(int(rest[best]))
        base = np.vstack([base, added_rows[rest[best]]])
        current = _volume(base)
    return chosen


def select_hypervolume(candidates: np.ndarray, front: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` candidates (rows of objective values) chosen greedily by hypervolume gain.

    Each pick adds the candidate whose predicted objectives enlarge the
    hypervolume of the front plus the picks so far the most (objectives
    normalised by the front and candidates together, reference point 1.1).
    Once no candidate adds anything, the rest are filled by spreading along
    the last column (:func:`select_spread`).
    """
    candidates, front = np.atleast_2d(np.asarray(candidates, dtype=float)), np.asarray(front, dtype=float)
    n = len(candidates)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    front = front.reshape(-1, candidates.shape[1])
    low, scale = _unit_box(np.vstack([front, candidates]))
    Z, base = (candidates - low) / scale, (front - low) / scale
    chosen = _greedy_gain(Z, Z, base, list(range(n)), k)
    if len(chosen) < k:
        rest = np.array([i for i in range(n) if i not in chosen])
        spread_front = np.concatenate([base[:, -1], Z[chosen, -1]])
        chosen += rest[select_spread(Z[rest, -1], spread_front, k - len(chosen))].tolist()
    return np.sort(np.asarray(chosen, dtype=np.int64))


def select_front_fill(optimistic: np.ndarray, expected: np.ndarray, front: np.ndarray, k: int,
                      layers: int = 3, fallback: bool = True) -> np.ndarray:
    """Indices of ``k`` candidates that fill the gaps of ``front`` most, trusting the predictor's doubt.

    ``optimistic`` and ``expected`` are the candidates' objective rows (n, m):
    predicted objectives at an optimistic bound (the prediction less some
    doubt) and as predicted, costs exact in both. Only candidates among the
    first ``layers`` non-dominated layers of the optimistic rows are
    considered: with costs on a few levels that is the few best per level.
    Each pick is the candidate whose optimistic point adds the most
    hypervolume to the front and the picks so far, the picks counted at their
    expected point, so that a second candidate of the same cost level is
    taken only where the predictor is unsure enough that it may beat the
    first. Objectives are normalised by the front's ideal and nadir points,
    reference point 1.1. When nothing adds hypervolume any more, the rest
    are (with ``fallback``) the pool's candidates by what each alone would
    add to ``front``, then by optimistic layer and first objective; without
    it fewer than ``k`` are returned.
    """
    from nsganet.strategies.ranking import nondominated_rank

    optimistic = np.atleast_2d(np.asarray(optimistic, dtype=float))
    expected = np.atleast_2d(np.asarray(expected, dtype=float))
    n = len(optimistic)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    rank = nondominated_rank(optimistic)
    pool = [int(i) for i in np.flatnonzero(rank < layers)]
    front = np.asarray(front, dtype=float).reshape(-1, optimistic.shape[1])
    low, scale = _unit_box(front if len(front) else expected[pool])
    Z_opt, Z_exp, Z_front = (optimistic - low) / scale, (expected - low) / scale, (front - low) / scale
    chosen = _greedy_gain(Z_opt, Z_exp, Z_front, pool, k)
    if len(chosen) < k and fallback:  # the rest by what each alone would add to the front
        taken = set(chosen)
        rest = [i for i in pool if i not in taken]
        base = _volume(Z_front)
        alone = np.array([_volume(np.vstack([Z_front, Z_opt[i]])) - base for i in rest])
        order = np.lexsort((optimistic[rest, 0], rank[rest], -alone))
        chosen += [rest[i] for i in order][:k - len(chosen)]
        if len(chosen) < k:
            taken = set(chosen)
            others = [int(i) for i in np.lexsort((optimistic[:, 0], rank)) if int(i) not in taken]
            chosen += others[:k - len(chosen)]
    return np.sort(np.asarray(chosen, dtype=np.int64))

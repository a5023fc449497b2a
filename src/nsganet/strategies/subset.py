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


def select_hypervolume(candidates: np.ndarray, front: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` candidates (rows of objective values) chosen greedily by hypervolume gain.

    Each pick adds the candidate whose predicted objectives enlarge the
    hypervolume of the front plus the picks so far the most (objectives
    normalised by the front and candidates together, reference point 1.1).
    Once no candidate adds anything, the rest are filled by spreading along
    the last column (:func:`select_spread`).
    """
    import moocore

    candidates, front = np.atleast_2d(np.asarray(candidates, dtype=float)), np.asarray(front, dtype=float)
    n = len(candidates)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    both = np.vstack([front.reshape(-1, candidates.shape[1]), candidates])
    low, high = both.min(axis=0), both.max(axis=0)
    scale = np.where(high > low, high - low, 1.0)
    Z, base = (candidates - low) / scale, (front.reshape(-1, candidates.shape[1]) - low) / scale
    ref = np.full(candidates.shape[1], 1.1)

    def volume(points: np.ndarray) -> float:
        return float(moocore.hypervolume(points, ref=ref)) if len(points) else 0.0

    chosen: list[int] = []
    current = volume(base)
    while len(chosen) < k:
        rest = [i for i in range(n) if i not in chosen]
        gains = [volume(np.vstack([base, Z[[*chosen, i]]])) - current for i in rest]
        best = int(np.argmax(gains))
        if gains[best] <= 1e-12:
            break
        chosen.append(rest[best])
        current += gains[best]
    if len(chosen) < k:
        rest = np.array([i for i in range(n) if i not in chosen])
        spread_front = np.concatenate([base[:, -1], Z[chosen, -1]])
        chosen += rest[select_spread(Z[rest, -1], spread_front, k - len(chosen))].tolist()
    return np.sort(np.asarray(chosen, dtype=np.int64))

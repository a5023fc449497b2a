import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nsganet.strategies.ranking import (
    binary_tournament,
    crowding_distance,
    nondominated_rank,
    rank_and_crowding,
    survive,
)


def brute_force_rank(F):
    """Peel non-dominated layers by pairwise comparison."""
    n = len(F)
    rank = np.full(n, -1)
    remaining = set(range(n))
    r = 0
    while remaining:
        layer = [i for i in remaining
                 if not any(np.all(F[j] <= F[i]) and np.any(F[j] < F[i]) for j in remaining if j != i)]
        for i in layer:
            rank[i] = r
        remaining -= set(layer)
        r += 1
    return rank


def brute_force_crowding(F):
    n, m = F.shape
    d = np.zeros(n)
    for j in range(m):
        order = sorted(range(n), key=lambda i: (F[i, j], i))
        lo, hi = F[order[0], j], F[order[-1], j]
        d[order[0]] = d[order[-1]] = np.inf
        for k in range(1, n - 1):
            if hi > lo:
                d[order[k]] += (F[order[k + 1], j] - F[order[k - 1], j]) / (hi - lo)
    return d


objective_sets = arrays(np.float64, st.tuples(st.integers(1, 25), st.integers(2, 3)),
                        elements=st.integers(0, 6).map(float))


@settings(max_examples=150, deadline=None)
@given(objective_sets)
def test_rank_matches_brute_force(F):
    assert np.array_equal(nondominated_rank(F), brute_force_rank(F))


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(3, 20), st.integers(2, 3)),
              elements=st.floats(0, 10, allow_nan=False)))
def test_crowding_matches_brute_force(F):
    np.testing.assert_allclose(crowding_distance(F), brute_force_crowding(F))


def test_failed_rows_rank_last():
    F = np.array([[1.0, 2.0], [np.nan, np.nan], [2.0, 1.0], [3.0, 3.0]])
    rank, crowding = rank_and_crowding(F)
    assert list(rank) == [0, 2, 0, 1]
    assert crowding[1] == -np.inf
    assert 1 not in survive(F, 3)


def test_survival_keeps_fronts_then_least_crowded():
    F = np.array([[0, 4], [1, 3], [2, 2], [3, 1], [4, 0], [5, 5], [1.1, 3.5]], dtype=float)
    kept = set(survive(F, 4))
    assert {0, 4} <= kept and 5 not in kept and 6 not in kept  # extremes first, then spread
    assert len(kept) == 4


def test_tournament_prefers_rank_then_crowding():
    rng = np.random.default_rng(0)
    rank = np.array([0, 1, 0, 2])
    crowding = np.array([1.0, 5.0, 2.0, 9.0])
    winners = binary_tournament(rank, crowding, 4000, rng)
    counts = np.bincount(winners, minlength=4)
    assert counts[3] == 0  # worst rank never wins (no self-tournaments)
    assert counts[2] > counts[0] > counts[1]

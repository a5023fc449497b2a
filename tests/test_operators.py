import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsganet.errors import ConfigError
from nsganet.spaces import get_space
from nsganet.spaces.base import Encoding
from nsganet.strategies.bayesnet import UnitChainNetwork
from nsganet.strategies.operators import PolynomialMutation, UniformCrossover, UnitCrossover

# a two-block encoding shaped like the V1 cell space: blocks of nodes, each node (input, op, input, op)
TWO_BLOCKS = Encoding(
    lower=np.zeros(16, dtype=np.int64),
    upper=np.array([1, 7, 1, 7, 2, 7, 2, 7] * 2),
    units=tuple(tuple(range(i, i + 4)) for i in range(0, 16, 4)),
    blocks=((0, 1), (2, 3)),
)
ENCODINGS = [get_space("nb201").encoding, TWO_BLOCKS]


def _parents(encoding, seed):
    rng = np.random.default_rng(seed)
    return encoding.sample(rng, 2), rng


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 1), st.integers(0, 2**32 - 1))
def test_operators_stay_in_bounds(which, seed):
    encoding = ENCODINGS[which]
    (p1, p2), rng = _parents(encoding, seed)
    for op in (UniformCrossover(1.0), UnitCrossover(1.0)):
        c1, c2 = op(p1, p2, encoding, rng)
        assert encoding.contains(c1) and encoding.contains(c2)
        # every variable comes from one of the parents, and the two children are complementary
        assert np.all((c1 == p1) | (c1 == p2)) and np.all((c2 == p1) | (c2 == p2))
        assert np.array_equal(np.sort(np.stack([c1, c2]), 0), np.sort(np.stack([p1, p2]), 0))
    child = PolynomialMutation(0.5, 3.0)(p1, encoding, rng)
    assert encoding.contains(child)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_unit_crossover_swaps_whole_units_or_blocks(seed):
    (p1, p2), rng = _parents(TWO_BLOCKS, seed)
    c1, _ = UnitCrossover(1.0)(p1, p2, TWO_BLOCKS, rng)
    swapped_units = [u for u, idx in enumerate(TWO_BLOCKS.units)
                     if not np.array_equal(c1[list(idx)], p1[list(idx)])]
    for u in swapped_units:  # a changed unit is entirely the other parent's
        assert np.array_equal(c1[list(TWO_BLOCKS.units[u])], p2[list(TWO_BLOCKS.units[u])])
    swapped_blocks = {b for b, units in enumerate(TWO_BLOCKS.blocks) if set(units) & set(swapped_units)}
    assert len(swapped_units) <= 2 and len(swapped_blocks) <= 2


def test_unit_crossover_probability_zero_copies_parents():
    (p1, p2), rng = _parents(TWO_BLOCKS, 1)
    c1, c2 = UnitCrossover(0.0)(p1, p2, TWO_BLOCKS, rng)
    assert np.array_equal(c1, p1) and np.array_equal(c2, p2)


def test_mutation_is_parent_centric_and_always_changes_mutated_variables():
    encoding = Encoding(np.zeros(1, dtype=np.int64), np.array([10]), units=((0,),))
    rng = np.random.default_rng(0)
    parent = np.array([5])
    steps = np.array([PolynomialMutation(1.0, 3.0)(parent, encoding, rng)[0] - 5 for _ in range(4000)])
    assert np.all(steps != 0)
    distance = np.abs(steps)
    counts = [np.sum(distance == d) for d in range(1, 6)]
    assert counts[0] > counts[1] > counts[2] > counts[4]  # nearer values are likelier
    assert np.sum(steps > 0) > 1500 and np.sum(steps < 0) > 1500


def test_mutation_probability_zero_is_identity():
    rng = np.random.default_rng(0)
    x = TWO_BLOCKS.sample(rng, 1)[0]
    assert np.array_equal(PolynomialMutation(0.0)(x, TWO_BLOCKS, rng), x)


# --- Bayesian network --------------------------------------------------------------------
SMALL = Encoding(np.zeros(3, dtype=np.int64), np.array([2, 2, 2]), units=((0,), (1,), (2,)))


def test_bayesian_network_learns_conditional_frequencies():
    X = np.array([[0, 1, 2]] * 6 + [[0, 2, 2]] * 2 + [[1, 1, 0]] * 2)
    prior = 0.5
    bn = UnitChainNetwork(SMALL, order=1, prior=prior).fit(X)
    uniform = 1 / 3
    # p(u1 = 0) = (8 + a/3) / (10 + a)
    assert bn.probability(0, (0,)) == (8 + prior * uniform) / (10 + prior)
    # p(u2 = 1 | u1 = 0): order-1 context (0,), backed by p(u2 = 1) = (8 + a/3) / (10 + a)
    p_u2 = (8 + prior * uniform) / (10 + prior)
    assert bn.probability(1, (1,), ((0,),)) == (6 + prior * p_u2) / (8 + prior)
    # an unseen context falls back entirely to the shorter one
    assert bn.probability(2, (2,), ((0,),)) == bn.probability(2, (2,), ())
    # order 1: u3 depends on u2 only
    p_u3 = (8 + prior * uniform) / (10 + prior)
    assert bn.probability(2, (2,), ((1,),)) == (6 + prior * p_u3) / (8 + prior)


def test_bayesian_network_probabilities_sum_to_one():
    rng = np.random.default_rng(1)
    bn = UnitChainNetwork(TWO_BLOCKS, order=2, prior=1.0).fit(TWO_BLOCKS.sample(rng, 30))
    sample = bn.sample(rng, 1)[0]
    ctx = (tuple(sample[list(TWO_BLOCKS.units[0])]),)
    values = [tuple(v) for v in np.ndindex(*(TWO_BLOCKS.upper[list(TWO_BLOCKS.units[1])] + 1))]
    total = sum(bn.probability(1, v, ctx) for v in values)
    assert abs(total - 1.0) < 1e-9


def test_bayesian_network_samples_follow_its_probabilities():
    X = np.array([[0, 1, 2]] * 6 + [[0, 2, 2]] * 2 + [[1, 1, 0]] * 2)
    bn = UnitChainNetwork(SMALL, order=2, prior=0.5).fit(X)
    rng = np.random.default_rng(0)
    samples = bn.sample(rng, 20000)
    assert SMALL.contains(samples.min(0)) and SMALL.contains(samples.max(0))
    joint = bn.probability(0, (0,)) * bn.probability(1, (1,), ((0,),)) * bn.probability(2, (2,), ((0,), (1,)))
    observed = np.mean(np.all(samples == [0, 1, 2], axis=1))
    assert abs(observed - joint) < 0.01
    # unseen values remain possible
    assert 0 < bn.probability(2, (1,), ((0,), (1,))) < 1e-3


def test_bayesian_network_conditions_on_every_previous_node_by_default():
    # V1 Fig. 5: p(a3 | a2, a1). Two histories share u2 but differ in u1: only the full context tells u3 apart.
    X = np.array([[0, 1, 2]] * 5 + [[1, 1, 0]] * 5)
    full = UnitChainNetwork(SMALL, prior=0.1).fit(X)
    assert full.order == 2
    assert full.probability(2, (2,), ((0,), (1,))) > 0.95
    assert full.probability(2, (0,), ((1,), (1,))) > 0.95
    one = UnitChainNetwork(SMALL, order=1, prior=0.1).fit(X)
    assert abs(one.probability(2, (2,), ((1,),)) - 0.5) < 0.02  # u2 alone cannot tell


def test_nsganetv1_models_whole_cells_unless_told_otherwise():
    from nsganet.strategies import STRATEGIES

    strategy = STRATEGIES.get("nsganetv1")()
    assert strategy.bn_order is None
    with pytest.raises(ConfigError, match="bn_order"):
        STRATEGIES.get("nsganetv1")(bn_order=-1)

"""Property-based tests: every genome a strategy can produce is a valid architecture whose network trains.

Hypothesis draws seeds, parents and genomes; the real operators, the Bayesian
network and the strategies' ``ask`` produce the genomes under test. Each must
lie within the encoding's bounds and round-trip through its canonical string,
and, for every space, the network of a drawn genome must run forward and
backward at a tiny size with finite gradients on exactly the parameters the
architecture uses.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsganet.nn.micro import MicroNetwork
from nsganet.nn.nb201 import NB201Cell
from nsganet.spaces import SearchSpace, get_space, space_names
from nsganet.spaces.micro import BLOCKS
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
from nsganet.strategies import Archive, get_strategy
from nsganet.strategies.base import ProblemContext
from nsganet.strategies.bayesnet import UnitChainNetwork
from nsganet.strategies.operators import PolynomialMutation, UniformCrossover, UnitCrossover

SPACES = {name: get_space(name) for name in space_names()}
SEEDS = st.integers(0, 2**32 - 1)
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NETWORKS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_registered_space_is_covered():
    assert set(SPACES) == {"macro", "micro", "micro-inc", "mobilenetv3", "nb201"}


def genomes(space: SearchSpace, canonical: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Genomes of ``space``: each variable within its bounds, inactive ones reset when ``canonical``."""
    enc = space.encoding
    raw = st.tuples(*(st.integers(int(lo), int(hi)) for lo, hi in zip(enc.lower, enc.upper)))
    arrays = raw.map(lambda values: np.asarray(values, dtype=np.int64))
    return arrays.map(enc.canonical) if canonical else arrays


def assert_valid(space: SearchSpace, genome: np.ndarray) -> None:
    """In bounds, and the canonical genome round-trips through the string to the same architecture."""
    enc = space.encoding
    assert genome.shape == (enc.n_var,) and np.issubdtype(genome.dtype, np.integer)
    assert enc.contains(genome), genome.tolist()
    canonical = enc.canonical(genome)
    text = space.to_string(genome)
    back = space.from_string(text)
    assert back.tolist() == canonical.tolist()
    assert space.to_string(back) == text
    arch = space.architecture(genome)
    assert arch.genome == tuple(canonical.tolist()) and str(arch) == text
    assert space.architecture(back) == arch


# -- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SPACES))
@FAST
@given(seed=SEEDS, n=st.integers(1, 8))
def test_sampled_genomes_are_canonical_and_round_trip(name, seed, n):
    space = SPACES[name]
    X = space.sample(np.random.default_rng(seed), n)
    assert X.shape == (n, space.encoding.n_var)
    assert np.array_equal(X, space.encoding.canonical(X))
    for x in X:
        assert_valid(space, x)


@pytest.mark.parametrize("crossover", [UniformCrossover(0.9), UnitCrossover(0.9)], ids=["uniform", "unit"])
@pytest.mark.parametrize("name", sorted(SPACES))
@FAST
@given(data=st.data(), seed=SEEDS)
def test_crossover_children_mix_their_parents_and_are_valid(name, crossover, data, seed):
    space = SPACES[name]
    enc = space.encoding
    p1, p2 = data.draw(genomes(space)), data.draw(genomes(space))
    c1, c2 = crossover(p1, p2, enc, np.random.default_rng(seed))
    for child in (c1, c2):
        assert_valid(space, child)
        assert np.all((child == p1) | (child == p2))
    # every variable is either kept or swapped: the pair of values at each position is preserved
    assert np.array_equal(np.sort(np.stack([c1, c2]), axis=0), np.sort(np.stack([p1, p2]), axis=0))
    if isinstance(crossover, UnitCrossover):  # whole units move together
        for unit in enc.units:
            idx = list(unit)
            assert np.array_equal(c1[idx], p1[idx]) or np.array_equal(c1[idx], p2[idx])


@pytest.mark.parametrize("name", sorted(SPACES))
@FAST
@given(data=st.data(), seed=SEEDS, prob=st.sampled_from([0.1, 0.5, 1.0]), eta=st.sampled_from([1.0, 3.0, 20.0]))
def test_mutants_are_valid_and_mutated_variables_change(name, data, seed, prob, eta):
    space = SPACES[name]
    enc = space.encoding
    parent = data.draw(genomes(space))
    child = PolynomialMutation(prob, eta)(parent, enc, np.random.default_rng(seed))
    assert_valid(space, child)
    if prob == 1.0:  # every variable that can change does
        movable = enc.upper > enc.lower
        assert np.all(child[movable] != parent[movable])


@pytest.mark.parametrize("name", sorted(SPACES))
@FAST
@given(data=st.data(), seed=SEEDS, order=st.integers(0, 2), prior=st.sampled_from([0.1, 1.0, 10.0]))
def test_bayesian_network_samples_are_valid(name, data, seed, order, prior):
    space = SPACES[name]
    enc = space.encoding
    X = np.stack(data.draw(st.lists(genomes(space), min_size=1, max_size=8)))
    network = UnitChainNetwork(enc, order, prior).fit(X)
    for x in network.sample(np.random.default_rng(seed), 4):
        assert_valid(space, x)


# -- strategies ------------------------------------------------------------------------------


def synthetic_objectives(enc, seed: int):
    """Two conflicting linear objectives of the genome, random weights: cheap and never tied for long."""
    weights = np.random.default_rng(seed).uniform(0.1, 1.0, size=(2, enc.n_var))

    def objectives(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X).astype(float)
        return np.stack([X @ weights[0], (enc.upper - X) @ weights[1]], axis=1)

    return objectives


STRATEGY_OPTIONS = {
    "random": {},
    "nsga2": {},
    "nsganetv1": {"exploit_start": 0.0, "exploit_rate": 0.5, "top_k": 10},  # Bayesian network from generation 2
    "nsganetv2": {"predictor": "rbf", "n_doe": 10, "n_candidates": 4, "generations": 2},
}


@pytest.mark.parametrize("strategy_name", sorted(STRATEGY_OPTIONS))
@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=SEEDS, generations=st.integers(1, 4))
def test_strategies_ask_only_new_valid_canonical_genomes(name, strategy_name, seed, generations):
    space = SPACES[name]
    enc = space.encoding
    objectives = synthetic_objectives(enc, seed)
    strategy = get_strategy(strategy_name, pop_size=8, **STRATEGY_OPTIONS[strategy_name])
    strategy.bind(ProblemContext(smallest=space.smallest(), largest=space.largest()))
    strategy.setup(enc, 2, budget=60, seed=seed)
    archive = Archive(enc.n_var, 2)
    for _ in range(generations):
        X = strategy.ask(archive)
        assert len(X) > 0
        assert np.array_equal(X, enc.canonical(X))
        assert len({tuple(x) for x in X}) == len(X) and not any(x in archive for x in X)
        for x in X:
            assert_valid(space, x)
        F = objectives(X)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)


# -- networks --------------------------------------------------------------------------------

#: Per space, the space whose networks are built (MobileNetV3: a tiny supernet) and tiny build options.
TINY_MBV3 = MobileNetV3Space(SupernetConfig.small(16, width_mult=0.35))
NETWORK_SPACES = {"macro": SPACES["macro"], "micro": SPACES["micro"], "micro-inc": SPACES["micro-inc"],
                  "nb201": SPACES["nb201"],
                  "mobilenetv3": TINY_MBV3}
TINY = {"macro": {"channels": 4}, "micro": {"channels": 4, "layers": 1, "channel_increment": 2},
        "micro-inc": {"channels": 4, "layers": 1},
        "nb201": {"channels": 4, "cells_per_stage": 1}, "mobilenetv3": {}}
INPUT_SIZES = {"macro": [6, 8, 12], "micro": [8, 12], "micro-inc": [8, 12], "nb201": [8, 12], "mobilenetv3": [12, 16]}


def test_every_registered_space_builds_networks_here():
    assert set(NETWORK_SPACES) == set(SPACES)


def _micro_unused(space, model: MicroNetwork, genome) -> set[int]:
    """Parameters a micro network leaves out of its graph.

    Those of cells whose output no later cell reads (as h-1 or h-2), of the stem when no live cell reads it,
    and of the input preprocessing of a cell input that none of the cell's nodes reads.
    """
    reads = {block: ({n[0] for n in nodes} | {n[2] for n in nodes}) for block, nodes in space.cells(genome).items()}
    cells = list(model.cells)
    kinds = [BLOCKS[1] if cell.reduction else BLOCKS[0] for cell in cells]
    live = {len(cells) - 1}
    stem_live = False
    for k in range(len(cells) - 1, -1, -1):
        if k not in live:
            continue
        for source, back in ((1, 1), (0, 2)):  # h-1 is cell k-1's output, h-2 cell k-2's (the stem before 0)
            if source in reads[kinds[k]]:
                if k - back >= 0:
                    live.add(k - back)
                else:
                    stem_live = True
    unused: list[torch.nn.Parameter] = [] if stem_live else list(model.stem.parameters())
    for k, cell in enumerate(cells):
        if k not in live:
            unused += list(cell.parameters())
            continue
        for source, module in ((0, cell.preprocess0), (1, cell.preprocess1)):
            if source not in reads[kinds[k]]:
                unused += list(module.parameters())
    return {id(p) for p in unused}


def _nb201_unused(space, model, genome) -> set[int]:
    """Parameters a NAS-Bench-201 network leaves out of its graph.

    An edge whose target node does not lead to the cell output never contributes. Without any path from
    the cell input to its output (every cell outputs zeros), only the last cell's edges that lead to the
    output and the classifier remain.
    """
    cells = [m for m in model.cells if isinstance(m, NB201Cell)]
    wiring = cells[0].wiring  # same genome in every cell: node t reads (source, op index) pairs
    reaches = {3}
    for target in (2, 1, 0):
        if any(source == target and t in reaches for t, inputs in enumerate(wiring, 1) for source, _ in inputs):
            reaches.add(target)
    dead_ops = {index for t, inputs in enumerate(wiring, 1) if t not in reaches for _, index in inputs}
    unused = [p for cell in cells for i, op in enumerate(cell.ops) if i in dead_ops for p in op.parameters()]
    if 0 not in reaches:
        live = {id(p) for p in cells[-1].parameters()} | {id(p) for p in model.head.parameters()}
        unused += [p for p in model.parameters() if id(p) not in live]
    return {id(p) for p in unused}


def expected_unused(name: str, space, model, genome) -> set[int]:
    if name in ("micro", "micro-inc"):  # micro-inc: the micro cells plus the channel increment
        return _micro_unused(space, model, genome)
    if name == "nb201":
        return _nb201_unused(space, model, genome)
    return set()  # macro builds only connected nodes; every MobileNetV3 layer is on the path


def check_forward_backward(name: str, genome: np.ndarray, seed: int = 0, batch: int = 2, classes: int = 10,
                           in_channels: int = 3, size: int | None = None) -> None:
    """Build ``genome``'s tiny network, run a batch forward and backward, check outputs and gradients."""
    space = NETWORK_SPACES[name]
    size = size or INPUT_SIZES[name][0]
    torch.manual_seed(seed % 2**31)
    model = space.build(genome, num_classes=classes, input_size=size, in_channels=in_channels, **TINY[name])
    model.train()
    x = torch.randn(batch, in_channels, size, size, requires_grad=True)
    out = model(x)
    assert out.shape == (batch, classes)
    loss = torch.nn.functional.cross_entropy(out, torch.randint(0, classes, (batch,)))
    assert torch.isfinite(loss)
    params = [p for p in model.parameters() if p.requires_grad]
    assert params
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    assert grads[0] is None or torch.isfinite(grads[0]).all()
    for g in grads[1:]:
        assert g is None or torch.isfinite(g).all()
    unused = {id(p) for p, g in zip(params, grads[1:]) if g is None}
    assert unused == expected_unused(name, space, model, genome)


@pytest.mark.parametrize("name", sorted(NETWORK_SPACES))
@NETWORKS
@given(data=st.data(), seed=SEEDS, batch=st.integers(2, 4), classes=st.integers(2, 10), in_channels=st.integers(1, 3))
def test_networks_of_any_genome_run_forward_and_backward(name, data, seed, batch, classes, in_channels):
    space = NETWORK_SPACES[name]
    genome = data.draw(genomes(space))
    size = data.draw(st.sampled_from(INPUT_SIZES[name]))
    check_forward_backward(name, genome, seed, batch, classes, in_channels, size)


@pytest.mark.parametrize("name", sorted(NETWORK_SPACES))
def test_extreme_networks_run_forward_and_backward(name):
    space = NETWORK_SPACES[name]
    for genome in (space.smallest(), space.largest(), space.encoding.lower, space.encoding.upper):
        check_forward_backward(name, space.encoding.canonical(genome))

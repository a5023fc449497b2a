"""Asynchronous strategies driven directly: ask_async for free workers, tell_async one result at a time."""

import csv
import dataclasses
import json

import numpy as np
import pytest
from conftest import METRIC

from nsganet.errors import ConfigError
from nsganet.spaces import get_space
from nsganet.spaces.base import Encoding
from nsganet.strategies import Archive, get_strategy
from nsganet.strategies.base import ProblemContext, Strategy

SPACE = get_space("nb201")
ASYNC = ("random", "nsga2", "nsganetv1", "nsganetv2")
QUICK = {"nsganetv2": {"n_doe": 10, "n_candidates": 4, "predictor": "rbf", "generations": 3}}


def synthetic(X):
    """A synthetic error falling with the cost (a trade-off), and the cost: the genome's sum."""
    X = np.atleast_2d(X).astype(float)
    cost = X.sum(axis=1)
    return np.stack([40 - 1.2 * cost + 0.8 * np.abs(X[:, 0] - X[:, -1]) + 0.3 * X[:, X.shape[1] // 2], cost], axis=1)


def new_strategy(name, seed=0, budget=80, encoding=SPACE.encoding, **options):
    strategy = get_strategy(name, pop_size=8, **{**QUICK.get(name, {}), **options})
    strategy.bind(ProblemContext(smallest=encoding.lower, largest=encoding.upper, cost_columns=(1,),
                                 costs=lambda X: synthetic(X)[:, 1:]))
    strategy.setup(encoding, 2, budget, seed)
    return strategy


def drive(strategy, archive, steps, workers=3, objective=synthetic, pending=None, fail_every=0):
    """Keep ``workers`` evaluations pending; each step the oldest but one (or the only one) finishes
    (out of order), is told, and the freed slots are asked for. The proposals in order."""
    pending = [] if pending is None else pending
    proposed = []
    for step in range(steps):
        free = workers - len(pending)
        if free:
            X = strategy.ask_async(archive, free, np.array(pending, dtype=np.int64).reshape(-1, archive.n_var))
            proposed += [tuple(int(v) for v in x) for x in X]
            pending += [tuple(int(v) for v in x) for x in X]
        if not pending:
            break
        x = np.array(pending.pop(min(1, len(pending) - 1)))
        f = objective(x)[0]
        if fail_every and step % fail_every == 0:
            f = np.full_like(f, np.nan)
        archive.add(x, None if np.isnan(f).any() else f)
        strategy.tell_async(x, f)
    return proposed


@pytest.mark.parametrize("name", ASYNC)
def test_proposals_never_repeat_the_archive_nor_pending_genomes(name):
    strategy, archive = new_strategy(name), Archive(SPACE.encoding.n_var, 2)
    assert type(strategy).supports_async
    pending: list[tuple[int, ...]] = []
    for _ in range(40):
        free = 4 - len(pending)
        X = strategy.ask_async(archive, free, np.array(pending, dtype=np.int64).reshape(-1, 6))
        assert X.dtype == np.int64 and X.shape == (free, 6)
        keys = [tuple(int(v) for v in x) for x in X]
        assert len(set(keys)) == len(keys) and not set(keys) & set(pending)
        assert not any(x in archive for x in X) and all(SPACE.encoding.contains(x) for x in X)
        pending += keys
        x = np.array(pending.pop(len(pending) // 2))
        archive.add(x, synthetic(x)[0])
        strategy.tell_async(x, synthetic(x)[0])
    assert strategy.completed == 40 and strategy.generation == 40 // strategy.pop_size


@pytest.mark.parametrize("name", ASYNC)
def test_steady_state_runs_are_deterministic_under_the_seed(name):
    runs = [drive(new_strategy(name, seed=5), Archive(6, 2), 40, workers=1) for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0]) == 40
    assert drive(new_strategy(name, seed=6), Archive(6, 2), 40, workers=1) != runs[0]


@pytest.mark.parametrize("name", ["nsga2", "nsganetv1"])
def test_the_first_proposals_are_the_generational_first_batch_in_order(name):
    generational = new_strategy(name, seed=3).ask(Archive(6, 2))
    steady = drive(new_strategy(name, seed=3), Archive(6, 2), 8, workers=1)
    assert steady == [tuple(int(v) for v in x) for x in generational]


@pytest.mark.parametrize("name", ASYNC)
@pytest.mark.parametrize("stop", [5, 13, 27])
def test_state_saved_after_any_step_continues_exactly(name, stop):
    # stops: within the initial population / design, just after it, and mid-way between predictor refits
    options = {"exploit_start": 0.2} if name == "nsganetv1" else {}  # exploit (Bayesian network) early
    first, archive = new_strategy(name, seed=9, budget=60, **options), Archive(6, 2)
    pending: list[tuple[int, ...]] = []
    drive(first, archive, stop, pending=pending, fail_every=7)
    state = json.loads(json.dumps(first.state_dict()))  # what the run store keeps
    json.dumps(first.info())
    resumed = new_strategy(name, seed=1234, budget=60, **options)  # the state must override the seed
    resumed.load_state_dict(state)
    replay = Archive(6, 2)
    for x, f in zip(archive.X, archive.F):
        replay.add(x, None if np.isnan(f).any() else f)
    go_on = drive(first, archive, 20, pending=list(pending), fail_every=7)
    assert drive(resumed, replay, 20, pending=list(pending), fail_every=7) == go_on
    assert resumed.state_dict() == json.loads(json.dumps(first.state_dict()))


def test_nsganetv1_exploits_its_bayesian_network_in_steady_state():
    strategy, archive = new_strategy("nsganetv1", seed=2, budget=60, exploit_start=0.3, exploit_rate=0.5), Archive(6, 2)
    drive(strategy, archive, 60, workers=1)
    assert strategy.exploiting and strategy.network is not None
    assert set(strategy.survival_rates) == {"ga", "bn"} and strategy.rho != 0.5  # adapted by Eq. (2)


def nb201_objective(path):
    with path.open(newline="") as handle:
        error = {tuple(int(v) for v in SPACE.from_string(row["arch"])): 100 - float(row[METRIC])
                 for row in csv.DictReader(handle)}
    weights = np.array([0, 0, 1, 2, 9])  # conv 1x1 and 3x3 cost most: a FLOPs-like cost

    def objective(X):
        X = np.atleast_2d(X)
        return np.array([[error[tuple(int(v) for v in x)], float(weights[x].sum())] for x in X])
    return objective


def test_nsganetv2_believes_pending_evaluations_and_spreads_free_workers(nb201_table):
    objective = nb201_objective(nb201_table)
    strategy = get_strategy("nsganetv2", pop_size=8, n_doe=24, predictor="rbf")
    strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                 costs=lambda X: objective(X)[:, 1:], descriptors=SPACE.descriptors))
    strategy.setup(SPACE.encoding, 2, 100, 0)
    archive = Archive(6, 2)
    drive(strategy, archive, 24, workers=1, objective=objective)  # the design of experiments
    state = strategy.state_dict()
    pending = np.empty((0, 6), dtype=np.int64)
    for _ in range(8):  # eight workers come free one after the other, none finishes
        pending = np.vstack([pending, strategy.ask_async(archive, 1, pending)])
    assert len({tuple(x) for x in pending}) == 8 and not any(x in archive for x in pending)
    cost = objective(pending)[:, 1]
    span = np.ptp(objective(archive.X)[:, 1])
    assert np.ptp(cost) > 0.4 * span and len(np.unique(cost)) >= 5  # spread over the cost range
    strategy.load_state_dict(state)  # asked at once: as spread (the picks so far are believed alike)
    together = strategy.ask_async(archive, 8, np.empty((0, 6), dtype=np.int64))
    together_keys, pending_keys = {tuple(x) for x in together}, {tuple(x) for x in pending}
    assert len(together_keys) == 8 and len(together_keys & pending_keys) >= 4
    assert np.ptp(objective(together)[:, 1]) > 0.4 * span and len(np.unique(objective(together)[:, 1])) >= 5


@pytest.mark.parametrize("name", ASYNC)
def test_a_nearly_exhausted_space_ends_with_an_empty_proposal(name):
    tiny = Encoding(lower=np.zeros(2, dtype=np.int64), upper=np.ones(2, dtype=np.int64), units=((0,), (1,)))
    strategy, archive = new_strategy(name, encoding=tiny), Archive(2, 2)
    proposed = drive(strategy, archive, 50, workers=3)
    assert sorted(proposed) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # every genome once, then nothing
    assert strategy.ask_async(archive, 2, np.empty((0, 2), dtype=np.int64)).shape == (0, 2)
    fresh = new_strategy(name, encoding=tiny, seed=1)
    archive = Archive(2, 2)
    first = fresh.ask_async(archive, 2, np.empty((0, 2), dtype=np.int64))
    for x in first:
        archive.add(x, synthetic(x)[0])
        fresh.tell_async(x, synthetic(x)[0])
    rest = fresh.ask_async(archive, 2, np.empty((0, 2), dtype=np.int64))
    assert len(rest) == 2  # the last two, which once pending leave nothing to propose
    assert fresh.ask_async(archive, 2, rest).shape == (0, 2)


def test_strategies_without_the_capability_refuse_async():
    @dataclasses.dataclass
    class Generational(Strategy):
        name = "generational-only"

        def ask(self, archive):
            return self.sample_new(self.pop_size, archive, set())

        def tell(self, X, F, V=None):
            self.generation += 1

    strategy = Generational()
    strategy.setup(SPACE.encoding, 2, 20, 0)
    assert not strategy.supports_async and all(get_strategy(name).supports_async for name in ASYNC)
    with pytest.raises(ConfigError, match="does not support the async schedule"):
        strategy.ask_async(Archive(6, 2), 1, np.empty((0, 6), dtype=np.int64))


def test_nsganetv2_refit_every_is_validated():
    with pytest.raises(ConfigError, match="refit_every"):
        get_strategy("nsganetv2", refit_every=-1)
    assert get_strategy("nsganetv2", n_candidates=5).refit_interval == 5
    assert get_strategy("nsganetv2", refit_every=3).refit_interval == 3


def test_nsganetv2_in_order_results_reproduce_the_generational_proposals():
    generational, archive, proposed = new_strategy("nsganetv2", seed=4), Archive(6, 2), []
    while len(archive) < 22:  # the design of experiments (10), then three batches of 4
        X = generational.ask(archive)
        for x in X:
            archive.add(x, synthetic(x)[0])
        generational.tell(X, synthetic(X))
        proposed += [tuple(int(v) for v in x) for x in X]
    steady = new_strategy("nsganetv2", seed=4)
    fits = []
    fit = steady.fit
    steady.fit = lambda X, F: fits.append(len(X)) or fit(X, F)
    assert drive(steady, Archive(6, 2), 22, workers=1) == proposed
    assert fits == [10, 14, 18]  # one fit per batch, handed out one genome at a time
    assert steady.state_dict()["queue"] == []


def test_nsganetv2_refits_replace_the_queued_batch():
    strategy, archive = new_strategy("nsganetv2", seed=4, n_candidates=6, refit_every=2), Archive(6, 2)
    drive(strategy, archive, 11, workers=1)  # the design, then one genome of the first batch
    assert len(strategy.queue) == 5 and strategy.fit_completed == 10
    drive(strategy, archive, 2, workers=1)
    assert len(strategy.queue) == 5 and strategy.fit_completed == 12  # refitted after 2: a new batch of 6
    # the predictions kept are the queued genomes': the dropped batch's went with it, the told one's was used
    assert set(strategy.pending) == {tuple(int(v) for v in x) for x in strategy.queue}

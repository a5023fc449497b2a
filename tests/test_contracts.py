"""One contract per registry: every registered strategy, executor and space passes the same suite.

A strategy or space registered later joins these tests by its registration
alone; executors are parametrized over the local ones (in this process, a
process pool) and Ray (a one-node cluster started here).
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from contract_evaluations import fails_on_odd, setup_mistake, square

from nsganet.errors import NsganetError
from nsganet.executors import EXECUTORS, AsyncExecutor, ExecutorSettings, make_executor
from nsganet.search.constraints import Constraint
from nsganet.spaces import SPACES, get_space
from nsganet.strategies import STRATEGIES, Archive, get_strategy
from nsganet.strategies.base import ProblemContext

TESTS = Path(__file__).resolve().parent
SPACE = get_space("nb201")
#: Options that keep each strategy's contract test quick; a strategy not listed runs with its defaults.
QUICK = {"nsganetv2": {"n_doe": 8, "n_candidates": 4, "predictor": "rbf", "generations": 3}}


def landscape(X):
    """Two cheap objectives of genomes: a synthetic error, and a cost known without 'training'."""
    X = np.atleast_2d(X).astype(float)
    return np.stack([30 - 2 * X[:, 3] - 1.5 * X[:, 5] + 0.5 * np.abs(X[:, 0] - 2), X.sum(axis=1)], axis=1)


def new_strategy(name, seed=3, budget=60):
    strategy = get_strategy(name, pop_size=8, **QUICK.get(name, {}))
    strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                 costs=lambda X: landscape(X)[:, 1:]))
    strategy.setup(SPACE.encoding, 2, budget, seed)
    return strategy


def run_generations(strategy, archive, generations):
    """Ask, evaluate and tell ``generations`` times; the batches asked, as lists of genomes."""
    asked = []
    for _ in range(generations):
        X = strategy.ask(archive)
        F = landscape(X)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)
        asked.append([tuple(int(v) for v in x) for x in X])
    return asked


# -- strategies -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_proposes_new_distinct_canonical_genomes_in_bounds(name):
    strategy, archive = new_strategy(name), Archive(SPACE.encoding.n_var, 2)
    for _ in range(4):
        X = strategy.ask(archive)
        assert X.dtype == np.int64 and X.ndim == 2 and X.shape[1] == SPACE.encoding.n_var and len(X) > 0
        assert len({tuple(x) for x in X}) == len(X)
        assert not any(x in archive for x in X)
        assert all(SPACE.encoding.contains(x) for x in X)
        assert np.array_equal(SPACE.encoding.canonical(X), X)
        F = landscape(X)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_is_deterministic_under_its_seed(name):
    runs = [run_generations(new_strategy(name, seed=5), Archive(SPACE.encoding.n_var, 2), 4) for _ in range(2)]
    assert runs[0] == runs[1]
    other = run_generations(new_strategy(name, seed=6), Archive(SPACE.encoding.n_var, 2), 4)
    assert other != runs[0]


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_resumes_exactly_from_its_json_state(name):
    first, archive = new_strategy(name, seed=9), Archive(SPACE.encoding.n_var, 2)
    run_generations(first, archive, 3)
    state = json.loads(json.dumps(first.state_dict()))  # what the run store keeps
    json.dumps(first.info())  # and the stats files
    resumed = new_strategy(name, seed=1234)  # another seed: the state must override it
    resumed.load_state_dict(state)
    replay = Archive(SPACE.encoding.n_var, 2)
    for x, f in zip(archive.X, archive.F):
        replay.add(x, None if np.isnan(f).any() else f)
    assert run_generations(first, archive, 2) == run_generations(resumed, replay, 2)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_takes_failed_evaluations(name):
    strategy, archive = new_strategy(name), Archive(SPACE.encoding.n_var, 2)
    for _ in range(3):
        X = strategy.ask(archive)
        F = landscape(X)
        F[::2] = np.nan  # every other evaluation failed
        for x, f in zip(X, F):
            archive.add(x, None if np.isnan(f).any() else f)
        strategy.tell(X, F)
    assert len(strategy.ask(archive)) > 0


def run_async(strategy, archive, steps, pending, workers=3):
    """Keep ``workers`` evaluations pending, finishing the second oldest each step; the proposals in order."""
    asked = []
    for _ in range(steps):
        X = strategy.ask_async(archive, workers - len(pending), np.array(pending, dtype=np.int64).reshape(-1, 6))
        assert X.dtype == np.int64 and X.shape == (workers - len(pending), SPACE.encoding.n_var)
        keys = [tuple(int(v) for v in x) for x in X]
        assert len(set(keys)) == len(keys) and not set(keys) & set(pending) and not any(x in archive for x in X)
        assert all(SPACE.encoding.contains(x) for x in X) and np.array_equal(SPACE.encoding.canonical(X), X)
        asked += keys
        pending += keys
        x = np.array(pending.pop(1))
        f = landscape(x)[0]
        archive.add(x, f)
        strategy.tell_async(x, f)
    return asked


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_async_strategy_proposes_new_genomes_off_pending_ones_and_resumes_exactly(name):
    strategy, archive, pending = new_strategy(name, seed=9), Archive(SPACE.encoding.n_var, 2), []
    if not strategy.supports_async:
        with pytest.raises(NsganetError, match="async"):
            strategy.ask_async(archive, 1, np.empty((0, SPACE.encoding.n_var), dtype=np.int64))
        return
    run_async(strategy, archive, 15, pending)
    assert strategy.generation == 15 // strategy.pop_size
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = new_strategy(name, seed=1234)
    resumed.load_state_dict(state)
    replay = Archive(SPACE.encoding.n_var, 2)
    for x, f in zip(archive.X, archive.F):
        replay.add(x, f)
    assert run_async(strategy, archive, 10, list(pending)) == run_async(resumed, replay, 10, list(pending))


# -- executors ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_address():
    """A one-node Ray cluster on this machine whose workers can import the contract's functions."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the Ray executor needs Ray: pip install 'nsganet[ray]'")
    from ray_cluster import local_cluster

    with local_cluster(nodes=1, cpus_per_node=2, pythonpath=str(TESTS)) as address:
        yield address


EXECUTOR_SETTINGS = {
    "in-process": ExecutorSettings(kind="local", workers=1),
    "process-pool": ExecutorSettings(kind="local", workers=2),
    "ray": ExecutorSettings(kind="ray", cpus_per_eval=1),
}


def test_the_contract_covers_every_executor_kind():
    assert {s.kind for s in EXECUTOR_SETTINGS.values()} == set(EXECUTORS.names())


@pytest.fixture(params=list(EXECUTOR_SETTINGS))
def executor_settings(request):
    settings = EXECUTOR_SETTINGS[request.param]
    if settings.kind == "ray":
        from dataclasses import replace

        settings = replace(settings, ray_address=request.getfixturevalue("ray_address"))
    return settings


def test_every_executor_reports_each_item_once_with_its_values(executor_settings):
    executor = make_executor(square, executor_settings)
    try:
        items = [3, 1, 4, 1, 5]
        outcomes = list(executor.map_unordered(items))
        assert sorted(o.index for o in outcomes) == list(range(len(items)))
        for o in outcomes:
            assert o.reason is None and o.objectives == square(items[o.index]) and o.seconds >= 0
        again = list(executor.map_unordered([2]))  # the executor serves batch after batch
        assert [o.objectives for o in again] == [square(2)]
    finally:
        executor.close()
    executor.close()  # closing twice is harmless


def test_every_executor_reports_failures_with_their_reason_and_traceback(executor_settings):
    executor = make_executor(fails_on_odd, executor_settings)
    try:
        outcomes = {o.index: o for o in executor.map_unordered([0, 1, 2, 3])}
    finally:
        executor.close()
    assert set(outcomes) == {0, 1, 2, 3}
    for index in (1, 3):
        assert outcomes[index].objectives is None
        assert outcomes[index].reason == f"ValueError: item {index} is odd"
        assert "Traceback" in outcomes[index].detail
    assert outcomes[0].objectives == square(0) and outcomes[2].reason is None


def test_every_executor_raises_a_setup_mistake(executor_settings):
    executor = make_executor(setup_mistake, executor_settings)
    try:
        with pytest.raises(NsganetError, match="data directory is missing"):
            list(executor.map_unordered([0, 1]))
    finally:
        executor.close()


def test_every_executor_runs_evaluations_one_at_a_time_as_slots_free_up(executor_settings):
    executor = make_executor(fails_on_odd, executor_settings)
    try:
        assert isinstance(executor, AsyncExecutor) and executor.slots >= 1
        seen = []
        for index in (10, 11, 12):  # more than the slots: the rest wait their turn
            executor.submit(index, index)
        assert executor.in_flight() == 3
        for index in (13, 14):
            seen.append(executor.next_outcome())
            executor.submit(index, index)  # a freed slot is filled at once
        while executor.in_flight():
            seen.append(executor.next_outcome())
        assert sorted(o.index for o in seen) == [10, 11, 12, 13, 14]
        for o in seen:
            if o.index % 2:
                assert o.objectives is None and o.reason == f"ValueError: item {o.index} is odd" and o.detail
            else:
                assert o.reason is None and o.objectives == square(o.index) and o.seconds >= 0
        again = list(executor.map_unordered([2]))  # batches still work after evaluations one at a time
        assert [o.objectives for o in again] == [square(2)]
        executor.submit(7, 4)
        assert executor.next_outcome().index == 7
    finally:
        executor.close()


def test_every_executor_raises_a_setup_mistake_one_at_a_time(executor_settings):
    executor = make_executor(setup_mistake, executor_settings)
    try:
        executor.submit(0, 0)
        with pytest.raises(NsganetError, match="data directory is missing"):
            executor.next_outcome()
    finally:
        executor.close()


# -- spaces ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SPACES.names())
def test_every_space_round_trips_its_genomes_and_options(name):
    space = get_space(name)
    rebuilt = get_space(name, **space.options)
    genomes = [space.smallest(), space.largest(), *space.sample(np.random.default_rng(0), 12)]
    for genome in genomes:
        genome = space.check(genome)
        text = space.to_string(genome)
        assert np.array_equal(space.from_string(text), genome)
        assert rebuilt.to_string(genome) == text
        assert all(isinstance(op, str) for op in space.operations(genome))
    json.dumps(space.options)  # what net.json and supernet files record


@pytest.mark.parametrize("name", SPACES.names())
def test_every_space_builds_networks_whose_costs_match_its_closed_form(name):
    import torch

    from nsganet.costs.model import CostModel

    space = get_space(name)
    options = space.proxy_options(4, 1, use_defaults=False)
    model = CostModel(space, num_classes=5, input_size=16, in_channels=3, build_options=options)
    for genome in (space.smallest(), space.sample(np.random.default_rng(1), 1)[0]):
        net = space.build(genome, num_classes=5, input_size=16, in_channels=3, **options).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, 3, 16, 16))
        assert out.shape == (2, 5)
        measured = model.measure(genome)
        assert measured["flops"] == pytest.approx(model.count(genome)["flops"], rel=1e-6)
        assert measured["params"] == pytest.approx(model.count(genome)["params"], rel=1e-6)


# -- constraints ----------------------------------------------------------------------------------
#: A hard constraint on the landscape's cost (column 1): about a third of the space meets it.
COST_BOUND = Constraint("cost", "<=", 9.0)


def cost_violation(X, low, high):
    """The context's violation: of the cost bound, at the most favourable value within [low, high]."""
    return COST_BOUND.violation(np.asarray(low)[:, 1], np.asarray(high)[:, 1])


def constrained_strategy(name, seed=3, budget=60):
    strategy = get_strategy(name, pop_size=8, **QUICK.get(name, {}))
    strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                 costs=lambda X: landscape(X)[:, 1:], violation=cost_violation))
    strategy.setup(SPACE.encoding, 2, budget, seed)
    return strategy


def run_constrained(strategy, archive, generations, fail_every=0):
    """As :func:`run_generations`, telling each batch's violations (and failing every ``fail_every``-th)."""
    asked = []
    for _ in range(generations):
        X = strategy.ask(archive)
        F = landscape(X)
        if fail_every:
            F[::fail_every] = np.nan
        V = np.where(np.isnan(F).any(axis=1), np.nan, cost_violation(X, F, F))
        for x, f, v in zip(X, F, V):
            archive.add(x, None if np.isnan(f).any() else f, v)
        strategy.tell(X, F, V)
        asked.append([tuple(int(v) for v in x) for x in X])
    return asked


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_behaves_unconstrained_when_all_is_feasible(name):
    plain = run_generations(new_strategy(name, seed=5), Archive(SPACE.encoding.n_var, 2), 4)
    strategy, archive, told = new_strategy(name, seed=5), Archive(SPACE.encoding.n_var, 2), []
    for _ in range(4):
        X = strategy.ask(archive)
        F = landscape(X)
        for x, f in zip(X, F):
            archive.add(x, f, 0.0)
        strategy.tell(X, F, np.zeros(len(X)))
        told.append([tuple(int(v) for v in x) for x in X])
    assert told == plain


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_resumes_exactly_under_constraints(name):
    first, archive = constrained_strategy(name, seed=9), Archive(SPACE.encoding.n_var, 2)
    run_constrained(first, archive, 3, fail_every=5)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = constrained_strategy(name, seed=1234)
    resumed.load_state_dict(state)
    replay = Archive(SPACE.encoding.n_var, 2)
    for x, f, v in zip(archive.X, archive.F, archive.V):
        replay.add(x, None if np.isnan(f).any() else f, v)
    assert run_constrained(first, archive, 3) == run_constrained(resumed, replay, 3)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_spends_no_less_on_feasible_genomes_than_unconstrained(name):
    """Constrained domination steers a search towards feasible genomes; random search is indifferent to it."""
    shares = []
    for constrained in (False, True):
        strategy, archive = (constrained_strategy if constrained else new_strategy)(name, seed=2, budget=64), \
            Archive(SPACE.encoding.n_var, 2)
        run_constrained(strategy, archive, 8) if constrained else run_generations(strategy, archive, 8)
        shares.append(float(np.mean(COST_BOUND.violation(archive.F[:, 1]) <= 0)))
    if name == "random":
        assert shares[1] == shares[0]
    else:
        assert shares[1] > shares[0], shares


# -- warm starts ----------------------------------------------------------------------------------
def warm_strategy(name, initial, seed=4, budget=60):
    """A strategy whose context holds a warm start's genomes (as the study binds them)."""
    strategy = get_strategy(name, pop_size=8, **QUICK.get(name, {}))
    strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                 costs=lambda X: landscape(X)[:, 1:], initial=initial))
    strategy.setup(SPACE.encoding, 2, budget, seed)
    return strategy


def distinct_genomes(n, seed):
    genomes, rng = {}, np.random.default_rng(seed)
    while len(genomes) < n:
        genome = SPACE.encoding.canonical(SPACE.sample(rng, 1)[0])
        genomes.setdefault(tuple(int(v) for v in genome), genome)
    return np.array(list(genomes.values()), dtype=np.int64)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_starts_with_a_warm_starts_genomes_then_fills_its_first_batch(name):
    plain = run_generations(new_strategy(name, seed=4), Archive(SPACE.encoding.n_var, 2), 3)
    empty = np.empty((0, SPACE.encoding.n_var), dtype=np.int64)
    assert run_generations(warm_strategy(name, empty), Archive(SPACE.encoding.n_var, 2), 3) == plain
    size = len(plain[0])
    for n in (3, size + 5):  # fewer than the first batch holds, and more: all of them come first
        initial = distinct_genomes(n, seed=n)
        given = np.vstack([initial, initial[:1]])  # a repeat is skipped
        runs = [run_generations(warm_strategy(name, given), Archive(SPACE.encoding.n_var, 2), 3) for _ in range(2)]
        assert runs[0] == runs[1]  # the same seed and warm start: the same run
        first = runs[0][0]
        assert first[:n] == [tuple(int(v) for v in x) for x in initial]
        assert len(first) == max(size, n)
        asked = [genome for batch in runs[0] for genome in batch]
        assert len(set(asked)) == len(asked)  # nothing asked twice, seeds included


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_resumes_a_warm_start_exactly_from_its_json_state(name):
    initial = distinct_genomes(5, seed=11)
    first, archive = warm_strategy(name, initial, seed=9), Archive(SPACE.encoding.n_var, 2)
    run_generations(first, archive, 1)
    resumed = warm_strategy(name, initial, seed=1234)  # the study binds the recorded seeds again
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    replay = Archive(SPACE.encoding.n_var, 2)
    for x, f in zip(archive.X, archive.F):
        replay.add(x, f)
    assert run_generations(first, archive, 2) == run_generations(resumed, replay, 2)

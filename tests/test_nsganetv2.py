"""NSGANetV2's surrogate-assisted strategy: subset selection, the loop, its stats, resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from conftest import METRIC, NB201, finished_evaluations, lookup_evaluator, run_cli

import nsganet
from nsganet.errors import ConfigError
from nsganet.moo.indicators import normalized_hypervolume
from nsganet.spaces import get_space
from nsganet.spaces.base import Encoding
from nsganet.strategies import Archive, get_strategy
from nsganet.strategies.base import ProblemContext
from nsganet.strategies.subset import select_front_fill, select_spread, spread_score

SPACE = get_space("nb201")


# -- subset selection ------------------------------------------------------------------------
def test_spread_score_is_the_std_of_sorted_gaps():
    assert spread_score([0, 10, 5]) == 0.0
    assert spread_score([0, 1, 4]) == pytest.approx(np.std([1, 3]))
    assert spread_score([3, 1]) == 0.0  # fewer than two gaps


def test_subset_selection_fills_the_gaps_of_the_front():
    front = np.array([0.0, 12.0])
    candidates = np.array([6.1, 3.0, 1.0, 9.0, 6.0, 11.5])
    assert select_spread(candidates, front, 3).tolist() == [1, 3, 4]  # 3, 9 and 6: gaps of 3
    assert select_spread(candidates, np.array([0.0, 10.0]), 1).tolist() == [4]  # 6 is nearest to 5


def test_subset_selection_returns_everything_when_there_are_few_candidates():
    assert select_spread(np.array([2.0, 1.0]), np.array([0.0]), 5).tolist() == [0, 1]
    assert select_spread(np.array([2.0, 1.0]), np.array([0.0]), 0).tolist() == []


def test_subset_selection_beats_random_subsets():
    rng = np.random.default_rng(0)
    candidates, front = rng.uniform(0, 100, 40), rng.uniform(0, 100, 6)
    chosen = select_spread(candidates, front, 8)
    assert len(set(chosen.tolist())) == 8
    best = spread_score(np.concatenate([front, candidates[chosen]]))
    randoms = [spread_score(np.concatenate([front, candidates[rng.choice(40, 8, replace=False)]]))
               for _ in range(200)]
    assert best < min(randoms)


def test_front_fill_picks_what_adds_hypervolume_once_per_gap():
    front = np.array([[10.0, 0.0], [0.0, 10.0]])
    # a candidate in the middle of the gap adds most; its twin at the same cost adds nothing once it is taken
    candidates = np.array([[5.0, 5.0], [5.5, 5.0], [9.0, 9.0], [2.0, 8.0], [12.0, 12.0]])
    assert select_front_fill(candidates, candidates, front, 1).tolist() == [0]
    chosen = select_front_fill(candidates, candidates, front, 2, fallback=False)
    assert chosen.tolist() == [0, 3]  # then the other gap, not the twin
    # without the fallback only candidates that add anything; with it the rest by what they alone would add
    assert len(select_front_fill(candidates, candidates, front, 5, fallback=False)) == 5  # k >= n: everything
    few = select_front_fill(candidates[[0, 1, 2]], candidates[[0, 1, 2]], front, 2, fallback=False)
    assert few.tolist() == [0]
    assert select_front_fill(candidates[[0, 1, 2]], candidates[[0, 1, 2]], front, 2).tolist() == [0, 1]


def test_front_fill_takes_a_doubtful_twin_only_when_optimism_says_it_may_win():
    front = np.array([[10.0, 0.0], [0.0, 10.0]])
    expected = np.array([[5.0, 5.0], [5.5, 5.0], [9.5, 9.5]])
    sure = select_front_fill(expected, expected, front, 2, fallback=False)
    optimistic = expected - np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # the twin might be 4.5
    doubtful = select_front_fill(optimistic, expected, front, 2, fallback=False)
    assert sure.tolist() == [0] and doubtful.tolist() == [0, 1]
    assert select_front_fill(expected, expected, front, 0).tolist() == []


# -- conditional variables -------------------------------------------------------------------
def test_inactive_variables_are_canonicalised():
    encoding = Encoding(np.zeros(3), np.array([2, 5, 5]), units=((0,), (1,), (2,)),
                        conditions=((1, 0, 1), (2, 0, 2)))
    assert encoding.canonical(np.array([0, 4, 3])).tolist() == [0, 0, 0]
    assert encoding.canonical(np.array([1, 4, 3])).tolist() == [1, 4, 0]
    assert encoding.canonical(np.array([[2, 4, 3]])).tolist() == [[2, 4, 3]]
    samples = encoding.sample(np.random.default_rng(0), 200)
    assert np.all(samples[samples[:, 0] < 1, 1] == 0) and np.all(samples[samples[:, 0] < 2, 2] == 0)
    with pytest.raises(ValueError, match="conditions"):
        Encoding(np.zeros(2), np.ones(2), units=((0,), (1,)), conditions=((1, 1, 1),))


def test_strategies_propose_only_canonical_genomes():
    encoding = Encoding(np.zeros(4), np.array([2, 4, 4, 4]), units=((0,), (1,), (2,), (3,)),
                        conditions=((2, 0, 1), (3, 0, 2)))
    strategy = get_strategy("nsga2", pop_size=10)
    strategy.setup(encoding, 2, budget=100, seed=0)
    archive = Archive(4, 2)
    for _ in range(4):
        X = strategy.ask(archive)
        assert np.array_equal(X, encoding.canonical(X))
        F = np.stack([X.sum(axis=1), -X[:, 1]], axis=1).astype(float)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)


# -- the strategy on its own ----------------------------------------------------------------
def nb201_objectives(accuracy):
    def objectives(X):
        X = np.atleast_2d(X)
        error = np.array([100.0 - accuracy[SPACE.to_string(x)] for x in X])
        return np.stack([error, costs(X)[:, 0]], axis=1)

    def costs(X):
        return np.array([[SPACE.analytic_costs(x)["flops"]] for x in np.atleast_2d(X)])

    return objectives, costs


def drive_v2(accuracy, budget, seed=0, **options):
    objectives, costs = nb201_objectives(accuracy)
    strategy = get_strategy("nsganetv2", **{"pop_size": 20, "predictor": "rbf", "n_doe": 20, **options})
    strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                 costs=costs))
    strategy.setup(SPACE.encoding, 2, budget, seed)
    archive = Archive(SPACE.encoding.n_var, 2)
    batches, infos = [], []
    while len(archive) < budget:
        X = strategy.ask(archive)[: budget - len(archive)]
        assert len({tuple(x) for x in X}) == len(X) and not any(x in archive for x in X)
        F = objectives(X)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)
        batches.append(X)
        infos.append(strategy.info())
    return archive, batches, infos


def test_design_of_experiments_holds_the_smallest_and_largest(nb201_accuracy):
    _, batches, infos = drive_v2(nb201_accuracy, 20)
    doe = batches[0]
    assert len(doe) == 20
    assert doe[0].tolist() == SPACE.smallest().tolist() and doe[1].tolist() == SPACE.largest().tolist()
    assert infos[0]["phase"] == "design of experiments"


def test_iterations_evaluate_k_candidates_and_report_predictor_quality(nb201_accuracy):
    _, batches, infos = drive_v2(nb201_accuracy, 60, n_candidates=8)
    assert [len(b) for b in batches] == [20, 8, 8, 8, 8, 8]
    for info in infos[1:]:
        surrogate = info["surrogate"]
        assert surrogate["model"] == "rbf" and surrogate["winner"] == "rbf"
        assert set(surrogate) >= {"rmse", "rho", "tau"}
        assert -1 <= surrogate["tau"] <= 1 and surrogate["rmse"] >= 0


def test_adaptive_switching_reports_its_winner(nb201_accuracy):
    _, _, infos = drive_v2(nb201_accuracy, 36, predictor="as", n_candidates=8)
    assert infos[-1]["surrogate"]["model"] == "as"
    assert infos[-1]["surrogate"]["winner"] in {"rbf", "gp", "mlp", "cart", "gbt"}


def test_same_seed_same_batches_and_state_dict_resumes_exactly(nb201_accuracy):
    _, first, _ = drive_v2(nb201_accuracy, 52, seed=3)
    _, again, _ = drive_v2(nb201_accuracy, 52, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    _, other, _ = drive_v2(nb201_accuracy, 52, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))

    objectives, costs = nb201_objectives(nb201_accuracy)
    context = ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,), costs=costs)
    a = get_strategy("nsganetv2", pop_size=20, predictor="rbf", n_doe=20)
    a.bind(context)
    a.setup(SPACE.encoding, 2, 52, 3)
    archive = Archive(6, 2)
    for _ in range(2):
        X = a.ask(archive)
        F = objectives(X)
        for x, f in zip(X, F):
            archive.add(x, f)
        a.tell(X, F)
    b = get_strategy("nsganetv2", pop_size=20, predictor="rbf", n_doe=20)
    b.bind(context)
    b.setup(SPACE.encoding, 2, 52, 999)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    from_a, from_b = a.ask(archive), b.ask(archive)
    assert np.array_equal(from_a, from_b) and np.array_equal(from_a, first[2])


def test_surrogate_search_beats_random_search_at_equal_budget(nb201_accuracy):
    objectives, _ = nb201_objectives(nb201_accuracy)
    everything = objectives(np.array([SPACE.from_string(a) for a in nb201_accuracy]))
    lower, upper = everything.min(axis=0), everything.max(axis=0) * 1.1

    def hv(F):
        return normalized_hypervolume(F, lower, upper)

    ours, theirs = [], []
    for seed in range(3):
        archive, _, _ = drive_v2(nb201_accuracy, 100, seed=seed)
        ours.append(hv(archive.F))
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(everything), 100, replace=False)
        theirs.append(hv(everything[picks]))
    assert np.median(ours) > np.median(theirs)


def true_front_ratio(accuracy, F):
    """Hypervolume of ``F`` over the exhaustive front's, normalised by its ideal and nadir (the benchmark's score)."""
    from nsganet.moo.indicators import pareto_front_mask

    objectives, _ = nb201_objectives(accuracy)
    everything = objectives(np.array([SPACE.from_string(a) for a in accuracy]))
    front = everything[pareto_front_mask(everything)]
    ideal, nadir = front.min(axis=0), front.max(axis=0)
    return (normalized_hypervolume(F[pareto_front_mask(F)], ideal, nadir, reference=1.1)
            / normalized_hypervolume(front, ideal, nadir, reference=1.1))


def test_default_loop_nears_the_true_front_in_100_evaluations(nb201_accuracy):
    """The default (descriptors, enumeration, front filling) on three seeds; the benchmark has ten and the peers."""
    objectives, costs = nb201_objectives(nb201_accuracy)
    ratios = []
    for seed in range(3):
        strategy = get_strategy("nsganetv2", pop_size=20)
        strategy.bind(ProblemContext(smallest=SPACE.smallest(), largest=SPACE.largest(), cost_columns=(1,),
                                     costs=costs, descriptors=SPACE.descriptors))
        strategy.setup(SPACE.encoding, 2, 100, seed)
        assert strategy.enumerates
        archive = Archive(6, 2)
        while len(archive) < 100:
            X = strategy.ask(archive)[: 100 - len(archive)]
            assert len({tuple(x) for x in X}) == len(X) and not any(x in archive for x in X)
            F = objectives(X)
            for x, f in zip(X, F):
                archive.add(x, f)
            strategy.tell(X, F)
        ratios.append(true_front_ratio(nb201_accuracy, archive.F))
    assert np.median(ratios) > 0.96, ratios


@pytest.mark.parametrize("options", [{"inner": "nsga2"}, {"ensemble": 3, "predictor": "gbt"},
                                     {"selection": "hypervolume"}, {"selection": "spread", "inner": "nsga2"}])
def test_other_loops_propose_new_distinct_candidates(nb201_accuracy, options):
    archive, batches, infos = drive_v2(nb201_accuracy, 44, **options)
    assert [len(b) for b in batches] == [20, 8, 8, 8] and len(archive) == 44
    assert infos[-1]["surrogate"]["model"] == options.get("predictor", "rbf")


def test_the_study_hands_the_space_descriptors_to_the_strategy(tmp_path, nb201_accuracy):
    strategy = get_strategy("nsganetv2", pop_size=10, n_doe=10)
    nsganet.search("nb201", lookup_evaluator(nb201_accuracy), ["error", "flops"], strategy, budget=18,
                   out=tmp_path / "run", progress=False, plots=False)
    genomes = np.array([SPACE.smallest(), SPACE.largest()])
    np.testing.assert_array_equal(strategy.context.descriptors(genomes), SPACE.descriptors(genomes))
    assert strategy.encode(genomes).shape == (2, 30 + 12)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown predictor"):
        get_strategy("nsganetv2", predictor="svm")
    with pytest.raises(ConfigError, match="features"):
        get_strategy("nsganetv2", features="embedding")
    with pytest.raises(ConfigError, match="n_candidates"):
        get_strategy("nsganetv2", n_candidates=0)
    for option, value in (("selection", "best"), ("inner", "grid"), ("doe", "sobol")):
        with pytest.raises(ConfigError, match=f"{option} must be one of"):
            get_strategy("nsganetv2", **{option: value})
    with pytest.raises(ConfigError, match="kappa"):
        get_strategy("nsganetv2", kappa=-1)
    with pytest.raises(ConfigError, match="ensemble"):
        get_strategy("nsganetv2", ensemble=0)
    strategy = get_strategy("nsganetv2")
    strategy.bind(ProblemContext(cost_columns=(0, 1)))
    with pytest.raises(ConfigError, match="not a cost"):
        strategy.setup(SPACE.encoding, 2, 100, 0)


# -- through the study ----------------------------------------------------------------------
def test_search_writes_iteration_stats_with_candidates_archive_and_surrogate(tmp_path, nb201_accuracy):
    result = nsganet.search("nb201", lookup_evaluator(nb201_accuracy), ["error", "flops"], "nsganetv2",
                            budget=40, seed=1, out=tmp_path / "run", progress=False, plots=False,
                            strategy_params={"n_doe": 16, "predictor": "rbf"})
    assert len(result.evaluations) == 40
    assert [len([e for e in result.evaluations if e.generation == g]) for g in range(4)] == [16, 8, 8, 8]
    stats = json.loads((tmp_path / "run" / "stats" / "gen_0003.json").read_text())
    assert len(stats["archive"]) == 40 and len(stats["candidates"]) == 8
    assert stats["strategy"]["surrogate"]["model"] == "rbf"
    assert {"rmse", "rho", "tau"} <= set(stats["strategy"]["surrogate"])
    assert stats["hypervolume"] > 0


def _v2_argv(table, config, out):
    return [*NB201, "--table", str(table), "--metric", METRIC, "--strategy", "nsganetv2", "--budget", "60",
            "--pop-size", "20", "--seed", "5", "--config", str(config), "--out", str(out), "-q", "--resume"]


@pytest.mark.slow
def test_killed_nsganetv2_search_resumes_to_the_uninterrupted_result(tmp_path, nb201_table):
    config = tmp_path / "v2.yaml"
    config.write_text(yaml.safe_dump({"strategy_params": {"n_doe": 20, "predictor": "rbf"}}))
    reference = run_cli(*_v2_argv(nb201_table, config, tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = 0
    for target in (5, 22, 37, 51):
        proc = subprocess.Popen([sys.executable, "-m", "nsganet", *_v2_argv(nb201_table, config, out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        while proc.poll() is None and finished_evaluations(out / "run.sqlite") < target:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        with sqlite3.connect(out / "run.sqlite") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert kills >= 3
    final = run_cli(*_v2_argv(nb201_table, config, out))
    assert final.returncode == 0, final.stderr
    assert (out / "evaluations.csv").read_text() == (tmp_path / "reference" / "evaluations.csv").read_text()


def test_a_tiny_space_is_searched_to_exhaustion():
    """Fewer architectures than the design of experiments wants: it takes them all, then proposes nothing new."""
    encoding = Encoding(np.zeros(2), np.array([2, 2]), units=((0,), (1,)))
    strategy = get_strategy("nsganetv2", pop_size=4, n_doe=6, predictor="cart")
    strategy.bind(ProblemContext(cost_columns=(1,), costs=lambda X: np.asarray(X, dtype=float)[:, :1] + 1.0))
    strategy.setup(encoding, 2, 9, 0)
    archive = Archive(2, 2)
    while len(archive) < 9:
        X = strategy.ask(archive)
        assert len(X) and not any(x in archive for x in X)
        F = np.stack([10.0 - X.sum(axis=1), X[:, 0] + 1.0], axis=1)
        for x, f in zip(X, F):
            archive.add(x, f)
        strategy.tell(X, F)
    assert len(archive) == 9 and len(strategy.ask(archive)) == 0

"""The simulated cluster: real evaluations on virtual workers and a virtual clock, for both schedules."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import METRIC

import nsganet
from nsganet.errors import NsganetError
from nsganet.executors.base import AsyncExecutor, Outcome
from nsganet.executors.simulated import SimulatedCluster, item_key, lognormal, table_column
from nsganet.spaces import get_space


def square(x):
    if x < 0:
        raise ValueError(f"item {x} is negative")
    return {"value": float(x * x)}


def by_value(item, outcome: Outcome) -> float:
    """Each item takes |item| seconds."""
    return float(abs(item))


def test_a_batch_is_list_scheduled_and_returns_at_its_last_finish():
    cluster = SimulatedCluster(square, workers=2, duration=by_value)
    assert isinstance(cluster, AsyncExecutor)
    outcomes = list(cluster.map_unordered([3, 1, 1, 2]))
    # worker 0 runs 3 (0-3); worker 1 runs 1 (0-1), 1 (1-2), then 2 (2-4)
    assert [o.index for o in outcomes] == [1, 2, 0, 3]
    assert [o.objectives for o in outcomes] == [{"value": 1.0}, {"value": 1.0}, {"value": 9.0}, {"value": 4.0}]
    assert [o.seconds for o in outcomes] == [1.0, 1.0, 3.0, 2.0]
    assert cluster.clock == 4.0
    assert [(s.index, s.worker, s.start, s.finish) for s in cluster.log] == [
        (0, 0, 0.0, 3.0), (1, 1, 0.0, 1.0), (2, 1, 1.0, 2.0), (3, 1, 2.0, 4.0)]
    assert cluster.busy_share() == pytest.approx(7 / 8)
    assert cluster.busy_share(until=2.0) == 1.0 and cluster.busy_share(until=3.5) == pytest.approx(6.5 / 7)
    list(cluster.map_unordered([1]))  # the next batch starts when the last one has finished
    assert cluster.log[-1].start == 4.0 and cluster.clock == 5.0
    assert cluster.busy_share() == pytest.approx(8 / 10)


def test_async_submissions_start_on_a_free_worker_at_the_clock():
    cluster = SimulatedCluster(square, workers=2, duration=by_value)
    cluster.submit(10, 4)
    cluster.submit(11, 1)
    assert cluster.in_flight() == 2
    first = cluster.next_outcome()
    assert (first.index, cluster.clock, cluster.in_flight()) == (11, 1.0, 1)
    cluster.submit(12, 2)  # the freed worker starts it now, at 1
    cluster.submit(13, 1)  # every worker busy: it waits for the first to free up (3)
    assert [cluster.next_outcome().index for _ in range(3)] == [12, 10, 13]
    assert cluster.clock == 4.0
    assert [(s.index, s.worker, s.start) for s in cluster.log[2:]] == [(12, 1, 1.0), (13, 1, 3.0)]
    assert cluster.busy_share() == pytest.approx(8 / 8)
    with pytest.raises(RuntimeError, match="no evaluation is in flight"):
        cluster.next_outcome()


def test_equal_finishes_come_back_in_submission_order_and_a_batch_needs_idle_workers():
    cluster = SimulatedCluster(square, workers=3, duration=lambda item, outcome: 1.0)
    for index in (5, 3, 4):
        cluster.submit(index, index)
    with pytest.raises(RuntimeError, match="in flight"):
        list(cluster.map_unordered([1]))
    assert [cluster.next_outcome().index for _ in range(3)] == [5, 3, 4]


def test_failures_are_outcomes_and_setup_mistakes_are_raised():
    cluster = SimulatedCluster(square, workers=2, duration=lambda item, outcome: 2.0 if outcome.reason else 1.0)
    outcomes = {o.index: o for o in cluster.map_unordered([2, -1])}
    assert outcomes[1].objectives is None and outcomes[1].reason == "ValueError: item -1 is negative"
    assert "Traceback" in outcomes[1].detail and outcomes[1].seconds == 2.0

    def mistake(item):
        raise NsganetError("data directory is missing")

    with pytest.raises(NsganetError, match="data directory is missing"):
        list(SimulatedCluster(mistake, workers=1, duration=by_value).map_unordered([1]))
    with pytest.raises(ValueError, match="not a finite number"):
        SimulatedCluster(square, workers=1, duration=lambda item, outcome: float("nan")).submit(0, 1)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        SimulatedCluster(square, workers=0, duration=by_value)


def test_lognormal_durations_are_per_architecture_reproducible_and_around_the_median():
    duration = lognormal(lambda item: 10.0, sigma=0.5, seed=3)
    genomes = [np.array(g) for g in np.random.default_rng(0).integers(0, 5, size=(2000, 6))]
    first = [duration(g, None) for g in genomes]
    again = [duration(tuple(int(v) for v in g), None) for g in reversed(genomes)][::-1]  # other type, other order
    assert first == again
    assert first != [lognormal(lambda item: 10.0, sigma=0.5, seed=4)(g, None) for g in genomes]
    logs = np.log(np.array(first) / 10.0)
    assert abs(np.median(logs)) < 0.05 and abs(np.std(logs) - 0.5) < 0.03
    assert lognormal(lambda item: 7.0, sigma=0.0)(genomes[0], None) == 7.0
    assert item_key((np.array([1, 2]), 12)) == "((1,2),12)" == item_key(((1, 2), np.int64(12)))


def test_durations_from_a_table_column(tmp_path):
    space = get_space("nb201")
    genomes = [np.array([0, 1, 2, 3, 4, 0]), np.array([4, 4, 4, 4, 4, 4])]
    table = tmp_path / "times.csv"
    table.write_text("arch,train_seconds\n" + "".join(f"{space.to_string(g)},{s}\n"
                                                      for g, s in zip(genomes, (120.5, 30.0))))
    duration = table_column(table, "train_seconds", space, scale=2.0)
    assert duration(genomes[0], None) == 241.0 and duration((genomes[1], 12), None) == 60.0


def test_thousands_of_evaluations_on_128_workers_take_little_real_time():
    cluster = SimulatedCluster(square, workers=128, duration=lognormal(lambda item: 1.0 + item % 7, seed=1))
    start = time.perf_counter()
    submitted = 0
    for _ in range(128):
        cluster.submit(submitted, submitted)
        submitted += 1
    while cluster.in_flight():
        cluster.next_outcome()
        if submitted < 5000:
            cluster.submit(submitted, submitted)
            submitted += 1
    assert time.perf_counter() - start < 5.0
    assert len(cluster.log) == 5000
    starts, finishes = sorted(s.start for s in cluster.log), sorted(s.finish for s in cluster.log)
    assert starts[128:] == finishes[:5000 - 128]  # no worker idles while there is work: only the tail does
    assert cluster.busy_share() > 0.9


def flops_median(item) -> float:
    return 1.0 + float(np.sum(item))


def table_search(table, out, strategy, factory=None, **options):
    return nsganet.search("nb201", None, "error,flops", strategy, budget=60, seed=1, out=out, table=table,
                          metric=METRIC, pop_size=20, progress=False, plots=False, executor_factory=factory,
                          **options)


def test_a_generational_search_on_the_simulated_cluster_evaluates_as_in_process_and_waits_for_each_batch(
        nb201_table, tmp_path):
    clusters = []

    def factory(fn):
        clusters.append(SimulatedCluster(fn, workers=8, duration=lognormal(flops_median, seed=2)))
        return clusters[-1]

    simulated = table_search(nb201_table, tmp_path / "sim", "nsga2", factory)
    plain = table_search(nb201_table, tmp_path / "plain", "nsga2")
    assert [e.arch for e in simulated.evaluations] == [e.arch for e in plain.evaluations]
    assert [e.objectives for e in simulated.evaluations] == [e.objectives for e in plain.evaluations]
    cluster, = clusters
    assert len(cluster.log) == 60
    # each generation (20 on 8 workers) starts when the one before has finished: the makespans add up
    expected = 0.0
    for generation in range(3):
        free = [expected] * 8
        for e in (e for e in simulated.evaluations if e.generation == generation):
            worker = int(np.argmin(free))
            free[worker] += e.seconds
        expected = max(free)
    assert cluster.clock == pytest.approx(expected)
    assert [e.seconds for e in simulated.evaluations] == [
        lognormal(flops_median, seed=2)(np.array(e.genome), None) for e in simulated.evaluations]


def test_an_async_search_on_the_simulated_cluster_keeps_every_worker_busy(nb201_table, tmp_path):
    clusters = []

    def factory(fn):
        clusters.append(SimulatedCluster(fn, workers=8, duration=lognormal(flops_median, seed=2)))
        return clusters[-1]

    result = table_search(nb201_table, tmp_path / "async", "nsga2", factory, schedule="async")
    cluster, = clusters
    assert len(result.evaluations) == len(cluster.log) == 60
    assert len({e.arch for e in result.evaluations}) == 60
    starts = sorted(s.start for s in cluster.log)
    assert starts[:8] == [0.0] * 8
    # until the budget's last proposals, a worker starts again when it finishes
    finishes = sorted(s.finish for s in cluster.log)
    assert sorted(starts[8:]) == pytest.approx(finishes[:52])
    again = table_search(nb201_table, tmp_path / "again", "nsga2", factory, schedule="async")
    assert [e.arch for e in again.evaluations] == [e.arch for e in result.evaluations]

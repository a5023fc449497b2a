"""Evaluation in local worker processes: results, failures with tracebacks, dead workers, thread shares."""

import os

import pytest

import nsganet
from nsganet.errors import NsganetError
from nsganet.executors import ProcessPoolExecutor, SerialExecutor, threads_per_worker


def square(x):
    if x == 3:
        raise ValueError("three is not allowed")
    if x == 5:
        raise NsganetError("fatal: bad configuration")
    return {"value": float(x * x), "pid": float(os.getpid())}


def die(x):
    if x == 1:
        os._exit(1)  # a worker killed mid-evaluation
    return {"value": float(x)}


def threads_seen(_):
    import torch

    return {"threads": float(torch.get_num_threads()), "pid": float(os.getpid())}


def test_pool_evaluates_in_worker_processes_and_reports_failures():
    pool = ProcessPoolExecutor(square, workers=2)
    try:
        outcomes = sorted(pool.map_unordered([0, 1, 2, 3, 4]), key=lambda o: o.index)
    finally:
        pool.close()
    assert [o.objectives["value"] for o in outcomes if o.reason is None] == [0, 1, 4, 16]
    failed = outcomes[3]
    assert failed.reason == "ValueError: three is not allowed"
    assert "Traceback" in failed.detail and "three is not allowed" in failed.detail
    assert {o.objectives["pid"] for o in outcomes if o.reason is None} - {float(os.getpid())}


def test_user_errors_stop_the_run_from_workers_too():
    pool = ProcessPoolExecutor(square, workers=2)
    try:
        with pytest.raises(NsganetError, match="fatal"):
            list(pool.map_unordered([5]))
    finally:
        pool.close()
    with pytest.raises(NsganetError):
        list(SerialExecutor(square).map_unordered([5]))


def test_a_dead_worker_fails_its_evaluation_and_the_pool_recovers():
    pool = ProcessPoolExecutor(die, workers=2)
    try:
        outcomes = list(pool.map_unordered([1]))
        assert outcomes[0].reason.startswith("worker process died")
        again = list(pool.map_unordered([2, 3]))
        assert sorted(o.objectives["value"] for o in again) == [2.0, 3.0]
    finally:
        pool.close()


def test_workers_share_the_cpu_threads():
    assert threads_per_worker(2, cpus=2) == 1 and threads_per_worker(1, cpus=8) == 8
    assert threads_per_worker(16, cpus=4) == 1
    pool = ProcessPoolExecutor(threads_seen, workers=2, threads=1)
    try:
        outcomes = list(pool.map_unordered([0, 1, 2, 3]))
    finally:
        pool.close()
    assert all(o.objectives["threads"] == 1.0 for o in outcomes)


def flaky(arch):
    genome = arch.genome
    if sum(genome) % 7 == 1:
        raise MemoryError("out of memory")
    return {"error": float(sum(genome)), "size": float(max(genome))}


def test_search_with_workers_records_failures_and_matches_serial(tmp_path):
    runs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        result = nsganet.search("nb201", flaky, ["error", "size"], "nsga2", budget=30, seed=0, out=out,
                                pop_size=10, workers=workers, progress=False, plots=False)
        failed = [e for e in result.evaluations if e.status == "failed"]
        assert failed and len(result.evaluations) == 30
        for e in failed:
            text = (out / "failed" / f"{e.seq:05d}.txt").read_text()
            assert e.arch in text and "MemoryError: out of memory" in text and "Traceback" in text
        assert not {e.arch for e in failed} & {e.arch for e in result.front}
        runs.append((out / "evaluations.csv").read_text())
    assert runs[0] == runs[1]

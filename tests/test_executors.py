"""Evaluation in local worker processes: results, failures with tracebacks, dead workers, thread shares."""

import os
from pathlib import Path

import pytest

import nsganet
from nsganet.errors import NsganetError
from nsganet.executors.base import ExecutorSettings, make_executor
from nsganet.executors.inprocess import SerialExecutor
from nsganet.executors.pool import ProcessPoolExecutor, assign_devices, threads_per_worker
from nsganet.utils.device import visible_gpus


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


def device_seen(rendezvous):
    """The device this worker sees, once every worker of the pool has started (so that all take items)."""
    import time

    folder, workers = rendezvous
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(os.listdir(folder)) < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"device": float(os.environ["CUDA_VISIBLE_DEVICES"]), "pid": float(os.getpid())}


def die_once(marker):
    """Kills its worker the first time it runs (a crash that does not repeat), then succeeds."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return {"value": 1.0}


def one_kills_its_worker(x):
    """Item 1 kills its worker every time; the others take a moment, so some run beside it."""
    import time

    if x == 1:
        time.sleep(0.05)
        os._exit(1)
    time.sleep(0.2)
    return {"value": float(x)}


def _refuse_to_load():
    raise RuntimeError("this evaluation function cannot be loaded in a worker")


class Unloadable:
    """An evaluation function that breaks every worker as it starts (it cannot be unpickled there)."""

    def __reduce__(self):
        return (_refuse_to_load, ())

    def __call__(self, x):
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


def test_visible_gpus_follow_cuda_visible_devices():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": " 3, 1 "}) == ["3", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == ["2"]  # CUDA ignores what follows an invalid id
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8a1f,GPU-77c2"}) == ["GPU-8a1f", "GPU-77c2"]
    import torch

    assert visible_gpus({}) == [str(i) for i in range(torch.cuda.device_count())]


def test_devices_are_assigned_round_robin():
    assert assign_devices(2, ["0", "1"]) == ["0", "1"]
    assert assign_devices(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert assign_devices(1, ["5", "6", "7"]) == ["5"]
    assert assign_devices(3, []) == [None, None, None]


@pytest.mark.parametrize("workers", [2, 4])
def test_each_pool_worker_sees_only_its_own_gpu(workers, tmp_path):
    pool = ProcessPoolExecutor(device_seen, workers=workers, threads=1, gpus=["0", "1"])
    try:
        outcomes = list(pool.map_unordered([(str(tmp_path), workers)] * (2 * workers)))
    finally:
        pool.close()
    device_of = {}
    for o in outcomes:
        assert o.reason is None, o.detail
        assert device_of.setdefault(o.objectives["pid"], o.objectives["device"]) == o.objectives["device"]
    assert len(device_of) == workers  # every worker took items
    per_device = [sum(d == g for d in device_of.values()) for g in (0.0, 1.0)]
    assert per_device == [workers // 2, workers // 2]  # each GPU gets its share of workers


def test_an_evaluation_whose_worker_died_once_is_retried(tmp_path):
    pool = ProcessPoolExecutor(die_once, workers=2, retries=1)
    try:
        outcomes = list(pool.map_unordered([str(tmp_path / "marker")]))
    finally:
        pool.close()
    assert outcomes[0].reason is None and outcomes[0].objectives == {"value": 1.0}
    never = ProcessPoolExecutor(die_once, workers=2, retries=0)
    try:
        outcomes = list(never.map_unordered([str(tmp_path / "other")]))
    finally:
        never.close()
    assert outcomes[0].reason == "worker process died (1 attempt)"


def test_executor_settings_choose_the_executor():
    assert isinstance(make_executor(square, ExecutorSettings(workers=1)), SerialExecutor)
    pool = make_executor(square, ExecutorSettings(workers=3, retries=4))
    assert isinstance(pool, ProcessPoolExecutor) and pool.workers == 3 and pool.retries == 4
    with pytest.raises(NsganetError, match="unknown executor 'slurm'"):
        make_executor(square, ExecutorSettings(kind="slurm"))


def test_only_the_evaluation_that_kills_its_worker_fails_the_others_are_rerun():
    pool = ProcessPoolExecutor(one_kills_its_worker, workers=2, threads=1, retries=1)
    try:
        outcomes = sorted(pool.map_unordered(list(range(8))), key=lambda o: o.index)
    finally:
        pool.close()
    assert [o.index for o in outcomes] == list(range(8))
    assert outcomes[1].reason == "worker process died (2 attempts)"
    assert all(o.reason is None and o.objectives == {"value": float(o.index)} for o in outcomes if o.index != 1)


def test_workers_that_die_before_evaluating_fail_the_batch_after_the_retries():
    pool = ProcessPoolExecutor(Unloadable(), workers=2, threads=1, retries=1)
    try:
        outcomes = list(pool.map_unordered([0, 1, 2]))
    finally:
        pool.close()
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert {o.reason for o in outcomes} == {"worker processes keep dying before they evaluate (2 attempts)"}


def test_one_at_a_time_only_the_evaluation_that_kills_its_worker_fails_the_others_are_rerun():
    pool = ProcessPoolExecutor(one_kills_its_worker, workers=2, threads=1, retries=1)
    outcomes = []
    try:
        todo = list(range(8))
        for item in todo[:pool.slots]:
            pool.submit(item, item)
        todo = todo[pool.slots:]
        while pool.in_flight():
            outcomes.append(pool.next_outcome())
            if todo:  # the freed slot gets the next evaluation at once
                pool.submit(todo[0], todo.pop(0))
    finally:
        pool.close()
    outcomes.sort(key=lambda o: o.index)
    assert [o.index for o in outcomes] == list(range(8))
    assert outcomes[1].reason == "worker process died (2 attempts)"
    assert all(o.reason is None and o.objectives == {"value": float(o.index)} for o in outcomes if o.index != 1)


def test_one_at_a_time_a_worker_that_died_once_is_retried_and_dying_workers_fail_after_the_retries(tmp_path):
    pool = ProcessPoolExecutor(die_once, workers=2, retries=1)
    try:
        pool.submit(5, str(tmp_path / "marker"))
        outcome = pool.next_outcome()
    finally:
        pool.close()
    assert (outcome.index, outcome.reason, outcome.objectives) == (5, None, {"value": 1.0})
    dying = ProcessPoolExecutor(Unloadable(), workers=2, threads=1, retries=1)
    try:
        for index in (0, 1, 2):
            dying.submit(index, index)
        outcomes = [dying.next_outcome() for _ in range(3)]
        assert dying.in_flight() == 0
    finally:
        dying.close()
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert {o.reason for o in outcomes} == {"worker processes keep dying before they evaluate (2 attempts)"}

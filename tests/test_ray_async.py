"""The asynchronous schedule on a two-node Ray cluster whose worker process is killed mid-evaluation.

Its own module (and so its own cluster): stopping a cluster stops every Ray
process on the machine.
"""

import importlib.util
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from ray_cluster import evaluating_workers, local_cluster, store_counts

import nsganet
from nsganet.search.rundir import RunDirectory
from nsganet.search.store import RunStore

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the Ray executor tests need Ray: pip install 'nsganet[ray]'")

TESTS = Path(__file__).resolve().parent
BUDGET = 14


@pytest.mark.slow
def test_an_async_search_on_a_ray_cluster_accounts_for_every_evaluation_when_a_worker_dies(tmp_path):
    from ray_evaluators import slow_sum

    store = tmp_path / "run" / "run.sqlite"
    with local_cluster(nodes=2, cpus_per_node=1, pythonpath=str(TESTS)) as address:
        killed = []

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 240
            while not killed and time.monotonic() < deadline:
                busy = evaluating_workers()
                if busy and store.exists() and store_counts(store).get("ok", 0) >= 3:
                    os.kill(busy[0], signal.SIGKILL)  # a worker process dies mid-evaluation
                    killed.append(busy[0])
                time.sleep(0.02)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        result = nsganet.search("nb201", slow_sum, ["error", "size"], "nsga2", budget=BUDGET, seed=4,
                                out=tmp_path / "run", pop_size=4, executor="ray", ray_address=address,
                                schedule="async", progress=False, plots=False)
        killer.join()
    assert killed, "no evaluation was running on the cluster to kill"
    assert len(result.evaluations) == BUDGET and len({e.arch for e in result.evaluations}) == BUDGET
    assert all(e.status == "ok" or e.reason for e in result.evaluations)
    assert store_counts(store) == {"ok": BUDGET}  # the killed evaluation ran again: nothing lost, nothing twice
    assert all(e.objectives["error"] == sum(e.genome) for e in result.evaluations)
    with RunStore(store) as done:
        assert sorted(done.completion_order()) == list(range(BUDGET))
    RunDirectory(tmp_path / "run").check_store()

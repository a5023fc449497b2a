"""A Ray worker node that dies mid-search: its evaluations run again on the nodes left.

Its own module (and so its own cluster): the node it kills is gone for good,
and stopping a cluster stops every Ray process on the machine.
"""

import importlib.util
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import finished_evaluations
from ray_cluster import local_cluster

import nsganet

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the Ray executor tests need Ray: pip install 'nsganet[ray]'")

TESTS = Path(__file__).resolve().parent


def worker_node_raylets() -> list[int]:
    """Pids of the raylets of non-head nodes (the head's lists the head marker among its resources)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in ps.splitlines()
            if "/raylet/raylet " in line and "__internal_head__" not in line]


def test_evaluations_of_a_dead_node_are_rerun_on_the_others(tmp_path):
    from ray_evaluators import slow_sum

    options = {"pop_size": 6, "progress": False, "plots": False}
    local = nsganet.search("nb201", slow_sum, ["error", "size"], "nsga2", budget=18, seed=4,
                           out=tmp_path / "local", **options)
    with local_cluster(nodes=2, cpus_per_node=1, pythonpath=str(TESTS)) as address:
        raylets = worker_node_raylets()
        assert len(raylets) == 1
        killed = []

        def kill_node_after_three_results() -> None:
            while finished_evaluations(tmp_path / "ray" / "run.sqlite") < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(raylets[0], signal.SIGKILL)  # the whole node: its raylet, and with it its workers
            killed.append(raylets[0])

        deadline = time.monotonic() + 300
        killer = threading.Thread(target=kill_node_after_three_results, daemon=True)
        killer.start()
        result = nsganet.search("nb201", slow_sum, ["error", "size"], "nsga2", budget=18, seed=4,
                                out=tmp_path / "ray", executor="ray", ray_address=address, **options)
        killer.join()
    assert killed, "the worker node was not killed"
    assert [e.status for e in result.evaluations] == ["ok"] * 18
    assert (tmp_path / "ray" / "evaluations.csv").read_text() == (tmp_path / "local" / "evaluations.csv").read_text()
    assert len(local.evaluations) == 18

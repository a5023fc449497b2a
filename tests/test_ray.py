"""The Ray executor on a real local cluster: a head and a worker node started with ``ray start`` on loopback."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from ray_cluster import evaluating_workers, local_cluster, store_counts

import nsganet
from nsganet.errors import NsganetError

# Not imported here: Ray reads its authentication settings when it is first imported, after the fixture set them.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the Ray executor tests need Ray: pip install 'nsganet[ray]'")

TESTS = Path(__file__).resolve().parent
TINY_SEARCH = ["search", "--space", "micro", "--epochs", "1", "--train-images", "160", "--batch-size", "32",
               "--channels", "4", "--budget", "10", "--pop-size", "5", "--seed", "3", "-q"]


@pytest.fixture(scope="module")
def cluster():
    """Address of a two-node Ray cluster on this machine (one CPU each), stopped after the module."""
    with local_cluster(nodes=2, cpus_per_node=1, pythonpath=str(TESTS)) as address:
        yield address


def test_search_on_the_cluster_survives_a_killed_worker_and_matches_a_local_run(tmp_path, cluster):
    local = run_cli(*TINY_SEARCH, "--out", str(tmp_path / "local"), "--workers", "1")
    assert local.returncode == 0, local.stderr

    out = tmp_path / "ray"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "nsganet", *TINY_SEARCH, "--out", str(out), "--executor", "ray",
                             "--ray-address", cluster], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        busy = evaluating_workers()
        if busy and (out / "run.sqlite").exists() and store_counts(out / "run.sqlite").get("ok", 0) >= 2:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)  # a worker process dies mid-evaluation
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert killed is not None, "no evaluation was running on the cluster to kill"
    counts = store_counts(out / "run.sqlite")
    assert counts == {"ok": 10}, counts  # the killed evaluation was retried: every evaluation accounted for
    assert (out / "evaluations.csv").read_text() == (tmp_path / "local" / "evaluations.csv").read_text()
    assert "evaluated 10 architectures (0 failed)" in stdout


def test_evaluations_that_kill_every_worker_are_recorded_as_failed(tmp_path, cluster):
    from ray_evaluators import dies_on_some

    result = nsganet.search("nb201", dies_on_some, ["error", "size"], "nsga2", budget=16, seed=1,
                            out=tmp_path / "run", pop_size=8, executor="ray", ray_address=cluster, eval_retries=1,
                            progress=False, plots=False)
    killers = [e for e in result.evaluations if int(sum(e.genome)) % 5 == 0]
    assert killers, "the seed must draw at least one genome whose evaluation kills its worker"
    assert all(e.status == "failed" and e.reason.startswith("Ray worker died (2 attempts)") for e in killers)
    others = [e for e in result.evaluations if e not in killers]
    assert all(e.status == "ok" and e.objectives["error"] == sum(e.genome) for e in others)
    assert store_counts(tmp_path / "run" / "run.sqlite") == {"failed": len(killers), "ok": len(others)}


def test_a_setup_error_inside_a_task_stops_the_search(tmp_path, cluster):
    from ray_evaluators import fails_on_setup

    with pytest.raises(NsganetError, match="data directory is missing"):
        nsganet.search("nb201", fails_on_setup, ["error", "flops"], "nsga2", budget=4, seed=0, out=tmp_path / "run",
                       pop_size=4, executor="ray", ray_address=cluster, progress=False, plots=False)


def test_tasks_larger_than_any_node_are_refused(tmp_path, cluster, nb201_table):
    result = run_cli("search", "--space", "nb201", "--table", str(nb201_table), "--metric", "cifar10_test_acc_200ep",
                     "--budget", "4", "--executor", "ray", "--ray-address", cluster, "--cpus-per-eval", "4",
                     "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "nsganet: error: no Ray node has 4 CPU and 0 GPU for one evaluation (nodes: 1 CPU/0 GPU, 1 CPU/0 GPU); "
        "lower --cpus-per-eval/--gpus-per-eval"]


def test_without_ray_the_option_says_how_to_install_it(tmp_path, nb201_table):
    hide_ray = "import sys; sys.modules['ray'] = None; from nsganet.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", hide_ray, "search", "--space", "nb201", "--table", str(nb201_table), "--metric",
         "cifar10_test_acc_200ep", "--executor", "ray", "--out", str(tmp_path / "run"), "-q"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "nsganet: error: --executor ray needs Ray, which is not installed: pip install 'nsganet[ray]' "
        "(or: pip install ray)"]
    assert not (tmp_path / "run").exists()


def test_ray_options_need_the_ray_executor(tmp_path, nb201_table):
    result = run_cli("search", "--space", "nb201", "--table", str(nb201_table), "--metric", "cifar10_test_acc_200ep",
                     "--gpus-per-eval", "1", "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 2 and "apply to --executor ray" in result.stderr


"""Crash safety: SIGKILL a real ``nsganet search`` at random moments and resume it each time.

Three searches, each killed ten times: NSGANetV1 on the NAS-Bench-201 table,
NSGANetV1 proxy-training on the embedded digits in two worker processes, and
NSGANetV2 on the mobilenetv3 space with its supernet trained inside the run
(the first kills land during that training). After every kill the store must
pass SQLite's integrity check; the resumed run must end with exactly the files
of an uninterrupted run with the same seed.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import METRIC, NB201, finished_evaluations, run_cli

TABLE_BUDGET = 150
DIGITS_BUDGET = 12
V2_BUDGET = 16


def table_search(table, out):
    return [*NB201, "--table", str(table), "--metric", METRIC, "--strategy", "nsganetv1", "--budget",
            str(TABLE_BUDGET), "--pop-size", "10", "--seed", "11", "--out", str(out), "-q", "--resume"]


def digits_search(out):
    return ["search", "--epochs", "1", "--train-images", "160", "--channels", "4", "--budget", str(DIGITS_BUDGET),
            "--pop-size", "4", "--seed", "5", "--workers", "2", "--out", str(out), "-q", "--resume"]


def v2_search(out):
    return ["search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet-epochs", "2",
            "--vld-size", "1000", "--budget", str(V2_BUDGET), "-S", "n_doe=8", "-S", "n_candidates=4",
            "-S", "predictor=rbf", "-S", "generations=5", "--seed", "2", "--workers", "1",
            "--out", str(out), "-q", "--resume"]


def kill_at(targets: list[Callable[[], bool]], argv: list[str], out: Path, rng: random.Random) -> list[int]:
    """Start the search once per target, SIGKILL it once the target holds (plus a random delay).

    Returns the number of finished evaluations in the store at each kill made.
    """
    store = out / "run.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = []
    for reached in targets:
        proc = subprocess.Popen([sys.executable, "-m", "nsganet", *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        while proc.poll() is None and not reached():
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere: mid-evaluation, mid-commit, mid-write
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the search and its worker processes, all at once
            kills.append(finished_evaluations(store))
        proc.wait()
        if store.exists():
            with sqlite3.connect(store) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return kills


def evaluations_reach(store: Path, n: int) -> Callable[[], bool]:
    return lambda: finished_evaluations(store) >= n


def assert_same_run(out: Path, reference: Path) -> None:
    for name in ("evaluations.csv", "front.csv"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    stats = sorted(p.name for p in (out / "stats").iterdir())
    assert stats == sorted(p.name for p in (reference / "stats").iterdir())
    for name in stats:
        assert (out / "stats" / name).read_text() == (reference / "stats" / name).read_text(), name


def test_ten_random_kills_then_resume_give_the_uninterrupted_result(tmp_path, nb201_table):
    reference = run_cli(*table_search(nb201_table, tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(1, TABLE_BUDGET - 5), 10))  # evaluations finished before each kill
    kills = kill_at([evaluations_reach(out / "run.sqlite", n) for n in targets], table_search(nb201_table, out),
                    out, rng)
    assert len(kills) >= 8  # the search must really have been interrupted

    final = run_cli(*table_search(nb201_table, out))
    assert final.returncode == 0, final.stderr
    assert_same_run(out, tmp_path / "reference")


@pytest.mark.slow
def test_killed_digits_search_in_worker_processes_resumes_to_the_uninterrupted_result(tmp_path):
    reference = run_cli(*digits_search(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    rng = random.Random(99)
    targets = [0, *sorted(rng.sample(range(1, DIGITS_BUDGET), 9))]  # the first kill before any result
    kills = kill_at([evaluations_reach(out / "run.sqlite", n) for n in targets], digits_search(out), out, rng)
    assert len(kills) >= 8

    final = run_cli(*digits_search(out))
    assert final.returncode == 0, final.stderr
    assert_same_run(out, tmp_path / "reference")


@pytest.mark.slow
def test_killed_v2_search_resumes_through_supernet_training_to_the_uninterrupted_result(tmp_path):
    reference = run_cli(*v2_search(tmp_path / "reference"), timeout=600)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    store, checkpoint = out / "run.sqlite", out / "supernet" / "checkpoint.pt"
    rng = random.Random(7)

    def training_for(seconds: float) -> Callable[[], bool]:
        """Supernet training has run for ``seconds`` in this process (kills inside an epoch)."""
        started = [None]

        def reached() -> bool:
            if started[0] is None and (out / "supernet").exists():
                started[0] = time.monotonic()
            return finished_evaluations(store) > 0 or (
                started[0] is not None and time.monotonic() - started[0] >= seconds)
        return reached

    during_training = [training_for(rng.uniform(0.5, 6.0)) for _ in range(2)]
    after_first_epoch = [lambda: checkpoint.exists()]  # right as the first epoch's checkpoint lands
    targets = sorted(rng.sample(range(1, V2_BUDGET), 7))
    kills = kill_at([*during_training, *after_first_epoch, *(evaluations_reach(store, n) for n in targets)],
                    v2_search(out), out, rng)
    assert len(kills) >= 8
    assert kills[:3] == [0, 0, 0]  # the first three landed before any evaluation: in supernet training

    final = run_cli(*v2_search(out), timeout=600)
    assert final.returncode == 0, final.stderr
    assert_same_run(out, tmp_path / "reference")

"""Crash safety: SIGKILL a real ``nsganet search`` at random moments and resume it each time."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import METRIC, NB201, run_cli

BUDGET = 150


def search_argv(table, out):
    return [*NB201, "--table", str(table), "--metric", METRIC, "--strategy", "nsganetv1", "--budget",
            str(BUDGET), "--pop-size", "10", "--seed", "11", "--out", str(out), "-q", "--resume"]


def finished_evaluations(store) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM evaluations WHERE status != 'running'").fetchone()[0]
    except sqlite3.Error:  # created but schema not written yet
        return 0


def test_ten_random_kills_then_resume_give_the_uninterrupted_result(tmp_path, nb201_table):
    reference = run_cli(*search_argv(nb201_table, tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    store = out / "run.sqlite"
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(1, BUDGET - 5), 10))  # evaluations finished before each kill
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = 0
    for target in targets:
        proc = subprocess.Popen([sys.executable, "-m", "nsganet", *search_argv(nb201_table, out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        while proc.poll() is None and finished_evaluations(store) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land anywhere: mid-evaluation, mid-commit, mid-write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        with sqlite3.connect(store) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert kills >= 8  # the search must really have been interrupted

    final = run_cli(*search_argv(nb201_table, out))
    assert final.returncode == 0, final.stderr
    for name in ("evaluations.csv", "front.csv"):
        assert (out / name).read_text() == (tmp_path / "reference" / name).read_text(), name
    stats = sorted(p.name for p in (out / "stats").iterdir())
    assert stats == sorted(p.name for p in (tmp_path / "reference" / "stats").iterdir())
    for name in stats:
        assert (out / "stats" / name).read_text() == (tmp_path / "reference" / "stats" / name).read_text()

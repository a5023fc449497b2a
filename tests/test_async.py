"""The asynchronous schedule (``--schedule async``): real searches on the NAS-Bench-201 table and a jittered
evaluator, in this process and in worker processes; what the store records, and exact resumption after an
interrupt and after a SIGKILL."""

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from async_evaluations import jittered
from conftest import METRIC, finished_evaluations

import nsganet
from nsganet.errors import ConfigError, NsganetError
from nsganet.search.callbacks import Callback
from nsganet.search.rundir import RunDirectory
from nsganet.search.store import RunStore
from nsganet.strategies.random_search import RandomSearch

TESTS = Path(__file__).resolve().parent
#: Options that keep nsganetv2 quick.
QUICK = {"nsganetv2": {"n_doe": 10, "n_candidates": 4, "predictor": "rbf", "generations": 3}}


def table_search(table, out, strategy="random", budget=40, seed=0, **options):
    if isinstance(strategy, str):
        options.setdefault("strategy_params", QUICK.get(strategy, {}))
    return nsganet.search("nb201", None, "error,flops", strategy, budget=budget, seed=seed, out=out,
                          table=str(table), metric=METRIC, pop_size=8, progress=False, plots=False,
                          schedule="async", **options)


def recorded(out: Path) -> tuple[list[tuple], list[int]]:
    """Every evaluation (number, architecture, generation, status, values) and the completion order."""
    with RunStore(Path(out) / "run.sqlite") as store:
        rows = [(e.seq, e.arch, e.generation, e.status, sorted(e.objectives.items()))
                for e in store.evaluations(finished_only=False)]
        return rows, store.completion_order()


def assert_complete(out: Path, budget: int) -> None:
    """Every proposal stored once and finished, numbered without a gap, each completed once; the store checks."""
    rows, order = recorded(out)
    assert [r[0] for r in rows] == list(range(budget))
    assert len({r[1] for r in rows}) == budget
    assert all(r[3] in ("ok", "failed") for r in rows)
    assert sorted(order) == list(range(budget))
    RunDirectory(out).check_store()


class Interrupt(Callback):
    """Stops the search (like a Ctrl-C) once ``after`` evaluations have completed."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    def on_evaluation(self, study, evaluation, detail, reused) -> None:
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("strategy", ["random", "nsga2", "nsganetv1", "nsganetv2"])
def test_an_async_run_in_this_process_is_deterministic_under_its_seed(tmp_path, nb201_table, strategy):
    first = table_search(nb201_table, tmp_path / "a", strategy)
    second = table_search(nb201_table, tmp_path / "b", strategy)
    assert recorded(tmp_path / "a") == recorded(tmp_path / "b")
    assert (tmp_path / "a" / "evaluations.csv").read_text() == (tmp_path / "b" / "evaluations.csv").read_text()
    assert [s["hypervolume"] for s in first.stats] == [s["hypervolume"] for s in second.stats]
    assert len(first.stats) == 5  # 40 completions, a generation every 8
    assert_complete(tmp_path / "a", 40)
    other = table_search(nb201_table, tmp_path / "c", strategy, seed=1)
    assert recorded(tmp_path / "c")[0] != recorded(tmp_path / "a")[0]
    assert len(other.evaluations) == 40


@pytest.mark.parametrize(("strategy", "after"),
                         [("random", 5), ("nsga2", 8), ("nsga2", 13), ("nsganetv1", 21), ("nsganetv2", 11)])
def test_an_interrupted_async_run_resumes_to_the_uninterrupted_one(tmp_path, nb201_table, strategy, after):
    reference = table_search(nb201_table, tmp_path / "reference", strategy)
    with pytest.raises(KeyboardInterrupt):
        table_search(nb201_table, tmp_path / "run", strategy, callbacks=[Interrupt(after)])
    rows, order = recorded(tmp_path / "run")
    assert len(order) == after and sum(r[3] == "running" for r in rows) == 1  # the one in flight
    resumed = table_search(nb201_table, tmp_path / "run", strategy, resume=True)
    assert recorded(tmp_path / "run") == recorded(tmp_path / "reference")
    assert [s["hypervolume"] for s in resumed.stats] == [s["hypervolume"] for s in reference.stats]
    for name in ("evaluations.csv", "front.csv"):
        assert (tmp_path / "run" / name).read_text() == (tmp_path / "reference" / name).read_text()


def test_an_async_run_in_worker_processes_records_every_proposal_and_completion(tmp_path):
    budget = 30
    result = nsganet.search("nb201", jittered, "error,flops", "nsga2", budget=budget, seed=2, out=tmp_path / "run",
                            pop_size=6, progress=False, plots=False, schedule="async", workers=2)
    assert len(result.evaluations) == budget and len(result.stats) == 5
    assert_complete(tmp_path / "run", budget)
    rows, order = recorded(tmp_path / "run")
    # a generation is 6 completions, whatever the order they were proposed in
    assert [rows[seq][2] for seq in order] == [position // 6 for position in range(budget)]
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as conn:
        started = [seq for (seq,) in conn.execute("SELECT seq FROM evaluations ORDER BY started")]
    assert started == list(range(budget))  # numbered in the order they were proposed


def test_the_store_of_an_async_run_is_checked_row_by_row(tmp_path, nb201_table):
    table_search(nb201_table, tmp_path / "run", budget=16)
    store = tmp_path / "run" / "run.sqlite"
    RunDirectory(tmp_path / "run").check_store()
    with sqlite3.connect(store) as conn:
        seq = conn.execute("SELECT seq FROM completions WHERE position = 15").fetchone()[0]
        conn.execute("DELETE FROM completions WHERE position = 15")
    with pytest.raises(NsganetError, match="step 16 does not follow the 15 completions"):
        RunDirectory(tmp_path / "run").check_store()
    with sqlite3.connect(store) as conn:
        conn.execute("INSERT INTO completions (position, seq) VALUES (16, ?)", (seq,))
    with pytest.raises(NsganetError, match="completion 15 is missing"):
        RunDirectory(tmp_path / "run").check_store()
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE completions SET position = 15 WHERE position = 16")
        conn.execute("UPDATE evaluations SET generation = 0 WHERE seq = ?", (seq,))
    with pytest.raises(NsganetError, match=f"evaluation {seq} belongs to generation 0, its completion to 1"):
        RunDirectory(tmp_path / "run").check_store()


def test_a_schedule_that_cannot_run_is_refused_in_one_line(tmp_path, nb201_table):
    @dataclass
    class Batched(RandomSearch):
        name = "batched"
        supports_async = False

    with pytest.raises(ConfigError, match="strategy batched cannot run the async schedule"):
        table_search(nb201_table, tmp_path / "a", Batched(pop_size=8))
    class Curve:  # an evaluator that trains for a given number of epochs
        def with_epochs(self, epochs):
            return self

        def __call__(self, arch):
            return jittered(arch)

    with pytest.raises(ConfigError, match=r"multi-fidelity .* not supported with --schedule async"):
        nsganet.search("nb201", Curve(), "error", "random", budget=8, out=tmp_path / "b", progress=False,
                       plots=False, schedule="async", fidelity_eta=2, epochs=4)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    table_search(nb201_table, tmp_path / "c", budget=8)
    with pytest.raises(NsganetError, match="config differs in schedule"):
        nsganet.search("nb201", None, "error,flops", "random", budget=8, out=tmp_path / "c", table=str(nb201_table),
                       metric=METRIC, pop_size=8, progress=False, plots=False, resume=True)


# -- a real search killed mid-run ----------------------------------------------------------------
def slow_search(table, out):
    return ["search", "--space", "nb201", "--table", str(table), "--metric", METRIC, "--strategy", "nsga2",
            "--schedule", "async", "--executor", "local", "--workers", "2", "--budget", "24", "--pop-size", "6",
            "--seed", "4", "--out", str(out), "-q", "--resume"]


def starts(log: Path) -> collections.Counter:
    return collections.Counter(log.read_text().split()) if log.exists() else collections.Counter()


@pytest.mark.slow
def test_a_sigkilled_async_search_resumes_rerunning_only_what_was_running(tmp_path, nb201_table):
    out, log = tmp_path / "run", tmp_path / "starts.txt"
    store = out / "run.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NSGANET_TEST_DELAY": "0.2", "NSGANET_TEST_STARTS": str(log)}
    argv = [sys.executable, str(TESTS / "async_evaluations.py"), *slow_search(nb201_table, out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and finished_evaluations(store) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # mid-evaluation
    assert proc.poll() is None, proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # the search and its worker processes, all at once
    proc.wait()
    proc.stderr.close()
    before = starts(log)
    with RunStore(store) as killed:
        rows = killed.evaluations(finished_only=False)
    finished = {e.arch for e in rows if e.status != "running"}
    running = {e.arch for e in rows if e.status == "running"}
    assert 9 <= len(finished) < 24 and running, "the search must be killed mid-run"

    resumed = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = starts(log)
    assert_complete(out, 24)
    assert all(after[arch] == before[arch] for arch in finished)  # finished: never evaluated again
    assert all(after[arch] == before[arch] + 1 for arch in running)  # running: issued again exactly once
    with RunStore(store) as done:
        final = done.evaluations()
    assert [e.arch for e in final if e.arch in finished | running] == [e.arch for e in rows]  # same numbers
    assert all(after[e.arch] == 1 for e in final if e.arch not in finished | running)

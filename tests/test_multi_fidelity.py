"""Multi-fidelity evaluation: successive halving of each generation's new architectures over rungs of epochs.

The schedule and the promotion rule on their own; searches with a cheap
evaluator whose error falls with the epochs (interrupted at every point and
resumed, checked against the uninterrupted run); and real proxy searches on
the embedded digits, in-process, in two worker processes, and killed and
resumed through the CLI.
"""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import nsganet
from nsganet.config import SearchConfig
from nsganet.errors import ConfigError, NsganetError
from nsganet.moo.front import front_of
from nsganet.search.callbacks import Callback
from nsganet.search.fidelity import Fidelity, full_fidelity, kept, promote, rung_epochs, trained_epochs
from nsganet.search.rundir import RunDirectory
from nsganet.search.store import RunStore

DIGITS = {"epochs": 3, "fidelity_eta": 3, "train_images": 64, "batch_size": 32, "channels": 4}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def stored_rungs(out: Path):
    with RunStore.read_only(out / "run.sqlite", live=False) as store:
        return store.rungs()


def assert_same_files(out: Path, reference: Path) -> None:
    for name in ("evaluations.csv", "front.csv"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    stats = sorted(p.name for p in (reference / "stats").iterdir())
    assert sorted(p.name for p in (out / "stats").iterdir()) == stats
    for name in stats:
        assert (out / "stats" / name).read_text() == (reference / "stats" / name).read_text(), name


# -- the schedule and the promotion rule --------------------------------------------------------------------------
def test_rungs_grow_by_eta_and_end_at_the_full_epochs():
    assert rung_epochs(1, 3, 9) == (1, 3, 9)
    assert rung_epochs(1, 3, 10) == (1, 3, 9, 10)
    assert rung_epochs(2, 2, 16) == (2, 4, 8, 16)
    assert rung_epochs(1, 4, 3) == (1, 3)  # capped by the full epochs
    assert Fidelity(3, 1, 9).rungs == (1, 3, 9)
    with pytest.raises(ConfigError, match="fidelity_eta must be at least 2"):
        rung_epochs(1, 1, 9)
    with pytest.raises(ConfigError, match="below epochs"):
        Fidelity(3, 9, 9)


def test_a_rung_keeps_ceil_n_over_eta_and_at_least_one():
    assert [kept(n, 3) for n in (0, 1, 2, 3, 4, 9, 10)] == [0, 1, 1, 1, 2, 3, 4]
    assert kept(5, 2) == 3


def test_dominated_candidates_are_not_promoted():
    # (partial error, flops): rows 0, 3 and 4 are non-dominated; 1, 2 and 5 are dominated by row 0
    F = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.5, 4.0], [4.0, 0.5], [5.0, 5.0]])
    assert promote(F, 2) == [0, 3, 4]
    assert promote(F, 3) == [3, 4]  # two of the front: its extremes (infinite crowding distance) first
    assert promote(F[[1, 2, 5]], 3) == [0]  # the best of a dominated set still goes on


def test_failed_candidates_are_never_promoted():
    F = np.array([[np.nan, np.nan], [3.0, 3.0], [np.nan, 1.0], [2.0, 4.0]])
    assert promote(F, 2) == [1, 3]
    assert promote(F[[0, 2]], 2) == []
    assert promote(np.empty((0, 2)), 3) == []


def test_the_configuration_refuses_what_cannot_train_in_rungs(tmp_path):
    assert SearchConfig(fidelity_eta=3, epochs=9).fidelity_eta == 3
    refusals = [
        ({"fidelity_eta": 1}, "fidelity_eta must be at least 2"),
        ({"fidelity_eta": 3, "epochs": 3, "fidelity_min_epochs": 3}, r"fidelity_min_epochs \(3\) must be below"),
        ({"fidelity_min_epochs": 2, "epochs": 9}, "give --fidelity-eta too"),
        ({"fidelity_eta": 2, "table": str(tmp_path / "t.csv"), "metric": "acc"}, "a --table run trains nothing"),
    ]
    for values, message in refusals:
        with pytest.raises(ConfigError, match=message):
            SearchConfig.from_dict(values)
    with pytest.raises(ConfigError, match="weight inheritance"):
        nsganet.search("mobilenetv3", fidelity_eta=2, epochs=4, out=tmp_path / "v2", progress=False)
    with pytest.raises(ConfigError, match="with_epochs"):
        nsganet.search("nb201", evaluator=lambda arch: {"error": 1.0, "ops": 1.0}, objectives="error,ops",
                       fidelity_eta=2, epochs=4, out=tmp_path / "fn", progress=False)
    assert not (tmp_path / "v2").exists() and not (tmp_path / "fn").exists()
    cli = run_cli("search", "--fidelity-eta", "1", "--out", str(tmp_path / "cli"))
    assert cli.returncode == 2 and "must be at least 2" in cli.stderr


# -- searches with a cheap learning curve ---------------------------------------------------------------------------
class Curve:
    """An evaluator whose error falls with the epochs toward an architecture's own floor; ``ops`` is exact.

    Architectures whose genome sums to a multiple of 7 diverge beyond one
    epoch. Every finished call is logged; with ``stop_after`` the call after
    that many raises KeyboardInterrupt (a Ctrl-C in the middle of a search).
    """

    def __init__(self, log: list, epochs: int = 9, stop_after: int | None = None) -> None:
        self.log, self.epochs, self.stop_after = log, epochs, stop_after
        self.calls = [0]

    def with_epochs(self, epochs: int) -> "Curve":
        other = Curve(self.log, epochs, self.stop_after)
        other.calls = self.calls
        return other

    def __call__(self, arch):
        if self.stop_after is not None and self.calls[0] >= self.stop_after:
            raise KeyboardInterrupt
        self.calls[0] += 1
        genome = np.asarray(arch.genome)
        if genome.sum() % 7 == 0 and self.epochs > 1:
            raise ValueError("diverged")
        self.log.append((str(arch), self.epochs))
        floor = float((genome * np.arange(1, len(genome) + 1)).sum() % 17)
        return {"error": floor + 30.0 / self.epochs, "ops": float(genome.sum())}


CURVE = {"objectives": "error,ops", "strategy": "nsga2", "budget": 40, "pop_size": 9, "epochs": 9,
         "fidelity_eta": 3, "seed": 4, "progress": False, "plots": False}


class Rungs(Callback):
    def __init__(self) -> None:
        self.started: list[tuple[int, int, int, int]] = []

    def on_rung_start(self, study, generation, rung, epochs, candidates):
        self.started.append((generation, rung, epochs, candidates))


def test_each_architecture_ends_with_its_last_rung(tmp_path):
    log: list = []
    heard = Rungs()
    result = nsganet.search("nb201", evaluator=Curve(log), out=tmp_path / "run", callbacks=[heard], **CURVE)
    rungs = stored_rungs(tmp_path / "run")
    assert result.rungs == rungs
    by_seq: dict[int, list] = {}
    for record in rungs:
        by_seq.setdefault(record.seq, []).append(record)
    assert sorted(by_seq) == [e.seq for e in result.evaluations]  # every evaluation has rung records
    for e in result.evaluations:
        records = by_seq[e.seq]
        assert [r.rung for r in records] == list(range(len(records)))
        assert [r.epochs for r in records] == [1, 3, 9][:len(records)]  # promoted ones ran every rung before
        assert all(r.status == "ok" for r in records[:-1])
        last = records[-1]
        assert (e.epochs, e.status, e.reason) == (last.epochs, last.status, last.reason)
        if e.status == "ok":
            assert e.objectives == last.objectives
        assert e.seconds == pytest.approx(sum(r.seconds for r in records))
    # per generation and rung: ceil(n / 3) of the rung's candidates (fewer when some failed) go on
    for generation in sorted({e.generation for e in result.evaluations}):
        seqs = {e.seq for e in result.evaluations if e.generation == generation}
        counts = [sum(1 for r in rungs if r.seq in seqs and r.rung == k) for k in range(3)]
        ok = [sum(1 for r in rungs if r.seq in seqs and r.rung == k and r.status == "ok") for k in range(3)]
        for k in (1, 2):
            assert counts[k] == min(kept(counts[k - 1], 3), ok[k - 1])
        started = [(r, e, n) for g, r, e, n in heard.started if g == generation]
        assert started == [(k, (1, 3, 9)[k], counts[k]) for k in range(3) if counts[k]]
        assert result.stats[generation]["rungs"] == [
            {"rung": k, "epochs": (1, 3, 9)[k], "trained": counts[k], "failed": counts[k] - ok[k],
             "promoted": counts[k + 1] if k < 2 else 0} for k in range(3)]
    failed = [e for e in result.evaluations if e.status == "failed"]
    assert failed and all(e.epochs == 3 and "diverged" in e.reason for e in failed)
    # promotion follows non-dominated rank: no promoted candidate is dominated by one that stopped at its rung
    def point(record):
        return record.objectives["error"], record.objectives["ops"]

    for generation in {e.generation for e in result.evaluations}:
        seqs = [e.seq for e in result.evaluations if e.generation == generation]
        for k in (0, 1):
            ran = [by_seq[s][k] for s in seqs if len(by_seq[s]) > k and by_seq[s][k].status == "ok"]
            went_on = [r for r in ran if len(by_seq[r.seq]) > k + 1]
            stopped = [r for r in ran if len(by_seq[r.seq]) == k + 1]
            assert not any(all(b <= a for a, b in zip(point(p), point(q))) and point(p) != point(q)
                           for p in went_on for q in stopped)
    # the outputs say the epochs; the front holds full-fidelity architectures only
    rows = read_rows(tmp_path / "run" / "evaluations.csv")
    assert [int(r["epochs"]) for r in rows] == [e.epochs for e in result.evaluations]
    assert result.front and all(e.epochs == 9 for e in result.front)
    assert result.front == front_of(full_fidelity(result.evaluations, 9), ["error", "ops"])
    assert full_fidelity(result.evaluations, None) == result.evaluations
    assert {r["arch"] for r in read_rows(tmp_path / "run" / "front.csv")} == {e.arch for e in result.front}
    assert all(entry["epochs"] == 9 for entry in result.stats[-1]["front"])
    assert RunDirectory(tmp_path / "run").read().front == result.front
    assert trained_epochs(rungs) < 9 * len(result.evaluations)
    assert Counter(log) == Counter((r.arch, r.epochs) for r in rungs if r.status == "ok")


def test_a_run_interrupted_anywhere_resumes_to_the_uninterrupted_result(tmp_path):
    reference_log: list = []
    nsganet.search("nb201", evaluator=Curve(reference_log), out=tmp_path / "reference", **CURVE)

    out, log, interrupted = tmp_path / "run", [], 0
    while True:  # every process trains 5 rungs, then is interrupted: kills land in every phase of the halving
        try:
            nsganet.search("nb201", evaluator=Curve(log, stop_after=5), out=out, resume=True, **CURVE)
            break
        except KeyboardInterrupt:
            interrupted += 1
            RunDirectory(out).check_store()  # the store is sound at every interruption
    assert interrupted > 10
    assert_same_files(out, tmp_path / "reference")
    assert Counter(log) == Counter(reference_log)  # every rung trained once, none twice
    assert [(r.seq, r.rung, r.arch, r.epochs, r.status, r.objectives) for r in stored_rungs(out)] == \
        [(r.seq, r.rung, r.arch, r.epochs, r.status, r.objectives) for r in stored_rungs(tmp_path / "reference")]


def test_damaged_rungs_are_refused(tmp_path):
    nsganet.search("nb201", evaluator=Curve([]), out=tmp_path / "run", **{**CURVE, "budget": 9})
    promoted = max(stored_rungs(tmp_path / "run"), key=lambda r: r.rung)
    damage = {
        f"DELETE FROM rungs WHERE seq = {promoted.seq} AND rung = 0": f"rung 0 of evaluation {promoted.seq} is missing",
        f"UPDATE rungs SET arch = 'x' WHERE seq = {promoted.seq}": f"is of x, evaluation {promoted.seq} of",
        f"UPDATE rungs SET objectives = '{{\"error\": 1.0, \"ops\": 2.0}}' WHERE seq = {promoted.seq} AND "
        f"rung = {promoted.rung}": f"evaluation {promoted.seq} does not hold the result of its last rung",
        f"UPDATE rungs SET epochs = 1 WHERE seq = {promoted.seq}": "no more than the rung before",
    }
    original = (tmp_path / "run" / "run.sqlite").read_bytes()
    for sql, message in damage.items():
        (tmp_path / "run" / "run.sqlite").write_bytes(original)
        with sqlite3.connect(tmp_path / "run" / "run.sqlite") as conn:
            conn.execute(sql)
        conn.close()
        with pytest.raises(NsganetError, match="corrupt run store .*" + message.replace("(", r"\(")):
            RunDirectory(tmp_path / "run").check_store()


def test_outputs_of_runs_without_rungs_are_unchanged_and_old_stores_stay_readable(tmp_path):
    result = nsganet.search("nb201", evaluator=Curve([]), out=tmp_path / "run",
                            **{**CURVE, "budget": 9, "fidelity_eta": None})
    assert read_rows(tmp_path / "run" / "evaluations.csv")[0].keys() == {"arch", "error", "ops", "status",
                                                                         "generation"}
    assert all(e.epochs is None for e in result.evaluations) and result.rungs == []
    assert "rungs" not in result.stats[0] and "epochs" not in result.stats[0]["front"][0]
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as conn:  # a store of a version without rungs
        conn.execute("DROP TABLE rungs")
    conn.close()
    record = RunDirectory(tmp_path / "run").read()
    assert [e.objectives for e in record.evaluations] == [e.objectives for e in result.evaluations]
    again = nsganet.search("nb201", evaluator=Curve([]), out=tmp_path / "run", resume=True,
                           **{**CURVE, "budget": 9, "fidelity_eta": None})
    assert again.evaluations == result.evaluations


# -- real proxy searches on the embedded digits --------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, one_thread):
    """A multi-fidelity proxy search in this process (3 epochs, rungs of 1 and 3)."""
    out = tmp_path_factory.mktemp("mf") / "run"
    result = nsganet.search("micro", budget=8, pop_size=4, seed=1, out=out, workers=1, progress=False, plots=False,
                            **DIGITS)
    return out, result


def test_a_proxy_search_trains_fewer_epochs_and_rungs_equal_full_evaluations(digits_run):
    from nsganet.evaluators.base import EvaluatorRequest
    from nsganet.evaluators.proxy import proxy_evaluator
    from nsganet.search.rundir import network_options, search_split
    from nsganet.spaces import get_space

    out, result = digits_run
    rungs = result.rungs
    assert {r.seq for r in rungs} == {e.seq for e in result.evaluations} and len(result.evaluations) == 8
    for e in result.evaluations:
        mine = [r for r in rungs if r.seq == e.seq]
        assert [r.epochs for r in mine] == [1, 3][:len(mine)] and e.epochs == mine[-1].epochs
    assert [row["epochs"] for row in read_rows(out / "evaluations.csv")] == [str(e.epochs) for e in result.evaluations]
    assert sum(e.epochs == 3 for e in result.evaluations) == 4  # ceil(4 / 3) = 2 of each generation's 4
    assert trained_epochs(rungs) == 8 * 1 + 4 * 3 < 8 * 3
    assert all(e.epochs == 3 for e in result.front)
    stats = json.loads((out / "stats" / "gen_0001.json").read_text())
    assert [(r["trained"], r["promoted"]) for r in stats["rungs"]] == [(4, 2), (2, 0)]

    # a rung's result is that of the evaluator of a run configured with the rung's epochs and no rungs
    config = SearchConfig(seed=1, **{**DIGITS, "epochs": 1, "fidelity_eta": None})
    space = get_space("micro")
    one_epoch = proxy_evaluator(EvaluatorRequest(config, space, Path(), network_options(config, space, True),
                                                 lambda: search_split(config)))
    first = rungs[0]
    assert one_epoch(space.architecture(space.from_string(first.arch)))["error"] == first.objectives["error"]
    assert one_epoch.with_epochs(3).settings.train.epochs == 3 and one_epoch.settings.train.epochs == 1


def test_worker_processes_give_the_in_process_result(digits_run, tmp_path, monkeypatch):
    from nsganet.executors import pool

    monkeypatch.setattr(pool, "threads_per_worker", lambda workers, cpus=None: 1)  # as the in-process run
    out, _ = digits_run
    nsganet.search("micro", budget=8, pop_size=4, seed=1, out=tmp_path / "pool", workers=2, progress=False,
                   plots=False, **DIGITS)
    assert_same_files(tmp_path / "pool", out)
    assert [(r.seq, r.rung, r.epochs, r.objectives) for r in stored_rungs(tmp_path / "pool")] == \
        [(r.seq, r.rung, r.epochs, r.objectives) for r in stored_rungs(out)]


def _rung_rows(store: Path) -> list[tuple]:
    """(seq, rung, finished) of every stored rung of a store another process may be writing."""
    if not store.exists():
        return []
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT seq, rung, finished FROM rungs ORDER BY seq, rung").fetchall()
    except sqlite3.Error:  # created but schema not written yet
        return []


def test_a_killed_proxy_search_resumes_without_training_a_rung_twice(digits_run, tmp_path):
    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "nsganet", "search", "--budget", "8", "--pop-size", "4", "--seed", "1",
            "--epochs", "3", "--fidelity-eta", "3", "--train-images", "64", "--batch-size", "32", "--channels", "4",
            "--workers", "1", "--out", str(out), "-q", "--resume"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kept_rows: list[tuple] = []
    for reached in (5, 10):  # in rung 1 of generation 0; right after rung 0 of generation 1 (of 6 + 6 rungs)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        deadline = time.monotonic() + 300
        while proc.poll() is None and len(_rung_rows(out / "run.sqlite")) < reached and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept_rows = _rung_rows(out / "run.sqlite")
        assert len(kept_rows) >= reached
    assert len(kept_rows) < len(digits_run[1].rungs)  # the search really was interrupted
    final = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert final.returncode == 0, final.stderr
    assert_same_files(out, digits_run[0])
    after = _rung_rows(out / "run.sqlite")
    assert set(kept_rows) <= set(after)  # the rungs stored before the kills stay as stored (same finish time)
    assert len(after) == len(digits_run[1].rungs)  # and no rung was trained or stored twice

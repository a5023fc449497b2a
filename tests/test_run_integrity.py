"""A run directory nothing can damage: one process per run, stores checked before they are trusted.

Real ``nsganet`` processes on real run directories: two resumes (and two fresh starts) at the same instant,
each kind of damage to a store refused by ``--resume``, ``select`` and ``report`` with every file of the run
left byte for byte as it was, a folder that is not a run refused, a read-only run read, a disk that fills up
mid-search and a resume afterwards that ends with the uninterrupted run's files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import METRIC, NB201, SHARED_TABLE, finished_evaluations, run_cli

from nsganet.errors import NsganetError
from nsganet.search.store import RunStore

TABLE_BUDGET = 20
DIGITS_BUDGET = 16
HOLDER = re.compile(r"^nsganet: error: run directory (\S+) is in use by pid (\d+) on host \S+ since "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(another nsganet search\); wait for it or use another --out$")


def table_search(out: Path, *extra: str, budget: int = TABLE_BUDGET, pop_size: int = 5) -> list[str]:
    return [*NB201, "--table", str(SHARED_TABLE), "--metric", METRIC, "--budget", str(budget), "--pop-size",
            str(pop_size), "--seed", "3", "-q", "--out", str(out), *extra]


def digits_search(out: Path, *extra: str) -> list[str]:
    """Proxy training on the embedded digits: a few seconds, long enough to be caught running."""
    return ["search", "--epochs", "1", "--train-images", "160", "--channels", "4", "--budget", str(DIGITS_BUDGET),
            "--pop-size", "4", "--seed", "5", "--workers", "1", "-q", "--out", str(out), *extra]


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, "-m", "nsganet", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden ones, the lock file and SQLite's -wal/-shm included)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit code 2 and a single ``nsganet: error:`` line containing each of ``expected``; returns the line."""
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("nsganet: error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def assert_same_files(out: Path, reference: Path) -> None:
    for name in ("evaluations.csv", "front.csv"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    names = sorted(p.name for p in (reference / "stats").iterdir())
    assert sorted(p.name for p in (out / "stats").iterdir()) == names
    for name in names:
        assert (out / "stats" / name).read_text() == (reference / "stats" / name).read_text(), name


def sql(store: Path, script: str, check_constraints: bool = True) -> None:
    conn = sqlite3.connect(store)
    try:
        if not check_constraints:
            conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.executescript(script)
        conn.commit()
    finally:
        conn.close()


@contextlib.contextmanager
def held_by_another_process(folder: Path, command: str = "nsganet search") -> Iterator[int]:
    """Hold ``folder``'s lock from a separate process (as a running search would); yields its pid."""
    code = ("import sys\nfrom nsganet.utils.lock import FolderLock\n"
            f"lock = FolderLock({str(folder)!r}, {command!r}, label='run directory')\n"
            "lock.acquire(); lock.claim(); print('held', flush=True); sys.stdin.read(); lock.release()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc.pid
    finally:
        proc.stdin.close()
        proc.wait()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, nb201_table) -> Path:
    """A finished table search (4 generations of 5)."""
    out = tmp_path_factory.mktemp("integrity") / "finished"
    result = run_cli(*table_search(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    return out


# -- (a), (b): one process per run ----------------------------------------------------------------------------
@pytest.mark.slow
def test_two_resumes_at_once_of_a_killed_run_one_refused_the_other_finishes_it(tmp_path):
    reference = run_cli(*digits_search(tmp_path / "reference"), timeout=600)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    first = start(*digits_search(out))
    while first.poll() is None and finished_evaluations(out / "run.sqlite") < 5:
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL  # killed part-way, not finished
    assert finished_evaluations(out / "run.sqlite") < DIGITS_BUDGET

    resumes = [start(*digits_search(out, "--resume")) for _ in range(2)]
    errors = [proc.communicate(timeout=600)[1] for proc in resumes]
    codes = [proc.returncode for proc in resumes]
    assert sorted(codes) == [0, 2], errors
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    refused = HOLDER.match(errors[loser].strip())
    assert refused is not None and len(errors[loser].splitlines()) == 1, errors[loser]
    assert int(refused.group(2)) == resumes[winner].pid
    assert_same_files(out, tmp_path / "reference")


@pytest.mark.slow
def test_two_fresh_starts_at_once_one_refused_naming_the_other(tmp_path):
    out = tmp_path / "fresh"
    procs = [start(*digits_search(out)) for _ in range(2)]
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.02)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        err = loser.communicate()[1].strip()
        assert loser.returncode == 2, err
        refused = HOLDER.match(err)
        assert refused is not None, err
        assert int(refused.group(2)) == winner.pid
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_a_live_run_refuses_a_second_search_and_is_read_by_report_and_select(run_copy, tmp_path):
    before = checksums(run_copy)
    with held_by_another_process(run_copy) as pid:
        resumed = run_cli(*table_search(run_copy, "--resume"))
        line = assert_one_line(resumed, f"is in use by pid {pid} on host ", "(another nsganet search)")
        assert HOLDER.match(line)
        fresh = run_cli(*table_search(run_copy))
        assert_one_line(fresh, f"is in use by pid {pid}")
        report = run_cli("report", str(run_copy), "--out", str(tmp_path / "page"))
        assert report.returncode == 0, report.stderr
        selected = run_cli("select", str(run_copy), "-n", "1", "--no-onnx", "--out", str(tmp_path / "picked"))
        assert selected.returncode == 0, selected.stderr
    assert (tmp_path / "page" / "index.html").is_file() and (tmp_path / "picked" / "selection.csv").is_file()
    assert checksums(run_copy) == before


def test_a_training_output_folder_has_one_writer(tmp_path):
    from nsganet.train.checkpoint import Checkpointed

    out = tmp_path / "train"
    out.mkdir()
    with held_by_another_process(out, "nsganet re-training") as pid, pytest.raises(NsganetError) as refused:
        Checkpointed(out, "nsganet-train", "re-training", {}, {}, resume=False)
    assert re.search(rf"is in use by pid {pid} .*\(another nsganet re-training\)", str(refused.value))
    run = Checkpointed(out, "nsganet-train", "re-training", {}, {}, resume=False)
    second = subprocess.run([sys.executable, "-c", "from nsganet.train.checkpoint import Checkpointed\n"
                             f"Checkpointed({str(out)!r}, 'nsganet-train', 're-training', {{}}, {{}}, resume=True,"
                             " missing_ok=True)"], capture_output=True, text=True)
    assert f"is in use by pid {os.getpid()}" in second.stderr
    run.end({})
    again = Checkpointed(out, "nsganet-train", "re-training", {}, {}, resume=False)  # released by end()
    again.end({})


# -- (c): damaged stores are refused, and nothing is written ----------------------------------------------------
DAMAGE = {
    # name: (SQL applied to the store (None: see below), what the message says, refused by select and report too)
    "row deleted": ("DELETE FROM evaluations WHERE seq = 3", "evaluation 3 is missing", True),
    "last row deleted": ("DELETE FROM evaluations WHERE seq = 19", "generation 3 closed with 20 evaluations", True),
    "gap in the numbering": ("UPDATE evaluations SET seq = 100 WHERE seq = 12", "evaluation 12 is missing", True),
    "evaluations table dropped": ("DROP TABLE evaluations", "it has no evaluations table", True),
    "generations table dropped": ("DROP TABLE generations", "it has no generations table", True),
    "a column missing": ("ALTER TABLE evaluations DROP COLUMN seconds", "the evaluations table has the columns", True),
    "0-byte store": (None, "the file is empty (0 bytes)", True),
    "not SQLite": (None, "not a usable SQLite database", True),
    "other schema version": ("UPDATE meta SET value = '\"1\"' WHERE key = 'schema_version'",
                             "schema version '1', expected '2'", True),
    "garbage config": ("UPDATE meta SET value = '{\"budget\": \"many\"}' WHERE key = 'config'",
                       "the recorded config does not parse (config key 'budget'", True),
    "config not JSON": ("UPDATE meta SET value = '{budget' WHERE key = 'config'", "the recorded config is not JSON",
                        True),
    "garbage objectives": ("UPDATE evaluations SET objectives = '{\"error\": \"x\"}' WHERE seq = 2",
                           "the objectives of evaluation 2 are not a JSON mapping of numbers", True),
    "objectives not JSON": ("UPDATE evaluations SET objectives = '{\"error\": 1' WHERE seq = 2",
                            "the objectives of evaluation 2 are not", True),
    "an objective missing": ("UPDATE evaluations SET objectives = '{\"error\": 5.0}' WHERE seq = 2",
                             "evaluation 2 has no value of the objective flops", True),
    "garbage genome": ("UPDATE evaluations SET genome = '[1, \"a\"]' WHERE seq = 2",
                       "the genome of evaluation 2 is not a JSON list of integers", True),
    "garbage status": ("UPDATE evaluations SET status = 'done' WHERE seq = 2", "evaluation 2 has the status 'done'",
                       True),
    "running in a saved generation": ("UPDATE evaluations SET status = 'running' WHERE seq = 4",
                                      "evaluation 4 of saved generation 0 is marked running", True),
    "garbage strategy state": ("UPDATE generations SET state = '{oops' WHERE generation = 3",
                               "the strategy state of generation 3 is not a JSON object", True),
    "strategy state that does not load": ("UPDATE generations SET state = '{}' WHERE generation = 3",
                                          "the strategy state of generation 3 does not load", False),
    "garbage generation info": ("UPDATE generations SET info = '[1, 2' WHERE generation = 1",
                                "the information of generation 1 is not a JSON object", True),
    "a generation missing": ("DELETE FROM generations WHERE generation = 1", "generation 1 is missing", True),
}


def damage(run: Path, name: str) -> None:
    store = run / "run.sqlite"
    script = DAMAGE[name][0]
    if name == "0-byte store":
        store.write_bytes(b"")
    elif name == "not SQLite":
        store.write_bytes(b"not a database at all " * 200)
    else:
        sql(store, script, check_constraints=name != "garbage status")
    assert not (run / "run.sqlite-wal").exists()


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_store_is_refused_and_nothing_is_written(run_copy, tmp_path, name):
    damage(run_copy, name)
    before = checksums(run_copy)
    expect = f"corrupt run store {run_copy / 'run.sqlite'}: {DAMAGE[name][1]}"
    assert_one_line(run_cli(*table_search(run_copy, "--resume")), expect)
    assert checksums(run_copy) == before
    report = run_cli("report", str(run_copy), "--out", str(tmp_path / "page"))
    selected = run_cli("select", str(run_copy), "-n", "1", "--no-onnx", "--out", str(tmp_path / "picked"))
    if DAMAGE[name][2]:
        assert_one_line(report, expect)
        assert_one_line(selected, expect)
        assert not (tmp_path / "page").exists() and not (tmp_path / "picked").exists()
    else:  # the strategy state is only read to resume
        assert report.returncode == 0 and selected.returncode == 0, report.stderr + selected.stderr
    assert checksums(run_copy) == before


def test_a_crash_left_write_ahead_log_is_read_without_touching_it(run_copy, tmp_path):
    """A killed process's -wal and -shm stay byte for byte while report reads, and while a damaged run is refused."""
    code = ("import os, signal, sqlite3, sys\nconn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('PRAGMA journal_mode=WAL')\n"
            "conn.execute(\"UPDATE generations SET info = '{\\\"note\\\": 1}' WHERE generation = 0\")\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(run_copy / "run.sqlite")])
    assert (run_copy / "run.sqlite-wal").stat().st_size > 0
    before = checksums(run_copy)
    report = run_cli("report", str(run_copy), "--out", str(tmp_path / "page"))
    assert report.returncode == 0, report.stderr
    assert checksums(run_copy) == before

    code = code.replace("UPDATE generations SET info = '{\\\"note\\\": 1}' WHERE generation = 0",
                        "DELETE FROM evaluations WHERE seq = 7")
    subprocess.run([sys.executable, "-c", code, str(run_copy / "run.sqlite")])
    before = checksums(run_copy)
    assert_one_line(run_cli(*table_search(run_copy, "--resume")), "evaluation 7 is missing")
    assert_one_line(run_cli("report", str(run_copy), "--out", str(tmp_path / "page2")), "evaluation 7 is missing")
    assert checksums(run_copy) == before


def test_stored_results_are_never_overwritten(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        store.start(0, "a", (0, 1), 0)
        store.finish(0, {"error": 5.0}, None, 0.1)
        with pytest.raises(NsganetError, match="already holds evaluation 0"):
            store.start(0, "b", (1, 1), 0)
        with pytest.raises(NsganetError, match="already holds evaluation 1 or the architecture a"):
            store.start(1, "a", (0, 1), 0)
        with pytest.raises(NsganetError, match="no running evaluation 0 to finish"):
            store.finish(0, {"error": 1.0}, None, 0.1)
        store.save_generation(0, 1, {"rng": 1}, {})
        with pytest.raises(NsganetError, match="already holds generation 0"):
            store.save_generation(0, 1, {"rng": 2}, {})
        assert store.evaluations()[0].objectives == {"error": 5.0}
        assert store.last_generation() == (0, {"rng": 1})


def test_a_killed_generation_resumes_to_the_uninterrupted_run(run_copy, finished_run):
    """A store cut back to generation 1 (as a kill leaves it, with rows of generation 2 still running) resumes."""
    sql(run_copy / "run.sqlite", "DELETE FROM generations WHERE generation >= 2;"
                                 "DELETE FROM evaluations WHERE generation >= 3 OR seq IN (11, 13);"
                                 "UPDATE evaluations SET status = 'running', objectives = NULL WHERE seq = 14;")
    (run_copy / "stats" / "gen_0001.json").write_text("{garbage", encoding="utf-8")
    result = run_cli(*table_search(run_copy, "--resume"))
    assert result.returncode == 0, result.stderr
    assert_same_files(run_copy, finished_run)  # stats/gen_0001.json rebuilt from the store


# -- (d): a folder that is not a run is the user's ---------------------------------------------------------------
def test_a_non_empty_folder_that_is_no_run_and_a_symlink_to_one_are_refused(tmp_path):
    mine = tmp_path / "mine"
    (mine / "stats").mkdir(parents=True)
    (mine / "config.yaml").write_text("my own settings\n")
    (mine / "evaluations.csv").write_text("a,b\n1,2\n")
    (mine / "stats" / "gen_0000.json").write_text("{}\n")
    (tmp_path / "link").symlink_to(mine)
    before = checksums(mine)
    for out in (mine, tmp_path / "link"):
        for extra in ((), ("--resume",)):
            result = run_cli(*table_search(out, *extra))
            assert_one_line(result, f"--out {out} is a non-empty directory that holds no nsganet run; choose an "
                                    "empty or new directory")
    assert checksums(mine) == before and sorted(os.listdir(tmp_path)) == ["link", "mine"]


def test_a_new_search_that_stops_on_bad_input_leaves_no_folder(tmp_path):
    result = run_cli(*table_search(tmp_path / "runs" / "new", "--objectives", "error,latency", "--lut",
                                   str(tmp_path / "missing.json")))
    assert result.returncode == 2, result.stderr
    assert os.listdir(tmp_path) == []


# -- (e): a read-only run ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def read_only(folder: Path, tmp_path: Path) -> Iterator[Path]:
    """``folder`` made read-only: by permissions, or (for root, who ignores them) through a read-only bind mount."""
    if os.geteuid() != 0:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            yield folder
        finally:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
        return
    view = tmp_path / "read-only-view"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(folder), str(view)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root and no read-only bind mount is possible: {mounted.stderr.strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_run_is_read_by_report_and_select(run_copy, tmp_path):
    before = checksums(run_copy)
    with read_only(run_copy, tmp_path) as run:
        assert not os.access(run, os.W_OK)
        report = run_cli("report", str(run), "--out", str(tmp_path / "page"))
        assert report.returncode == 0, report.stderr
        selected = run_cli("select", str(run), "-n", "2", "--no-onnx", "--out", str(tmp_path / "picked"))
        assert selected.returncode == 0, selected.stderr
        assert_one_line(run_cli(*table_search(run, "--resume")), "cannot write to run directory")
    assert (tmp_path / "page" / "index.html").is_file()
    assert len(list((tmp_path / "picked").glob("arch-*/net.json"))) == 2
    assert checksums(run_copy) == before


# -- (f): a disk that fills up ---------------------------------------------------------------------------------
def test_a_full_disk_is_one_line_and_the_resume_gives_the_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    args = {"budget": 300, "pop_size": 20}
    done = run_cli(*table_search(reference, **args))
    assert done.returncode == 0, done.stderr
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        out = disk / "run"
        full = run_cli(*table_search(out, **args))
        line = assert_one_line(full, "cannot write")
        assert "full" in line or "No space left" in line, line
        with contextlib.closing(sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=ro", uri=True)) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM evaluations WHERE status != 'running'").fetchone()[0]
        assert 0 < stored < 300  # stopped part-way
        subprocess.run(["mount", "-o", "remount,size=50m", str(disk)], check=True)
        resumed = run_cli(*table_search(out, "--resume", **args))
        assert resumed.returncode == 0, resumed.stderr
        assert_same_files(out, reference)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# -- (g): derived files are rebuilt, not trusted -----------------------------------------------------------------
def test_a_garbage_stats_file_is_skipped_by_report_and_select_and_rebuilt_by_resume(run_copy, finished_run, tmp_path):
    (run_copy / "stats" / "gen_0001.json").write_text("{not json", encoding="utf-8")
    report = run_cli("report", str(run_copy), "--out", str(tmp_path / "page"))
    assert report.returncode == 0, report.stderr
    assert "skipped stats/gen_0001.json: not readable JSON" in (tmp_path / "page" / "index.html").read_text()
    selected = run_cli("select", str(run_copy), "-n", "1", "--no-onnx", "--out", str(tmp_path / "picked"))
    assert selected.returncode == 0, selected.stderr
    resumed = run_cli(*table_search(run_copy, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(run_copy, finished_run)


def test_a_config_file_that_is_a_folder_gives_way_to_the_store(run_copy, tmp_path):
    (run_copy / "config.yaml").unlink()
    (run_copy / "config.yaml").mkdir()
    report = run_cli("report", str(run_copy), "--out", str(tmp_path / "page"))
    assert report.returncode == 0, report.stderr
    resumed = run_cli(*table_search(run_copy, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    (run_copy / "config.yaml").rmdir()
    resumed = run_cli(*table_search(run_copy, "--resume"))  # a missing config.yaml is written again from the store
    assert resumed.returncode == 0, resumed.stderr
    assert "budget: 20" in (run_copy / "config.yaml").read_text()

"""Signals: a real ``nsganet search`` stopped by SIGTERM, SIGINT (once, twice, to its process group) or SIGKILL.

A stopped search reports one line and exits with 128 + the signal (130 for
SIGINT, 143 for SIGTERM); none of its processes (worker processes, the
multiprocessing resource tracker) outlives it, not even after a SIGKILL that
gave it no chance to clean up; a second interrupt during the shutdown ends it
at once; and ``--resume`` then finishes with the files of an uninterrupted run.
Processes are found through /proc: the search's descendants and the members of
its process group (each search starts its own session).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import finished_evaluations, run_cli
from test_resume import assert_same_run

import nsganet.cli
from nsganet.cli import main

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")

BUDGET = 12
INTERRUPTED = "nsganet: interrupted; continue with --resume"
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def digits_search(out: Path, workers: int, *extra: str) -> list[str]:
    """A small proxy-training search on the embedded digits (a few seconds per evaluation)."""
    return ["search", "--epochs", "1", "--train-images", "160", "--channels", "4", "--budget", str(BUDGET),
            "--pop-size", "4", "--seed", "3", "--workers", str(workers), "--out", str(out), "-q", *extra]


# -- processes, through /proc ------------------------------------------------------------------
def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def process_table() -> dict[int, tuple[str, int, int, int]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := proc_stat(int(name))) is not None:
            table[int(name)] = stat
    return table


def family(root: int) -> dict[int, int]:
    """The live descendants of ``root`` and the members of its process group: pid -> start time."""
    table = process_table()
    found = {pid: stat[3] for pid, stat in table.items() if stat[2] == root and pid != root}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, stat in table.items():
            if stat[1] == parent and pid not in found:
                found[pid] = stat[3]
                todo.append(pid)
    return {pid: start for pid, start in found.items() if table[pid][0] != "Z"}


def alive(processes: dict[int, int]) -> list[int]:
    """Those of ``processes`` (pid -> start time) that still run (a zombie has ended; a reused pid is another)."""
    return [pid for pid, start in processes.items()
            if (stat := proc_stat(pid)) is not None and stat[0] != "Z" and stat[3] == start]


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` have passed; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- one search, signalled ---------------------------------------------------------------------
class Search:
    """``nsganet search`` in its own session, stderr in a file (a pipe could be held open by a survivor)."""

    def __init__(self, argv: list[str], tmp: Path) -> None:
        self.stderr_path = tmp / f"stderr-{time.monotonic_ns()}.txt"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        with self.stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "nsganet", *argv], stdout=subprocess.DEVNULL,
                                         stderr=stderr, env=env, start_new_session=True)
        self.family: dict[int, int] = {}

    def wait_for_evaluations(self, store: Path, n: int = 1, workers: int = 1) -> None:
        """Until ``n`` evaluations are stored (and, with workers, every worker and the tracker run)."""
        def ready() -> bool:
            return self.proc.poll() is not None or (
                finished_evaluations(store) >= n and len(family(self.proc.pid)) >= (workers + 1 if workers > 1
                                                                                    else 0))
        assert wait_until(ready, 300), "the search did not evaluate anything in time"
        assert self.proc.poll() is None, f"the search ended before the signal: {self.stderr()}"
        assert finished_evaluations(store) < BUDGET
        self.family = family(self.proc.pid)

    def signal(self, signum: int, group: bool = False) -> None:
        (os.killpg if group else os.kill)(self.proc.pid, signum)

    def wait(self, seconds: float) -> int | None:
        """The exit code, or None when the search is still running after ``seconds``."""
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def assert_nothing_left(self, seconds: float = 30) -> None:
        """No process of the search's family (recorded before the signal, or in its group now) outlives it."""
        def gone() -> bool:
            return not alive(self.family) and not family(self.proc.pid)
        assert wait_until(gone, seconds), f"still running: {alive(self.family) or list(family(self.proc.pid))}"

    def cleanup(self) -> None:
        """Kill what a failed test left running (only this search's own processes)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in {*alive(self.family), *family(self.proc.pid)}:
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def searches(tmp_path):
    """Start searches; whatever a failing test leaves running is killed afterwards."""
    started: list[Search] = []

    def start(argv: list[str]) -> Search:
        started.append(Search(argv, tmp_path))
        return started[-1]
    yield start
    for search in started:
        search.cleanup()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run directory of the uninterrupted search (the same with and without workers)."""
    out = tmp_path_factory.mktemp("signals") / "reference"
    done = run_cli(*digits_search(out, 2), timeout=600)
    assert done.returncode == 0, done.stderr
    return out


def assert_store_intact(store: Path) -> None:
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("workers", "signum", "group"), [
    (2, signal.SIGTERM, False),  # kill PID, as a service manager or a batch system does
    (1, signal.SIGTERM, False),  # evaluation in the search's own process
    (2, signal.SIGTERM, True),  # kill -TERM -PGID: every process of the search at once
], ids=["term-workers", "term-inprocess", "term-group-workers"])  # Ctrl-C to the group: the next tests
def test_a_signalled_search_stops_cleanly_leaves_nothing_running_and_resumes_exactly(
        tmp_path, searches, reference, workers, signum, group):
    out = tmp_path / "run"
    search = searches(digits_search(out, workers))
    search.wait_for_evaluations(out / "run.sqlite", workers=workers)
    assert workers == 1 or len(search.family) >= workers + 1  # the workers and the resource tracker
    search.signal(signum, group)

    assert search.wait(60) == EXIT_CODES[signum]
    search.assert_nothing_left()
    assert search.stderr().splitlines() == [INTERRUPTED]  # no traceback, no leaked semaphores
    assert_store_intact(out / "run.sqlite")

    resumed = run_cli(*digits_search(out, workers, "--resume"), timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(out, reference)


def test_the_workers_and_the_resource_tracker_die_with_a_killed_search(tmp_path, searches):
    out = tmp_path / "run"
    search = searches(digits_search(out, 2))
    search.wait_for_evaluations(out / "run.sqlite", workers=2)
    assert len(search.family) >= 3
    search.signal(signal.SIGKILL)  # the search itself only: it cannot clean anything up

    assert search.wait(30) == -signal.SIGKILL
    search.assert_nothing_left()
    assert_store_intact(out / "run.sqlite")


@pytest.mark.slow
def test_a_second_interrupt_during_the_shutdown_ends_the_search_at_once(tmp_path, searches, reference):
    """With workers, where the shutdown used to hang in multiprocessing's exit join."""
    out, workers = tmp_path / "run", 2
    for pause in (0.0, 0.3):  # the second Ctrl-C at different moments of the shutdown
        search = searches(digits_search(out, workers, "--resume"))
        search.wait_for_evaluations(out / "run.sqlite", n=finished_evaluations(out / "run.sqlite") + 1,
                                    workers=workers)
        search.signal(signal.SIGINT)
        time.sleep(pause)
        if search.proc.poll() is None:
            search.signal(signal.SIGINT)

        # 130, or killed by the second SIGINT itself where it came as the interpreter was finishing its exit
        assert search.wait(20) in (130, -signal.SIGINT), "the search did not end after two interrupts"
        search.assert_nothing_left()
        lines = search.stderr().splitlines()
        assert lines[0] == INTERRUPTED
        assert "Traceback" not in search.stderr()
        assert_store_intact(out / "run.sqlite")

    resumed = run_cli(*digits_search(out, workers, "--resume"), timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(out, reference)


def test_ctrl_c_while_the_workers_start_gives_one_line_and_no_worker_tracebacks(tmp_path, searches):
    out = tmp_path / "run"
    search = searches(digits_search(out, 2))
    assert wait_until(lambda: search.proc.poll() is not None or len(family(search.proc.pid)) >= 3, 120)
    assert finished_evaluations(out / "run.sqlite") == 0  # the workers are still importing and loading
    search.family = family(search.proc.pid)
    search.signal(signal.SIGINT, group=True)  # a terminal's Ctrl-C reaches every process of the group

    assert search.wait(60) == 130
    search.assert_nothing_left()
    assert search.stderr().splitlines() == [INTERRUPTED]


@pytest.mark.parametrize(("error", "line"), [
    (OSError(28, "No space left on device", "/runs/a/evaluations.csv"),
     "nsganet: error: No space left on device: /runs/a/evaluations.csv"),
    (PermissionError(13, "Permission denied", "/runs/a/x.tmp", None, "/runs/a/x"),
     "nsganet: error: Permission denied: /runs/a/x.tmp -> /runs/a/x"),
    (OSError(5, "Input/output error"), "nsganet: error: Input/output error"),
    (sqlite3.OperationalError("database or disk is full"), "nsganet: error: database or disk is full"),
])
def test_an_unexpected_system_error_reaches_the_user_as_one_line(monkeypatch, capsys, error, line):
    command = nsganet.cli.COMMANDS.get("list")

    def fail(_args):
        raise error
    monkeypatch.setattr(command, "run", fail)

    assert main(["list"]) == 2
    assert capsys.readouterr().err.splitlines() == [line]


def test_a_bug_still_shows_its_traceback(monkeypatch):
    command = nsganet.cli.COMMANDS.get("list")

    def fail(_args):
        raise RuntimeError("a bug")
    monkeypatch.setattr(command, "run", fail)

    with pytest.raises(RuntimeError, match="a bug"):
        main(["list"])


def test_a_command_run_in_process_puts_the_signal_handlers_back():
    before = {signum: signal.getsignal(signum) for signum in EXIT_CODES}
    assert main(["list"]) == 0
    assert {signum: signal.getsignal(signum) for signum in EXIT_CODES} == before

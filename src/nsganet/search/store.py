"""The run store: one SQLite file per run with every evaluation and the strategy's state.

Evaluations move through the states ``running`` -> ``ok`` | ``failed`` and are
committed one by one; after each generation the strategy's state is committed
too. A run killed at any moment therefore resumes from its last generation,
reusing every evaluation that finished. A multi-fidelity run
(:mod:`nsganet.search.fidelity`) also commits the result of every rung an
architecture trained (table ``rungs``), so a resumed run trains no rung twice;
an evaluation's result is that of its last rung, and :attr:`Evaluation.epochs`
says its epochs. Stores made before the table existed are read as having no
rungs. A warm-started run (:mod:`nsganet.search.warmstart`) records the
evaluations it took from an earlier run, with where they came from, in table
``reused`` (:attr:`Evaluation.reused_from`); stores without it reused nothing.

An asynchronous run (``--schedule async``) records the order in which its
evaluations completed (table ``completions``: position, evaluation number) and
the strategy's state after each step (table ``async_state``: the number of
completions told, the state) in the same transaction as the step's
completion and the evaluations it started; an evaluation's generation is its
completion position // the population size (running ones: the generation in
flight). Stores made before these tables ran generationally.

Nothing stored is trusted blindly: a new store appears complete or not at all
(it is built beside its final name and renamed), an existing one must have the
expected schema, and :meth:`RunStore.check` verifies every row before a run is
resumed or read. Results are never overwritten: recording an evaluation or a
generation that is already stored is a loud error. A write that fails (a full
disk) is a one-line :class:`NsganetError` and loses nothing already committed.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError
from nsganet.utils.sqlite_store import SqliteStore, is_int, is_number, json_value
from nsganet.utils.sqlite_store import corrupt as store_corrupt

SCHEMA_VERSION = "2"
STATUSES = ("running", "ok", "failed")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE evaluations (
    seq INTEGER PRIMARY KEY,
    arch TEXT NOT NULL UNIQUE,
    genome TEXT NOT NULL,
    generation INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    reason TEXT,
    detail TEXT,
    objectives TEXT,
    started REAL,
    finished REAL,
    seconds REAL
);
CREATE TABLE generations (
    generation INTEGER PRIMARY KEY,
    n_evaluated INTEGER NOT NULL,
    state TEXT NOT NULL,
    info TEXT NOT NULL,
    saved REAL NOT NULL
);
"""
#: The results of each rung of multi-fidelity runs (in every new store; stores of older versions lack it).
_RUNGS_SCHEMA = """
CREATE TABLE rungs (
    seq INTEGER NOT NULL,
    rung INTEGER NOT NULL,
    arch TEXT NOT NULL,
    epochs INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason TEXT,
    detail TEXT,
    objectives TEXT,
    finished REAL,
    seconds REAL,
    PRIMARY KEY (seq, rung)
);
"""
#: The evaluations a warm-started run took over from an earlier run: that run's directory and evaluation number.
_REUSED_SCHEMA = """
CREATE TABLE reused (
    seq INTEGER PRIMARY KEY,
    run TEXT NOT NULL,
    source_seq INTEGER NOT NULL
);
"""
#: An asynchronous run's completion order and the strategy's state after its latest step.
_ASYNC_SCHEMA = """
CREATE TABLE completions (
    position INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE
);
CREATE TABLE async_state (
    step INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    saved REAL NOT NULL
);
"""
#: The columns of each table, as the schema above creates them.
COLUMNS = {
    "meta": ("key", "value"),
    "evaluations": ("seq", "arch", "genome", "generation", "status", "reason", "detail", "objectives", "started",
                    "finished", "seconds"),
    "generations": ("generation", "n_evaluated", "state", "info", "saved"),
}
#: Tables a store may lack (it was made before they existed), with their columns when present.
OPTIONAL_COLUMNS = {
    "rungs": ("seq", "rung", "arch", "epochs", "status", "reason", "detail", "objectives", "finished", "seconds"),
    "reused": ("seq", "run", "source_seq"),
    "completions": ("position", "seq"),
    "async_state": ("step", "state", "saved"),
}


@dataclass(frozen=True)
class Evaluation:
    """One row of the store."""

    seq: int
    arch: str
    genome: tuple[int, ...]
    generation: int
    status: str
    reason: str | None
    objectives: dict[str, float]
    seconds: float | None
    #: epochs of the result (its last rung) in a multi-fidelity run; None otherwise
    epochs: int | None = None
    #: where a warm start took the result from, ``RUN#SEQ`` (evaluation SEQ of run directory RUN); None: computed
    reused_from: str | None = None


@dataclass(frozen=True)
class Rung:
    """The result of one rung of a multi-fidelity evaluation: architecture ``seq`` trained for ``epochs``."""

    seq: int
    rung: int
    arch: str
    epochs: int
    status: str
    reason: str | None
    objectives: dict[str, float]
    seconds: float | None


def corrupt(path: str | Path, what: str) -> NsganetError:
    """The one-line error of a run store that cannot be trusted."""
    return store_corrupt(RunStore.NOUN, path, what)


class RunStore(SqliteStore):
    """SQLite-backed record of a run (write-ahead logging, one commit per result).

    ``RunStore(path)`` opens a store for writing (creating an empty one where
    there is none); :meth:`create` makes a new one holding its metadata from the
    start; :meth:`read_only` opens one without writing anything.
    """

    NOUN = "run store"
    SCHEMA = _SCHEMA + _RUNGS_SCHEMA + _REUSED_SCHEMA + _ASYNC_SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    COLUMNS = COLUMNS
    OPTIONAL_COLUMNS = OPTIONAL_COLUMNS

    def __init__(self, path: str | Path) -> None:
        self._on_close: list[Callable[[], None]] = []
        self._copy: tempfile.TemporaryDirectory[str] | None = None
        if not Path(path).exists():
            self.build(Path(path), {})
        super().__init__(path)

    @classmethod
    def read_only(cls, path: str | Path, live: bool) -> RunStore:
        """Open a store to read it without creating or changing any file.

        Without a write-ahead log the file is read as an immutable snapshot
        (a writer that may start meanwhile writes to its log, not to the file,
        until it has logged a thousand pages). A log is read in place
        (``mode=ro``) while another process may be writing it (``live``), else
        (a crash left it) a private copy of the file and its log is read, so
        that nothing in the run directory changes.
        """
        store = cls.__new__(cls)
        store.path, store._on_close, store._copy = Path(path), [], None
        cls.refuse_empty(store.path)
        wal = store.path.with_name(store.path.name + "-wal")
        uri = store.path.resolve().as_uri()
        logged = wal.is_file() and wal.stat().st_size > 0
        if logged and live:
            opener = partial(sqlite3.connect, f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        elif logged:
            store._copy = tempfile.TemporaryDirectory(prefix="nsganet-store-")
            copy = Path(store._copy.name) / store.path.name
            try:
                shutil.copyfile(store.path, copy)
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            except OSError as exc:
                store._copy.cleanup()
                raise NsganetError(f"cannot read run store {store.path}: {exc.strerror or exc}") from None
            opener = partial(sqlite3.connect, copy, timeout=30.0, isolation_level=None)
        else:
            opener = partial(sqlite3.connect, f"{uri}?immutable=1", uri=True, isolation_level=None)
        try:
            store.conn = store._connect(opener)
            store._verify_schema()
        except BaseException:
            store._cleanup()
            raise
        return store

    @property
    def has_rungs(self) -> bool:
        """Whether the store has the table of rungs (stores made before multi-fidelity runs lack it)."""
        return "rungs" in self.optional_tables

    @property
    def has_reused(self) -> bool:
        """Whether the store has the table of reused evaluations (stores made before warm starts lack it)."""
        return "reused" in self.optional_tables

    @property
    def has_async(self) -> bool:
        """Whether the store has the tables of asynchronous runs (stores made before them lack them)."""
        return {"completions", "async_state"} <= self.optional_tables

    @property
    def is_async(self) -> bool:
        """Whether the store holds an asynchronous run (one that saved a step)."""
        return self.has_async and self.conn.execute("SELECT 1 FROM async_state LIMIT 1").fetchone() is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit every write inside at once, or none of them."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise NsganetError(f"cannot write {self.NOUN} {self.path}: {exc}") from None
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[RunStore]:
        """Read the store as of one moment (a read transaction), while a search may be writing it."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def hold(self, release: Callable[[], None]) -> None:
        """Call ``release`` when the store closes (the run's lock lives as long as its store)."""
        self._on_close.append(release)

    def _cleanup(self) -> None:
        if self._copy is not None:
            self._copy.cleanup()
            self._copy = None
        while self._on_close:
            self._on_close.pop()()

    # -- trust -----------------------------------------------------------------------------
    def check(self, objectives: Sequence[str] = ()) -> None:
        """Verify every stored value (and that ok rows hold ``objectives``); a problem is a one-line error.

        The pages are sound (SQLite's quick check), every meta value is JSON,
        generations are numbered 0..G and record how many evaluations they
        closed, evaluations of saved generations are numbered 0..n-1 without
        a gap and finished, later ones belong to the generation in flight, and
        genomes, objectives, statuses, strategy states and generation infos parse.
        The rungs of an evaluation are numbered 0..k with growing epochs, only
        the last may have failed, they are of the evaluation's architecture,
        and a finished evaluation holds its last rung's result.
        """
        with self.reading():
            self.check_pages_and_meta()
            saved = self._check_generations()
            if self.is_async:
                finished = self._check_async_evaluations(saved, list(objectives))
            else:
                finished = self._check_evaluations(saved, list(objectives))
            if self.has_rungs:
                self._check_rungs(finished, list(objectives))
            if self.has_reused:
                self._check_reused(finished)

    def _check_generations(self) -> list[int]:
        """Evaluations recorded after each saved generation (generation g at index g)."""
        counts: list[int] = []
        for generation, n, state, info in self.conn.execute(
                "SELECT generation, n_evaluated, state, info FROM generations ORDER BY generation"):
            if generation != len(counts):
                raise self.corrupt(f"generation {len(counts)} is missing (the next saved is {generation!r})")
            if not is_int(n) or n < (counts[-1] if counts else 0):
                raise self.corrupt(f"generation {generation} records {n!r} evaluations")
            if not isinstance(json_value(state), dict):
                raise self.corrupt(f"the strategy state of generation {generation} is not a JSON object")
            if not isinstance(json_value(info), dict):
                raise self.corrupt(f"the information of generation {generation} is not a JSON object")
            counts.append(n)
        return counts

    def _check_evaluations(self, saved: list[int], objectives: list[str]) -> dict[int, tuple[str, str, Any]]:
        """Numbering, generations and values of every evaluation (see :meth:`check`).

        Returns each evaluation's architecture, status and stored objectives by number.
        """
        last, closed = len(saved) - 1, (saved[-1] if saved else 0)
        per_generation = [0] * len(saved)
        expected = 0
        held: dict[int, tuple[str, str, Any]] = {}
        for seq, arch, genome, generation, status, values in self.conn.execute(
                "SELECT seq, arch, genome, generation, status, objectives FROM evaluations ORDER BY seq"):
            where = f"evaluation {seq}"
            if not is_int(generation) or generation < 0 or not isinstance(arch, str) or not arch:
                raise self.corrupt(f"{where} has no valid architecture or generation")
            if generation <= last:
                if seq != expected:
                    raise self.corrupt(f"evaluation {expected} is missing (the numbering jumps to {seq})")
                if status == "running":
                    raise self.corrupt(f"{where} of saved generation {generation} is marked running")
                per_generation[generation] += 1
                expected += 1
            elif generation != last + 1 or seq < closed:
                raise self.corrupt(f"{where} belongs to generation {generation} but the last saved "
                                   f"generation is {last}")
            self._check_values(where, genome, status, values, objectives)
            held[seq] = (arch, status, values)
        for generation, n in enumerate(saved):
            count = sum(per_generation[:generation + 1])
            if count != n:
                raise self.corrupt(f"generation {generation} closed with {n} evaluations but the store "
                                   f"holds {count} up to it")
        return held

    def _check_async_evaluations(self, saved: list[int], objectives: list[str]) -> dict[int, tuple[str, str, Any]]:
        """An asynchronous run's numbering, completion order, generations and values (see :meth:`check`).

        Evaluations are numbered 0..n-1 in the order they were proposed, the
        finished ones completed at positions 0..c-1, each once, and belong to
        the generation their position falls in; running ones to the generation
        in flight; the last saved step told the strategy every completion.
        """
        order: dict[int, int] = {}
        for position, seq in self.conn.execute("SELECT position, seq FROM completions ORDER BY position"):
            if position != len(order) or not is_int(seq):
                raise self.corrupt(f"completion {len(order)} is missing (the next recorded is {position!r})")
            order[seq] = position
        step = self.conn.execute("SELECT MAX(step), COUNT(*) FROM async_state").fetchone()
        if step[1] != 1 or step[0] != len(order):
            raise self.corrupt(f"the strategy state saved after step {step[0]} does not follow the {len(order)} "
                               "completions")
        if saved and saved[-1] > len(order):
            raise self.corrupt(f"generation {len(saved) - 1} closed with {saved[-1]} evaluations but only "
                               f"{len(order)} completed")
        held: dict[int, tuple[str, str, Any]] = {}
        for seq, arch, genome, generation, status, values in self.conn.execute(
                "SELECT seq, arch, genome, generation, status, objectives FROM evaluations ORDER BY seq"):
            where = f"evaluation {seq}"
            if seq != len(held):
                raise self.corrupt(f"evaluation {len(held)} is missing (the numbering jumps to {seq})")
            if not is_int(generation) or not isinstance(arch, str) or not arch:
                raise self.corrupt(f"{where} has no valid architecture or generation")
            position = order.pop(seq, None)
            if (status == "running") != (position is None):
                raise self.corrupt(f"{where} is {status} but {'not ' if position is None else ''}recorded as "
                                   "completed")
            expected = len(saved) if position is None else next(
                (g for g, n in enumerate(saved) if position < n), len(saved))
            if generation != expected:
                raise self.corrupt(f"{where} belongs to generation {generation}, its completion to {expected}")
            self._check_values(where, genome, status, values, objectives)
            held[seq] = (arch, status, values)
        if order:
            raise self.corrupt(f"evaluation {min(order)} is recorded as completed but not stored")
        return held

    def _check_rungs(self, evaluations: dict[int, tuple[str, str, Any]], objectives: list[str]) -> None:
        """Numbering, epochs, architectures and values of every rung, against the evaluations (see :meth:`check`)."""
        before = (-1, -1, 0, "ok")  # seq, rung, epochs and status of the row before
        last: dict[int, tuple[str, Any]] = {}
        for seq, rung, arch, epochs, status, values in self.conn.execute(
                "SELECT seq, rung, arch, epochs, status, objectives FROM rungs ORDER BY seq, rung"):
            if not (is_int(seq) and seq >= 0 and is_int(rung) and rung >= 0 and is_int(epochs) and epochs >= 1
                    and isinstance(arch, str) and arch):
                raise self.corrupt(f"rung {rung!r} of evaluation {seq!r} has no valid number, epochs or "
                                   "architecture")
            where = f"rung {rung} of evaluation {seq}"
            same = before[0] == seq
            expected = before[1] + 1 if same else 0
            if rung != expected:
                raise self.corrupt(f"rung {expected} of evaluation {seq} is missing (the next stored is {rung})")
            if same and epochs <= before[2]:
                raise self.corrupt(f"{where} trains {epochs} epochs, no more than the rung before")
            if same and before[3] != "ok":
                raise self.corrupt(f"{where} follows a failed rung")
            if status not in ("ok", "failed"):
                raise self.corrupt(f"{where} has the status {status!r}")
            self._check_objectives(where, status, values, objectives)
            evaluation = evaluations.get(seq)  # none: of the generation in flight (a crash discards its rows)
            if evaluation is not None and evaluation[0] != arch:
                raise self.corrupt(f"{where} is of {arch}, evaluation {seq} of {evaluation[0]}")
            before, last[seq] = (seq, rung, epochs, status), (status, values)
        for seq, (status, values) in last.items():
            evaluation = evaluations.get(seq)
            if evaluation is None or evaluation[1] == "running":
                continue
            if evaluation[1] != status or (status == "ok" and json_value(evaluation[2]) != json_value(values)):
                raise self.corrupt(f"evaluation {seq} does not hold the result of its last rung")

    def _check_reused(self, evaluations: dict[int, tuple[str, str, Any]]) -> None:
        """Every reused evaluation is a stored successful one, with its source run and evaluation number."""
        for seq, run, source_seq in self.conn.execute("SELECT seq, run, source_seq FROM reused ORDER BY seq"):
            if not (isinstance(run, str) and run and is_int(source_seq) and source_seq >= 0):
                raise self.corrupt(f"the source of reused evaluation {seq!r} is not a run and a number")
            if evaluations.get(seq, ("", ""))[1] != "ok":
                raise self.corrupt(f"evaluation {seq} is recorded as reused but is no successful evaluation")

    def _check_values(self, where: str, genome: Any, status: Any, values: Any, objectives: list[str]) -> None:
        if status not in STATUSES:
            raise self.corrupt(f"{where} has the status {status!r}")
        parsed = json_value(genome)
        if not isinstance(parsed, list) or not parsed or not all(is_int(v) for v in parsed):
            raise self.corrupt(f"the genome of {where} is not a JSON list of integers")
        self._check_objectives(where, status, values, objectives)

    def _check_objectives(self, where: str, status: Any, values: Any, objectives: list[str]) -> None:
        parsed = None if values is None else json_value(values)
        if parsed is None and status != "ok":
            return
        if not isinstance(parsed, dict) or not all(isinstance(k, str) and (v is None or is_number(v))
                                                   for k, v in parsed.items()):
            raise self.corrupt(f"the objectives of {where} are not a JSON mapping of numbers")
        missing = [name for name in objectives if name not in parsed]
        if status == "ok" and missing:
            raise self.corrupt(f"{where} has no value of the objective {missing[0]}")

    # -- evaluations -----------------------------------------------------------------------
    def start(self, seq: int, arch: str, genome: tuple[int, ...], generation: int) -> None:
        """Record an evaluation as running (a stored row of the same number or architecture is an error)."""
        self._write("INSERT INTO evaluations (seq, arch, genome, generation, status, started)"
                    " VALUES (?, ?, ?, ?, 'running', ?)",
                    (seq, arch, json.dumps(list(genome)), generation, time.time()),
                    taken=f"evaluation {seq} or the architecture {arch}")

    def finish(self, seq: int, objectives: dict[str, float] | None, reason: str | None,
               seconds: float, detail: str | None = None) -> None:
        """Record the outcome: ``objectives`` when it succeeded, else the failure ``reason`` (and traceback)."""
        status = "ok" if reason is None else "failed"
        payload = None if objectives is None else json.dumps(objectives)
        done = self._write(
            "UPDATE evaluations SET status = ?, reason = ?, detail = ?, objectives = ?, finished = ?, seconds = ?"
            " WHERE seq = ? AND status = 'running'",
            (status, reason, detail, payload, time.time(), seconds, seq))
        if done.rowcount != 1:
            raise NsganetError(f"run store {self.path} holds no running evaluation {seq} to finish; stored "
                               "results are never overwritten")

    def reuse(self, seq: int, arch: str, genome: tuple[int, ...], generation: int, objectives: dict[str, float],
              run: str, source_seq: int) -> Evaluation:
        """Record, in one commit, a successful evaluation taken over from evaluation ``source_seq`` of ``run``."""
        if not self.has_reused:
            raise NsganetError(f"run store {self.path} was made by an nsganet without warm starts; it cannot "
                               "hold reused evaluations")
        now = time.time()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._write("INSERT INTO evaluations (seq, arch, genome, generation, status, objectives, started,"
                            " finished, seconds) VALUES (?, ?, ?, ?, 'ok', ?, ?, ?, 0.0)",
                            (seq, arch, json.dumps(list(genome)), generation, json.dumps(objectives), now, now),
                            taken=f"evaluation {seq} or the architecture {arch}")
                self._write("INSERT INTO reused (seq, run, source_seq) VALUES (?, ?, ?)", (seq, run, source_seq),
                            taken=f"reused evaluation {seq}")
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise NsganetError(f"cannot write {self.NOUN} {self.path}: {exc}") from None
        return Evaluation(seq, arch, tuple(genome), generation, "ok", None, dict(objectives), 0.0, None,
                          f"{run}#{source_seq}")

    def failure_detail(self, seq: int) -> str | None:
        """The traceback stored with a failed evaluation."""
        row = self.conn.execute("SELECT detail FROM evaluations WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else row[0]

    def discard_running(self) -> int:
        """Drop evaluations a crash left running; they are evaluated again."""
        return self._write("DELETE FROM evaluations WHERE status = 'running'", ()).rowcount

    # -- asynchronous runs -----------------------------------------------------------------
    def _require_async(self) -> None:
        if not self.has_async:
            raise NsganetError(f"run store {self.path} was made by an nsganet without asynchronous runs; it "
                               "cannot hold one")

    def complete(self, seq: int, position: int, generation: int) -> None:
        """Record finished evaluation ``seq`` as the ``position``-th to complete, of ``generation``."""
        self._require_async()
        self._write("INSERT INTO completions (position, seq) VALUES (?, ?)", (position, seq),
                    taken=f"completion {position} or a completion of evaluation {seq}")
        self._write("UPDATE evaluations SET generation = ? WHERE seq = ?", (generation, seq))

    def advance_running(self, generation: int) -> None:
        """Move the running evaluations to ``generation`` (the one in flight, after a generation closed)."""
        self._write("UPDATE evaluations SET generation = ? WHERE status = 'running'", (generation,))

    def save_async_state(self, step: int, state: dict[str, Any]) -> None:
        """Keep the strategy's state after step ``step`` (``step`` completions told) in place of the previous."""
        self._require_async()
        self._write("DELETE FROM async_state", ())
        self._write("INSERT INTO async_state (step, state, saved) VALUES (?, ?, ?)",
                    (step, json.dumps(state), time.time()))

    def async_state(self) -> tuple[int, dict[str, Any]] | None:
        """The latest step of an asynchronous run and the strategy state saved after it (None: none saved)."""
        if not self.has_async:
            return None
        row = self.conn.execute("SELECT step, state FROM async_state ORDER BY step DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def completion_order(self) -> list[int]:
        """The numbers of the finished evaluations of an asynchronous run, in the order they completed."""
        if not self.has_async:
            return []
        return [seq for (seq,) in self.conn.execute("SELECT seq FROM completions ORDER BY position")]

    @property
    def _select_evaluations(self) -> str:
        """The query of evaluation rows, with the epochs of their last rung (none without rungs)."""
        epochs = "(SELECT r.epochs FROM rungs r WHERE r.seq = e.seq ORDER BY r.rung DESC LIMIT 1)" \
            if self.has_rungs else "NULL"
        reused = "(SELECT u.run || '#' || u.source_seq FROM reused u WHERE u.seq = e.seq)" \
            if self.has_reused else "NULL"
        return ("SELECT e.seq, e.arch, e.genome, e.generation, e.status, e.reason, e.objectives, e.seconds, "
                f"{epochs}, {reused} FROM evaluations e")

    def evaluations(self, max_generation: int | None = None, finished_only: bool = True) -> list[Evaluation]:
        """Evaluations in evaluation order, optionally only up to a generation."""
        query = self._select_evaluations
        clauses, args = [], []
        if finished_only:
            clauses.append("status != 'running'")
        if max_generation is not None:
            clauses.append("generation <= ?")
            args.append(max_generation)
        if clauses:
            query += " WHERE " + " AND ".join(f"e.{clause}" for clause in clauses)
        rows = self.conn.execute(query + " ORDER BY seq", args).fetchall()
        return [_to_evaluation(row) for row in rows]

    def finished(self, arch: str) -> Evaluation | None:
        """The finished evaluation of ``arch``, if any."""
        row = self.conn.execute(self._select_evaluations + " WHERE arch = ? AND status != 'running'",
                                (arch,)).fetchone()
        return None if row is None else _to_evaluation(row)

    def count(self) -> int:
        """Finished evaluations."""
        return self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE status != 'running'").fetchone()[0]

    def count_running(self) -> int:
        """Evaluations in progress (or left so by a crash)."""
        return self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE status = 'running'").fetchone()[0]

    # -- rungs of multi-fidelity runs --------------------------------------------------------
    def add_rung(self, rung: Rung, detail: str | None = None) -> None:
        """Record the result of one rung (a rung already stored is an error: results are never overwritten)."""
        if not self.has_rungs:
            raise NsganetError(f"run store {self.path} was made by an nsganet without multi-fidelity runs; "
                               "it cannot hold rungs")
        payload = json.dumps(rung.objectives) if rung.status == "ok" else None
        self._write("INSERT INTO rungs (seq, rung, arch, epochs, status, reason, detail, objectives, finished, seconds)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rung.seq, rung.rung, rung.arch, rung.epochs, rung.status, rung.reason, detail, payload,
                     time.time(), rung.seconds),
                    taken=f"rung {rung.rung} of evaluation {rung.seq}")

    def rungs(self, min_seq: int = 0) -> list[Rung]:
        """Every stored rung (of evaluations numbered from ``min_seq``), by evaluation then rung."""
        if not self.has_rungs:
            return []
        rows = self.conn.execute("SELECT seq, rung, arch, epochs, status, reason, objectives, seconds FROM rungs"
                                 " WHERE seq >= ? ORDER BY seq, rung", (min_seq,)).fetchall()
        return [Rung(seq, rung, arch, epochs, status, reason, _objectives(values), seconds)
                for seq, rung, arch, epochs, status, reason, values, seconds in rows]

    def rung_detail(self, seq: int, rung: int) -> str | None:
        """The traceback stored with a failed rung."""
        if not self.has_rungs:
            return None
        row = self.conn.execute("SELECT detail FROM rungs WHERE seq = ? AND rung = ?", (seq, rung)).fetchone()
        return None if row is None else row[0]

    # -- strategy state --------------------------------------------------------------------
    def save_generation(self, generation: int, n_evaluated: int, state: dict[str, Any],
                        info: dict[str, Any]) -> None:
        """Commit the strategy's state after ``generation`` (a generation already saved is an error)."""
        self._write("INSERT INTO generations (generation, n_evaluated, state, info, saved) VALUES (?, ?, ?, ?, ?)",
                    (generation, n_evaluated, json.dumps(state), json.dumps(info), time.time()),
                    taken=f"generation {generation}")

    def last_generation(self) -> tuple[int, dict[str, Any]] | None:
        """The newest completed generation and the strategy state saved after it."""
        row = self.conn.execute(
            "SELECT generation, state FROM generations ORDER BY generation DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def generation_info(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT generation, n_evaluated, info FROM generations ORDER BY generation")
        return [{"generation": g, "n_evaluated": n, **json.loads(info)} for g, n, info in rows]


def _objectives(text: str | None) -> dict[str, float]:
    """Stored objective values (a JSON null read as NaN)."""
    return {k: (math.nan if v is None else float(v)) for k, v in json.loads(text).items()} if text else {}


def _to_evaluation(row: tuple[Any, ...]) -> Evaluation:
    seq, arch, genome, generation, status, reason, objectives, seconds, epochs, reused = row
    return Evaluation(seq, arch, tuple(json.loads(genome)), generation, status, reason, _objectives(objectives),
                      seconds, epochs, reused)

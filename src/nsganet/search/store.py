"""The run store: one SQLite file per run with every evaluation and the strategy's state.

Evaluations move through the states ``running`` -> ``ok`` | ``failed`` and are
committed one by one; after each generation the strategy's state is committed
too. A run killed at any moment therefore resumes from its last generation,
reusing every evaluation that finished.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
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
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY,
    n_evaluated INTEGER NOT NULL,
    state TEXT NOT NULL,
    info TEXT NOT NULL,
    saved REAL NOT NULL
);
"""


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


class RunStore:
    """SQLite-backed record of a run (write-ahead logging, one commit per result)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise NsganetError(f"run store {self.path} is not a usable SQLite database: {exc}") from None
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise NsganetError(f"run store {self.path} has schema {version}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata --------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- evaluations -----------------------------------------------------------------------
    def start(self, seq: int, arch: str, genome: tuple[int, ...], generation: int) -> None:
        """Record an evaluation as running (replacing a running row left by a crash)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO evaluations (seq, arch, genome, generation, status, started)"
            " VALUES (?, ?, ?, ?, 'running', ?)",
            (seq, arch, json.dumps(list(genome)), generation, time.time()),
        )

    def finish(self, seq: int, objectives: dict[str, float] | None, reason: str | None,
               seconds: float, detail: str | None = None) -> None:
        """Record the outcome: ``objectives`` when it succeeded, else the failure ``reason`` (and traceback)."""
        status = "ok" if reason is None else "failed"
        payload = None if objectives is None else json.dumps(objectives)
        self.conn.execute(
            "UPDATE evaluations SET status = ?, reason = ?, detail = ?, objectives = ?, finished = ?, seconds = ?"
            " WHERE seq = ?",
            (status, reason, detail, payload, time.time(), seconds, seq),
        )

    def failure_detail(self, seq: int) -> str | None:
        """The traceback stored with a failed evaluation."""
        row = self.conn.execute("SELECT detail FROM evaluations WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else row[0]

    def discard_running(self) -> int:
        """Drop evaluations a crash left running; they are evaluated again."""
        return self.conn.execute("DELETE FROM evaluations WHERE status = 'running'").rowcount

    def evaluations(self, max_generation: int | None = None, finished_only: bool = True) -> list[Evaluation]:
        """Evaluations in evaluation order, optionally only up to a generation."""
        query = "SELECT seq, arch, genome, generation, status, reason, objectives, seconds FROM evaluations"
        clauses, args = [], []
        if finished_only:
            clauses.append("status != 'running'")
        if max_generation is not None:
            clauses.append("generation <= ?")
            args.append(max_generation)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        rows = self.conn.execute(query + " ORDER BY seq", args).fetchall()
        return [_to_evaluation(row) for row in rows]

    def finished(self, arch: str) -> Evaluation | None:
        """The finished evaluation of ``arch``, if any."""
        row = self.conn.execute(
            "SELECT seq, arch, genome, generation, status, reason, objectives, seconds FROM evaluations"
            " WHERE arch = ? AND status != 'running'", (arch,)).fetchone()
        return None if row is None else _to_evaluation(row)

    def count(self) -> int:
        """Finished evaluations."""
        return self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE status != 'running'").fetchone()[0]

    def count_running(self) -> int:
        """Evaluations in progress (or left so by a crash)."""
        return self.conn.execute("SELECT COUNT(*) FROM evaluations WHERE status = 'running'").fetchone()[0]

    # -- strategy state --------------------------------------------------------------------
    def save_generation(self, generation: int, n_evaluated: int, state: dict[str, Any],
                        info: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO generations (generation, n_evaluated, state, info, saved)"
            " VALUES (?, ?, ?, ?, ?)",
            (generation, n_evaluated, json.dumps(state), json.dumps(info), time.time()),
        )

    def last_generation(self) -> tuple[int, dict[str, Any]] | None:
        """The newest completed generation and the strategy state saved after it."""
        row = self.conn.execute(
            "SELECT generation, state FROM generations ORDER BY generation DESC LIMIT 1").fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def generation_info(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT generation, n_evaluated, info FROM generations ORDER BY generation")
        return [{"generation": g, "n_evaluated": n, **json.loads(info)} for g, n, info in rows]


def _to_evaluation(row: tuple[Any, ...]) -> Evaluation:
    seq, arch, genome, generation, status, reason, objectives, seconds = row
    values = {k: (math.nan if v is None else float(v)) for k, v in json.loads(objectives).items()} \
        if objectives else {}
    return Evaluation(seq, arch, tuple(json.loads(genome)), generation, status, reason, values, seconds)

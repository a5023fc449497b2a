"""The store of a proxy-fidelity study: one SQLite file holding the study's config and every finished result.

Each (architecture, setting) result is committed on its own the moment it
finishes, so a study killed at any moment continues from what it had: the
pairs stored are read back, never trained again. A new store appears complete
or not at all (built beside its final name, then renamed); an existing one is
checked before it is trusted (schema, SQLite's quick check, every row against
the recorded config). A result is never overwritten: storing a pair twice is a
loud error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nsganet.errors import NsganetError
from nsganet.utils.sqlite_store import SqliteStore, is_int, is_number
from nsganet.utils.sqlite_store import corrupt as store_corrupt

SCHEMA_VERSION = "1"
STATUSES = ("ok", "failed")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE results (
    arch_index INTEGER NOT NULL,
    arch TEXT NOT NULL,
    setting TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error REAL,
    seconds REAL NOT NULL,
    reason TEXT,
    detail TEXT,
    finished REAL NOT NULL,
    PRIMARY KEY (arch_index, setting)
);
"""
COLUMNS = {
    "meta": ("key", "value"),
    "results": ("arch_index", "arch", "setting", "status", "error", "seconds", "reason", "detail", "finished"),
}


@dataclass(frozen=True)
class PairResult:
    """One architecture trained (or scored) at one setting: its validation error (None when it failed) and the
    seconds it took."""

    arch_index: int
    arch: str
    setting: str
    error: float | None
    seconds: float
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is not None


def corrupt(path: str | Path, what: str) -> NsganetError:
    """The one-line error of a study store that cannot be trusted."""
    return store_corrupt(StudyStore.NOUN, path, what)


class StudyStore(SqliteStore):
    """The SQLite record of one study (write-ahead logging, one commit per result).

    :meth:`create` makes a new store holding ``meta`` from its first byte;
    ``StudyStore(path)`` opens an existing one, checking its schema.
    """

    NOUN = "study store"
    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    COLUMNS = COLUMNS

    # -- trust -----------------------------------------------------------------------------
    def check(self, archs: Sequence[str], settings: Sequence[str]) -> None:
        """Verify the pages and every row: a known architecture at its index, a known setting, a status, an error
        within 0..100 for each success and a finite, non-negative duration. A problem is a one-line error."""
        known = set(settings)
        with self.reading():
            self.check_pages_and_meta()
            for index, arch, setting, status, error, seconds in self.conn.execute(
                    "SELECT arch_index, arch, setting, status, error, seconds FROM results"):
                where = f"the result of architecture {index!r} at setting {setting!r}"
                if not is_int(index) or not 0 <= index < len(archs) or arch != archs[index]:
                    raise self.corrupt(f"{where} names an architecture the study did not sample")
                if setting not in known:
                    raise self.corrupt(f"{where} is of a setting the study does not have")
                if status not in STATUSES:
                    raise self.corrupt(f"{where} has the status {status!r}")
                if status == "ok" and not (is_number(error, finite=True) and 0.0 <= error <= 100.0):
                    raise self.corrupt(f"{where} has the error {error!r}, not a percentage")
                if not is_number(seconds, finite=True) or seconds < 0:
                    raise self.corrupt(f"{where} took {seconds!r} seconds")

    # -- writing ---------------------------------------------------------------------------
    def add(self, result: PairResult, detail: str | None = None) -> None:
        """Commit one finished pair (a pair already stored is an error)."""
        status = "ok" if result.ok else "failed"
        self._write("INSERT INTO results (arch_index, arch, setting, status, error, seconds, reason, detail, finished)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.arch_index, result.arch, result.setting, status, result.error, float(result.seconds),
                     result.reason, detail, time.time()),
                    taken=f"the result of architecture {result.arch_index} at setting {result.setting}")

    # -- reading ---------------------------------------------------------------------------
    def results(self) -> list[PairResult]:
        """Every stored result, by setting name and architecture index."""
        rows = self.conn.execute("SELECT arch_index, arch, setting, status, error, seconds, reason FROM results"
                                 " ORDER BY setting, arch_index").fetchall()
        return [PairResult(i, a, s, float(e) if status == "ok" else None, float(sec), r)
                for i, a, s, status, e, sec, r in rows]

    def finished_at(self) -> dict[tuple[int, str], float]:
        """When each stored pair was committed (seconds since the epoch), by (architecture index, setting)."""
        return {(i, s): t for i, s, t in self.conn.execute("SELECT arch_index, setting, finished FROM results")}


__all__ = ["PairResult", "StudyStore", "corrupt"]

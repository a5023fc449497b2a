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

import contextlib
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError

logger = logging.getLogger(__name__)

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
    return NsganetError(f"corrupt study store {path}: {what}")


class StudyStore:
    """The SQLite record of one study (write-ahead logging, one commit per result).

    :meth:`create` makes a new store holding ``meta`` from its first byte;
    ``StudyStore(path)`` opens an existing one, checking its schema.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            if self.path.stat().st_size == 0:
                raise corrupt(self.path, "the file is empty (0 bytes)")
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, f"not a usable SQLite database ({exc})") from None
        except OSError as exc:
            raise NsganetError(f"cannot read study store {self.path}: {exc.strerror or exc}") from None
        try:
            self._verify_schema()
            self._write("PRAGMA journal_mode=WAL", ())
            self._write("PRAGMA synchronous=NORMAL", ())
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def create(cls, path: str | Path, meta: Mapping[str, Any]) -> StudyStore:
        """A new store holding ``meta`` (a crash leaves either nothing or all of it)."""
        path = Path(path)
        if path.exists():
            raise NsganetError(f"study store {path} already exists")
        tmp = path.with_name(f".{path.name}.new")
        try:
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.executescript(_SCHEMA)
                rows = [("schema_version", SCHEMA_VERSION), *meta.items()]
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in rows])
            finally:
                conn.close()
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise NsganetError(f"cannot write study store {path}: {reason}") from None
        return cls(path)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error as exc:  # a full disk may refuse the final checkpoint: the log keeps the data
            logger.warning("closing %s: %s", self.path, exc)

    def __enter__(self) -> StudyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- trust -----------------------------------------------------------------------------
    def _verify_schema(self) -> None:
        try:
            for table, columns in COLUMNS.items():
                found = tuple(row[1] for row in self.conn.execute(f"PRAGMA table_info({table})"))
                if not found:
                    raise corrupt(self.path, f"it has no {table} table")
                if found != columns:
                    raise corrupt(self.path, f"the {table} table has the columns {', '.join(found)}, "
                                             f"expected {', '.join(columns)}")
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, f"not a usable SQLite database ({exc})") from None
        version = None if row is None else _json(row[0])
        if version != SCHEMA_VERSION:
            raise corrupt(self.path, f"schema version {version!r}, expected {SCHEMA_VERSION!r}")

    def check(self, archs: Sequence[str], settings: Sequence[str]) -> None:
        """Verify the pages and every row: a known architecture at its index, a known setting, a status, an error
        within 0..100 for each success and a finite, non-negative duration. A problem is a one-line error."""
        known = set(settings)
        try:
            problem = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise corrupt(self.path, f"SQLite finds it damaged ({problem})")
            for key, value in self.conn.execute("SELECT key, value FROM meta"):
                if _json(value) is _BAD:
                    raise corrupt(self.path, f"the recorded {key} is not JSON")
            for index, arch, setting, status, error, seconds in self.conn.execute(
                    "SELECT arch_index, arch, setting, status, error, seconds FROM results"):
                where = f"the result of architecture {index!r} at setting {setting!r}"
                if not _is_int(index) or not 0 <= index < len(archs) or arch != archs[index]:
                    raise corrupt(self.path, f"{where} names an architecture the study did not sample")
                if setting not in known:
                    raise corrupt(self.path, f"{where} is of a setting the study does not have")
                if status not in STATUSES:
                    raise corrupt(self.path, f"{where} has the status {status!r}")
                if status == "ok" and not (_is_number(error) and 0.0 <= error <= 100.0):
                    raise corrupt(self.path, f"{where} has the error {error!r}, not a percentage")
                if not _is_number(seconds) or seconds < 0:
                    raise corrupt(self.path, f"{where} took {seconds!r} seconds")
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, f"not a usable SQLite database ({exc})") from None

    # -- writing ---------------------------------------------------------------------------
    def _write(self, sql: str, args: Sequence[Any], taken: str | None = None) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError as exc:
            if taken is None:
                raise NsganetError(f"cannot write study store {self.path}: {exc}") from None
            raise NsganetError(f"study store {self.path} already holds {taken}; stored results are never "
                               "overwritten") from None
        except sqlite3.Error as exc:
            raise NsganetError(f"cannot write study store {self.path}: {exc}") from None

    def get_meta(self, key: str) -> Any:
        """The JSON value stored under ``key`` (None when there is none)."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, f"not a usable SQLite database ({exc})") from None
        if row is None:
            return None
        value = _json(row[0])
        if value is _BAD:
            raise corrupt(self.path, f"the recorded {key} is not JSON")
        return value

    def set_meta(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

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


_BAD = object()


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return _BAD
    try:
        return json.loads(text)
    except ValueError:
        return _BAD


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


__all__ = ["PairResult", "StudyStore", "corrupt"]

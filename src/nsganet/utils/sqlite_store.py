"""One SQLite file of results: the scaffold the run store and the study store share.

A new store appears complete or not at all (it is built beside its final name
with its schema and metadata, then renamed); an existing one must have the
expected tables, columns and schema version before it is used. Writes commit
one by one under write-ahead logging; a write that fails (a full disk) is a
one-line :class:`NsganetError`, and a result already stored is never
overwritten. Metadata values are JSON. Subclasses add their tables, their row
checks and their queries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nsganet.errors import NsganetError

logger = logging.getLogger(__name__)

_Store = TypeVar("_Store", bound="SqliteStore")

#: What :func:`json_value` returns for a stored text that is not JSON.
NOT_JSON = object()


def corrupt(noun: str, path: str | Path, what: str) -> NsganetError:
    """The one-line error of a store (``noun``: "run store", "study store") that cannot be trusted."""
    return NsganetError(f"corrupt {noun} {path}: {what}")


def json_value(text: Any) -> Any:
    """The JSON value of a stored text, or :data:`NOT_JSON`."""
    if not isinstance(text, str):
        return NOT_JSON
    try:
        return json.loads(text)
    except ValueError:
        return NOT_JSON


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any, finite: bool = False) -> bool:
    """An int or float, not a bool (and, with ``finite``, neither infinite nor NaN)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and (not finite or math.isfinite(value))


class SqliteStore:
    """A SQLite store opened for writing (write-ahead logging, one commit per write).

    ``cls(path)`` opens an existing store, checking its schema; :meth:`create`
    makes a new one holding its metadata from the start. Subclasses set what
    the store calls itself and its schema.
    """

    #: what the store is called in errors ("run store")
    NOUN: ClassVar[str]
    #: the SQL creating every table of a new store (one of them ``meta (key, value)``)
    SCHEMA: ClassVar[str]
    #: recorded under ``schema_version`` in ``meta``
    SCHEMA_VERSION: ClassVar[str]
    #: the columns of each table every store has
    COLUMNS: ClassVar[Mapping[str, tuple[str, ...]]]
    #: tables a store may lack (it was made before they existed), with their columns when present
    OPTIONAL_COLUMNS: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    path: Path
    conn: sqlite3.Connection
    #: the tables of :attr:`OPTIONAL_COLUMNS` this store has
    optional_tables: frozenset[str]

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.refuse_empty(self.path)
        self.conn = self._connect(partial(sqlite3.connect, self.path, isolation_level=None, timeout=30.0))
        try:
            self._verify_schema()
            self._write("PRAGMA journal_mode=WAL", ())
            self._write("PRAGMA synchronous=NORMAL", ())
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def create(cls: type[_Store], path: str | Path, meta: Mapping[str, Any]) -> _Store:
        """A new store holding ``meta`` from its first byte (a crash leaves either nothing or all of it)."""
        path = Path(path)
        if path.exists():
            raise NsganetError(f"{cls.NOUN} {path} already exists")
        cls.build(path, meta)
        return cls(path)

    @classmethod
    def build(cls, path: Path, meta: Mapping[str, Any]) -> None:
        """Write a new store with its schema and ``meta`` beside ``path``, then rename it into place."""
        tmp = path.with_name(f".{path.name}.new")
        try:
            tmp.unlink(missing_ok=True)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.executescript(cls.SCHEMA)
                rows = [("schema_version", cls.SCHEMA_VERSION), *meta.items()]
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
            raise NsganetError(f"cannot write {cls.NOUN} {path}: {reason}") from None

    @classmethod
    def refuse_empty(cls, path: Path) -> None:
        """A store file of 0 bytes is damage (a new store is never empty); a missing one cannot be read."""
        try:
            empty = path.stat().st_size == 0
        except OSError as exc:
            raise NsganetError(f"cannot read {cls.NOUN} {path}: {exc.strerror or exc}") from None
        if empty:
            raise corrupt(cls.NOUN, path, "the file is empty (0 bytes)")

    def _connect(self, opener: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
        """``opener()``, with the file read once: what is not a database is one line."""
        try:
            conn = opener()
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.corrupt(f"not a usable SQLite database ({exc})") from None
        except sqlite3.Error as exc:
            raise NsganetError(f"cannot read {self.NOUN} {self.path}: {exc}") from None
        return conn

    def corrupt(self, what: str) -> NsganetError:
        """The one-line error of this store, which cannot be trusted because of ``what``."""
        return corrupt(self.NOUN, self.path, what)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads in which SQLite's finding the file damaged is the store's one-line error."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self.corrupt(f"not a usable SQLite database ({exc})") from None

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error as exc:  # a full disk may refuse the final checkpoint: the log keeps the data
            logger.warning("closing %s: %s", self.path, exc)
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        """What a subclass releases once the connection is closed."""

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- trust -----------------------------------------------------------------------------
    def _verify_schema(self) -> None:
        """The tables with their columns and the schema version (cheap: done on every open).

        The tables of :attr:`COLUMNS` must be there; one of :attr:`OPTIONAL_COLUMNS`
        may be missing but, when present, must have its columns.
        """
        present: set[str] = set()
        with self.reading():
            for table, columns in (*self.COLUMNS.items(), *self.OPTIONAL_COLUMNS.items()):
                found = tuple(row[1] for row in self.conn.execute(f"PRAGMA table_info({table})"))
                if not found and table in self.OPTIONAL_COLUMNS:
                    continue
                if not found:
                    raise self.corrupt(f"it has no {table} table")
                if found != columns:
                    raise self.corrupt(f"the {table} table has the columns {', '.join(found)}, "
                                       f"expected {', '.join(columns)}")
                if table in self.OPTIONAL_COLUMNS:
                    present.add(table)
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        self.optional_tables = frozenset(present)
        version = None if row is None else json_value(row[0])
        if version != self.SCHEMA_VERSION:
            raise self.corrupt(f"schema version {version!r}, expected {self.SCHEMA_VERSION!r}")

    def check_pages_and_meta(self) -> None:
        """SQLite's quick check of the pages, and every meta value JSON (call it inside :meth:`reading`)."""
        problem = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise self.corrupt(f"SQLite finds it damaged ({problem})")
        for key, value in self.conn.execute("SELECT key, value FROM meta"):
            if json_value(value) is NOT_JSON:
                raise self.corrupt(f"the recorded {key} is not JSON")

    # -- writing ---------------------------------------------------------------------------
    def _write(self, sql: str, args: Sequence[Any], taken: str | None = None) -> sqlite3.Cursor:
        """Run one write (its own commit): a full disk is one line, a stored result (``taken``) is never replaced."""
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError as exc:
            if taken is None:
                raise NsganetError(f"cannot write {self.NOUN} {self.path}: {exc}") from None
            raise NsganetError(f"{self.NOUN} {self.path} already holds {taken}; stored results are never "
                               "overwritten") from None
        except sqlite3.Error as exc:
            raise NsganetError(f"cannot write {self.NOUN} {self.path}: {exc}") from None

    # -- metadata --------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        """The JSON value stored under ``key`` (``None`` when there is none)."""
        with self.reading():
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = json_value(row[0])
        if value is NOT_JSON:
            raise self.corrupt(f"the recorded {key} is not JSON")
        return value

    def set_meta(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))


__all__ = ["NOT_JSON", "SqliteStore", "corrupt", "is_int", "is_number", "json_value"]

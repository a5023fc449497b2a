"""One process per folder: an OS lock on ``FOLDER/.lock`` held for the life of whatever writes the folder.

A search holds its run directory's lock, ``nsganet train`` and supernet
training their output folder's, ``report`` and ``select`` the folder they write.
The lock is ``fcntl.flock`` on the lock file, so the operating system releases
it when its process dies, however it dies: a killed run never leaves a stale
lock behind. The file holds the holder's pid, host, start time and command as
text, so that a second process is refused in one line naming the holder.

Locks are re-entrant within a process (a search's command and its store take
the same one), are not inherited by forked children (a data-loading worker
that outlives its parent does not keep the folder locked), and are released in
the order they were taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nsganet.errors import NsganetError

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
#: How long a refused process waits for the holder to write who it is (it writes right after locking).
HOLDER_WAIT_S = 5.0
_POLL_S = 0.05


@dataclass
class _Held:
    """A lock this process holds: the open lock file, how many times it was taken, whether it was claimed,
    and the folders this process made for it (removed again if nothing but the lock file went into them)."""

    fd: int
    count: int
    created: bool
    claimed: bool = False
    made: tuple[Path, ...] = ()


_HELD: dict[str, _Held] = {}


def _forget_in_child() -> None:
    """A forked child closes its copies of the lock files: the lock stays its parent's alone."""
    for held in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(held.fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its lock file says."""

    pid: int
    host: str
    since: str
    command: str

    def text(self) -> str:
        return f"pid: {self.pid}\nhost: {self.host}\nsince: {self.since}\ncommand: {self.command}\n"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lock file names; ``None`` for an empty or foreign file."""
        values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        try:
            return cls(int(values["pid"]), values["host"], values["since"], values["command"])
        except (KeyError, ValueError):
            return None

    def alive(self) -> bool:
        """Whether the holder may still run (a process of another host is taken as running)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class FolderLock:
    """The lock of one folder, taken by :meth:`acquire`, announced by :meth:`claim`, dropped by :meth:`release`.

    ``command`` names the holder in messages (``nsganet search``), ``label``
    names the folder (``run directory``). Taking the lock writes nothing;
    :meth:`claim` writes who holds it, so that a process refused by a check
    made under the lock leaves the folder as it found it.
    """

    def __init__(self, folder: str | Path, command: str, label: str = "folder", make: bool = False) -> None:
        self.folder, self.command, self.label, self.make = Path(folder), command, label, make
        self.path = self.folder / LOCK_FILE
        self._key = os.path.realpath(self.path)
        self._taken = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        try:
            self.claim()
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> FolderLock:
        """Take the lock or raise a one-line :class:`NsganetError` naming its holder."""
        if self._taken:
            return self
        held = _HELD.get(self._key)
        if held is not None:
            held.count += 1
        else:
            made = self._make() if self.make else ()
            try:
                _HELD[self._key] = self._lock()
            except BaseException:
                _remove_empty(made)
                raise
            _HELD[self._key].made = made
        self._taken = True
        return self

    def claim(self) -> None:
        """Write who holds the lock into the lock file (once per process)."""
        held = _HELD[self._key]
        if held.claimed:
            return
        holder = Holder(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"), self.command)
        try:
            os.ftruncate(held.fd, 0)
            os.pwrite(held.fd, holder.text().encode("utf-8"), 0)
        except OSError as exc:
            raise NsganetError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        held.claimed = True

    def release(self) -> None:
        """Drop the lock (the last release in this process unlocks the file)."""
        if not self._taken:
            return
        self._taken = False
        held = _HELD[self._key]
        held.count -= 1
        if held.count > 0:
            return
        del _HELD[self._key]
        with contextlib.suppress(OSError):
            if held.created and (not held.claimed or os.listdir(self.folder) == [LOCK_FILE]):
                os.unlink(self.path)  # a refused check, or a command stopped before writing, leaves nothing
            elif held.claimed:
                os.ftruncate(held.fd, 0)  # no stale holder named once it is gone
        with contextlib.suppress(OSError):
            fcntl.flock(held.fd, fcntl.LOCK_UN)
            os.close(held.fd)
        _remove_empty(held.made)

    def _make(self) -> tuple[Path, ...]:
        """Create the folder (and its missing parents); the folders made, innermost first."""
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists() and not p.is_symlink()]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NsganetError(f"cannot write to {self.label} {self.folder}: {exc.strerror or exc}") from None
        return tuple(missing)

    # -- taking the OS lock ------------------------------------------------------------------
    def _open(self) -> tuple[int, bool]:
        """The lock file opened for writing, and whether this call created it."""
        try:
            return os.open(self.path, os.O_RDWR), False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise NsganetError(f"cannot write to {self.label} {self.folder}: {exc.strerror or exc}") from None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            return self._open()
        except OSError as exc:
            raise NsganetError(f"cannot write to {self.label} {self.folder}: {exc.strerror or exc}") from None

    def _try_lock(self) -> _Held | None:
        """The lock if it is free now (and the file locked is still the one at :attr:`path`), else ``None``."""
        fd, created = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise NsganetError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:  # a refused process removed the file it had created: lock the new one
            os.close(fd)
            return self._try_lock()
        return _Held(fd, 1, created)

    def _lock(self) -> _Held:
        """Take the OS lock; while it is taken, wait a moment for the holder to say who it is, then refuse."""
        deadline = time.monotonic() + HOLDER_WAIT_S
        while True:
            held = self._try_lock()
            if held is not None:
                return held
            holder = read_holder(self.folder)
            if holder is not None and holder.alive():
                raise NsganetError(self._refusal(holder))
            if time.monotonic() >= deadline:
                raise NsganetError(self._refusal(None))
            time.sleep(_POLL_S)

    def _refusal(self, holder: Holder | None) -> str:
        who = "another process" if holder is None else \
            f"pid {holder.pid} on host {holder.host} since {holder.since} (another {holder.command})"
        return f"{self.label} {self.folder} is in use by {who}; wait for it or use another --out"


def _remove_empty(folders: tuple[Path, ...]) -> None:
    """Remove folders this process made, innermost first, as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def read_holder(folder: str | Path) -> Holder | None:
    """Who the lock file of ``folder`` names (``None``: nobody, or it cannot be read)."""
    try:
        return Holder.parse((Path(folder) / LOCK_FILE).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def in_use(folder: str | Path) -> bool:
    """Whether a process (this one included) holds the lock of ``folder``; takes nothing, writes nothing."""
    path = Path(folder) / LOCK_FILE
    if os.path.realpath(path) in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the shared lock taken for the test
    return False


@contextlib.contextmanager
def locked(folder: str | Path, command: str, label: str = "folder") -> Iterator[FolderLock]:
    """Hold the lock of ``folder`` (claimed at once) for the ``with`` block."""
    with FolderLock(folder, command, label) as lock:
        yield lock


__all__ = ["LOCK_FILE", "FolderLock", "Holder", "in_use", "locked", "read_holder"]

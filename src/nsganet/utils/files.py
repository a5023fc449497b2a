"""Writing files so that a crash never leaves a partial one, reading text files with one-line errors, and names
that are safe as paths."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from nsganet.errors import NsganetError

#: Longest name :func:`safe_name` returns (file systems allow 255 bytes).
MAX_NAME = 200
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def atomic_write(path: str | Path, content: str | bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``content`` to ``path`` so that readers see the old file or the new one, never a partial one.

    ``content`` is text (UTF-8), bytes, or a function writing into the open
    binary file (e.g. ``lambda f: torch.save(obj, f)``). The data go to a
    hidden temporary file beside ``path``, are flushed to the disk (fsync),
    and the temporary file is renamed over ``path``. A file system that
    refuses (a full disk, ``path`` a folder, no permission) is one
    :class:`NsganetError` line naming ``path``; the old file is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise NsganetError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def _discard(tmp: Path) -> None:
    """Remove a temporary file left by a failed write (if it can be)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` of ``obj`` to ``path`` through :func:`atomic_write`."""
    import torch

    return atomic_write(path, lambda handle: torch.save(obj, handle))


def read_text(path: str | Path, what: str = "", error: type[NsganetError] = NsganetError, hint: str = "") -> str:
    """The UTF-8 text of ``path``; a missing, unreadable or binary file is one ``error`` line:
    ``cannot read {what} {path}: {reason}{hint}``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not a text file"
        raise error(f"cannot read {what + ' ' if what else ''}{path}: {reason}{hint}") from None


def printable_name(name: str) -> str:
    """A file name as text that encodes to UTF-8: bytes that are not UTF-8 are written as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def safe_name(text: object, fallback: str = "unnamed") -> str:
    """``text`` as a single file or folder name that cannot leave the folder it is joined to.

    Names built from user data (a custom space's or strategy's name, a
    dataset name) become parts of paths. Every character outside
    ``[A-Za-z0-9._-]`` (separators, NUL, spaces, non-ASCII) becomes ``-`` and
    leading dots become ``-`` too, so the result is never ``.``, ``..``, a
    hidden file nor an absolute path; an empty name becomes ``fallback``.
    """
    name = _UNSAFE_CHARS.sub("-", str(text))[:MAX_NAME]
    stripped = name.lstrip(".")
    name = "-" * (len(name) - len(stripped)) + stripped
    return name or fallback


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV file's text: ``header`` then ``rows``, with ``\n`` line ends (the same on every platform)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()

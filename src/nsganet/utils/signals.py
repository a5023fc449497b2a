"""Interrupts of a command: the first SIGINT or SIGTERM stops it cleanly, a second one ends it at once.

The first signal raises :class:`KeyboardInterrupt` in the main thread, as
Ctrl-C always did: the search stops, its executor kills the evaluations still
running, the store is closed and the command reports that the run can be
resumed (exit code 128 + the signal: 130 for SIGINT, 143 for SIGTERM). A
second signal while that shutdown is under way, or later while the
interpreter exits, kills this process's worker processes and ends the
process with ``os._exit``: nothing it could be waiting on (a worker, a
thread, an exit handler) can make it hang. A command that ends without an
interrupt puts the previous handlers back (``nsganet.cli.main`` may be called
in-process).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

#: The signals that stop a command, and the exit code each gives (the shell's 128 + signal number).
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}

INTERRUPTED = "nsganet: interrupted; continue with --resume"


class Interrupts:
    """The command's SIGINT and SIGTERM handler: a clean stop first, an immediate exit after."""

    def __init__(self) -> None:
        self.received: int | None = None  # the signal that interrupted the command
        self.finishing = False  # the command is done or stopping: a signal now ends the process at once
        self.reported = False  # the interrupted line is on stderr
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        """Handle SIGINT and SIGTERM from now on (only the main thread may: elsewhere Python's defaults stay)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        """The command has returned; uninterrupted, the previous handlers come back, else ours stay to abort."""
        self.finishing = True
        if self.received is None:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)

    def report(self) -> int:
        """Write the interrupted line (once); returns the exit code: 128 + the signal, 130 for a bare Ctrl-C."""
        self.finishing = True
        if not self.reported:
            self.reported = True
            with contextlib.suppress(Exception):  # a signal may come while stderr is being written
                sys.stderr.flush()
            os.write(2, (INTERRUPTED + "\n").encode())  # safe in a signal handler, unlike print
        return STOP_SIGNALS.get(self.received or signal.SIGINT, 130)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        """First signal while the command runs: unwind it with KeyboardInterrupt; any later one: :meth:`abort`."""
        if self.received is None:
            self.received = signum
            if not self.finishing:
                raise KeyboardInterrupt
        self.abort()

    def abort(self) -> None:
        """End the process now: report, kill the worker processes, ``os._exit`` with the exit code."""
        code = self.report()
        with contextlib.suppress(Exception):  # the process ends on the next line whatever happens here
            for child in multiprocessing.active_children():
                child.kill()
        os._exit(code)

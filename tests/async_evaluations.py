"""Evaluation functions of the asynchronous-schedule tests (importable by worker processes: tests/ is on their path).

``python tests/async_evaluations.py ARGS`` runs ``nsganet ARGS`` with table
evaluations slowed down by ``NSGANET_TEST_DELAY`` seconds and, with
``NSGANET_TEST_STARTS``, each evaluation's start logged to that file (one line
per start: the architecture), so that a test can kill a search mid-run and
count how often each architecture was evaluated. The patch is applied at
import, so the spawned worker processes (which import this script as their
main module) evaluate slowly too.
"""

import hashlib
import os
import sys
import time

from nsganet.evaluators.table import TableEvaluator


def jittered(arch):
    """A synthetic error of an architecture, after a delay of 0-30 ms drawn from it (completions interleave)."""
    digest = hashlib.sha256(str(arch).encode()).digest()
    time.sleep(digest[0] / 255 * 0.03)
    return {"error": 5.0 + digest[1] / 255 * 40.0}


_table_call = TableEvaluator.__call__


def _slow_call(self, arch):
    starts = os.environ.get("NSGANET_TEST_STARTS")
    if starts:
        fd = os.open(starts, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{arch}\n".encode())
        finally:
            os.close(fd)
    time.sleep(float(os.environ.get("NSGANET_TEST_DELAY", "0")))
    return _table_call(self, arch)


TableEvaluator.__call__ = _slow_call

if __name__ == "__main__":
    from nsganet.cli import main

    sys.exit(main(sys.argv[1:]))

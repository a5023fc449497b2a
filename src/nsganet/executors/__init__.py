"""Executors: where evaluations run (this process, local worker processes, a Ray cluster).

Every executor passes the same contract (``tests/test_contracts.py``): each
item's outcome exactly once, failures as outcomes with their reason, mistakes
in the set-up (:class:`~nsganet.errors.NsganetError`) raised.
"""

from __future__ import annotations

from nsganet.executors import pool, ray  # noqa: F401  (they register their kinds)
from nsganet.executors.base import (
    EXECUTORS,
    AsyncExecutor,
    EvaluationFn,
    Executor,
    ExecutorSettings,
    Outcome,
    make_executor,
)

__all__ = ["EXECUTORS", "AsyncExecutor", "EvaluationFn", "Executor", "ExecutorSettings", "Outcome", "make_executor"]

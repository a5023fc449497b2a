"""Evaluation in the calling process, one after another (the local executor with one worker)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from nsganet.executors.base import EvaluationFn, Outcome, run_one


class SerialExecutor:
    """Evaluates in the calling process, one after another.

    As an :class:`~nsganet.executors.base.AsyncExecutor` it has one slot and
    evaluates on :meth:`next_outcome`, in submission order (deterministic).
    """

    slots = 1

    def __init__(self, fn: EvaluationFn) -> None:
        self.fn = fn
        self._queue: deque[tuple[int, Any]] = deque()

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        for index, item in enumerate(items):
            yield run_one(self.fn, index, item)

    def submit(self, index: int, item: Any) -> None:
        self._queue.append((index, item))

    def next_outcome(self) -> Outcome:
        if not self._queue:
            raise RuntimeError("next_outcome called with no evaluation submitted")
        index, item = self._queue.popleft()
        return run_one(self.fn, index, item)

    def in_flight(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()

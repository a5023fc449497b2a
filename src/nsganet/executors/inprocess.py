"""Evaluation in the calling process, one after another (the local executor with one worker)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from nsganet.executors.base import EvaluationFn, Outcome, run_one


class SerialExecutor:
    """Evaluates in the calling process, one after another."""

    def __init__(self, fn: EvaluationFn) -> None:
        self.fn = fn

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        for index, item in enumerate(items):
            yield run_one(self.fn, index, item)

    def close(self) -> None:
        pass

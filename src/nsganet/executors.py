"""Executors run a batch of evaluations and report each outcome as it completes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nsganet.errors import NsganetError


@dataclass(frozen=True)
class Outcome:
    """Result of one evaluation: objective values, or the reason it failed."""

    index: int
    objectives: dict[str, float] | None
    reason: str | None
    seconds: float


def run_one(fn: Callable[[Any], dict[str, float]], index: int, item: Any) -> Outcome:
    """Call ``fn(item)``; any exception except :class:`NsganetError` becomes a failed outcome."""
    start = time.perf_counter()
    try:
        values = fn(item)
    except NsganetError:
        raise
    except Exception as exc:  # an evaluation may fail in any way; the search goes on
        first_line = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        return Outcome(index, None, reason, time.perf_counter() - start)
    return Outcome(index, values, None, time.perf_counter() - start)


class SerialExecutor:
    """Evaluates in the calling process, one after another."""

    def map_unordered(self, fn: Callable[[Any], dict[str, float]], items: Sequence[Any]) -> Iterator[Outcome]:
        for index, item in enumerate(items):
            yield run_one(fn, index, item)

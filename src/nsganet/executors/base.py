"""What every executor is: it runs a batch of evaluations and reports each outcome as it completes.

An executor receives the evaluation function once and a batch of items per
call; :meth:`Executor.map_unordered` yields an :class:`Outcome` per item, in
any order. Executors that can also take one item at a time as workers free up
implement :class:`AsyncExecutor` besides. Executors only compute: the caller alone writes results down. The
kinds a run chooses from (``local``: in this process or a process pool;
``ray``: tasks of a Ray cluster) register at their definition site in
:data:`EXECUTORS`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nsganet.errors import NsganetError
from nsganet.registry import Registry

EvaluationFn = Callable[[Any], dict[str, float]]


@dataclass(frozen=True)
class Outcome:
    """Result of one evaluation: objective values, or the reason it failed (one line) and its traceback."""

    index: int
    objectives: dict[str, float] | None
    reason: str | None
    seconds: float
    detail: str | None = None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message ('' when it has none): a failure reason fits on one line."""
    return (str(exc).strip().splitlines() or [""])[0]


def run_one(fn: EvaluationFn, index: int, item: Any) -> Outcome:
    """Call ``fn(item)``; any exception except :class:`NsganetError` becomes a failed outcome."""
    start = time.perf_counter()
    try:
        values = fn(item)
    except NsganetError:
        raise
    except Exception as exc:  # an evaluation may fail in any way; the search goes on
        line = first_line(exc)
        reason = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
        return Outcome(index, None, reason, time.perf_counter() - start, traceback.format_exc())
    return Outcome(index, values, None, time.perf_counter() - start)


def attempts_text(n: int) -> str:
    """How often an evaluation was tried, as text: '1 attempt', '3 attempts'."""
    return f"{n} attempt" + ("s" if n != 1 else "")


class Executor(Protocol):
    """Evaluates a batch, yielding each :class:`Outcome` as it completes (in any order)."""

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncExecutor(Protocol):
    """Capability of an executor that evaluates one item at a time as slots free up (``--schedule async``).

    :meth:`submit` starts an evaluation (queued when every slot is busy),
    :meth:`next_outcome` blocks until one submitted evaluation completes and
    returns its :class:`Outcome` (``index``: the index it was submitted with;
    failures, and worker deaths past the retries, as failed outcomes, as
    :meth:`Executor.map_unordered` reports them).
    """

    #: How many evaluations run at once.
    slots: int

    def submit(self, index: int, item: Any) -> None: ...

    def next_outcome(self) -> Outcome: ...

    def in_flight(self) -> int:
        """Evaluations submitted whose outcome :meth:`next_outcome` has not returned yet."""
        ...


@dataclass(frozen=True)
class ExecutorSettings:
    """How evaluations are spread: the executor, local workers, and the Ray resources of one evaluation.

    ``retries`` bounds how often an evaluation whose worker (or node) died is
    run again before it is recorded as failed. ``gpus`` are the GPUs local
    workers are spread over (None: every visible one; empty: none, the CPU).
    """

    kind: str = "local"
    workers: int = 1
    ray_address: str | None = None
    cpus_per_eval: float = 1.0
    gpus_per_eval: float = 0.0
    retries: int = 2
    gpus: tuple[str, ...] | None = None


#: Executor kinds by name: factories of ``(evaluation function, settings)``.
EXECUTORS: Registry[Callable[[EvaluationFn, ExecutorSettings], Executor]] = Registry("executor")


def make_executor(fn: EvaluationFn, settings: ExecutorSettings | None = None) -> Executor:
    """The executor of kind ``settings.kind`` for ``fn``."""
    settings = settings or ExecutorSettings()
    return EXECUTORS.get(settings.kind)(fn, settings)

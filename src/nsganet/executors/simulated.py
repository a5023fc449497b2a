"""A simulated cluster: real evaluations, simulated durations, on N virtual workers and a virtual clock.

:class:`SimulatedCluster` evaluates every item in the calling process with the
real evaluation function (e.g. a table look-up: instant) and charges it a
simulated duration, ``duration(item, outcome)`` seconds, on the earliest free
of its virtual workers. It serves both schedules: :meth:`~SimulatedCluster.map_unordered`
list-schedules a batch and returns when the batch's last evaluation finishes
(a generation waits for its slowest), and the :class:`~nsganet.executors.base.AsyncExecutor`
capability starts each submitted item as soon as a worker is free. Its log of
``(index, worker, start, finish)`` gives the simulated wall-clock and the busy
share of the workers. Only evaluations take virtual time: the strategy's own
computation does not.

Ready-made durations: :func:`lognormal` (a median per item, times log-normal
noise drawn from a seed derived from the item, so the same architecture takes
the same time in every run and order) and :func:`table_column` (a column of a
tabular benchmark, e.g. its training seconds).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.evaluators.table import TableEvaluator
from nsganet.executors.base import EvaluationFn, Outcome, run_one
from nsganet.spaces.base import SearchSpace
from nsganet.utils.seeds import derived_seed

#: Simulated seconds of one evaluation, from the item and its (real) outcome.
DurationFn = Callable[[Any, Outcome], float]


@dataclass(frozen=True)
class Slot:
    """One simulated evaluation: the index it was submitted with, its worker, and its start and finish time."""

    index: int
    worker: int
    start: float
    finish: float


class SimulatedCluster:
    """``workers`` virtual workers evaluating with ``fn`` in this process, each item taking ``duration`` on a
    virtual clock (seconds from 0). An executor for both schedules; see the module's description."""

    def __init__(self, fn: EvaluationFn, workers: int, duration: DurationFn) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.fn, self.duration = fn, duration
        self.slots = workers
        self.clock = 0.0
        #: Every evaluation started, in the order started.
        self.log: list[Slot] = []
        self._free: list[tuple[float, int]] = [(0.0, w) for w in range(workers)]  # (free at, worker): a heap
        self._running: list[tuple[float, int, Outcome]] = []  # (finish, order started, outcome): a heap

    # -- the AsyncExecutor capability ----------------------------------------------------------
    def submit(self, index: int, item: Any) -> None:
        """Evaluate ``item`` now and start it on the earliest free worker (at the clock, or when that worker
        frees up if every worker is busy)."""
        outcome = run_one(self.fn, index, item)
        seconds = float(self.duration(item, outcome))
        if not seconds >= 0.0 or math.isinf(seconds):
            raise ValueError(f"the simulated duration of evaluation {index} is {seconds}, not a finite number >= 0")
        free_at, worker = heapq.heappop(self._free)
        start = max(self.clock, free_at)
        slot = Slot(index, worker, start, start + seconds)
        heapq.heappush(self._free, (slot.finish, worker))
        heapq.heappush(self._running, (slot.finish, len(self.log), dataclasses.replace(outcome, seconds=seconds)))
        self.log.append(slot)

    def next_outcome(self) -> Outcome:
        """The outcome of the submitted evaluation that finishes first (ties: the first submitted); the clock
        moves to its finish."""
        if not self._running:
            raise RuntimeError("no evaluation is in flight")
        finish, _, outcome = heapq.heappop(self._running)
        self.clock = max(self.clock, finish)
        return outcome

    def in_flight(self) -> int:
        """Evaluations submitted whose outcome :meth:`next_outcome` has not returned yet."""
        return len(self._running)

    # -- the executor contract -----------------------------------------------------------------
    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        """List-schedule the batch on the workers (earliest free first, in order) and yield the outcomes in the
        order they finish; when the iteration ends the clock stands at the batch's last finish."""
        if self._running:
            raise RuntimeError("map_unordered needs every worker idle; evaluations submitted are in flight")
        for index, item in enumerate(items):
            self.submit(index, item)
        while self._running:
            yield self.next_outcome()

    def close(self) -> None:
        """Forget the evaluations in flight (the log and the clock stay)."""
        self._running.clear()

    # -- measurements ----------------------------------------------------------------------------
    def busy_share(self, until: float | None = None) -> float:
        """Share of the workers' time from 0 to ``until`` (default: the clock) spent evaluating (0 for none)."""
        end = self.clock if until is None else until
        if end <= 0.0:
            return 0.0
        busy = sum(max(0.0, min(s.finish, end) - s.start) for s in self.log)
        return busy / (self.slots * end)


def item_key(item: Any) -> str:
    """A text key of an evaluation item, the same for equal genomes whatever their type (array, tuple, list):
    ``(1,0,3)``; a multi-fidelity ``(genome, epochs)`` item: ``((1,0,3),12)``."""
    if isinstance(item, np.ndarray):
        item = item.tolist()
    if isinstance(item, (tuple, list)):
        return "(" + ",".join(item_key(v) for v in item) + ")"
    if isinstance(item, np.generic):
        item = item.item()
    return repr(item)


def lognormal(median: Callable[[Any], float], sigma: float = 0.5, seed: int = 0) -> DurationFn:
    """Durations ``median(item) * exp(sigma * z)``, z standard normal drawn from a seed derived from ``seed`` and
    the item (:func:`item_key`): reproducible, and independent of the order items come in."""
    if sigma < 0:
        raise ValueError(f"sigma must be at least 0, got {sigma}")

    def duration(item: Any, outcome: Outcome) -> float:
        z = np.random.default_rng(derived_seed(seed, "duration", item_key(item))).standard_normal()
        return float(median(item)) * math.exp(sigma * z)

    return duration


def table_column(path: str | Path, column: str, space: SearchSpace, scale: float = 1.0) -> DurationFn:
    """Durations read from ``column`` of a tabular benchmark (an ``arch`` column of the space's strings, as
    ``--table`` reads), times ``scale``; a multi-fidelity ``(genome, epochs)`` item takes its genome's value."""
    values = TableEvaluator(path, column, space).accuracy  # the table reader's result: genome -> the column's value

    def duration(item: Any, outcome: Outcome) -> float:
        return scale * values[tuple(int(v) for v in genome_of(item))]

    return duration


def genome_of(item: Any) -> Any:
    """The genome of an evaluation item: the item, or the genome of a multi-fidelity ``(genome, epochs)`` pair."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (int, np.integer)) \
            and np.ndim(item[0]) == 1:
        return item[0]
    return item

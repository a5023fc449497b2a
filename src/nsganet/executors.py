"""Executors run a batch of evaluations and report each outcome as it completes.

``SerialExecutor`` evaluates in the calling process; ``ProcessPoolExecutor``
spreads a batch over local worker processes, each limited to its share of the
CPU threads so that workers do not oversubscribe the cores. The evaluation
function is sent to every worker once, when the worker starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from nsganet.errors import NsganetError

logger = logging.getLogger("nsganet")

EvaluationFn = Callable[[Any], dict[str, float]]


@dataclass(frozen=True)
class Outcome:
    """Result of one evaluation: objective values, or the reason it failed (one line) and its traceback."""

    index: int
    objectives: dict[str, float] | None
    reason: str | None
    seconds: float
    detail: str | None = None


def run_one(fn: EvaluationFn, index: int, item: Any) -> Outcome:
    """Call ``fn(item)``; any exception except :class:`NsganetError` becomes a failed outcome."""
    start = time.perf_counter()
    try:
        values = fn(item)
    except NsganetError:
        raise
    except Exception as exc:  # an evaluation may fail in any way; the search goes on
        first_line = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        return Outcome(index, None, reason, time.perf_counter() - start, traceback.format_exc())
    return Outcome(index, values, None, time.perf_counter() - start)


class SerialExecutor:
    """Evaluates in the calling process, one after another."""

    def __init__(self, fn: EvaluationFn) -> None:
        self.fn = fn

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        for index, item in enumerate(items):
            yield run_one(self.fn, index, item)

    def close(self) -> None:
        pass


_WORKER_FN: EvaluationFn | None = None  # set once per worker process by _start_worker


def _start_worker(fn: EvaluationFn, threads: int) -> None:
    global _WORKER_FN
    _WORKER_FN = fn
    import torch

    torch.set_num_threads(threads)


def _run_in_worker(index: int, item: Any) -> Outcome:
    assert _WORKER_FN is not None, "worker not initialised"
    return run_one(_WORKER_FN, index, item)


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """CPU threads each of ``workers`` processes may use without oversubscribing the machine."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


class ProcessPoolExecutor:
    """Evaluates a batch in ``workers`` local processes (started with 'spawn', restarted if one dies)."""

    def __init__(self, fn: EvaluationFn, workers: int, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.fn, self.workers = fn, workers
        self.threads = threads or threads_per_worker(workers)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(self.fn, self.threads))
        return self._pool

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        if not items:
            return
        pool = self._ensure_pool()
        started = time.perf_counter()
        futures = {pool.submit(_run_in_worker, i, item): i for i, item in enumerate(items)}
        try:
            for future in cf.as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool as exc:
                    yield Outcome(futures[future], None, f"worker process died: {exc}".strip(),
                                  time.perf_counter() - started)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            if any(isinstance(f.exception(), BrokenProcessPool) for f in futures if f.done() and not f.cancelled()):
                logger.warning("a worker process died; starting a new pool")
                self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


Executor = SerialExecutor | ProcessPoolExecutor


def make_executor(fn: EvaluationFn, workers: int = 1) -> Executor:
    """In-process evaluation for one worker, a process pool for more."""
    return SerialExecutor(fn) if workers <= 1 else ProcessPoolExecutor(fn, workers)

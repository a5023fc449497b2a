"""Evaluation in local worker processes, each with its share of the CPU threads and, with GPUs, its own GPU.

``ProcessPoolExecutor`` spreads a batch over local worker processes, each
limited to its share of the CPU threads so that workers do not oversubscribe
the cores, and each given its own GPU when there are GPUs
(``CUDA_VISIBLE_DEVICES``). The evaluation function is sent to every worker
once, when the worker starts. A worker that dies mid-evaluation (killed, out
of memory) gets its evaluations retried on a fresh pool a bounded number of
times before they are reported as failed.

Workers never outlive the search: each asks Linux to kill it when its parent
dies (``PR_SET_PDEATHSIG``; elsewhere a watchdog thread polls the parent), so
a SIGKILLed search leaves no worker behind, and with the workers gone the
multiprocessing resource tracker, whose pipe they held, exits too. Workers
ignore SIGINT: a Ctrl-C reaches the whole process group, and the parent alone
decides what happens (no worker tracebacks). A batch that is abandoned (an
interrupt, an error) has its workers killed rather than waited for.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from nsganet.executors.base import EXECUTORS, EvaluationFn, Executor, ExecutorSettings, Outcome, attempts_text, run_one
from nsganet.executors.inprocess import SerialExecutor
from nsganet.utils.device import visible_gpus

logger = logging.getLogger(__name__)


_WORKER_FN: EvaluationFn | None = None  # set once per worker process by _start_worker
_WORKER_SLOT = -1  # this worker's entry in _RUNNING
_RUNNING: Any = None  # shared array: the index each worker is evaluating, -1 when idle
_PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies (linux/prctl.h)
_WATCH_SECONDS = 1.0  # how often a worker without PR_SET_PDEATHSIG checks that its parent lives


def _start_worker(fn: EvaluationFn, threads: int, seats: Any, running: Any, parent: int) -> None:
    """Initialise a pool worker: tied to ``parent``, deaf to SIGINT, its evaluation function, CPU threads,
    its slot and (with GPUs) its own device."""
    global _WORKER_FN, _WORKER_SLOT, _RUNNING
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # discards a Ctrl-C held back while this worker started
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _WORKER_FN, _RUNNING = fn, running
    try:  # the parent's puts reach the pipe through a feeder thread: wait for them
        _WORKER_SLOT, device = seats.get(timeout=60)
    except queue.Empty:  # more workers started than seats handed out: no slot, every device
        _WORKER_SLOT, device = -1, None
    if device is not None:  # before the first CUDA call of this process
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    import torch

    torch.set_num_threads(threads)


def _die_with(parent: int) -> None:
    """End this worker when process ``parent`` ends: it must never outlive the search that started it.

    The parent may already have died before the request took effect, so the
    parent is checked afterwards.
    """
    if not _request_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), name="nsganet-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _request_parent_death_signal() -> bool:
    """Ask Linux for SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); False where that is not possible.

    Linux sends it when the parent *thread* that started this process ends:
    pool workers are started by the thread that submits evaluations, the
    search's own thread, which ends only with the search.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):  # no C library to ask, or one without prctl
        return False


def _watch_parent(parent: int) -> None:
    """End this process once its parent has gone (its parent pid changes): the portable fallback."""
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold SIGINT back in this thread: processes it starts meanwhile begin with SIGINT blocked, so a Ctrl-C
    cannot interrupt a worker before it ignores SIGINT (this process gets the held signal when it ends)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _kill_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now: concurrent.futures (before Python 3.14) offers no public way to
    stop evaluations that are running, and an abandoned batch must not be waited for."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError):  # it may have exited meanwhile
            process.kill()


def _run_in_worker(index: int, item: Any) -> Outcome:
    assert _WORKER_FN is not None, "worker not initialised"
    if _WORKER_SLOT >= 0:  # a plain store into shared memory: nothing a kill could leave locked
        _RUNNING[_WORKER_SLOT] = index
    try:
        return run_one(_WORKER_FN, index, item)
    finally:
        if _WORKER_SLOT >= 0:
            _RUNNING[_WORKER_SLOT] = -1


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """CPU threads each of ``workers`` processes may use without oversubscribing the machine."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


def assign_devices(workers: int, gpus: Sequence[str]) -> list[str | None]:
    """The GPU of each of ``workers`` workers: round robin over ``gpus``, None (CPU) when there are none."""
    if not gpus:
        return [None] * workers
    return [gpus[i % len(gpus)] for i in range(workers)]


class ProcessPoolExecutor:
    """Evaluates a batch in ``workers`` local processes (started with 'spawn', restarted if one dies).

    With GPUs (``gpus``, default :func:`visible_gpus`) each worker sees only
    its own device, assigned by :func:`assign_devices`.

    When a worker dies the whole pool breaks: every unfinished evaluation
    fails with it. Each worker therefore records, in shared memory, which
    evaluation it is running; those are the suspects. Evaluations that were
    only queued go back to the queue. Suspects are run again one at a time,
    so that an evaluation that kills its worker again is identified and the
    others are not blamed for it; one that dies alone more than ``retries``
    times is reported as failed.

    As an :class:`~nsganet.executors.base.AsyncExecutor` it has ``workers``
    slots: :meth:`submit` hands one evaluation to the pool at once and
    :meth:`next_outcome` waits for the first to complete; a dead worker is
    handled as above (suspects run again alone, the others wait meanwhile).
    """

    def __init__(self, fn: EvaluationFn, workers: int, threads: int | None = None,
                 gpus: Sequence[str] | None = None, retries: int = 2) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if retries < 0:
            raise ValueError("retries must be at least 0")
        self.fn, self.workers, self.retries = fn, workers, retries
        self.threads = threads or threads_per_worker(workers)
        self.devices = assign_devices(workers, visible_gpus() if gpus is None else list(gpus))
        self._pool: cf.ProcessPoolExecutor | None = None
        self._running: Any = None
        self._in_round = False  # a round was submitted and has not been seen through: its workers may be busy
        # one at a time (AsyncExecutor): items by index until their outcome is returned, futures in the pool,
        # items waiting for the pool, suspects to run alone, the suspect running alone, outcomes to return
        self._items: dict[int, Any] = {}
        self._futures: dict[cf.Future[Outcome], int] = {}
        self._backlog: list[int] = []
        self._alone: list[int] = []
        self._solo: int | None = None
        self._ready: deque[Outcome] = deque()
        self._attempts: dict[int, int] = {}
        self._submitted: dict[int, float] = {}
        self._idle_breaks = 0
        self._progressed = False

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin
            context = multiprocessing.get_context("spawn")
            seats = context.Queue()
            for slot, device in enumerate(self.devices):
                seats.put((slot, device))
            self._running = context.RawArray("q", [-1] * self.workers)
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context,
                initializer=_start_worker, initargs=(self.fn, self.threads, seats, self._running, os.getpid()))
        return self._pool

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        attempts = [0] * len(items)
        queued, alone = list(range(len(items))), []  # alone: suspects, each run by itself
        idle_breaks = 0  # consecutive breaks with nothing running: workers dying at start or while idle
        started = time.perf_counter()
        while queued or alone:
            if alone:
                batch = [alone.pop(0)]
            else:
                batch, queued = queued, []
            requeue, suspects, progressed = [], [], False
            for index, outcome, suspect in self._run_round(items, batch):
                if outcome is not None:
                    progressed = True
                    yield outcome
                else:
                    (suspects if suspect else requeue).append(index)
            idle_breaks = 0 if progressed or suspects else idle_breaks + (1 if requeue else 0)
            if idle_breaks > self.retries:
                for index in requeue:
                    yield Outcome(index, None, f"worker processes keep dying before they evaluate "
                                               f"({attempts_text(idle_breaks)})", time.perf_counter() - started)
                requeue = []
            queued = requeue + queued  # they had not started: no attempt lost
            for index in suspects:
                if len(suspects) == 1:  # it was running alone when its worker died: the attempt counts
                    attempts[index] += 1
                if attempts[index] > self.retries:
                    yield Outcome(index, None, f"worker process died ({attempts_text(attempts[index])})",
                                  time.perf_counter() - started)
                else:
                    alone.append(index)
            if suspects:
                logger.warning("a worker process died during evaluation(s) %s; running them again one at a "
                               "time on a new pool", suspects)

    def _run_round(self, items: Sequence[Any], indices: list[int]) -> Iterator[tuple[int, Outcome | None, bool]]:
        """Submit ``indices``; yield each outcome, or (None, was it running?) where the pool broke."""
        pool = self._ensure_pool()
        self._in_round = True
        with _sigint_held():  # submitting starts the workers
            futures = {pool.submit(_run_in_worker, i, items[i]): i for i in indices}
        running: set[int] | None = None
        try:
            for future in cf.as_completed(futures):
                index = futures[future]
                try:
                    yield index, future.result(), False
                except BrokenProcessPool:
                    if running is None:  # every worker is gone now: their slots hold what they ran
                        running = {int(i) for i in self._running if i >= 0}
                    yield index, None, index in running
        except BaseException:  # interrupted, or a set-up mistake: the rest of the round is abandoned
            self.close()
            raise
        finally:
            if running is not None:  # the pool broke: its workers are gone
                self._in_round = False
                self.close()
        self._in_round = False

    # -- one at a time (AsyncExecutor) ----------------------------------------------------------
    @property
    def slots(self) -> int:
        """Evaluations that run at once: one per worker."""
        return self.workers

    def in_flight(self) -> int:
        return len(self._items)

    def submit(self, index: int, item: Any) -> None:
        if index in self._items:
            raise ValueError(f"evaluation {index} is already in flight")
        self._items[index], self._submitted[index] = item, time.perf_counter()
        self._backlog.append(index)
        self._dispatch()

    def next_outcome(self) -> Outcome:
        while not self._ready:
            self._dispatch()
            if not self._futures:
                raise RuntimeError("next_outcome called with no evaluation submitted")
            done, _ = cf.wait(list(self._futures), return_when=cf.FIRST_COMPLETED)
            self._collect(done)
        outcome = self._ready.popleft()
        del self._items[outcome.index]
        self._attempts.pop(outcome.index, None)
        self._submitted.pop(outcome.index, None)
        return outcome

    def _dispatch(self) -> None:
        """Hand waiting items to the pool: a suspect only alone on an idle pool, the others once none is left."""
        if self._solo is not None:
            return
        if self._alone:
            if self._futures:
                return
            batch = [self._alone.pop(0)]
            self._solo = batch[0]
        else:
            batch, self._backlog = self._backlog, []
        if not batch:
            return
        pool = self._ensure_pool()
        self._in_round = True
        with _sigint_held():  # submitting starts the workers
            for index in batch:
                self._futures[pool.submit(_run_in_worker, index, self._items[index])] = index

    def _collect(self, done: Iterable[cf.Future[Outcome]]) -> None:
        """Take the outcomes of completed futures; where the pool broke, sort out what to run again."""
        broken: list[int] = []
        for future in sorted(done, key=self._futures.__getitem__):
            index = self._futures.pop(future)
            if index == self._solo:
                self._solo = None
            try:
                self._ready.append(future.result())
                self._progressed = True
            except BrokenProcessPool:
                broken.append(index)
        if broken:
            self._recover(broken)
        self._in_round = bool(self._futures)

    def _recover(self, broken: list[int]) -> None:
        """The pool broke: every worker is gone; suspects (running) go alone, the queued back to the backlog."""
        running = {int(i) for i in self._running if i >= 0}
        rest = dict(self._futures)
        cf.wait(list(rest))  # a broken pool fails every future at once
        for future, index in sorted(rest.items(), key=lambda pair: pair[1]):
            try:
                self._ready.append(future.result())
                self._progressed = True
            except BrokenProcessPool:
                broken.append(index)
        self._futures.clear()
        self._solo = None
        self._in_round = False
        self.close()
        suspects = sorted(i for i in broken if i in running)
        requeue = sorted(i for i in broken if i not in running)
        self._idle_breaks = 0 if self._progressed or suspects else self._idle_breaks + (1 if requeue else 0)
        self._progressed = False
        if self._idle_breaks > self.retries:
            for index in requeue:
                self._ready.append(Outcome(index, None, f"worker processes keep dying before they evaluate "
                                                        f"({attempts_text(self._idle_breaks)})", self._age(index)))
            requeue = []
        self._backlog = requeue + self._backlog
        for index in suspects:
            if len(suspects) == 1:  # it was running alone when its worker died: the attempt counts
                self._attempts[index] = self._attempts.get(index, 0) + 1
            if self._attempts.get(index, 0) > self.retries:
                self._ready.append(Outcome(index, None, f"worker process died "
                                                        f"({attempts_text(self._attempts[index])})", self._age(index)))
            else:
                self._alone.append(index)
        if suspects:
            logger.warning("a worker process died during evaluation(s) %s; running them again one at a time on a "
                           "new pool", suspects)

    def _age(self, index: int) -> float:
        return time.perf_counter() - self._submitted.get(index, time.perf_counter())

    def close(self) -> None:
        """Shut the pool down; the workers of an abandoned round are killed, not waited for."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._in_round:
            _kill_workers(pool)
            self._in_round = False
        pool.shutdown(wait=True, cancel_futures=True)


@EXECUTORS.register("local")
def local_executor(fn: EvaluationFn, settings: ExecutorSettings) -> Executor:
    """In-process evaluation for one worker, a process pool for more."""
    if settings.workers <= 1:
        return SerialExecutor(fn)
    return ProcessPoolExecutor(fn, settings.workers, gpus=settings.gpus, retries=settings.retries)

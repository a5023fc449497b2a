"""Evaluations as Ray tasks, on a local Ray instance or an existing cluster.

The driver (the ``nsganet search`` process) puts the evaluation function into
Ray's object store once, submits one task per architecture with the requested
CPUs and GPUs, and receives outcomes as they complete; it alone writes the run
store. Ray runs a task again when its worker process or node dies, up to
``retries`` times; after that the evaluation is reported as failed. An
evaluation that raises is a failed outcome at once (it would fail again), and
an :class:`~nsganet.errors.NsganetError` (a mistake in the set-up) stops the
search as it does locally.

Every node needs nsganet and the data files at the same paths as the driver;
``docs/scaling-out.md`` shows a multi-node set-up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from nsganet.errors import ConfigError, NsganetError
from nsganet.executors.base import (
    EXECUTORS,
    EvaluationFn,
    Executor,
    ExecutorSettings,
    Outcome,
    attempts_text,
    first_line,
    run_one,
)

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'nsganet[ray]' (or: pip install ray)"


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _evaluate_task(fn: EvaluationFn, index: int, item: Any, threads: int) -> Outcome:
    """One evaluation inside a Ray worker, limited to the task's share of CPU threads."""
    import torch

    torch.set_num_threads(threads)
    return run_one(fn, index, item)


class RayExecutor:
    """Evaluates a batch as Ray tasks of ``cpus_per_eval`` CPUs and ``gpus_per_eval`` GPUs each.

    ``address`` is that of a running cluster (``ray start --head`` prints it;
    ``auto`` finds the local one); without it a Ray instance is started on
    this machine for the length of the run.

    As an :class:`~nsganet.executors.base.AsyncExecutor` each :meth:`submit`
    is one task and :meth:`next_outcome` waits (``ray.wait``) for the first
    to complete; :attr:`slots` is how many tasks the live nodes can run at once.
    """

    def __init__(self, fn: EvaluationFn, address: str | None = None, cpus_per_eval: float = 1.0,
                 gpus_per_eval: float = 0.0, retries: int = 2) -> None:
        if cpus_per_eval <= 0 or gpus_per_eval < 0 or retries < 0:
            raise ConfigError("cpus_per_eval must be positive, gpus_per_eval and retries at least 0")
        self.ray = ray = import_ray()
        self.retries = retries
        self._started_here = not ray.is_initialized()
        if self._started_here:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # inherited by workers Ray starts here
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise NsganetError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: "
                                   f"{first_line(exc) or type(exc).__name__}") from None
        self._refs: dict[Any, int] = {}  # tasks submitted one at a time, by reference, with their index
        self._submitted: dict[int, float] = {}
        self._check_resources(cpus_per_eval, gpus_per_eval)  # closes the executor when it refuses
        self._fn = ray.put(fn)
        self._threads = max(1, int(cpus_per_eval))
        self._task = ray.remote(_evaluate_task).options(
            num_cpus=cpus_per_eval, num_gpus=gpus_per_eval, max_retries=retries, retry_exceptions=False)
        self._cpus, self._gpus = cpus_per_eval, gpus_per_eval

    def _check_resources(self, cpus: float, gpus: float) -> None:
        """Refuse tasks no node of the cluster could ever run (they would wait forever)."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        fits = [n for n in nodes if n["Resources"].get("CPU", 0) >= cpus and n["Resources"].get("GPU", 0) >= gpus]
        if not fits:
            self.close()
            have = ", ".join(f"{n['Resources'].get('CPU', 0):g} CPU/{n['Resources'].get('GPU', 0):g} GPU"
                             for n in nodes) or "no nodes"
            raise ConfigError(f"no Ray node has {cpus:g} CPU and {gpus:g} GPU for one evaluation (nodes: {have}); "
                              "lower --cpus-per-eval/--gpus-per-eval")
        logger.info("Ray cluster: %d node(s), %g CPUs, %g GPUs", len(nodes),
                    sum(n["Resources"].get("CPU", 0) for n in nodes), sum(n["Resources"].get("GPU", 0) for n in nodes))

    def map_unordered(self, items: Sequence[Any]) -> Iterator[Outcome]:
        ray = self.ray
        started = time.perf_counter()
        refs = {self._task.remote(self._fn, i, item, self._threads): i for i, item in enumerate(items)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield self._outcome(ref, refs[ref], time.perf_counter() - started)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    @property
    def slots(self) -> int:
        """Tasks the live nodes can run at once (at least 1)."""
        fits = 0
        for node in self.ray.nodes():
            if node.get("Alive"):
                resources = node["Resources"]
                n = int(resources.get("CPU", 0) // self._cpus)
                if self._gpus > 0:
                    n = min(n, int(resources.get("GPU", 0) // self._gpus))
                fits += n
        return max(1, fits)

    def in_flight(self) -> int:
        return len(self._refs)

    def submit(self, index: int, item: Any) -> None:
        self._refs[self._task.remote(self._fn, index, item, self._threads)] = index
        self._submitted[index] = time.perf_counter()

    def next_outcome(self) -> Outcome:
        if not self._refs:
            raise RuntimeError("next_outcome called with no evaluation submitted")
        done, _ = self.ray.wait(list(self._refs), num_returns=1)
        index = self._refs.pop(done[0])
        return self._outcome(done[0], index, time.perf_counter() - self._submitted.pop(index))

    def _outcome(self, ref: Any, index: int, seconds: float) -> Outcome:
        """The task's outcome, or a failed one when its worker or node died on every attempt."""
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as exc:  # raised inside run_one: only NsganetError gets out of it
            cause = exc.cause
            if isinstance(cause, NsganetError):
                raise NsganetError(str(cause)) from None
            return Outcome(index, None, f"{type(cause).__name__}: {first_line(cause)}", seconds, str(exc))
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
                exceptions.OutOfMemoryError, exceptions.LocalRayletDiedError, exceptions.TaskCancelledError) as exc:
            reason = f"Ray worker died ({attempts_text(self.retries + 1)}): {type(exc).__name__}"
            logger.warning("evaluation %d: %s", index, reason)
            return Outcome(index, None, reason, seconds, str(exc))

    def close(self) -> None:
        refs, self._refs = list(self._refs), {}
        for ref in refs:  # tasks submitted one at a time and abandoned
            with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                self.ray.cancel(ref, force=True)
        if self._started_here and self.ray.is_initialized():
            self.ray.shutdown()


@EXECUTORS.register("ray")
def ray_executor(fn: EvaluationFn, settings: ExecutorSettings) -> Executor:
    """Ray tasks of ``cpus_per_eval`` CPUs and ``gpus_per_eval`` GPUs on the cluster at ``ray_address``."""
    return RayExecutor(fn, address=settings.ray_address, cpus_per_eval=settings.cpus_per_eval,
                       gpus_per_eval=settings.gpus_per_eval, retries=settings.retries)

"""Inference latency of a network on this machine, with PyTorch (eager) or ONNX Runtime.

:func:`measure_latency` runs a network in eval mode on a zero batch: a few
warm-up runs (first calls allocate buffers and pick kernels), then
``repeats`` timed runs, each one forward pass, at a fixed number of threads.
The median is the figure to use; mean, standard deviation and every sample
are kept. Timings on a shared CPU are noisy: on a 2-core machine two
measurements (median of 20 runs, one thread) of the same 50 MobileNetV3
subnets differed by 4-10 % on average (PyTorch eager on 5-ms networks the
most; benchmarks/latency_lut.py), which is why the search caches one
measurement per architecture and why the per-layer look-up tables of
:mod:`nsganet.costs.lut` (deterministic once built) are preferred for searches that
price thousands of candidates.

:class:`LatencyModel` is what the ``latency`` objective of
:class:`~nsganet.search.objectives.CostModel` asks: measure the built network, or
predict from a look-up table.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nsganet.config import LATENCY_BACKENDS
from nsganet.errors import NsganetError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from nsganet.costs.lut import LatencyTable

logger = logging.getLogger("nsganet")

#: Engines latency can be measured with.
BACKENDS = LATENCY_BACKENDS
#: Default warm-up runs and timed runs of one measurement.
DEFAULT_WARMUP, DEFAULT_REPEATS = 5, 20


@dataclass(frozen=True)
class LatencyMeasurement:
    """Timings of one network, milliseconds per batch: the median and the samples it came from."""

    median_ms: float
    mean_ms: float
    std_ms: float
    samples_ms: tuple[float, ...]
    backend: str
    batch_size: int
    threads: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], backend: str, batch_size: int,
                     threads: int) -> LatencyMeasurement:
        samples = tuple(float(s) for s in samples_ms)
        return cls(statistics.median(samples), statistics.fmean(samples),
                   statistics.pstdev(samples) if len(samples) > 1 else 0.0, samples, backend, batch_size, threads)


def _check(backend: str, batch_size: int, warmup: int, repeats: int, threads: int) -> None:
    if backend not in BACKENDS:
        raise NsganetError(f"latency backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if batch_size < 1 or repeats < 1 or warmup < 0 or threads < 1:
        raise NsganetError(f"latency needs batch_size >= 1, repeats >= 1, warmup >= 0 and threads >= 1; got "
                           f"batch_size={batch_size}, repeats={repeats}, warmup={warmup}, threads={threads}")


def time_calls(run: Callable[[], Any], warmup: int, repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``run``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


def onnx_session(model: nn.Module, example_input: Any, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``model`` (exported with :func:`nsganet.deploy.netfile.export_onnx`).

    One session runs ``threads`` intra-op threads and one inter-op thread,
    sequentially, with every graph optimisation on; its input is ``"input"``.
    """
    import onnxruntime as ort

    from nsganet.deploy.netfile import export_onnx

    with tempfile.TemporaryDirectory(prefix="nsganet-latency-") as folder:
        path = export_onnx(model, Path(folder) / "model.onnx", example_input)
        data = path.read_bytes()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def timing_context(threads: int) -> Iterator[None]:
    """``threads`` torch threads and inference mode for the block; the previous thread count is restored."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(previous)


def prepare_run(model: nn.Module, input_shape: Sequence[int], backend: str = "torch", batch_size: int = 1,
                threads: int = 1, channels_last: bool = False) -> Callable[[], Any]:
    """A function of no arguments running one forward pass of ``model`` on a zero batch with ``backend``.

    Torch runs are meant to be called inside :func:`timing_context`; an ONNX
    Runtime run uses its own session (``threads`` intra-op threads).
    """
    import torch

    _check(backend, batch_size, 0, 1, threads)
    model = model.eval()
    x = torch.zeros(batch_size, *(int(s) for s in input_shape))
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    if backend == "torch":
        return lambda: model(x)
    session = onnx_session(model, x.contiguous(), threads)
    feed = {session.get_inputs()[0].name: np.zeros(tuple(x.shape), dtype=np.float32)}
    return lambda: session.run(None, feed)


def measure_latency(model: nn.Module, input_shape: Sequence[int], backend: str = "torch", batch_size: int = 1,
                    warmup: int = DEFAULT_WARMUP, repeats: int = DEFAULT_REPEATS, threads: int = 1,
                    channels_last: bool = False) -> LatencyMeasurement:
    """Time ``model`` on a zero batch of ``batch_size`` inputs of ``input_shape`` (one sample, e.g. C, H, W).

    ``torch``: eager mode under ``torch.inference_mode``, ``threads`` torch
    threads (the previous count is restored afterwards); ``channels_last``
    feeds a channels-last input (what nsganet's MobileNetV3 layers see inside
    the network). ``onnxruntime``: the network exported to ONNX and run by the
    CPU execution provider (see :func:`onnx_session`). The model is put in
    eval mode.
    """
    _check(backend, batch_size, warmup, repeats, threads)
    run = prepare_run(model, input_shape, backend, batch_size, threads, channels_last)
    with timing_context(threads):
        samples = time_calls(run, warmup, repeats)
    return LatencyMeasurement.from_samples(samples, backend, batch_size, threads)


@dataclass
class LatencyModel:
    """How the ``latency`` objective is obtained: measured on each built network, or predicted by a table.

    With ``table`` (a :class:`~nsganet.costs.lut.LatencyTable` for a ``mobilenetv3``
    space) the latency is the table's prediction: deterministic and takes
    microseconds. Without, each network is built and timed with
    :func:`measure_latency` (``backend``, ``batch_size``, ``repeats`` runs
    after ``warmup``, ``threads`` threads): the median, noisy on a busy machine
    (and in searches with several ``--workers``, which time networks while
    other workers train).
    """

    backend: str = "torch"
    batch_size: int = 1
    warmup: int = DEFAULT_WARMUP
    repeats: int = DEFAULT_REPEATS
    threads: int = 1
    table: LatencyTable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check(self.backend, self.batch_size, self.warmup, self.repeats, self.threads)
        if self.table is not None and (self.table.backend, self.table.batch_size) != (self.backend, self.batch_size):
            raise NsganetError(
                f"look-up table {self.table.source} was measured with {self.table.backend} at batch "
                f"{self.table.batch_size}; the latency objective asks for {self.backend} at batch {self.batch_size} "
                f"(set --latency-backend {self.table.backend} --latency-batch {self.table.batch_size}, or build "
                "a table for these settings with 'nsganet lut build')")

    @property
    def predicted(self) -> bool:
        """Whether latency comes from a look-up table rather than measurement."""
        return self.table is not None

    def measure(self, model: nn.Module, input_shape: Sequence[int]) -> float:
        """Median milliseconds per batch of a built network."""
        return measure_latency(model, input_shape, self.backend, self.batch_size, self.warmup, self.repeats,
                               self.threads).median_ms

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

:class:`~nsganet.costs.model.LatencyModel` is what the ``latency`` objective
asks: measure the built network with this module, or predict from a look-up
table.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nsganet.errors import NsganetError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

logger = logging.getLogger(__name__)

#: Engines latency can be measured with.
BACKENDS = ("torch", "onnxruntime")
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


def check_settings(backend: str, batch_size: int, warmup: int, repeats: int, threads: int) -> None:
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
    """An ONNX Runtime CPU session of ``model`` (exported with :func:`nsganet.utils.onnx.export_onnx`).

    One session runs ``threads`` intra-op threads and one inter-op thread,
    sequentially, with every graph optimisation on; its input is ``"input"``.
    """
    import onnxruntime as ort

    from nsganet.utils.onnx import export_onnx

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

    check_settings(backend, batch_size, 0, 1, threads)
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
    check_settings(backend, batch_size, warmup, repeats, threads)
    run = prepare_run(model, input_shape, backend, batch_size, threads, channels_last)
    with timing_context(threads):
        samples = time_calls(run, warmup, repeats)
    return LatencyMeasurement.from_samples(samples, backend, batch_size, threads)

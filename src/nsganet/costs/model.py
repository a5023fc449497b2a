"""The cost model: FLOPs, parameters and latency of a space's networks, the objectives known without training.

FLOPs follow NAS-Bench-201 and the NSGANet papers: multiply-accumulate
operations of convolutions and linear layers, in millions, for one image
(``torch.utils.flop_counter`` counts two FLOPs per multiply-accumulate, so its
total is halved). Normalisation, pooling and activations are not counted.
Parameters are all learnable parameters, in millions. ``latency``
(milliseconds per batch on this machine) is measured or predicted only when
the cost model is given a :class:`LatencyModel`, since measuring is slow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nsganet.costs.latency import DEFAULT_REPEATS, DEFAULT_WARMUP, check_settings, measure_latency
from nsganet.costs.lut import LatencyTable
from nsganet.errors import ConfigError, NsganetError
from nsganet.spaces.base import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass
class LatencyModel:
    """How the ``latency`` objective is obtained: measured on each built network, or predicted by a table.

    With ``table`` (a :class:`~nsganet.costs.lut.LatencyTable` of a layer-wise
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
        check_settings(self.backend, self.batch_size, self.warmup, self.repeats, self.threads)
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


class CostModel:
    """Measures FLOPs, parameters and (when asked) latency of a space's networks, cached per architecture.

    The network is built for ``num_classes`` outputs and square
    ``input_size`` x ``input_size`` inputs with ``in_channels`` channels, and
    its operations counted; spaces with a closed form
    (:meth:`~nsganet.spaces.base.SearchSpace.analytic_costs`) skip the build.

    With ``latency`` (a :class:`LatencyModel`) :meth:`measure`
    also returns ``latency``, milliseconds per batch: predicted by the model's
    look-up table (refused unless built for this space and network shape), or
    measured on the built network. Measured latency is
    noisy (a few percent between calls on a quiet machine, more on a busy one)
    and the cache keeps the first measurement of each architecture; a table's
    prediction is deterministic. Networks are timed at their input resolution
    (:meth:`SearchSpace.input_resolution`: the genome's own where it has one).

    A space whose largest network would not fit in this machine's memory at
    this shape and these build options is refused here, before any network
    is built (:meth:`SearchSpace.check_size`).
    """

    def __init__(self, space: SearchSpace, num_classes: int = 10, input_size: int = 32,
                 in_channels: int = 3, build_options: dict[str, Any] | None = None,
                 latency: LatencyModel | None = None) -> None:
        self.space = space
        self.num_classes = num_classes
        self.input_size = input_size
        self.in_channels = in_channels
        self.build_options = dict(build_options or {})
        self.latency = latency
        if latency is not None and latency.table is not None:
            latency.table.check(space, num_classes, in_channels)
        self._cache: dict[tuple[int, ...], dict[str, float]] = {}
        self._check_size()

    def _check_size(self) -> None:
        """Refuse a space whose largest network would not fit in memory, naming the options that make it so."""
        options = ", ".join(f"{name} {value}" for name, value in self.build_options.items())
        what = (f"the largest {self.space.name} network{f' at {options}' if options else ''} for "
                f"{self.num_classes} classes of {self.in_channels}x{self.input_size}x{self.input_size} images")
        self.space.check_size(self.space.largest(), what, _size_hint(self.space, self.build_options),
                              num_classes=self.num_classes, input_size=self.input_size,
                              in_channels=self.in_channels, **self.build_options)

    def measure(self, genome: np.ndarray) -> dict[str, float]:
        """``{"flops": MMACs, "params": millions}`` of one architecture, and ``"latency"`` (ms) when configured."""
        key = tuple(int(v) for v in genome)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._measure(np.asarray(key, dtype=np.int64))
            self._cache[key] = cached
        return dict(cached)

    def _measure(self, genome: np.ndarray) -> dict[str, float]:
        analytic = self.space.analytic_costs(genome, num_classes=self.num_classes, input_size=self.input_size,
                                             in_channels=self.in_channels, **self.build_options)
        values = analytic if analytic is not None else self.count(genome)
        if self.latency is not None:
            values = {**values, "latency": self.latency_of(genome)}
        return values

    def latency_of(self, genome: np.ndarray) -> float:
        """Milliseconds per batch of one architecture: the table's prediction, or a fresh (uncached) measurement."""
        if self.latency is None:
            raise ConfigError("this cost model was built without a latency model")
        genome = np.asarray(genome, dtype=np.int64)
        if self.latency.table is not None:
            return self.latency.table.predict(genome)
        model = self.space.build(genome, num_classes=self.num_classes, input_size=self.input_size,
                                 in_channels=self.in_channels, **self.build_options)
        size = self.space.input_resolution(genome, self.input_size)
        return self.latency.measure(model, (self.in_channels, size, size))

    def count(self, genome: np.ndarray) -> dict[str, float]:
        """Costs counted on the built network (what closed forms are checked against)."""
        genome = np.asarray(genome, dtype=np.int64)
        model = self.space.build(genome, num_classes=self.num_classes, input_size=self.input_size,
                                 in_channels=self.in_channels, **self.build_options)
        return count_costs(model, (self.in_channels, self.input_size, self.input_size))

    def bounds(self) -> dict[str, tuple[float, float]]:
        """Range of each cost objective over the space, from its smallest and largest genome.

        Every cost grows with the network in these spaces; measured latency only roughly so (noise).
        """
        low, high = self.measure(self.space.smallest()), self.measure(self.space.largest())
        return {name: (low[name], high[name]) for name in low}


def _size_hint(space: SearchSpace, options: dict[str, Any]) -> str:
    """What to lower when a space's networks are too large: its proxy width and depth (``--channels``,
    ``--layers``) and the other build options given."""
    width, depth = space.proxy_knobs
    names = [{width: "--channels", depth: "--layers"}.get(name, f"-B {name}") for name, value in options.items()
             if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool)]
    return f": lower {' or '.join(names)}" if names else ""


def count_costs(model: Any, input_shape: tuple[int, int, int]) -> dict[str, float]:
    """``{"flops": MMACs, "params": millions}`` of any module for one input of shape (C, H, W)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape)
    counter = FlopCounterMode(display=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one image: extra threads only spin and contend with other workers
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return {"flops": counter.get_total_flops() / 2e6, "params": params / 1e6}

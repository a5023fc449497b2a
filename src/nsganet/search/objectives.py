"""Named objectives and the cost model that measures FLOPs and parameters.

Every objective is minimised. ``error`` comes from an evaluator; ``flops`` and
``params`` are measured on the built network by :class:`CostModel`.

FLOPs follow NAS-Bench-201 and the NSGANet papers: multiply-accumulate
operations of convolutions and linear layers, in millions, for one image
(``torch.utils.flop_counter`` counts two FLOPs per multiply-accumulate, so its
total is halved). Normalisation, pooling and activations are not counted.
Parameters are all learnable parameters, in millions. ``latency`` (milliseconds
per batch on this machine) is measured or predicted only when the cost model is
given a :class:`~nsganet.costs.latency.LatencyModel`, since measuring is slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.spaces.base import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from nsganet.costs.latency import LatencyModel


@dataclass(frozen=True)
class Objective:
    """A minimised quantity; ``cost`` objectives are measured from the network alone."""

    name: str
    description: str
    cost: bool = False
    #: Worst value a search can see, when known independently of the space (error: 100 %).
    worst: float | None = None


OBJECTIVES: dict[str, Objective] = {
    "error": Objective("error", "validation error in percent (100 - accuracy)", worst=100.0),
    "flops": Objective("flops", "multiply-accumulates of one forward pass, millions", cost=True),
    "params": Objective("params", "learnable parameters, millions", cost=True),
    "latency": Objective("latency", "inference time of one batch on this machine, milliseconds", cost=True),
    "robustness": Objective("robustness", "100 - normalised FGSM accuracy area in percent (lower: more robust)",
                            worst=100.0),
}


def parse_objectives(names: str | list[str] | tuple[str, ...], allow_custom: bool = False) -> list[str]:
    """Validate objective names (a comma-separated string or a list).

    Custom names (returned by a user's evaluator function) are allowed only
    when ``allow_custom`` is set.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = list(names)
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ConfigError("objectives must be a non-empty list of names, e.g. error,flops")
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives {','.join(names)} name one objective twice")
    if not allow_custom:
        unknown = [n for n in names if n not in OBJECTIVES]
        if unknown:
            raise ConfigError(f"unknown objective {unknown[0]!r}; known objectives: {', '.join(OBJECTIVES)}")
    if len(names) < 2:
        raise ConfigError("a multi-objective search needs at least two objectives, e.g. error,flops")
    return names


class CostModel:
    """Measures FLOPs, parameters and (when asked) latency of a space's networks, cached per architecture.

    The network is built for ``num_classes`` outputs and square
    ``input_size`` x ``input_size`` inputs with ``in_channels`` channels, and
    its operations counted; spaces with a closed form
    (:meth:`~nsganet.spaces.base.SearchSpace.analytic_costs`) skip the build.

    With ``latency`` (a :class:`~nsganet.costs.latency.LatencyModel`) :meth:`measure`
    also returns ``latency``, milliseconds per batch: predicted by the model's
    look-up table (``mobilenetv3`` only; refused unless built for this space and
    network shape), or measured on the built network. Measured latency is
    noisy (a few percent between calls on a quiet machine, more on a busy one)
    and the cache keeps the first measurement of each architecture; a table's
    prediction is deterministic. ``mobilenetv3`` networks are timed at their
    own resolution (the genome's), the others at ``input_size``.
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
        size = self.space.to_config(genome)["resolution"] if self.space.name == "mobilenetv3" else self.input_size
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

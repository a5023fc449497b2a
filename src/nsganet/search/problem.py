"""A problem joins a space, an evaluator and named objectives into one evaluation function."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nsganet.costs.model import CostModel
from nsganet.errors import ConfigError
from nsganet.evaluators.base import Evaluator, trains_at_epochs
from nsganet.search.constraints import Constraint, check_measurable, extra_names, total_violation
from nsganet.search.objectives import is_cost
from nsganet.spaces.base import SearchSpace


class EvaluationFailed(Exception):
    """An architecture could not be evaluated; the run records it as failed and goes on."""


class Problem:
    """Objective values of architectures: the evaluator's values plus measured costs.

    Cost objectives (``flops``, ``params``) are measured by ``cost_model``
    unless the evaluator returns them itself; every other objective must come
    from the evaluator. Values that ``constraints`` bound but that are not
    objectives are measured too (:attr:`measured`) and returned with them.
    """

    def __init__(self, space: SearchSpace, objectives: list[str], evaluator: Evaluator | None = None,
                 cost_model: CostModel | None = None, constraints: Sequence[Constraint] = ()) -> None:
        self.space, self.objectives, self.evaluator = space, list(objectives), evaluator
        self.cost_model = cost_model or CostModel(space)
        self.constraints = list(constraints)
        #: Every value an evaluation returns: the objectives, then the constrained values that are not objectives.
        self.measured = [*self.objectives, *extra_names(self.constraints, self.objectives)]
        self._at_epochs: dict[int, Evaluator] = {}
        provides = getattr(evaluator, "provides", None)
        check_measurable(self.constraints, self.objectives, provides, custom_evaluator=evaluator is not None)
        for name in self.measured:
            if is_cost(name):
                continue
            if evaluator is None:
                raise ConfigError(
                    f"objective {name!r} needs an evaluator: pass --table FILE --metric COLUMN "
                    "(or an evaluator function in the Python API)")
            if provides is not None and name not in provides:
                raise ConfigError(f"objective {name!r} is not produced by {evaluator!r}; "
                                  f"it produces {', '.join(sorted(provides))}")

    @property
    def cost_columns(self) -> tuple[int, ...]:
        """Positions of the cost objectives (known from the network alone) among the objectives."""
        return tuple(j for j, name in enumerate(self.objectives) if is_cost(name))

    def costs(self, genomes: np.ndarray) -> np.ndarray:
        """Cost objectives of each genome (a row per genome, a column per entry of :attr:`cost_columns`)."""
        names = [self.objectives[j] for j in self.cost_columns]
        rows = [[self.cost_model.measure(genome)[name] for name in names] for genome in genomes]
        return np.asarray(rows, dtype=float).reshape(len(rows), len(names))

    def violation(self, genomes: np.ndarray, low: np.ndarray, high: np.ndarray | None = None) -> np.ndarray:
        """Total constraint violation of genomes whose objective values are rows of ``low`` (with ``high``:
        the most favourable value within ``[low, high]``; NaN: unknown, counts as met); constrained costs
        that are not objectives are measured on the genomes, other values only an evaluation gives are unknown."""
        low = np.asarray(low, dtype=float).reshape(len(genomes), len(self.objectives))
        high = low if high is None else np.asarray(high, dtype=float).reshape(low.shape)
        lows = {name: low[:, j] for j, name in enumerate(self.objectives)}
        highs = {name: high[:, j] for j, name in enumerate(self.objectives)}
        for name in self.measured[len(self.objectives):]:
            if is_cost(name):
                lows[name] = highs[name] = np.array([self.cost_model.measure(g)[name] for g in genomes], dtype=float)
        return total_violation(self.constraints, lows, highs, n=len(genomes))

    @property
    def trains_at_epochs(self) -> bool:
        """Whether the evaluator can train for a given number of epochs (multi-fidelity evaluation needs it)."""
        return trains_at_epochs(self.evaluator)

    def evaluate(self, genome: np.ndarray, epochs: int | None = None) -> dict[str, float]:
        """Objective values of one genome; raises :class:`EvaluationFailed` with a reason.

        With ``epochs`` the evaluator trains for that many epochs (its
        ``with_epochs``): the result equals a full evaluation of a run
        configured with ``epochs``.
        """
        arch = self.space.architecture(genome)
        values: dict[str, float] = {}
        if self.evaluator is not None:
            result = self._evaluator_at(epochs)(arch)
            if isinstance(result, Mapping):
                values.update(result)
            else:
                first = next((n for n in self.objectives if not is_cost(n)), None)
                if first is None:
                    raise EvaluationFailed("the evaluator returned a number but every objective is a cost")
                values[first] = result
        missing_costs = [n for n in self.measured if n not in values and is_cost(n)]
        if missing_costs:
            values.update({k: v for k, v in self.cost_model.measure(arch.genome).items()
                           if k in missing_costs})
        out: dict[str, float] = {}
        for name in self.measured:
            if name not in values:
                what = "objective" if name in self.objectives else "constrained value"
                raise EvaluationFailed(f"the evaluator returned no value for {what} {name!r}")
            out[name] = _as_float(name, values[name])
        return out


    def evaluate_at(self, item: tuple[np.ndarray, int]) -> dict[str, float]:
        """:meth:`evaluate` of a ``(genome, epochs)`` pair: the item a multi-fidelity rung hands an executor."""
        genome, epochs = item
        return self.evaluate(genome, epochs)

    def _evaluator_at(self, epochs: int | None) -> Evaluator:
        """The evaluator, or its copy training for ``epochs`` (made once per number of epochs)."""
        assert self.evaluator is not None
        if epochs is None:
            return self.evaluator
        if not self.trains_at_epochs:
            raise ConfigError(f"{self.evaluator!r} cannot train for a given number of epochs (it has no "
                              "with_epochs method), so it cannot evaluate in rungs")
        if epochs not in self._at_epochs:
            self._at_epochs[epochs] = self.evaluator.with_epochs(epochs)  # type: ignore[attr-defined]
        return self._at_epochs[epochs]


def _as_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EvaluationFailed(f"objective {name!r} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise EvaluationFailed(f"objective {name!r} is {number} (diverged?)")
    return number

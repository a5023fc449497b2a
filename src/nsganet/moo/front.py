"""The non-dominated front of evaluated architectures, and their objective matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np

from nsganet.moo.indicators import pareto_front_mask


class Scored(Protocol):
    """What the front needs of an evaluation: whether it succeeded and its objective values."""

    status: str
    objectives: Mapping[str, float]


S = TypeVar("S", bound=Scored)


def objective_matrix(evaluations: Sequence[Scored], objectives: Sequence[str]) -> np.ndarray:
    """Objective values as rows (NaN for failed evaluations)."""
    return np.array([[e.objectives.get(name, np.nan) if e.status == "ok" else np.nan for name in objectives]
                     for e in evaluations], dtype=float).reshape(len(evaluations), len(objectives))


def front_of(evaluations: Sequence[S], objectives: Sequence[str]) -> list[S]:
    """The non-dominated successful evaluations, sorted by the first objective (then the others)."""
    F = objective_matrix(evaluations, objectives)
    front = [e for e, keep in zip(evaluations, pareto_front_mask(F)) if keep]
    return sorted(front, key=lambda e: tuple(e.objectives[n] for n in objectives))

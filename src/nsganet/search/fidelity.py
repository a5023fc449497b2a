"""Multi-fidelity evaluation: successive halving of a generation's new architectures over rungs of epochs.

With a reduction factor ``eta`` the new architectures of a generation first
train for ``min_epochs`` (rung 0); the best ``ceil(n / eta)`` of the ``n``
that ran a rung train again for ``eta`` times as many epochs, and so on up to
the configured ``epochs`` (the full fidelity, always the last rung). Each rung
trains from scratch with the seed a full evaluation of the architecture uses,
so a rung's result equals a full evaluation of a run configured with that
rung's epochs. "Best" is NSGA-II's order on the rung's objective values: the
partial error and the exact costs (flops, params), by non-dominated rank, then
by crowding distance. Architectures dominated early therefore stop early, and
the compute goes to those that may join the front. A failed rung is never
promoted.

Partial-fidelity errors are higher than full-fidelity ones, so the values of
architectures that stopped early are not comparable with the others: the
front and hypervolume of a multi-fidelity run are those of the architectures
evaluated at full fidelity (:func:`full_fidelity`), and ``evaluations.csv``
says each architecture's epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nsganet.errors import ConfigError
from nsganet.search.store import Evaluation, Rung
from nsganet.strategies.ranking import survival_order


def rung_epochs(min_epochs: int, eta: int, epochs: int) -> tuple[int, ...]:
    """The epochs of each rung: ``min_epochs``, ``min_epochs * eta``, ... below ``epochs``, then ``epochs``.

    ``rung_epochs(1, 3, 9) == (1, 3, 9)``; ``rung_epochs(1, 3, 10) == (1, 3, 9, 10)``
    (the schedule wastes least when ``epochs`` is ``min_epochs`` times a power of ``eta``).
    """
    if eta < 2:
        raise ConfigError(f"fidelity_eta must be at least 2, got {eta}")
    if not 1 <= min_epochs < epochs:
        raise ConfigError(f"fidelity_min_epochs must be at least 1 and below epochs ({epochs}), got {min_epochs}")
    rungs, current = [], min_epochs
    while current < epochs:
        rungs.append(current)
        current *= eta
    return (*rungs, epochs)


def kept(n: int, eta: int) -> int:
    """How many of the ``n`` architectures of a rung go on to the next: ``ceil(n / eta)``, at least 1."""
    return max(1, math.ceil(n / eta)) if n else 0


def promote(F: np.ndarray, eta: int, V: np.ndarray | None = None) -> list[int]:
    """Rows of ``F`` (a rung's objective values, NaN rows failed) promoted to the next rung, in row order.

    The first :func:`kept` rows of NSGA-II's survival order (non-dominated
    rank, then decreasing crowding distance; ties keep row order; with
    constraint violations ``V``, feasible rows first); failed rows are never
    promoted, so fewer may go on when many failed.
    """
    F = np.asarray(F, dtype=float)
    valid = np.flatnonzero(~np.isnan(F).any(axis=1)) if F.size else np.arange(0)
    if len(valid) == 0:
        return []
    order = valid[survival_order(F[valid], None if V is None else np.asarray(V, dtype=float)[valid])]
    return sorted(int(i) for i in order[:min(kept(len(F), eta), len(valid))])


@dataclass(frozen=True)
class Fidelity:
    """A run's multi-fidelity schedule: reduction factor ``eta``, first rung's ``min_epochs``, full ``epochs``."""

    eta: int
    min_epochs: int
    epochs: int

    def __post_init__(self) -> None:
        rung_epochs(self.min_epochs, self.eta, self.epochs)  # refuses a schedule that does not make sense

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs of each rung; the last is the full fidelity."""
        return rung_epochs(self.min_epochs, self.eta, self.epochs)

    def promote(self, F: np.ndarray, V: np.ndarray | None = None) -> list[int]:
        """Rows of a rung's objective values promoted to the next rung (see :func:`promote`)."""
        return promote(F, self.eta, V)


def full_fidelity(evaluations: Sequence[Evaluation], epochs: int | None) -> list[Evaluation]:
    """The evaluations whose result is of full fidelity: all of a run without multi-fidelity (``epochs`` None,
    or evaluations that carry no epochs), else those that reached ``epochs``."""
    if epochs is None:
        return list(evaluations)
    return [e for e in evaluations if e.epochs is None or e.epochs >= epochs]


def rung_counts(rungs: Sequence[Rung], seqs: set[int], schedule: Sequence[int]) -> list[dict[str, Any]]:
    """Per rung of ``schedule``, of the evaluations ``seqs``: how many trained it, failed, went on to the next."""
    counts = [{"rung": r, "epochs": int(epochs), "trained": 0, "failed": 0, "promoted": 0}
              for r, epochs in enumerate(schedule)]
    for record in rungs:
        if record.seq in seqs and record.rung < len(counts):
            counts[record.rung]["trained"] += 1
            counts[record.rung]["failed"] += record.status == "failed"
            if record.rung:
                counts[record.rung - 1]["promoted"] += 1
    return counts


def trained_epochs(rungs: Sequence[Rung]) -> int:
    """Epochs trained over all rung records (what multi-fidelity saves compared with full evaluations)."""
    return sum(record.epochs for record in rungs)


__all__ = ["Fidelity", "full_fidelity", "kept", "promote", "rung_counts", "rung_epochs", "trained_epochs"]

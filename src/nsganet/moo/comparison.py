"""Comparing several search runs of the same objectives, following NSGANetV1's protocol.

The runs are put on common bounds (ideal point 0 where values are
non-negative; worst: the objective's known worst value, else the largest value
over all runs), then scored per generation (generation ``k``: every evaluation
up to and including generation ``k``) by the normalised hypervolume and by
IGD+ against the non-dominated front of all runs together, in normalised
space. The run of median final hypervolume stands for the set; the empirical
attainment surfaces (best, median, worst) show the spread of the final fronts.

Everything here works on objective matrices; nothing knows of run directories.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import moocore
import numpy as np

from nsganet.moo.indicators import normalize, normalized_hypervolume, pareto_front_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunObjectives:
    """One run as a comparison needs it.

    ``F`` has a row per finished evaluation (NaN for failed ones) and a
    column per objective (minimised); ``generation`` gives each row's generation.
    """

    name: str
    F: np.ndarray
    generation: np.ndarray

    def __post_init__(self) -> None:
        F = np.asarray(self.F, dtype=float)
        generation = np.asarray(self.generation, dtype=np.int64).reshape(-1)
        if F.ndim != 2 or len(F) != len(generation):
            raise ValueError(f"run {self.name}: F must have one row per generation label")
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "generation", generation)

    @property
    def valid(self) -> np.ndarray:
        """Rows of successful evaluations."""
        return ~np.isnan(self.F).any(axis=1)

    @property
    def front(self) -> np.ndarray:
        """The run's final non-dominated objective vectors (raw units)."""
        return _front(self.F[self.valid])


@dataclass(frozen=True)
class GenerationQuality:
    """A run's quality after one generation: evaluations so far, normalised hypervolume, IGD+ (NaN: no front)."""

    generation: int
    n_evaluated: int
    hypervolume: float
    igd_plus: float


@dataclass
class RunQuality:
    """A run's quality per generation and its final front (raw units)."""

    name: str
    history: list[GenerationQuality]
    front: np.ndarray

    @property
    def final(self) -> GenerationQuality:
        return self.history[-1]


@dataclass
class Comparison:
    """Runs on common bounds: quality per run and generation, the median run, the attainment surfaces.

    ``reference`` is the non-dominated front of all runs together, normalised
    (IGD+ is measured against it). ``median`` indexes :attr:`runs`.
    ``surfaces`` maps an attainment level ``k`` (points attained by at least
    ``k`` of the runs) to that surface's points in raw units; it is filled for
    two objectives only.
    """

    objectives: list[str]
    lower: np.ndarray
    upper: np.ndarray
    reference: np.ndarray
    runs: list[RunQuality]
    median: int
    surfaces: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def final_hypervolumes(self) -> np.ndarray:
        return np.array([r.final.hypervolume for r in self.runs])

    @property
    def hypervolume_median(self) -> float:
        """The median of the final hypervolumes (the mean of the two middle ones for an even count)."""
        return float(np.median(self.final_hypervolumes))

    @property
    def hypervolume_quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the final hypervolumes (linear interpolation)."""
        q1, q3 = np.percentile(self.final_hypervolumes, [25, 75])
        return float(q1), float(q3)

    @property
    def hypervolume_iqr(self) -> float:
        q1, q3 = self.hypervolume_quartiles
        return q3 - q1


def _front(F: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows of ``F``."""
    if len(F) == 0:
        return F
    return np.unique(F[pareto_front_mask(F)], axis=0)


def common_bounds(matrices: Sequence[np.ndarray], worst: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Ideal and worst value per objective over all runs (NSGANetV1 suppl. H, for a set of runs).

    The ideal point is 0, or the lowest value seen where one is negative; the
    worst is ``worst[j]`` where the objective has a known worst value (error:
    100 %), else the largest value over all runs. NaN rows are ignored.
    """
    F = np.vstack([np.asarray(m, dtype=float).reshape(-1, len(worst)) for m in matrices])
    F = F[~np.isnan(F).any(axis=1)]
    if len(F) == 0:
        raise ValueError("no successful evaluation in any run: no bounds")
    lower = np.minimum(0.0, F.min(axis=0))
    upper = np.array([F[:, j].max() if w is None else float(w) for j, w in enumerate(worst)], dtype=float)
    upper = np.where(upper > lower, upper, lower + 1.0)
    return lower, upper


def union_front(fronts: Sequence[np.ndarray]) -> np.ndarray:
    """The non-dominated front of several fronts together."""
    return _front(np.vstack(fronts))


def generation_history(run: RunObjectives, lower: np.ndarray, upper: np.ndarray,
                       reference: np.ndarray) -> list[GenerationQuality]:
    """Hypervolume and IGD+ of everything ``run`` evaluated up to each of its generations.

    ``reference`` is the normalised front IGD+ is measured against.
    """
    out = []
    valid = run.valid
    for k in np.unique(run.generation):
        upto = run.generation <= k
        front = _front(run.F[upto & valid])
        hv = normalized_hypervolume(front, lower, upper) if len(front) else 0.0
        igd = float(moocore.igd_plus(normalize(front, lower, upper), ref=reference)) if len(front) else math.nan
        out.append(GenerationQuality(int(k), int(upto.sum()), hv, igd))
    return out


def median_run(values: Sequence[float]) -> int:
    """Index of the run of median value; of an even count, the lower of the two middle runs.

    A median run must be a run that exists (its front is reported, not an
    average of two), and the lower middle is the conservative choice of the
    two. Ties keep the order of ``values``.
    """
    if len(values) == 0:
        raise ValueError("no runs")
    order = np.argsort(np.asarray(values, dtype=float), kind="stable")
    return int(order[(len(order) - 1) // 2])


def attainment_levels(n_runs: int) -> tuple[int, int, int]:
    """The best (1 of n), median (at least half of n) and worst (n of n) attainment levels."""
    return 1, max(1, math.ceil(n_runs / 2)), n_runs


def attainment_surfaces(fronts: Sequence[np.ndarray], levels: Sequence[int]) -> dict[int, np.ndarray]:
    """The empirical attainment surface of each level ``k``: points attained by at least ``k`` of the fronts.

    Each surface is a non-dominated point set sorted by the first objective.
    """
    n = len(fronts)
    points = np.vstack(fronts)
    sets = np.concatenate([np.full(len(f), i + 1) for i, f in enumerate(fronts)])
    eaf = moocore.eaf(points, sets)
    attained = np.rint(eaf[:, -1] * n / 100.0).astype(int)
    out = {}
    for k in sorted(set(levels)):
        if not 1 <= k <= n:
            raise ValueError(f"attainment level {k} is not within 1..{n}")
        surface = eaf[attained == k, :-1]
        out[k] = surface[np.lexsort(surface.T[::-1])]
    return out


def compare(runs: Sequence[RunObjectives], objectives: Sequence[str],
            worst: Sequence[float | None] | None = None) -> Comparison:
    """Compare ``runs`` of the same ``objectives`` on common bounds (see the module's description).

    ``worst`` gives each objective's known worst value (None where unknown:
    the largest value over the runs counts instead).
    """
    objectives = list(objectives)
    worst = [None] * len(objectives) if worst is None else list(worst)
    if not runs:
        raise ValueError("no runs to compare")
    if len(worst) != len(objectives) or any(r.F.shape[1] != len(objectives) for r in runs):
        raise ValueError("every run needs one column per objective")
    empty = [r.name for r in runs if not r.valid.any()]
    if empty:
        raise ValueError(f"run {empty[0]} has no successful evaluation")
    lower, upper = common_bounds([r.F for r in runs], worst)
    fronts = [r.front for r in runs]
    reference = normalize(union_front(fronts), lower, upper)
    qualities = [RunQuality(r.name, generation_history(r, lower, upper, reference), f) for r, f in zip(runs, fronts)]
    median = median_run([q.final.hypervolume for q in qualities])
    surfaces = attainment_surfaces(fronts, attainment_levels(len(runs))) if len(objectives) == 2 else {}
    logger.debug("compared %d runs on bounds %s .. %s", len(runs), lower, upper)
    return Comparison(objectives, lower, upper, reference, qualities, median, surfaces)

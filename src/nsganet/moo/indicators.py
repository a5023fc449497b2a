"""Quality indicators of a set of objective vectors, from moocore."""

from __future__ import annotations

import moocore
import numpy as np


def pareto_front_mask(F: np.ndarray) -> np.ndarray:
    """Which rows are non-dominated (rows with NaN never are)."""
    F = np.asarray(F, dtype=float)
    mask = np.zeros(len(F), dtype=bool)
    valid = ~np.isnan(F).any(axis=1)
    if valid.any():
        mask[valid] = moocore.is_nondominated(F[valid], keep_weakly=True)
    return mask


def normalize(F: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Map objective values so that ``lower`` goes to 0 and ``upper`` to 1."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    return (np.asarray(F, dtype=float) - lower) / np.where(upper > lower, upper - lower, 1.0)


def normalized_hypervolume(F: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                           reference: float = 1.0) -> float:
    """Hypervolume of ``F`` after normalisation, divided by the box from 0 to ``reference``.

    With ``lower`` the ideal point and ``upper`` the worst value of each
    objective, ``reference=1`` is the normalisation of NSGANetV1's supplement H.
    Points beyond the reference contribute nothing.
    """
    Z = normalize(F, lower, upper)
    Z = Z[~np.isnan(Z).any(axis=1)]
    if len(Z) == 0:
        return 0.0
    ref = np.full(Z.shape[1], float(reference))
    return float(moocore.hypervolume(Z, ref=ref)) / float(np.prod(ref))


def igd(F: np.ndarray, reference_front: np.ndarray) -> float:
    """Inverted generational distance of ``F`` to ``reference_front`` (same, normalised, space)."""
    return float(moocore.igd(np.asarray(F, dtype=float), ref=np.asarray(reference_front, dtype=float)))

"""How well predictions match true values: RMSE, and Spearman's ρ and Kendall's τ for ranking.

A surrogate-assisted search mostly needs the *order* of candidates right, so
the rank correlations are what predictors are chosen by; RMSE tells whether the
predicted values themselves can be trusted.

Convention for degenerate input: when either side is constant the ranks carry
no information and the rank correlations return ``0.0`` (chance level) rather
than scipy's ``nan``, so that a predictor which predicts a constant scores as
badly as a random one and averages over folds stay defined. With fewer than two
values they return ``nan``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=float).ravel()
    b = np.asarray(y_pred, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"y_true and y_pred differ in length: {a.size} and {b.size}")
    return a, b


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error (``nan`` for empty input)."""
    a, b = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2))) if a.size else float("nan")


def _degenerate(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2:
        return float("nan")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    return None


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman's rank correlation ρ (0.0 when either side is constant, nan below two values)."""
    a, b = _pair(y_true, y_pred)
    special = _degenerate(a, b)
    return special if special is not None else float(stats.spearmanr(a, b)[0])


def kendall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Kendall's τ-b, which counts ties fairly (0.0 when either side is constant, nan below two values)."""
    a, b = _pair(y_true, y_pred)
    special = _degenerate(a, b)
    return special if special is not None else float(stats.kendalltau(a, b)[0])


def quality(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"rmse", "rho", "tau"}`` of predictions ``y_pred`` against ``y_true``."""
    return {"rmse": rmse(y_true, y_pred), "rho": spearman(y_true, y_pred), "tau": kendall(y_true, y_pred)}

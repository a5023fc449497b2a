"""Picking architectures from a front: by a preference point, or the high trade-off ones.

Both work on the objective matrix of a non-dominated set (rows: architectures,
columns: minimised objectives), normalised so that the front's best value of
each objective maps to 0 and its worst to 1; objectives of different units
(percent error, millions of FLOPs, milliseconds) then weigh alike.

- **Preference** (NSGANetV2's post-search selection): the user names a
  reference point, e.g. ``error=1.5,flops=5``; architectures are ranked by the
  achievement scalarizing function ``max_i (f_i - z_i) / (nadir_i - ideal_i)``
  (Wierzbicki), augmented by a small sum term to break ties in favour of
  non-dominated choices. The K lowest are "nearest" to the preference.
  Objectives the preference leaves out take their ideal (best) value.
- **Trade-off** (no preference): the trade-off of an architecture is the least
  sacrifice per unit of gain over its neighbours on the front (Rachmawati and
  Srinivasan's measure, as in pymoo's ``HighTradeoffPoints``, here taken over
  every other front member rather than a neighbourhood): a knee, where moving
  to any other architecture costs much more than it gains, scores high.

When two or more are picked, the most accurate architecture (lowest first
objective) is always one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nsganet.errors import NsganetError

#: Weight of the sum term that augments the achievement scalarizing function.
ASF_AUGMENTATION = 1e-4


def parse_preference(text: str, objectives: Sequence[str]) -> dict[str, float]:
    """``"error=1.5,flops=5"`` as ``{"error": 1.5, "flops": 5.0}``, checked against the run's objectives."""
    preference: dict[str, float] = {}
    for part in text.split(","):
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise NsganetError(f"preference {text!r} must look like error=1.5,flops=5 (NAME=VALUE, comma-separated)")
        if name not in objectives:
            raise NsganetError(f"preference names {name!r}, which is not an objective of this run "
                               f"({', '.join(objectives)})")
        if name in preference:
            raise NsganetError(f"preference {text!r} names {name!r} twice")
        try:
            value = float(raw)
        except ValueError:
            raise NsganetError(f"preference value {raw.strip()!r} for {name!r} is not a number") from None
        if not np.isfinite(value):
            raise NsganetError(f"preference value for {name!r} must be finite, got {raw.strip()}")
        preference[name] = value
    return preference


def _normalised(F: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``F`` mapped to [0, 1] per objective, with its ideal and nadir points."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 2 or len(F) == 0:
        raise NsganetError("selection needs at least one architecture with objective values")
    if not np.isfinite(F).all():
        raise NsganetError("selection needs finite objective values")
    ideal, nadir = F.min(axis=0), F.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (F - ideal) / span, ideal, span


def achievement(F: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Augmented achievement scalarizing function of each row towards ``reference`` (lower: nearer)."""
    Z, ideal, span = _normalised(F)
    z = (np.asarray(reference, dtype=float) - ideal) / span
    gap = Z - z
    return gap.max(axis=1) + ASF_AUGMENTATION * gap.sum(axis=1)


def tradeoff(F: np.ndarray) -> np.ndarray:
    """Trade-off of each row: the smallest sacrifice/gain ratio over the other rows (higher: more of a knee).

    Rows equal to another row get 0; a single row gets ``inf``.
    """
    Z, _, _ = _normalised(F)
    n = len(Z)
    mu = np.full(n, np.inf)
    for i in range(n):
        diff = np.delete(Z, i, axis=0) - Z[i]
        sacrifice = np.maximum(diff, 0.0).sum(axis=1)
        gain = np.maximum(-diff, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gain > 0, sacrifice / np.where(gain > 0, gain, 1.0), np.inf)
        ratio[(gain == 0) & (sacrifice == 0)] = 0.0  # a duplicate is no trade-off at all
        if len(ratio):
            mu[i] = ratio.min()
    return mu


def select(F: np.ndarray, n: int, preference: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` rows of ``F`` (a front) and their scores, best first.

    With ``preference`` (a reference point, one value per objective) the rows
    nearest to it by :func:`achievement`; without, the rows of highest
    :func:`tradeoff`. For ``n >= 2`` the row of lowest first objective is
    always included (it replaces the last pick when it was not chosen). Ties go
    to the lower first objective, then the lower index.
    """
    F = np.asarray(F, dtype=float)
    if n < 1:
        raise NsganetError(f"the number of architectures to select must be at least 1, got {n}")
    if preference is not None:
        score = achievement(F, preference)
        order = np.lexsort((np.arange(len(F)), F[:, 0], score))  # ascending ASF
    else:
        score = tradeoff(F)
        order = np.lexsort((np.arange(len(F)), F[:, 0], -score))  # descending trade-off
    chosen = list(order[: min(n, len(F))])
    most_accurate = int(np.lexsort((np.arange(len(F)), F[:, 0]))[0])
    if n >= 2 and most_accurate not in chosen:
        chosen[-1] = most_accurate
    chosen_arr = np.asarray(chosen, dtype=int)
    return chosen_arr, score[chosen_arr]

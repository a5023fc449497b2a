"""A proxy study's table: rank agreement of each setting with the reference, its cost, and the recommendation.

Pure maths over stored results (no training, no torch): Spearman ρ and
Kendall τ of the validation errors against the reference's, the overlap of
the best ``top_k`` architectures, the mean seconds per architecture, and the
cheapest setting whose ρ (or τ) reaches a threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nsganet.errors import ConfigError
from nsganet.proxy_study.settings import Setting, supernet_key
from nsganet.proxy_study.store import PairResult
from nsganet.utils.checks import POSITIVE_INT, Bound

#: Rank-correlation threshold a recommended setting must reach by default.
DEFAULT_THRESHOLD = 0.7
METRICS = ("rho", "tau")
SYMBOLS = {"rho": "ρ", "tau": "τ"}


@dataclass(frozen=True)
class SettingRow:
    """One setting's line of the study: agreement with the reference and cost.

    ``n`` architectures have a result at both this setting and the reference
    (``failed`` of this setting's did not finish); ``rho``, ``tau`` and
    ``top_k_overlap`` compare their errors (NaN when they cannot be computed,
    e.g. fewer than two architectures or constant errors). ``seconds`` is the
    mean time of one evaluation (training and validation, or extraction,
    calibration, fine-tuning and validation); ``one_off_seconds`` what the
    setting costs once (training its supernet).
    """

    setting: Setting
    n: int
    failed: int
    rho: float
    tau: float
    top_k_overlap: float
    seconds: float
    relative_cost: float
    one_off_seconds: float = 0.0
    is_reference: bool = False

    @property
    def name(self) -> str:
        return self.setting.name

    def metric(self, name: str) -> float:
        return self.rho if name == "rho" else self.tau


@dataclass(frozen=True)
class StudyTable:
    """Every setting's row, cheapest first, and the recommendation: the cheapest setting other than the
    reference and its replicates whose ``metric`` (``rho`` or ``tau``) is at least ``threshold`` (None when
    none is)."""

    rows: list[SettingRow]
    reference: str
    top_k: int
    metric: str
    threshold: float
    recommended: SettingRow | None

    def row(self, name: str) -> SettingRow:
        return next(r for r in self.rows if r.name == name)

    def recommendation_text(self) -> str:
        """``recommended: c8-l1-e3 (ρ 0.82 ≥ 0.7 at 0.31× the reference's cost)``, or why there is none."""
        symbol = SYMBOLS[self.metric]
        best = self.recommended
        if best is not None:
            once = f", plus {best.one_off_seconds:.0f} s once for its supernet" if best.one_off_seconds else ""
            return (f"recommended: {best.name} ({symbol} {best.metric(self.metric):.2f} ≥ {self.threshold:g} at "
                    f"{best.relative_cost:.2f}× the reference's cost{once})")
        others = [r for r in self.rows if not r.is_reference and r.setting.replicate is None
                  and math.isfinite(r.metric(self.metric))]
        if not others and any(r.setting.replicate is not None for r in self.rows):
            return "recommended: none (replicates measure the noise of a setting, they are no proxy to choose)"
        if not others:
            return f"recommended: none (no setting has a {symbol} to compare with {self.threshold:g})"
        closest = max(others, key=lambda r: r.metric(self.metric))
        return (f"recommended: none (no setting reaches {symbol} ≥ {self.threshold:g}; the closest is "
                f"{closest.name} with {symbol} {closest.metric(self.metric):.2f})")

    def text(self) -> str:
        """The rows as an aligned text table, cheapest first."""
        once = any(r.one_off_seconds for r in self.rows)
        header = ["setting", "ρ", "τ", f"top-{self.top_k}", "s/arch", "cost", "n", *(["once s"] if once else [])]
        lines = [header]
        for r in self.rows:
            label = r.setting.label if r.setting.inherits else r.name
            label += " (reference)" if r.is_reference else " *" if r is self.recommended else ""
            lines.append([label, _fmt(r.rho, 3), _fmt(r.tau, 3), _fmt(r.top_k_overlap, 2), _fmt(r.seconds, 2),
                          f"{_fmt(r.relative_cost, 2)}×", f"{r.n}" + (f" ({r.failed} failed)" if r.failed else ""),
                          *([_fmt(r.one_off_seconds, 0) if r.one_off_seconds else ""] if once else [])])
        widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
        return "\n".join("  ".join(cell.ljust(widths[0]) if c == 0 else cell.rjust(widths[c])
                                   for c, cell in enumerate(line)).rstrip() for line in lines)


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def rank_correlations(reference: Sequence[float], other: Sequence[float]) -> tuple[float, float]:
    """Spearman ρ and Kendall τ (τ-b, ties accounted) of two error lists; NaN for fewer than two pairs or a
    constant list."""
    if len(reference) < 2:
        return math.nan, math.nan
    from scipy import stats

    with warnings.catch_warnings():  # a constant list: scipy warns and returns NaN, which the table shows as "-"
        warnings.simplefilter("ignore")
        rho = float(stats.spearmanr(reference, other)[0])
        tau = float(stats.kendalltau(reference, other)[0])
    return rho, tau


def top_k_overlap(indices: Sequence[int], reference: Sequence[float], other: Sequence[float], k: int) -> float:
    """The share of the reference's best ``k`` architectures (lowest errors) that are among the other's best
    ``k``; NaN without architectures.

    Validation errors are discrete, so ties are common: an architecture tied
    at the ``k``-th error counts fractionally, as the expected overlap when
    ties are broken at random (constant errors give ``k / n``, the overlap of
    a random pick).
    """
    k = min(k, len(indices))
    if k < 1:
        return math.nan
    a, b = _inclusion(reference, k), _inclusion(other, k)
    return float(sum(x * y for x, y in zip(a, b)) / k)


def _inclusion(errors: Sequence[float], k: int) -> list[float]:
    """Each architecture's chance to be among the best ``k`` when ties are broken at random."""
    kth = sorted(errors)[k - 1]
    better = sum(e < kth for e in errors)
    tied = sum(e == kth for e in errors)
    return [1.0 if e < kth else (k - better) / tied if e == kth else 0.0 for e in errors]


def study_table(results: Iterable[PairResult], settings: Sequence[Setting], reference: Setting, *,
                top_k: int | None = None, metric: str = "rho", threshold: float = DEFAULT_THRESHOLD,
                one_off_seconds: Mapping[str, float] | None = None) -> StudyTable:
    """The study's table from its results alone (no training): one row per setting and the recommendation.

    ``settings`` may include the reference; results of other settings are
    ignored. ``top_k`` defaults to a quarter of the architectures the
    reference scored (at least 1). ``one_off_seconds`` by setting name is what
    a setting costs once (its supernet's training).
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    Bound(-1.0, high=1.0).check(f"the {SYMBOLS[metric]} threshold", threshold)
    by_setting: dict[str, dict[int, PairResult]] = {}
    for r in results:
        by_setting.setdefault(r.setting, {})[r.arch_index] = r
    ordered = [reference, *(s for s in settings if s.name != reference.name)]
    ref = by_setting.get(reference.name, {})
    if top_k is None:
        top_k = max(1, len(ref) // 4)
    POSITIVE_INT.check("top_k", top_k)
    top_k = min(top_k, max(1, len(ref)))  # no more than the architectures there are
    one_off = dict(one_off_seconds or {})
    ref_seconds = _mean([r.seconds for r in ref.values()])
    rows: list[SettingRow] = []
    seen: set[str] = set()
    for setting in ordered:
        if setting.name in seen:
            continue
        seen.add(setting.name)
        mine = by_setting.get(setting.name, {})
        common = sorted(i for i, r in mine.items() if r.ok and i in ref and ref[i].ok)
        x = [ref[i].error for i in common]
        y = [mine[i].error for i in common]
        rho, tau = rank_correlations(x, y)  # type: ignore[arg-type]
        seconds = _mean([r.seconds for r in mine.values()])
        relative = seconds / ref_seconds if math.isfinite(seconds) and ref_seconds > 0 else math.nan
        rows.append(SettingRow(setting, len(common), sum(not r.ok for r in mine.values()), rho, tau,
                               top_k_overlap(common, x, y, top_k), seconds, relative,  # type: ignore[arg-type]
                               float(one_off.get(setting.name, 0.0)), setting.name == reference.name))
    rows.sort(key=lambda r: (not math.isfinite(r.seconds), r.seconds if math.isfinite(r.seconds) else 0.0))
    qualified = [r for r in rows if not r.is_reference and r.setting.replicate is None  # a replicate measures noise
                 and math.isfinite(r.seconds) and math.isfinite(r.metric(metric)) and r.metric(metric) >= threshold]
    return StudyTable(rows, reference.name, top_k, metric, float(threshold), qualified[0] if qualified else None)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


@dataclass(frozen=True)
class Analysis:
    """How the table is read: top-k size (None: a quarter of the architectures), the metric and its threshold."""

    top_k: int | None = None
    metric: str = "rho"
    threshold: float = DEFAULT_THRESHOLD


def analysed_table(results: Sequence[PairResult], settings: Sequence[Setting],
                   supernet_seconds: Mapping[str, float], analysis: Analysis) -> StudyTable:
    """The table of a study's results read as ``analysis`` says, ``settings[0]`` the reference; each inheritance
    setting's one-off cost is its supernet's training seconds (by :func:`supernet_key`)."""
    one_off = {s.name: supernet_seconds.get(supernet_key(s), 0.0) for s in settings if s.inherits}
    return study_table(results, settings, settings[0], top_k=analysis.top_k, metric=analysis.metric,
                       threshold=analysis.threshold, one_off_seconds=one_off)


__all__ = ["DEFAULT_THRESHOLD", "METRICS", "SYMBOLS", "Analysis", "SettingRow", "StudyTable", "analysed_table",
           "rank_correlations", "study_table", "top_k_overlap"]

"""Compare finished (or live) search runs: read them read-only, score them together, write the CSV and figure.

:func:`compare_runs` reads each run directory through
:class:`~nsganet.search.rundir.RunDirectory` (read-only, creating nothing, a
run still being written read as it stands) and hands the objective values to
:func:`nsganet.moo.comparison.compare`; :func:`write_comparison` writes
``compare.csv`` and ``compare.png`` into a folder outside the runs.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nsganet.errors import NsganetError
from nsganet.moo.comparison import Comparison, RunObjectives, compare
from nsganet.moo.front import objective_matrix
from nsganet.search.objectives import get_objective
from nsganet.search.rundir import RunDirectory, RunRecord
from nsganet.utils.files import atomic_write, printable_name

logger = logging.getLogger(__name__)

COMPARE_CSV, COMPARE_PNG = "compare.csv", "compare.png"
CSV_COLUMNS = ("run", "generation", "n_evaluated", "hypervolume", "igd_plus")
#: Config keys that should agree between compared runs (a difference is warned about, not refused).
_SAME_SETTING = ("space", "table", "metric", "dataset")


@dataclass(frozen=True)
class ComparedRun:
    """What the comparison shows of a run besides its quality: where it is, its seed and strategy, its progress."""

    path: Path
    name: str
    seed: int
    strategy: str
    space: str
    n_evaluated: int
    finished: bool


@dataclass
class RunComparison:
    """The compared runs (in the order given) and their :class:`~nsganet.moo.comparison.Comparison`."""

    runs: list[ComparedRun]
    result: Comparison

    @property
    def objectives(self) -> list[str]:
        return self.result.objectives

    @property
    def median(self) -> ComparedRun:
        return self.runs[self.result.median]


def compare_runs(paths: Sequence[str | Path]) -> RunComparison:
    """Read the run directories ``paths`` (without writing to them) and compare them on common bounds.

    Not a run, a damaged store, a run given twice, runs of different
    objectives, or a run without a successful evaluation is a one-line
    :class:`NsganetError`.
    """
    if not paths:
        raise NsganetError("give at least one run directory to compare")
    _refuse_repeats(paths)
    records = [RunDirectory(p).read() for p in paths]
    objectives = _common_objectives(records)
    _warn_differences(records)
    names = _names(paths)
    for record in records:
        if not record.ok:
            raise NsganetError(f"run {record.path} has no successful evaluation yet: nothing to compare")
    runs = [RunObjectives(name, _scored_matrix(r, objectives), [e.generation for e in r.evaluations])
            for name, r in zip(names, records)]
    result = compare(runs, objectives, _worst(records, objectives))
    compared = [ComparedRun(r.path, name, r.config.seed, r.config.strategy, r.config.space, len(r.evaluations),
                            r.finished) for name, r in zip(names, records)]
    return RunComparison(compared, result)


def _scored_matrix(record: RunRecord, objectives: Sequence[str]) -> np.ndarray:
    """A row per evaluation of ``record``; NaN where it failed, broke a constraint of the run or, in a
    multi-fidelity run, stopped early."""
    scored = {e.seq for e in record.feasible}
    F = objective_matrix(record.evaluations, objectives)
    F[[e.seq not in scored for e in record.evaluations]] = np.nan
    return F


def _worst(records: Sequence[RunRecord], objectives: Sequence[str]) -> list[float | None]:
    """Per objective, its known worst value, else the largest worst bound the runs recorded for their own
    hypervolume (e.g. the cost of the space's largest network), so that runs of one configuration score here as
    they did themselves; None where a run recorded none (the largest value seen counts then)."""
    worst: list[float | None] = []
    for name in objectives:
        known = getattr(get_objective(name), "worst", None)
        recorded = [_recorded_upper(r, name) for r in records]
        if known is not None or any(v is None for v in recorded):
            worst.append(known)
        else:
            worst.append(max(v for v in recorded if v is not None))
    return worst


def _recorded_upper(record: RunRecord, name: str) -> float | None:
    """The worst bound ``record`` recorded for objective ``name`` (None when it recorded none)."""
    try:
        value = record.hv_bounds["upper"][record.objectives.index(name)] if record.hv_bounds else None
    except (KeyError, IndexError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _refuse_repeats(paths: Sequence[str | Path]) -> None:
    seen: dict[Path, str | Path] = {}
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            raise NsganetError(f"run {p} is given twice (as {seen[key]} too): each run counts once")
        seen[key] = p


def _common_objectives(records: Sequence[RunRecord]) -> list[str]:
    """The first run's objectives, which every run must share (in any order)."""
    first = records[0]
    for record in records[1:]:
        if set(record.objectives) != set(first.objectives):
            raise NsganetError(f"runs of different objectives cannot be compared: {first.path} has "
                               f"{','.join(first.objectives)}, {record.path} has {','.join(record.objectives)}")
    return list(first.objectives)


def _warn_differences(records: Sequence[RunRecord]) -> None:
    """Warn where runs differ in what they searched or how they scored it (allowed, but rarely meant)."""
    for key in _SAME_SETTING:
        values = {str(r.raw_config.get(key)) for r in records}
        if len(values) > 1:
            logger.warning("the compared runs differ in %s: %s", key, ", ".join(sorted(values)))


def _names(paths: Sequence[str | Path]) -> list[str]:
    """Each run's folder name, or the path as given where two runs share a folder name."""
    names = [printable_name(Path(p).resolve().name or str(p)) for p in paths]
    return [name if names.count(name) == 1 else printable_name(str(p)) for name, p in zip(names, paths)]


def csv_text(comparison: RunComparison) -> str:
    """``compare.csv``: a row per run and generation (IGD+ empty where a generation has no front yet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for quality in comparison.result.runs:
        for g in quality.history:
            writer.writerow([quality.name, g.generation, g.n_evaluated, f"{g.hypervolume:.6g}",
                             "" if math.isnan(g.igd_plus) else f"{g.igd_plus:.6g}"])
    return buffer.getvalue()


def check_out(out: str | Path, comparison: RunComparison) -> Path:
    """The output folder, refused where it lies inside one of the runs (runs are only read)."""
    folder = Path(out).resolve()
    for run in comparison.runs:
        root = run.path.resolve()
        if folder == root or root in folder.parents:
            raise NsganetError(f"--out {out} lies inside the run {run.path}; compare writes outside the runs, "
                               "choose another folder")
    return folder


def write_comparison(comparison: RunComparison, out: str | Path) -> tuple[Path, Path]:
    """Write ``compare.csv`` and ``compare.png`` into ``out`` (created; never inside a run); their paths."""
    from nsganet.report.compare_plots import plot_comparison

    folder = check_out(out, comparison)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot create {out}: {exc.strerror or exc}") from None
    table = atomic_write(folder / COMPARE_CSV, csv_text(comparison))
    figure = plot_comparison(comparison.result, folder / COMPARE_PNG)
    return table, figure

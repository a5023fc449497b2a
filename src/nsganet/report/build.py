"""``nsganet report``: write a run's figures and its ``index.html`` into one folder.

Figures: the final non-dominated front (pairwise for 3+ objectives), the
fronts of successive generations, the hypervolume curve, the surrogate's
quality per iteration (NSGANetV2 runs), the operation frequency in the front
versus all evaluated architectures (NSGANetV1 Fig. 9a), parallel coordinates
of the objectives (NSGANetV1 Fig. 24) and drawings of up to
:data:`MAX_DRAWINGS` front architectures for spaces that can draw. A figure
that does not apply is left out with a note on the page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.errors import NsganetError
from nsganet.moo.front import front_of, objective_matrix
from nsganet.report import figures as figs
from nsganet.report.html import Figure, render_page
from nsganet.report.run_data import RunData, load_run
from nsganet.search.objectives import is_cost
from nsganet.spaces import DrawableSpace, genome_values
from nsganet.strategies import STRATEGIES
from nsganet.utils.files import atomic_write
from nsganet.utils.lock import locked

logger = logging.getLogger(__name__)

INDEX = "index.html"
#: Front architectures drawn at most (spread evenly along the front).
MAX_DRAWINGS = 8
#: Files a report writes; an earlier report's copies are removed first so that none goes stale.
REPORT_FILES = ("pareto_front.png", "fronts_by_generation.png", "hypervolume_curve.png", "predictor_quality.png",
                "operation_frequency.png", "parallel_coordinates.png", INDEX)
CELL_PATTERN = "cell_*.png"


@dataclass
class Report:
    """What :func:`write_report` wrote: the page, its figures, the notes on what was left out."""

    index: Path
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def predicted_objectives(objectives: Sequence[str]) -> list[str]:
    """The objectives a surrogate predicts: all but the costs measured from the network."""
    return [name for name in objectives if not is_cost(name)]


def surrogate_rows(stats: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per iteration with surrogate statistics: generation, model, winner, rmse, rho, tau (and per objective)."""
    rows = []
    for s in stats:
        strategy = s.get("strategy")
        surrogate = strategy.get("surrogate") if isinstance(strategy, dict) else None
        if not isinstance(surrogate, dict) or not any(k in surrogate for k in ("rmse", "rho", "tau")):
            continue
        rows.append({"generation": s.get("generation"), **surrogate})
    return [r for r in rows if isinstance(r["generation"], int)]


def _quality(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> tuple[list[str], list[dict[str, float]]]:
    """Names of the predicted objectives and, per row, ``"<name>.<metric>"`` values."""
    per = [r.get("per_objective") for r in rows]
    width = max((len(p) for p in per if isinstance(p, list)), default=1)
    labels = list(names[:width]) + [f"objective {i + 1}" for i in range(len(names), width)]
    quality = []
    for r, p in zip(rows, per):
        entries = p if isinstance(p, list) else [r]
        quality.append({f"{labels[i]}.{k}": float(v) for i, q in enumerate(entries) if isinstance(q, dict)
                        for k, v in q.items() if k in ("rmse", "rho", "tau") and isinstance(v, (int, float))})
    return labels, quality


def _operations(data: RunData, evaluations: Sequence[Any]) -> list[list[str]]:
    if data.space is None:
        return [genome_values(e.genome) for e in evaluations]
    return [data.space.operations(np.asarray(e.genome, dtype=np.int64)) for e in evaluations]


def _clean(out: Path) -> None:
    for name in REPORT_FILES:
        (out / name).unlink(missing_ok=True)
    for old in out.glob(CELL_PATTERN):
        old.unlink()


def write_report(run_dir: str | Path, out: str | Path | None = None, run_label: str | None = None) -> Report:
    """Write the report of the run in ``run_dir`` into ``out`` (default ``RUN/report``); returns what it wrote.

    ``run_label`` is how the page names the run in commands it suggests
    (default: ``run_dir`` as given).
    """
    start = time.perf_counter()
    data = load_run(run_dir)
    out = Path(out) if out is not None else data.record.directory.report_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    with locked(out, "nsganet report"):  # the report writes only here, never into the run it reads
        report = _write(data, out, str(run_dir) if run_label is None else run_label)
    report.seconds = time.perf_counter() - start
    logger.info("report of %s written to %s in %.1f s", data.path, out, report.seconds)
    return report


def _write(data: RunData, out: Path, run_label: str) -> Report:
    """Write the figures and the page of ``data`` into ``out`` (an earlier report's files removed first)."""
    try:
        _clean(out)
    except OSError as exc:
        raise NsganetError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    notes = list(data.notes)
    figures: list[Figure] = []
    objectives = data.objectives
    name = f"{data.config.space} / {data.config.strategy} / seed {data.config.seed}"
    ok = [e for e in data.scored if not np.isnan(objective_matrix([e], objectives)).any()]
    F = objective_matrix(ok, objectives)
    front = objective_matrix(data.front, objectives)
    if len(objectives) < 2:
        notes.append("the run has a single objective: there is no trade-off to plot")
    elif data.front:
        pairs = len(objectives) * (len(objectives) - 1) // 2
        figs.plot_pareto_front(F, front, objectives, out / "pareto_front.png", title=name)
        figures.append(Figure("pareto_front.png", "Non-dominated front" if pairs == 1 else "Pairwise fronts",
                              ("All successfully evaluated architectures (grey) and the non-dominated ones (red)"
                               + (f", for each pair of the {len(objectives)} objectives (projections of the front)"
                                  if pairs > 1 else "") + "."),
                              wide=pairs > 1))
        by_generation = []
        for g in data.generations:
            front_g = front_of([e for e in ok if e.generation <= g], objectives)
            by_generation.append((g, objective_matrix(front_g, objectives)))
        figs.plot_fronts_by_generation(by_generation, objectives, out / "fronts_by_generation.png", all_points=F,
                                       title=name)
        figures.append(Figure("fronts_by_generation.png", "Front per generation",
                              f"The non-dominated set after each of the {len(by_generation)} generation(s), "
                              f"{objectives[0]} against {objectives[1]}"
                              + (" (a projection of the 3+-objective front)" if len(objectives) > 2 else "")
                              + "; the last is drawn thickest."))
    curve = [(s.get("n_evaluated"), s.get("hypervolume")) for s in data.stats]
    curve = [(n, hv) for n, hv in curve if isinstance(n, int) and isinstance(hv, (int, float))]
    if curve:
        figs.plot_hypervolume_curve(*zip(*curve), out / "hypervolume_curve.png", title=name)
        figures.append(Figure("hypervolume_curve.png", "Hypervolume",
                              "Normalised hypervolume of the non-dominated set (objectives scaled by the "
                              "bounds in the stats files) after each generation."))
    else:
        notes.append("no hypervolume curve: the run has no per-generation statistics with a hypervolume yet")
    rows = surrogate_rows(data.stats)
    if rows:
        labels, quality = _quality(rows, predicted_objectives(objectives) or ["error"])
        figs.plot_predictor_quality([r["generation"] for r in rows], quality, out / "predictor_quality.png",
                                    names=labels, winners=[r.get("winner") for r in rows], title=name)
        figures.append(Figure("predictor_quality.png", "Surrogate quality per iteration",
                              "RMSE and rank correlations of the accuracy predictor's predictions for the "
                              "candidates of each iteration, measured once they were evaluated (NSGANetV2); "
                              "labels name the model an adaptive predictor chose.", wide=True))
    elif data.config.strategy in STRATEGIES and STRATEGIES.get(data.config.strategy).uses_surrogate:
        notes.append("no predictor-quality figure: the run has no surrogate iteration yet (only the design of "
                     "experiments)")
    else:
        notes.append(f"no predictor-quality figure: the {data.config.strategy} strategy uses no surrogate")
    if data.front:
        ops_all, ops_front = _operations(data, ok), _operations(data, data.front)
        shown = figs.plot_operation_frequency(figs.operation_shares(ops_front), figs.operation_shares(ops_all),
                                              out / "operation_frequency.png", n_front=len(data.front),
                                              n_evaluated=len(ok), title=name)
        kind = "operations" if data.space is not None else "genome values (the space is unknown)"
        figures.append(Figure("operation_frequency.png", "Operation frequency",
                              f"Share of each of the {len(shown)} {kind} among all choices of the non-dominated "
                              "architectures versus all successfully evaluated ones (NSGANetV1 Fig. 9a)."))
        figs.plot_parallel_coordinates(F, front, objectives, out / "parallel_coordinates.png", title=name)
        figures.append(Figure("parallel_coordinates.png", "Parallel coordinates",
                              "Every evaluated architecture (grey) and the non-dominated ones (coloured by "
                              f"{objectives[0]}) across all objectives; each axis spans the evaluated range "
                              "(NSGANetV1 Fig. 24)."))
        figures += _drawings(data, out, notes)
    else:
        notes.append("no front yet: the run has no successful evaluation")
    page = render_page(data, figures, notes, out, predictor_rows=rows, run_label=run_label)
    atomic_write(out / INDEX, page)
    return Report(out / INDEX, figures, notes)


def _drawings(data: RunData, out: Path, notes: list[str]) -> list[Figure]:
    """Drawings of up to :data:`MAX_DRAWINGS` front architectures, spread along the front."""
    space = data.space
    if space is None:
        return []
    if not isinstance(space, DrawableSpace):
        notes.append(f"no cell drawings: the {space.name} space cannot draw its architectures")
        return []
    picks = np.unique(np.linspace(0, len(data.front) - 1, min(MAX_DRAWINGS, len(data.front))).round().astype(int))
    drawn: list[Figure] = []
    for i in picks:
        e = data.front[int(i)]
        file = f"cell_{e.seq:05d}.png"
        space.draw(np.asarray(e.genome, dtype=np.int64), out / file)
        values = ", ".join(f"{n} {e.objectives[n]:.4g}" for n in data.objectives)
        drawn.append(Figure(file, f"Front architecture {int(i) + 1} of {len(data.front)} (evaluation {e.seq})",
                            f"{values}.", wide=True))
    if len(data.front) > len(picks):
        notes.append(f"{len(picks)} of the {len(data.front)} front architectures are drawn, spread along the front")
    return drawn

"""``nsganet report``: write a run's figures and its ``index.html`` into one folder.

Figures: the final non-dominated front (pairwise for 3+ objectives), the
fronts of successive generations, the hypervolume curve, the surrogate's
quality per iteration (NSGANetV2 runs), the operation frequency in the front
versus all evaluated architectures (NSGANetV1 Fig. 9a; per kind of choice
where a space's choices come in kinds), parallel coordinates of the
objectives (NSGANetV1 Fig. 24, with three objectives or more), drawings of up
to :data:`MAX_DRAWINGS` front architectures for spaces that can draw, and a
section per network exported from the run (its drawing, training curve and
test results). A figure that would carry no information for the run at hand
is left out with a one-line note on the page saying why. Objectives are
labelled with their units, and the page says what each measures
(:mod:`nsganet.report.context`).
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.errors import NsganetError
from nsganet.moo.front import front_of, objective_matrix
from nsganet.report import figures as figs
from nsganet.report.context import RunContext, resolve
from nsganet.report.html import WIDE_PIXELS, Figure, image_width, render_page
from nsganet.report.networks import PREFIX, exported_networks, networks_section
from nsganet.report.plots import axis_label
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
#: Fewest non-dominated architectures whose operation shares are worth a figure.
MIN_FRONT_FOR_FREQUENCY = 8
#: Fewest objectives parallel coordinates are drawn for (with two, the front figure shows it all).
MIN_OBJECTIVES_FOR_PARALLEL = 3
#: Files a report writes; an earlier report's copies are removed first so that none goes stale.
REPORT_FILES = ("pareto_front.png", "fronts_by_generation.png", "hypervolume_curve.png", "predictor_quality.png",
                "operation_frequency.png", "parallel_coordinates.png", INDEX)
#: Drawings of front architectures (``cell_*``: what earlier versions called them) and copied network figures.
PATTERNS = ("arch_*.png", "cell_*.png", f"{PREFIX}*.png")


@dataclass
class Report:
    """What :func:`write_report` wrote: the page, its figures, the notes on what was left out."""

    index: Path
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)
    context: RunContext | None = None
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
    for pattern in PATTERNS:
        for old in out.glob(pattern):
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
    context = resolve(data)
    if context.data is not None and context.data.error:
        notes.append(f"the dataset cannot be read here ({context.data.error}): the networks' shape is unknown")
    figures: list[Figure] = []
    objectives = data.objectives
    labels = [context.labels[n] for n in objectives]
    name = f"{data.config.space} / {data.config.strategy} / seed {data.config.seed}"
    ok = [e for e in data.scored if not np.isnan(objective_matrix([e], objectives)).any()]
    F = objective_matrix(ok, objectives)
    front = objective_matrix(data.front, objectives)
    feasible = {e.seq for e in data.record.feasible}
    if data.record.constraints:
        bounds = ", ".join(str(c) for c in data.record.constraints)
        notes.append(f"constraints {bounds}: {sum(e.seq in feasible for e in ok)} of {len(ok)} evaluated "
                     "architectures meet them; fronts and hypervolumes hold only those")
    if len(objectives) < 2:
        notes.append("the run has a single objective: there is no trade-off to plot")
    elif data.front:
        figures += _front_figures(data, ok, F, front, feasible, labels, name, out, notes)
    rows = surrogate_rows(data.stats)
    figures += _progress_figures(data, rows, name, out, notes)
    if data.front:
        figures += _frequency_figure(data, ok, name, out, notes)
        if len(objectives) >= MIN_OBJECTIVES_FOR_PARALLEL:
            figs.plot_parallel_coordinates(F, front, labels, out / "parallel_coordinates.png", title=name)
            figures.append(Figure("parallel_coordinates.png", "Parallel coordinates",
                                  "Every evaluated architecture (grey) and the non-dominated ones (coloured by "
                                  f"{labels[0]}) across all objectives; each axis spans the evaluated range "
                                  "(NSGANetV1 Fig. 24)."))
        elif len(objectives) == 2:
            notes.append("no parallel-coordinates figure: with two objectives the front figure shows the same")
        figures += _drawings(data, out, notes)
    else:
        notes.append("no front yet: the run has no successful evaluation")
    networks = exported_networks(data, out, notes)
    anchors = {n.spec["arch"]: n.anchor for n in networks}
    section = networks_section(data, networks, out, run_label)
    every = figures + [f for n in networks for f in n.figures]
    page = render_page(data, context, figures, notes, out, predictor_rows=rows, run_label=run_label,
                       networks=section, anchors=anchors, n_images=len(every))
    atomic_write(out / INDEX, page)
    return Report(out / INDEX, every, notes, context=context)


def _front_figures(data: RunData, ok: list[Any], F: np.ndarray, front: np.ndarray, feasible: set[int],
                   labels: list[str], name: str, out: Path, notes: list[str]) -> list[Figure]:
    """The front (pairwise for 3+ objectives) and, with two generations or more, the front per generation."""
    objectives = data.objectives
    pairs = len(objectives) * (len(objectives) - 1) // 2
    infeasible = np.array([e.seq not in feasible for e in ok], dtype=bool)
    figs.plot_pareto_front(F, front, labels, out / "pareto_front.png", title=name, infeasible=infeasible)
    figures = [Figure("pareto_front.png", "Non-dominated front" if pairs == 1 else "Pairwise fronts",
                      ("All successfully evaluated architectures (grey) and the non-dominated ones (red)"
                       + (f", for each pair of the {len(objectives)} objectives (projections of the front)"
                          if pairs > 1 else "") + "."), wide=pairs > 1)]
    if len(data.generations) < 2:
        notes.append("no front-per-generation figure: the run has a single generation")
        return figures
    by_generation = []
    for g in data.generations:
        front_g = front_of([e for e in ok if e.generation <= g and e.seq in feasible], objectives)
        by_generation.append((g, objective_matrix(front_g, objectives)))
    figs.plot_fronts_by_generation(by_generation, labels, out / "fronts_by_generation.png", all_points=F, title=name)
    figures.append(Figure("fronts_by_generation.png", "Front per generation",
                          f"The non-dominated set after each of the {len(by_generation)} generations, "
                          f"{labels[0]} against {labels[1]}"
                          + (" (a projection of the 3+-objective front)" if len(objectives) > 2 else "")
                          + "; the last is drawn thickest."))
    return figures


def _progress_figures(data: RunData, rows: list[dict[str, Any]], name: str, out: Path,
                      notes: list[str]) -> list[Figure]:
    """The hypervolume per generation and the surrogate's quality per iteration, where there are two points."""
    figures = []
    curve = [(s.get("n_evaluated"), s.get("hypervolume")) for s in data.stats]
    curve = [(n, hv) for n, hv in curve if isinstance(n, int) and isinstance(hv, (int, float))]
    if len(curve) >= 2:
        figs.plot_hypervolume_curve(*zip(*curve), out / "hypervolume_curve.png", title=name)
        figures.append(Figure("hypervolume_curve.png", "Hypervolume",
                              "Normalised hypervolume of the non-dominated set (objectives scaled by the "
                              "bounds in the stats files) after each generation."))
    else:
        notes.append("no hypervolume curve: the run has " + ("no per-generation statistics with a hypervolume yet"
                                                             if not curve else "a single generation"))
    if rows:
        labels, quality = _quality(rows, predicted_objectives(data.objectives) or ["error"])
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
    return figures


def _operations_doc(data: RunData) -> str:
    """What the space says its operation names are (the first paragraph of its ``operations``' docstring)."""
    if data.space is None:
        return ""
    doc = inspect.getdoc(type(data.space).operations) or ""
    doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc.split("\n\n")[0]).replace("``", "")
    return re.sub(r"\s+", " ", doc).strip()


def _frequency_figure(data: RunData, ok: list[Any], name: str, out: Path, notes: list[str]) -> list[Figure]:
    """How often each choice occurs in the front versus all evaluated architectures: per kind of choice where the
    space's choices come in kinds, else pooled; left out for fronts too small for shares to mean anything."""
    n = len(data.front)
    if n < MIN_FRONT_FOR_FREQUENCY:
        notes.append(f"no operation-frequency figure: the front has {n} architecture{'s' * (n != 1)}; shares of "
                     f"choices mean little below {MIN_FRONT_FOR_FREQUENCY}")
        return []
    ops_all, ops_front = _operations(data, ok), _operations(data, data.front)
    groups = figs.choice_kinds(name for ops in ops_all for name in ops)
    doc = _operations_doc(data)
    if data.space is not None and figs.by_kind(groups):
        figs.plot_choice_frequency(figs.operation_counts(ops_front), figs.operation_counts(ops_all), groups,
                                   out / "operation_frequency.png", n_front=n, n_evaluated=len(ok), title=name)
        return [Figure("operation_frequency.png", "Choice frequency per kind",
                       f"For each of the {len(groups)} kinds of choice (choices whose names differ only in their "
                       "numbers), the share of each choice among that kind's choices in the non-dominated "
                       "architectures versus all successfully evaluated ones. " + doc, wide=len(groups) > 1)]
    shown = figs.plot_operation_frequency(figs.operation_shares(ops_front), figs.operation_shares(ops_all),
                                          out / "operation_frequency.png", n_front=n, n_evaluated=len(ok),
                                          title=name)
    kind = "operations" if data.space is not None else "genome values (the space is unknown)"
    return [Figure("operation_frequency.png", "Operation frequency",
                   f"Share of each of the {len(shown)} {kind} among all choices of the non-dominated architectures "
                   f"versus all successfully evaluated ones (NSGANetV1 Fig. 9a). " + doc)]


def _drawings(data: RunData, out: Path, notes: list[str]) -> list[Figure]:
    """Drawings of up to :data:`MAX_DRAWINGS` front architectures, spread along the front."""
    space = data.space
    if space is None:
        return []
    if not isinstance(space, DrawableSpace):
        notes.append(f"no architecture drawings: the {space.name} space cannot draw its architectures")
        return []
    picks = np.unique(np.linspace(0, len(data.front) - 1, min(MAX_DRAWINGS, len(data.front))).round().astype(int))
    drawn: list[Figure] = []
    for i in picks:
        e = data.front[int(i)]
        file = f"arch_{e.seq:05d}.png"
        space.draw(np.asarray(e.genome, dtype=np.int64), out / file)
        values = ", ".join(f"{axis_label(n)} {e.objectives[n]:.4g}" for n in data.objectives)
        drawn.append(Figure(file, f"Front architecture {int(i) + 1} of {len(data.front)} (evaluation {e.seq})",
                            f"{values}.", wide=image_width(out / file) > WIDE_PIXELS))
    if len(data.front) > len(picks):
        notes.append(f"{len(picks)} of the {len(data.front)} front architectures are drawn, spread along the front")
    return drawn

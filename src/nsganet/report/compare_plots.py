"""The figure of a comparison of runs: hypervolume per generation, and the empirical attainment surfaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nsganet.moo.comparison import Comparison, attainment_levels
from nsganet.utils.plotting import pyplot, save_figure

#: Per-run labels in the legend up to this many runs (beyond, only the median run is named).
MAX_LABELLED_RUNS = 10
_SURFACE_STYLE = {"best": ("tab:green", "--"), "median": ("tab:red", "-"), "worst": ("tab:blue", ":")}


def plot_comparison(comparison: Comparison, path: str | Path, title: str = "") -> Path:
    """Left: normalised hypervolume against architectures evaluated, per run, the median run in bold.
    Right (two objectives): each run's final front faintly, and the best (1/n), median and worst (n/n)
    attainment surfaces as step lines."""
    plt = pyplot()
    two = bool(comparison.surfaces)
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(11 if two else 5.5, 4.2), squeeze=False)
    _plot_hypervolume(axes[0][0], comparison)
    if two:
        _plot_attainment(axes[0][1], comparison)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _plot_hypervolume(ax: Any, comparison: Comparison) -> None:
    labelled = len(comparison.runs) <= MAX_LABELLED_RUNS
    for i, run in enumerate(comparison.runs):
        x = [g.n_evaluated for g in run.history]
        y = [g.hypervolume for g in run.history]
        if i == comparison.median:
            ax.plot(x, y, "o-", c="tab:red", lw=2.2, ms=4, zorder=3, label=f"{run.name} (median)")
        else:
            ax.plot(x, y, "o-", lw=1, ms=2, alpha=0.55, label=run.name if labelled else None)
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("normalised hypervolume")
    ax.set_title(f"hypervolume per generation ({len(comparison.runs)} runs)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)


def _steps(points: np.ndarray, right: float, top: float) -> tuple[np.ndarray, np.ndarray]:
    """x (second objective) and y (first objective) of an attainment surface drawn as a staircase.

    The surface rises from ``top`` at its first point and runs out to ``right`` after its last one.
    """
    order = np.argsort(points[:, 1], kind="stable")
    x, y = points[order, 1], points[order, 0]
    return np.concatenate([[x[0]], x, [right]]), np.concatenate([[top], y, [y[-1]]])


def _plot_attainment(ax: Any, comparison: Comparison) -> None:
    fronts = [run.front for run in comparison.runs]
    allpoints = np.vstack(fronts)
    right, top = allpoints[:, 1].max(), allpoints[:, 0].max()
    pad_x, pad_y = 0.03 * (right - allpoints[:, 1].min() or 1.0), 0.03 * (top - allpoints[:, 0].min() or 1.0)
    right, top = right + pad_x, top + pad_y
    for front in fronts:
        ax.plot(*_steps(front, right, top), c="0.6", lw=0.7, alpha=0.45, drawstyle="steps-post")
        ax.scatter(front[:, 1], front[:, 0], s=6, c="0.6", alpha=0.45)
    n = len(comparison.runs)
    kinds: dict[int, list[str]] = {}
    for kind, k in zip(("best", "median", "worst"), attainment_levels(n)):
        kinds.setdefault(k, []).append(kind)
    for k, names in kinds.items():
        if k not in comparison.surfaces:
            continue
        color, style = _SURFACE_STYLE["median" if "median" in names else names[0]]
        ax.plot(*_steps(comparison.surfaces[k], right, top), c=color, ls=style, lw=1.8, drawstyle="steps-post",
                label=f"{'/'.join(names)} ({k}/{n})")
    ax.set_xlim(right=right)
    ax.set_ylim(top=top)
    ax.set_xlabel(comparison.objectives[1])
    ax.set_ylabel(comparison.objectives[0])
    ax.set_title("empirical attainment surfaces (final fronts in grey)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7)

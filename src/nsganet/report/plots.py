"""Matplotlib figures of a run: the Pareto front and the hypervolume curve; objectives labelled with their units."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.utils.plotting import pyplot, save_figure

#: Axis labels of the named objectives, with their units.
AXIS_LABELS = {"error": "error (%)", "flops": "flops (M MACs)", "params": "params (M)", "latency": "latency (ms)",
               "robustness": "robustness (100 - FGSM area, %)"}


def axis_label(name: str) -> str:
    """An objective's name with its unit, for axes and table heads (a name without a known unit as it is)."""
    return AXIS_LABELS.get(name, name)


def plot_front(F: np.ndarray, front: np.ndarray, objectives: Sequence[str], path: str | Path,
               title: str = "") -> None:
    """All evaluated architectures (grey) and the non-dominated ones (red), pairwise for 3+ objectives.

    With a single objective, the objective of each architecture in evaluation
    order and the best value so far.
    """
    plt = pyplot()
    m = len(objectives)
    if m == 1:
        _plot_single(plt, F[:, 0], front[:, 0], objectives[0], path, title)
        return
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs):
        ax.scatter(F[:, j], F[:, i], s=8, c="0.7", label=f"evaluated ({len(F)})")
        order = np.argsort(front[:, j])
        ax.plot(front[order, j], front[order, i], "o-", c="tab:red", ms=4, drawstyle="steps-post"
                if m == 2 else "default", label=f"non-dominated ({len(front)})")
        low, high = front[:, i].min(), front[:, i].max()
        top = high + 1.5 * max(high - low, 1e-9 + 0.05 * abs(high))
        if F[:, i].max() > top:  # keep the front legible; far-off architectures are cut off
            ax.set_ylim(top=top)
            ax.set_title(f"{int(np.sum(F[:, i] > top))} with {objectives[i]} > {top:.3g} not shown", fontsize=8)
        ax.set_xlabel(objectives[j])
        ax.set_ylabel(objectives[i])
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _plot_single(plt: Any, values: np.ndarray, best: np.ndarray, objective: str, path: str | Path,
                 title: str) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    order = np.arange(1, len(values) + 1)
    ax.scatter(order, values, s=8, c="0.6", label=f"evaluated ({len(values)})")
    ax.plot(order, np.minimum.accumulate(values), c="tab:red", drawstyle="steps-post",
            label=f"best so far ({best.min():.4g})")
    ax.set_xlabel("architectures evaluated, in order")
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_hypervolume(n_evaluated: Sequence[int], hypervolume: Sequence[float], path: str | Path,
                     title: str = "") -> None:
    """Normalised hypervolume of the non-dominated set against architectures evaluated."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(n_evaluated, hypervolume, "o-", ms=3)
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("normalised hypervolume")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)

"""The figures of a run report, each written as a PNG file (matplotlib, Agg backend).

Every function takes plain arrays or mappings, so it can be reused outside
reports: the fronts of successive generations, the surrogate's prediction
quality per iteration (NSGANetV2), the frequency of operations in the front
versus all evaluated architectures (NSGANetV1 Fig. 9a; per kind of choice for
spaces whose choices come in kinds, e.g. kernel sizes and depths) and parallel
coordinates of all objectives (NSGANetV1 Fig. 24). The objective names they
are given are used as axis labels (give them with their units).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.utils.plotting import pyplot, save_figure

DPI = 110
#: Most bars an operation-frequency chart shows (the most frequent overall).
MAX_OPERATIONS = 40


def plot_pareto_front(F: np.ndarray, front: np.ndarray, objectives: Sequence[str], path: str | Path,
                      title: str = "", infeasible: np.ndarray | None = None) -> None:
    """All evaluated architectures (grey) and the non-dominated ones (red): one panel per pair of objectives.

    With two objectives the front is joined as a staircase; with more, each
    panel is a projection of the front, so its points are not joined.
    ``infeasible`` (a mask over the rows of ``F``) marks the architectures that
    break a constraint of the run: drawn as crosses, never on the front.
    """
    plt = pyplot()
    m = len(objectives)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    size = (6.4, 4.4) if m == 2 else (4.6, 4.0)
    columns = min(len(pairs), 3)
    rows = -(-len(pairs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    for ax, (i, j) in zip(axes.flat, pairs):
        if infeasible is not None and infeasible.any():
            ax.scatter(F[~infeasible, j], F[~infeasible, i], s=9, c="0.72",
                       label=f"feasible ({int((~infeasible).sum())})", zorder=1)
            ax.scatter(F[infeasible, j], F[infeasible, i], s=12, c="0.55", marker="x", linewidths=0.7,
                       label=f"break a constraint ({int(infeasible.sum())})", zorder=1)
        else:
            ax.scatter(F[:, j], F[:, i], s=9, c="0.72", label=f"evaluated ({len(F)})", zorder=1)
        if m == 2:
            order = np.argsort(front[:, j], kind="stable")
            ax.plot(front[order, j], front[order, i], "o-", c="tab:red", ms=4, drawstyle="steps-post",
                    label=f"non-dominated ({len(front)})", zorder=2)
        else:
            ax.scatter(front[:, j], front[:, i], s=18, c="tab:red", label=f"non-dominated ({len(front)})", zorder=2)
        low, high = front[:, i].min(), front[:, i].max()
        top = high + 1.5 * max(high - low, 1e-9 + 0.05 * abs(high))
        if len(F) and F[:, i].max() > top:  # keep the front legible; far-off architectures are cut off
            ax.set_ylim(top=top)
            ax.text(0.99, 0.01, f"{int(np.sum(F[:, i] > top))} with {objectives[i]} > {top:.3g} not shown",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
        ax.set_xlabel(objectives[j])
        ax.set_ylabel(objectives[i])
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)


def plot_hypervolume_curve(n_evaluated: Sequence[int], hypervolume: Sequence[float], path: str | Path,
                           title: str = "") -> None:
    """Normalised hypervolume of the non-dominated set against architectures evaluated, one point per generation."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(n_evaluated, hypervolume, "o-", ms=4, color="tab:blue")
    ax.set_xlabel("architectures evaluated")
    ax.set_ylabel("normalised hypervolume")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)


def plot_fronts_by_generation(fronts: Sequence[tuple[int, np.ndarray]], objectives: Sequence[str],
                              path: str | Path, all_points: np.ndarray | None = None, title: str = "") -> None:
    """The non-dominated set after each generation, one colour per generation (early light, the last dark).

    ``fronts`` holds ``(generation, F)`` pairs, F's columns the objectives; the
    first objective is drawn against the second (for 3+ objectives a
    projection, drawn as points only). ``all_points`` (evaluated architectures) are drawn in light grey.
    """
    plt = pyplot()
    from matplotlib import cm, colors

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if all_points is not None and len(all_points):
        ax.scatter(all_points[:, 1], all_points[:, 0], s=7, c="0.85", zorder=1, label="evaluated")
    generations = [g for g, _ in fronts]
    norm = colors.Normalize(vmin=min(generations), vmax=max(max(generations), min(generations) + 1))
    cmap = colors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0.8, 0.0, 256)))  # green to dark purple
    for g, F in fronts:
        if not len(F):
            continue
        last = g == generations[-1]
        if len(objectives) == 2:
            order = np.argsort(F[:, 1], kind="stable")
            ax.plot(F[order, 1], F[order, 0], "o-", color=cmap(norm(g)), ms=4 if last else 3,
                    lw=1.8 if last else 0.9, drawstyle="steps-post", zorder=2 + g, alpha=1.0 if last else 0.75)
        else:  # a projection of a 3+-objective front: points only
            ax.scatter(F[:, 1], F[:, 0], s=22 if last else 12, color=cmap(norm(g)), zorder=2 + g,
                       edgecolors="black" if last else "none", linewidths=0.5)
    scale = cm.ScalarMappable(norm=norm, cmap=cmap)
    scale.set_array([])
    bar = fig.colorbar(scale, ax=ax)
    bar.set_label("generation")
    if len(generations) <= 12:
        bar.set_ticks(generations)
    else:
        from matplotlib.ticker import MaxNLocator

        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    ax.set_xlabel(objectives[1])
    ax.set_ylabel(objectives[0])
    ax.grid(alpha=0.3)
    finals = fronts[-1][1]
    if len(finals):  # keep the fronts legible: far-off evaluated architectures are cut off
        low, high = finals[:, 0].min(), max(F[:, 0].max() for _, F in fronts if len(F))
        top = high + 0.15 * max(high - low, 1e-9 + 0.05 * abs(high))
        if all_points is not None and len(all_points) and all_points[:, 0].max() > top:
            ax.set_ylim(top=top)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)


def plot_predictor_quality(iterations: Sequence[int], quality: Sequence[dict[str, float]],
                           path: str | Path, names: Sequence[str] = ("error",),
                           winners: Sequence[str | None] = (), title: str = "") -> None:
    """RMSE (left) and rank correlations Kendall tau / Spearman rho (right) of the surrogate per iteration.

    ``quality[i]`` maps ``"<name>.rmse"``, ``"<name>.rho"`` and ``"<name>.tau"``
    for each predicted objective in ``names``; ``winners`` (the model an
    adaptive-switching predictor picked) label the RMSE points.
    """
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.asarray(iterations)
    palette = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        colour = palette(i % 10)
        rmse = [q.get(f"{name}.rmse", np.nan) for q in quality]
        left.plot(x, rmse, "o-", color=colour, ms=4, label=name)
        for marker, key, label in (("o", "tau", "Kendall τ"), ("s", "rho", "Spearman ρ")):
            values = [q.get(f"{name}.{key}", np.nan) for q in quality]
            right.plot(x, values, marker + ("-" if key == "tau" else "--"), color=colour, ms=4,
                       label=label if len(names) == 1 else f"{label} ({name})")
        if i == 0 and winners:
            for xi, yi, winner in zip(x, rmse, winners):
                if winner and np.isfinite(yi):
                    left.annotate(str(winner), (xi, yi), textcoords="offset points", xytext=(0, 6), fontsize=7,
                                  ha="center", color="0.35")
    left.set_xlabel("iteration")
    left.set_ylabel("RMSE on the new candidates")
    left.set_ylim(bottom=0)
    right.set_xlabel("iteration")
    right.set_ylabel("rank correlation")
    right.set_ylim(-1.05, 1.05)
    right.axhline(0, color="0.6", lw=0.8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if len(x) <= 20:
            ax.set_xticks(x)
    if len(names) > 1:
        left.legend(fontsize=8)
    right.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)


def _natural_key(text: str) -> list[Any]:
    """Sort key that orders embedded numbers numerically: k3 < k5 < k7, r96 < r128."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def operation_counts(operations: Iterable[Sequence[str]]) -> Counter[str]:
    """How often each operation occurs over architectures given as lists of operations."""
    counts: Counter[str] = Counter()
    for ops in operations:
        counts.update(ops)
    return counts


def operation_shares(operations: Iterable[Sequence[str]]) -> dict[str, float]:
    """Each operation's share of all operation slots (the shares sum to 1; empty input gives {})."""
    counts = operation_counts(operations)
    total = sum(counts.values())
    return {name: count / total for name, count in counts.items()} if total else {}


def plot_operation_frequency(front: dict[str, float], evaluated: dict[str, float], path: str | Path,
                             n_front: int = 0, n_evaluated: int = 0, title: str = "") -> list[str]:
    """Share of each operation in the front versus all evaluated architectures (NSGANetV1 Fig. 9a).

    Operations are listed in natural order (at most :data:`MAX_OPERATIONS`,
    the most frequent overall). Returns the operations shown.
    """
    plt = pyplot()
    names = sorted(set(front) | set(evaluated), key=_natural_key)
    if len(names) > MAX_OPERATIONS:
        keep = set(sorted(names, key=lambda n: -(evaluated.get(n, 0) + front.get(n, 0)))[:MAX_OPERATIONS])
        names = [n for n in names if n in keep]
    y = np.arange(len(names))
    height = 0.4
    fig, ax = plt.subplots(figsize=(7.2, max(2.8, 0.32 * len(names) + 1.6)), layout="constrained")
    ax.barh(y - height / 2, [100 * evaluated.get(n, 0) for n in names], height, color="0.65",
            label=f"all evaluated ({n_evaluated})")
    ax.barh(y + height / 2, [100 * front.get(n, 0) for n in names], height, color="tab:red",
            label=f"non-dominated ({n_front})")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of all operations (%)")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.legend(fontsize=8, loc="outside lower center", ncol=2, frameon=False)
    save_figure(fig, path, dpi=DPI)
    return names


def choice_kinds(names: Iterable[str]) -> dict[str, list[str]]:
    """Choice names grouped by kind: names that differ only in their numbers (``k3``, ``k5``, ``k7``) are one kind.

    Keys are the names with every number replaced by ``#``; each group is in natural order.
    """
    groups: dict[str, list[str]] = {}
    for name in sorted(set(names), key=_natural_key):
        groups.setdefault(re.sub(r"\d+(?:\.\d+)?", "#", name), []).append(name)
    return groups


def by_kind(groups: dict[str, list[str]]) -> bool:
    """Whether choices are better shown per kind: two kinds or more, each with two choices or more (a pooled
    chart would compare shares of unrelated choices, e.g. kernel sizes with depths)."""
    return len(groups) >= 2 and all(len(members) >= 2 for members in groups.values())


def plot_choice_frequency(front: Counter[str], evaluated: Counter[str], groups: dict[str, list[str]],
                          path: str | Path, n_front: int = 0, n_evaluated: int = 0, title: str = "") -> None:
    """One panel per kind of choice: each choice's share among the choices of its kind, in the front versus all
    evaluated architectures (``front`` and ``evaluated`` count every choice's uses)."""
    plt = pyplot()
    kinds = list(groups.items())
    columns = min(len(kinds), 2)
    rows = -(-len(kinds) // columns)
    tallest = max(len(members) for _, members in kinds)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, rows * (0.3 * tallest + 1.5) + 0.6),
                             squeeze=False, layout="constrained")
    for ax in axes.flat[len(kinds):]:
        ax.axis("off")
    height = 0.4
    for ax, (_, members) in zip(axes.flat, kinds):
        y = np.arange(len(members))
        for counts, offset, colour, label in ((evaluated, -height / 2, "0.65", f"all evaluated ({n_evaluated})"),
                                              (front, height / 2, "tab:red", f"non-dominated ({n_front})")):
            total = sum(counts[m] for m in members) or 1
            ax.barh(y + offset, [100 * counts[m] / total for m in members], height, color=colour, label=label)
        ax.set_yticks(y)
        ax.set_yticklabels(members, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(" / ".join(members) if len(members) <= 6 else f"{members[0]} ... {members[-1]}", fontsize=9)
        ax.set_xlabel("share within this kind (%)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=2, frameon=False)
    save_figure(fig, path, dpi=DPI)


def _ticks(low: float, high: float) -> list[float]:
    """About five round tick values within [low, high]."""
    from matplotlib.ticker import MaxNLocator

    if not high > low:
        return [low]
    return [t for t in MaxNLocator(nbins=5).tick_values(low, high) if low - 1e-12 <= t <= high + 1e-12]


def plot_parallel_coordinates(F: np.ndarray, front: np.ndarray, objectives: Sequence[str], path: str | Path,
                              title: str = "") -> None:
    """Parallel coordinates of all objectives (NSGANetV1 Fig. 24): every evaluated architecture in grey,
    the non-dominated ones coloured by the first objective.

    Each axis is normalised to the range of the evaluated values and labelled
    with real values.
    """
    plt = pyplot()
    m = len(objectives)
    low = F.min(axis=0) if len(F) else np.zeros(m)
    high = F.max(axis=0) if len(F) else np.ones(m)
    span = np.where(high > low, high - low, 1.0)
    x = np.arange(m)
    fig, ax = plt.subplots(figsize=(max(6.4, 2.2 * m + 1.5), 4.4))
    for row in (F - low) / span:
        ax.plot(x, row, color="0.75", lw=0.6, alpha=0.6, zorder=1)
    if len(front):
        cmap = plt.get_cmap("plasma")
        first = front[:, 0]
        shade = (first - first.min()) / (np.ptp(first) or 1.0)
        for row, s in zip((front - low) / span, shade):
            ax.plot(x, row, color=cmap(0.85 * s), lw=1.8, marker="o", ms=3, zorder=3)
    for j in range(m):
        ax.axvline(j, color="0.2", lw=1.0, zorder=2)
        side = 1 if j == m - 1 and m > 1 else -1  # labels outside the plot on the last axis
        for tick in _ticks(float(low[j]), float(high[j])):
            pos = (tick - low[j]) / span[j]
            ax.plot([j, j + 0.03 * side], [pos, pos], color="0.2", lw=1.0, zorder=2)
            ax.text(j + 0.05 * side, pos, f"{tick:.4g}", ha="left" if side > 0 else "right", va="center",
                    fontsize=7, color="0.25")
    ax.set_xticks(x)
    ax.set_xticklabels(objectives)
    ax.set_xlim(-0.45, m - 1 + 0.45)
    ax.set_ylim(-0.04, 1.04)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.plot([], [], color="0.75", label=f"evaluated ({len(F)})")
    ax.plot([], [], color=plt.get_cmap("plasma")(0.4), lw=1.8, label=f"non-dominated ({len(front)}), "
            f"coloured by {objectives[0]}")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI)

"""The figure of a proxy-fidelity study (``study.png``), in the spirit of NSGANetV1 Fig. 12b-d.

Settings run along the x-axis, cheapest first: their cost per architecture
as bars on the right y-axis, their rank correlation with the reference
(Spearman ρ and Kendall τ) as lines with markers on the left one, with the
threshold a recommended setting must reach.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nsganet.proxy_study import STUDY_PNG, ProxyStudyResult, RunningStudy, StudyCallback, StudyTable
from nsganet.proxy_study.table import SYMBOLS
from nsganet.utils.plotting import pyplot, save_figure


def plot_proxy_study(table: StudyTable, path: str | Path, title: str = "") -> Path:
    """Draw ``table``: cost bars (right axis) and ρ, τ lines (left axis) per setting, cheapest first."""
    plt = pyplot()
    rows = table.rows
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) + 2.5), 4.5))
    cost = ax.twinx()
    ax.set_zorder(cost.get_zorder() + 1)  # the lines over the bars
    ax.patch.set_visible(False)
    seconds = [r.seconds if math.isfinite(r.seconds) else 0.0 for r in rows]
    colors = ["0.55" if r.is_reference else "tab:orange" if r is table.recommended else "tab:blue" for r in rows]
    bars = cost.bar(x, seconds, width=0.6, color=colors, alpha=0.35, label="seconds per architecture")
    for bar, row in zip(bars, rows):
        if math.isfinite(row.relative_cost):
            cost.annotate(f"{row.relative_cost:.2f}×", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=7, color="0.3")
    cost.set_ylabel("seconds per architecture (bars)")
    cost.set_ylim(0, max([*seconds, 1e-09]) * 1.2)
    for metric, style in (("rho", "o-"), ("tau", "s--")):
        values = [r.metric(metric) for r in rows]
        ax.plot(x, [v if math.isfinite(v) else math.nan for v in values], style, ms=5,
                color="tab:red" if metric == "rho" else "tab:purple",
                label=f"{SYMBOLS[metric]} vs reference")
    ax.axhline(table.threshold, color="tab:red" if table.metric == "rho" else "tab:purple", ls=":", lw=1,
               label=f"threshold {SYMBOLS[table.metric]} ≥ {table.threshold:g}")
    ax.set_ylabel("rank correlation with the reference (lines)")
    ax.set_ylim(min(-0.05, min((r.metric(m) for r in rows for m in ("rho", "tau")
                                if math.isfinite(r.metric(m))), default=0.0) - 0.05), 1.08)
    labels = [_label(r, table) for r in rows]
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("setting (cheapest first)")
    ax.grid(alpha=0.3, axis="y")
    handles, names = ax.get_legend_handles_labels()
    bar_handles, bar_names = cost.get_legend_handles_labels()
    ax.legend(handles + bar_handles, names + bar_names, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncol=4,
              fontsize=7, frameon=False)  # above the axes: the lines and bars may fill any corner
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _label(row: Any, table: StudyTable) -> str:
    label = row.setting.label
    if row.is_reference:
        return f"{label}\n(reference)"
    return f"{label}\n(recommended)" if row is table.recommended else label


class StudyPlot(StudyCallback):
    """Draws ``study.png`` into the study folder when the study ends."""

    def on_study_end(self, study: RunningStudy, result: ProxyStudyResult) -> None:
        config = result.config
        title = (f"{config.space} on {config.dataset}: {config.archs} architectures, seed {config.seed}, "
                 f"top-{result.table.top_k}")
        plot_proxy_study(result.table, result.out / STUDY_PNG, title=title)


__all__ = ["StudyPlot", "plot_proxy_study"]

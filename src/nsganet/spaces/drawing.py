"""Drawings of cells: inputs on the left, nodes by depth, operations on the edges."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from nsganet.utils.plotting import pyplot, save_figure

Node = tuple[int, str, int, str]  # (input_a, op_a, input_b, op_b), inputs numbered chronologically


def _label(index: int) -> str:
    return "h(i-2)" if index == 0 else "h(i-1)" if index == 1 else f"node {index - 2}"


def _layout(nodes: Sequence[Node]) -> dict[int, tuple[float, float]]:
    """Inputs stacked on the left, node k in column k + 1, zig-zagging up and down to spread the edges."""
    pos = {0: (0.0, 1.0), 1: (0.0, -1.0)}
    for k in range(len(nodes)):
        pos[2 + k] = (float(k + 1), 1.4 if k % 2 == 0 else -1.4)
    return pos


def draw_cell(ax, nodes: Sequence[Node], title: str) -> None:
    """Draw one cell on a matplotlib axis."""
    pos = _layout(nodes)
    read = {a for a, _, _, _ in nodes} | {b for _, _, b, _ in nodes}
    out_x = max(x for x, _ in pos.values()) + 1.2
    pos[-1] = (out_x, 0.0)
    for k, (a, op_a, b, op_b) in enumerate(nodes):
        target = 2 + k
        for offset, (source, op) in zip((0.12, -0.12), ((a, op_a), (b, op_b))):
            (x0, y0), (x1, y1) = pos[source], pos[target]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "0.4", "shrinkA": 14, "shrinkB": 14,
                                    "connectionstyle": f"arc3,rad={offset}"})
            ax.text(x0 + 0.68 * (x1 - x0), y0 + 0.68 * (y1 - y0) + offset, op, fontsize=7, ha="center",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    for k in range(len(nodes)):
        if 2 + k not in read:
            (x0, y0), (x1, y1) = pos[2 + k], pos[-1]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "tab:green", "shrinkA": 14, "shrinkB": 14})
    for index, (x, y) in pos.items():
        colour = "tab:blue" if index in (0, 1) else "tab:green" if index == -1 else "tab:orange"
        ax.text(x, y, "concat" if index == -1 else _label(index), ha="center", va="center", fontsize=8,
                color="white", bbox={"boxstyle": "round,pad=0.35", "fc": colour, "ec": "none"})
    ys = [y for _, y in pos.values()]
    ax.set_xlim(-0.6, out_x + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_title(title)
    ax.axis("off")


def draw_cells(cells: dict[str, Sequence[Node]], path: str | Path, title: str = "") -> None:
    """Draw every cell of an architecture side by side into an image file."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cells), figsize=(6.5 * len(cells), 4.2), squeeze=False)
    for ax, (name, nodes) in zip(axes[0], cells.items()):
        draw_cell(ax, nodes, f"{name} cell")
    if title:
        fig.suptitle(textwrap.fill(title, 180), fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)

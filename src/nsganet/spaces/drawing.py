"""Architecture drawings: labelled boxes joined by arrows, laid out in inches so that no text overlaps.

A drawable space (:class:`~nsganet.spaces.base.DrawableSpace`) decodes a genome
into plain values and hands them to one of the drawings below; each describes
the architecture as :class:`Panel`\\ s (a cell, a phase, a network) of
:class:`Box`\\ es (inputs, operations, nodes, layers) placed in columns and
:class:`Arrow`\\ s between them. :func:`render` measures every label with
matplotlib's renderer, makes each column as wide as its widest box, and draws
the panels one below the other at one data unit per inch: labels keep their
font size whatever the architecture, operations sit in boxes of their own
(never on top of an edge or a node), and titles wrap to the figure's width.

- :func:`draw_micro`: NSGANetV1 cells, each node the sum of two operations on earlier outputs;
- :func:`draw_nb201`: the NAS-Bench-201 cell, four nodes and an operation on each of its six edges;
- :func:`draw_macro`: Genetic CNN phases, the convolution nodes and their connections per phase;
- :func:`draw_mobilenetv3`: the network's stages, their active layers (kernel, expansion) and resolutions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.utils.plotting import pyplot, save_figure

#: Font sizes (points) of box labels and of titles.
FONT, TITLE_FONT = 9.0, 10.0
#: Inches between a label and its box's border, around panels, between panels.
PAD, MARGIN, SPACING = 0.06, 0.2, 0.25
DPI = 110
LINE_SPACING = 1.15

#: Box styles: face colour, edge colour, text colour, line style.
STYLES: dict[str, dict[str, Any]] = {
    "input": {"fc": "#1f6fb2", "ec": "none", "color": "white"},
    "node": {"fc": "#d35400", "ec": "none", "color": "white"},
    "output": {"fc": "#2e8b57", "ec": "none", "color": "white"},
    "conv": {"fc": "#fde8d0", "ec": "#c98a4b", "color": "#1f2933"},
    "pool": {"fc": "#dcebf7", "ec": "#6a9bc3", "color": "#1f2933"},
    "skip": {"fc": "#eceff1", "ec": "#90a4ae", "color": "#1f2933"},
    "op": {"fc": "#e9e1f5", "ec": "#9b84c4", "color": "#1f2933"},
    "none": {"fc": "white", "ec": "#9aa5b1", "color": "#7b8794", "ls": "--"},
    "inactive": {"fc": "#f5f7fa", "ec": "#bcccdc", "color": "#8a99a8", "ls": "--"},
    "layer3": {"fc": "#fdebd3", "ec": "#d9a066", "color": "#1f2933"},
    "layer4": {"fc": "#f9c98f", "ec": "#c98a4b", "color": "#1f2933"},
    "layer6": {"fc": "#ef9a4a", "ec": "#b06a2a", "color": "#1f2933"},
    "stage": {"fc": "#f7f9fb", "ec": "#7b8794", "color": "#1f2933"},
    "label": {"fc": "white", "ec": "none", "color": "#5b4a8a"},
}
#: Arrow styles: colour, line style, width.
ARROWS: dict[str, dict[str, Any]] = {
    "data": {"color": "#52606d", "ls": "-", "lw": 1.1},
    "output": {"color": "#2e8b57", "ls": "-", "lw": 1.3},
    "skip": {"color": "#7e57c2", "ls": "--", "lw": 1.3},
    "none": {"color": "#bcccdc", "ls": "--", "lw": 1.0},
}


@dataclass
class Box:
    """A label in a box: ``column`` places it left to right, ``y`` (inches) bottom to top."""

    key: str
    text: str
    column: int
    y: float
    style: str = "op"


@dataclass
class Arrow:
    """An arrow from box ``source`` to box ``target``; ``bend`` inches to the left of its direction (0: straight);
    a ``label`` sits in a box of its own at the arrow's farthest point."""

    source: str
    target: str
    style: str = "data"
    bend: float = 0.0
    label: str = ""


@dataclass
class Panel:
    """One graph of the drawing, under its own title; ``gap`` inches between neighbouring columns."""

    title: str
    boxes: list[Box]
    arrows: list[Arrow] = field(default_factory=list)
    gap: float = 0.35


def op_style(name: str) -> str:
    """The box style of an operation name: convolutions, pooling, identity/skip, ``none`` or another."""
    if name == "none":
        return "none"
    if name in ("identity", "skip_connect"):
        return "skip"
    if "pool" in name:
        return "pool"
    return "conv" if "conv" in name else "op"


def split_name(name: str, width: int = 8) -> str:
    """A long operation name on two lines, broken at its last underscore (``sep_conv_3x3``: ``sep_conv`` and
    ``3x3``)."""
    if len(name) <= width or "_" not in name:
        return name
    head, _, tail = name.rpartition("_")
    return f"{head}\n{tail}"


@functools.lru_cache(maxsize=4096)
def text_size(text: str, size: float = FONT, weight: str = "normal") -> tuple[float, float]:
    """Width and height in inches of ``text`` as matplotlib draws it (one line or several)."""
    pyplot()  # the Agg back-end, quiet
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=72)
    renderer = FigureCanvasAgg(fig).get_renderer()
    extent = fig.text(0, 0, text, fontsize=size, fontweight=weight, linespacing=LINE_SPACING).get_window_extent(
        renderer)
    return extent.width / 72, extent.height / 72


def box_size(text: str) -> tuple[float, float]:
    """Width and height in inches of the box around a label."""
    w, h = text_size(text)
    return w + 2 * PAD, h + 2 * PAD


def _pieces(word: str, width: float, size: float, weight: str) -> list[str]:
    """A word too wide for one line, cut after its separators (``+``, ``|``, ``;``, ``,``) into pieces that fit."""
    if text_size(word, size, weight)[0] <= width:
        return [word]
    parts, start = [], 0
    for i, char in enumerate(word):
        if char in "+|;,":
            parts.append(word[start:i + 1])
            start = i + 1
    parts.append(word[start:])
    out, line = [], ""
    for part in filter(None, parts):
        if line and text_size(line + part, size, weight)[0] > width:
            out.append(line)
            line = part
        else:
            line += part
    return [*out, line]


def wrap(text: str, width: float, size: float = TITLE_FONT, weight: str = "normal") -> str:
    """``text`` broken at spaces (a word wider than a line: after its separators) into lines at most ``width``
    inches wide."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in (p for w in paragraph.split(" ") for p in _pieces(w, width, size, weight)):
            candidate = f"{line} {word}" if line else word
            if line and text_size(candidate, size, weight)[0] > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


@dataclass
class _Placed:
    """A panel laid out: box centres and sizes, its width and vertical extent (inches)."""

    panel: Panel
    centres: dict[str, tuple[float, float]]
    sizes: dict[str, tuple[float, float]]
    width: float
    low: float
    high: float


def _apex(a: tuple[float, float], b: tuple[float, float], bend: float) -> tuple[float, float]:
    """The farthest point of an arrow from ``a`` to ``b`` bent ``bend`` inches to its left."""
    (x0, y0), (x1, y1) = a, b
    length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
    return (x0 + x1) / 2 - bend * (y1 - y0) / length, (y0 + y1) / 2 + bend * (x1 - x0) / length


def _place(panel: Panel) -> _Placed:
    sizes = {b.key: box_size(b.text) for b in panel.boxes}
    columns = sorted({b.column for b in panel.boxes})
    widths = {c: max(sizes[b.key][0] for b in panel.boxes if b.column == c) for c in columns}
    x, centre_x = MARGIN, {}
    for c in columns:
        centre_x[c] = x + widths[c] / 2
        x += widths[c] + panel.gap
    centres = {b.key: (centre_x[b.column], b.y) for b in panel.boxes}
    low = min(b.y - sizes[b.key][1] / 2 for b in panel.boxes)
    high = max(b.y + sizes[b.key][1] / 2 for b in panel.boxes)
    for arrow in panel.arrows:
        if arrow.bend:
            _, y = _apex(centres[arrow.source], centres[arrow.target], arrow.bend)
            half = box_size(arrow.label)[1] / 2 if arrow.label else 0.0
            low, high = min(low, y - half), max(high, y + half)
    return _Placed(panel, centres, sizes, x - panel.gap + MARGIN, low - MARGIN / 2, high + MARGIN / 2)


def _draw_box(ax: Any, x: float, y: float, size: tuple[float, float], text: str, style: str) -> Any:
    from matplotlib.patches import FancyBboxPatch

    look = STYLES[style]
    w, h = size
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.05",
                           fc=look["fc"], ec=look["ec"], ls=look.get("ls", "-"), lw=1.0, zorder=2)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=FONT, color=look["color"], linespacing=LINE_SPACING,
            zorder=3)
    return patch


def _draw_panel(ax: Any, placed: _Placed) -> None:
    from matplotlib.patches import FancyArrowPatch

    patches = {b.key: _draw_box(ax, *placed.centres[b.key], placed.sizes[b.key], b.text, b.style)
               for b in placed.panel.boxes}
    for arrow in placed.panel.arrows:
        a, b = placed.centres[arrow.source], placed.centres[arrow.target]
        length = max(((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5, 1e-9)
        look = ARROWS[arrow.style]
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>,head_length=5,head_width=2.5",
                                     connectionstyle=f"arc3,rad={-2 * arrow.bend / length:.4f}",
                                     patchA=patches[arrow.source], patchB=patches[arrow.target], shrinkA=1,
                                     shrinkB=1, color=look["color"], ls=look["ls"], lw=look["lw"], zorder=1))
        if arrow.label:
            _draw_box(ax, *_apex(a, b, arrow.bend), box_size(arrow.label), arrow.label, "label")
    ax.set_xlim(0, placed.width)
    ax.set_ylim(placed.low, placed.high)
    ax.axis("off")


def figure(panels: Sequence[Panel], title: str = "", min_width: float = 6.0) -> Any:
    """The matplotlib figure of ``panels`` stacked top to bottom under ``title`` (one data unit = one inch)."""
    plt = pyplot()
    placed = [_place(p) for p in panels]
    width = max([min_width, *(p.width for p in placed)])
    title = wrap(title, width - 2 * MARGIN, weight="bold") if title else ""
    titles = [wrap(p.panel.title, width - 2 * MARGIN) if p.panel.title else "" for p in placed]
    title_h = text_size(title, TITLE_FONT, "bold")[1] + SPACING if title else 0.0
    heights = [(text_size(t, TITLE_FONT)[1] + 0.08 if t else 0.0) + p.high - p.low for t, p in zip(titles, placed)]
    height = MARGIN + title_h + sum(heights) + SPACING * (len(placed) - 1) + MARGIN
    fig = plt.figure(figsize=(width, height))
    top = height - MARGIN
    if title:
        fig.text(MARGIN / width, top / height, title, ha="left", va="top", fontsize=TITLE_FONT, fontweight="bold",
                 linespacing=LINE_SPACING)
        top -= title_h
    for panel_title, p, h in zip(titles, placed, heights):
        if panel_title:
            fig.text(MARGIN / width, top / height, panel_title, ha="left", va="top", fontsize=TITLE_FONT,
                     linespacing=LINE_SPACING, color="#1f2933")
        graph_h = p.high - p.low
        ax = fig.add_axes((0, (top - h) / height, p.width / width, graph_h / height))
        _draw_panel(ax, p)
        top -= h + SPACING
    return fig


def render(panels: Sequence[Panel], path: str | Path, title: str = "") -> Path:
    """Draw ``panels`` under ``title`` into the image file ``path``."""
    return save_figure(figure(panels, title), path, dpi=DPI)


# -- the spaces' drawings ------------------------------------------------------------------------------------------
Node = tuple[int, str, int, str]  # (input_a, op_a, input_b, op_b), inputs numbered chronologically


def _bend(span: int, outward: float) -> float:
    """How far an arrow spanning ``span`` columns bulges (towards ``outward``: +1 up, -1 down)."""
    return 0.0 if span <= 2 else outward * min(0.12 + 0.07 * (span - 2), 0.6)


def cell_panel(name: str, nodes: Sequence[Node], title: str) -> Panel:
    """An NSGANetV1 cell: inputs h-2 and h-1, per node its two operation boxes then the node (their sum),
    the nodes no other node reads concatenated into the output."""
    ops_h = max(box_size(split_name(op))[1] for a in nodes for op in (a[1], a[3]))
    top, bottom = 1.1 + ops_h, 0.0
    boxes = [Box(f"{name}.0", "h-2", 0, top, "input"), Box(f"{name}.1", "h-1", 0, bottom, "input")]
    arrows: list[Arrow] = []
    read = {a for a, _, _, _ in nodes} | {b for _, _, b, _ in nodes}
    column = {0: 0, 1: 0}
    row = {0: top, 1: bottom}
    for k, (a, op_a, b, op_b) in enumerate(nodes):
        index, y = 2 + k, top if k % 2 == 0 else bottom
        column[index], row[index] = 2 * k + 2, y
        boxes.append(Box(f"{name}.{index}", f"n{k}", 2 * k + 2, y, "node"))
        for side, (source, op) in zip((1, -1), ((a, op_a), (b, op_b))):
            key = f"{name}.{index}.{'ab'[side < 0]}"
            boxes.append(Box(key, split_name(op), 2 * k + 1, y + side * (ops_h / 2 + 0.05), op_style(op)))
            outward = 1.0 if y == top else -1.0
            arrows.append(Arrow(f"{name}.{source}", key, "none" if op == "none" else "data",
                                bend=_bend(2 * k + 1 - column[source], outward)
                                * (1 if row[source] == y else 0.4)))
            arrows.append(Arrow(key, f"{name}.{index}"))
    out = 2 * len(nodes) + 2
    boxes.append(Box(f"{name}.out", "concat", out, (top + bottom) / 2, "output"))
    for k in range(len(nodes)):
        if 2 + k not in read:
            outward = 1.0 if row[2 + k] == top else -1.0
            arrows.append(Arrow(f"{name}.{2 + k}", f"{name}.out", "output", bend=0.5 * _bend(out - 2 * k - 2, outward)))
    return Panel(title, boxes, arrows, gap=0.3)


def draw_micro(cells: dict[str, Sequence[Node]], titles: dict[str, str], path: str | Path, title: str = "") -> Path:
    """NSGANetV1 cells one below the other (``titles``: each cell's caption, e.g. its part of the string)."""
    return render([cell_panel(name, nodes, titles.get(name, f"{name} cell")) for name, nodes in cells.items()],
                  path, title)


def draw_nb201(edges: Sequence[Sequence[str]], path: str | Path, title: str = "") -> Path:
    """The NAS-Bench-201 cell: node 0 (input) to node 3 (output), each edge ``j <- i`` an operation box;
    ``edges[j - 1][i]`` is the operation of that edge (``none`` edges dashed: they carry nothing)."""
    unit = max(box_size(split_name(op))[1] for ops in edges for op in ops) + 0.12
    node_y = {0: 1.5 * unit, 1: 3.0 * unit, 2: 0.0, 3: 1.5 * unit}
    op_y = {(0, 1): 2.3 * unit, (1, 2): 2.0 * unit, (0, 2): 0.8 * unit, (1, 3): 2.7 * unit, (0, 3): 1.5 * unit,
            (2, 3): 0.3 * unit}
    labels = {0: "node 0\ninput", 1: "node 1", 2: "node 2", 3: "node 3\noutput"}
    styles = {0: "input", 1: "node", 2: "node", 3: "output"}
    boxes = [Box(f"n{j}", labels[j], 2 * j, node_y[j], styles[j]) for j in range(4)]
    arrows = []
    for j, ops in enumerate(edges, start=1):
        for i, op in enumerate(ops):
            key = f"e{i}{j}"
            boxes.append(Box(key, split_name(op), 2 * j - 1, op_y[(i, j)], op_style(op)))
            kind = "none" if op == "none" else "data"
            arrows += [Arrow(f"n{i}", key, kind), Arrow(key, f"n{j}", kind)]
    return render([Panel("", boxes, arrows, gap=0.4)], path, title)


def _arc(span: int) -> float:
    """How far an arrow over ``span`` neighbouring boxes bulges upwards: clear of the boxes it passes."""
    return 0.0 if span <= 1 else 0.32 + 0.08 * (span - 2)


def phase_panel(p: int, connections: Sequence[Sequence[int]], skip: bool, bits: str, width: str) -> Panel:
    """One Genetic CNN phase: input node, convolution nodes 1..K with their connections, output node, and the
    residual when its bit is set; isolated nodes (no edge) are unused."""
    nodes = len(connections) + 1
    preds: dict[int, list[int]] = {k: [] for k in range(1, nodes + 1)}
    succs: dict[int, list[int]] = {k: [] for k in range(1, nodes + 1)}
    for j, node_bits in enumerate(connections, start=2):
        for i, bit in enumerate(node_bits, start=1):
            if bit:
                preds[j].append(i)
                succs[i].append(j)
    active = [k for k in range(1, nodes + 1) if preds[k] or succs[k]]
    y = 0.0
    boxes = [Box(f"p{p}.in", "input\n1x1 conv", 0, y, "input"),
             Box(f"p{p}.out", "output\n3x3 conv", nodes + 1, y, "output")]
    for k in range(1, nodes + 1):
        used = k in active
        boxes.append(Box(f"p{p}.{k}", f"node {k}\n3x3 conv" if used else f"node {k}\nunused", k, y,
                         "node" if used else "inactive"))
    arrows = []
    for j in active:
        for i in preds[j] or [0]:
            source = f"p{p}.{i}" if i else f"p{p}.in"
            arrows.append(Arrow(source, f"p{p}.{j}", bend=_arc(j - i)))
        if not succs[j]:
            arrows.append(Arrow(f"p{p}.{j}", f"p{p}.out", "output", bend=_arc(nodes + 1 - j)))
    if not active:
        arrows.append(Arrow(f"p{p}.in", f"p{p}.out", "output", bend=_arc(nodes + 1)))
    if skip:
        arrows.append(Arrow(f"p{p}.in", f"p{p}.out", "skip", bend=-0.45, label="residual (+ input)"))
    used = f"{len(active)} of {nodes} nodes used" + (", residual" if skip else ", no residual")
    return Panel(f"phase {p} ({width}): {bits} - {used}", boxes, arrows, gap=0.3)


def draw_macro(phases: Sequence[tuple[Sequence[Sequence[int]], bool]], strings: Sequence[str], path: str | Path,
               title: str = "") -> Path:
    """Genetic CNN phases one below the other (``strings``: each phase's bits as in the architecture string)."""
    panels = [phase_panel(p, connections, skip, strings[p - 1], "width x1" if p == 1 else f"width x{2 ** (p - 1)}")
              for p, (connections, skip) in enumerate(phases, start=1)]
    return render(panels, path, title)


@dataclass
class Stage:
    """A MobileNetV3 stage as drawn: its width, output side, whether it has squeeze-excitation, its layers
    as (kernel, expansion) and how many layer slots the space allows."""

    channels: int
    side: int
    se: bool
    layers: list[tuple[int, float]]
    slots: int


def _ratio(value: float) -> str:
    return f"{value:g}"


def draw_mobilenetv3(resolution: int, stem: tuple[int, int], stages: Sequence[Stage], path: str | Path,
                     title: str = "") -> Path:
    """The network left to right: input at the architecture's resolution, stem and fixed first block (width,
    output side), each stage (width, output side) with its active layers top to bottom (kernel, expansion;
    skipped slots dashed), head."""
    pitch = box_size("5x5 conv\nexpand 6")[1] + 0.16
    slots = max(s.slots for s in stages)
    top = slots * pitch + 0.12
    boxes = [Box("input", f"input\n{resolution}x{resolution} px", 0, top, "input"),
             Box("stem", f"stem, first block\n{stem[0]} ch, {stem[1]}x{stem[1]}", 1, top, "node")]
    arrows = [Arrow("input", "stem")]
    previous = "stem"
    for s, stage in enumerate(stages, start=1):
        se = ", SE" if stage.se else ""
        boxes.append(Box(f"s{s}", f"stage {s}{se}\n{stage.channels} ch, {stage.side}x{stage.side}", s + 1, top,
                         "stage"))
        arrows.append(Arrow(previous, f"s{s}"))
        previous, above = f"s{s}", f"s{s}"
        for j in range(stage.slots):
            y = top - (j + 1) * pitch
            if j < len(stage.layers):
                k, e = stage.layers[j]
                style = "layer3" if e <= 3 else "layer4" if e <= 4 else "layer6"
                boxes.append(Box(f"s{s}.{j}", f"{k}x{k} conv\nexpand {_ratio(e)}", s + 1, y, style))
                arrows.append(Arrow(above, f"s{s}.{j}"))
                above = f"s{s}.{j}"
            else:
                boxes.append(Box(f"s{s}.{j}", "skipped", s + 1, y, "inactive"))
    boxes.append(Box("head", "head\npool, classifier", len(stages) + 2, top, "output"))
    arrows.append(Arrow(previous, "head"))
    return render([Panel("each stage's layers run top to bottom, then the next stage", boxes, arrows, gap=0.3)],
                  path, title)

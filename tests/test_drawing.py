"""Architecture drawings of every space that can draw: nothing written on top of anything else, titles kept whole."""

from __future__ import annotations

import numpy as np
import pytest

import nsganet.spaces.drawing as drawing
from nsganet.cli import main
from nsganet.spaces import SPACES, DrawableSpace, get_space


def layout_problems(fig) -> list[str]:
    """Texts that overlap another text, a box other than their own, or the figure's border (window extents)."""
    from matplotlib.patches import FancyBboxPatch

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in [*fig.texts, *(t for ax in fig.axes for t in ax.texts)] if t.get_text().strip()]
    boxes = [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyBboxPatch)]
    text_extents = [t.get_window_extent(renderer).shrunk(0.98, 0.98) for t in texts]
    box_extents = [p.get_window_extent(renderer) for p in boxes]
    problems = []
    for i, (a, ea) in enumerate(zip(texts, text_extents)):
        if not fig.bbox.contains(ea.x0, ea.y0) or not fig.bbox.contains(ea.x1, ea.y1):
            problems.append(f"{a.get_text()[:30]!r} leaves the figure")
        for b, eb in zip(texts[i + 1:], text_extents[i + 1:]):
            if ea.overlaps(eb):
                problems.append(f"{a.get_text()[:30]!r} overlaps {b.get_text()[:30]!r}")
        cx, cy = (ea.x0 + ea.x1) / 2, (ea.y0 + ea.y1) / 2
        for eb in box_extents:
            if not eb.contains(cx, cy) and ea.overlaps(eb):
                problems.append(f"{a.get_text()[:30]!r} overlaps a box at {eb.bounds}")
    return problems


@pytest.fixture
def checked(monkeypatch):
    """Every figure the drawings save is checked first; the problems found, by file name."""
    found: dict[str, list[str]] = {}
    save = drawing.save_figure

    def check_then_save(fig, path, dpi=100):
        found[str(path)] = layout_problems(fig)
        return save(fig, path, dpi=dpi)

    monkeypatch.setattr(drawing, "save_figure", check_then_save)
    return found


def genomes(space, n: int, seed: int = 0) -> list[np.ndarray]:
    return [space.smallest(), space.largest(), *space.sample(np.random.default_rng(seed), n)]


@pytest.mark.parametrize("name", SPACES.names())
def test_every_space_draws_without_overlapping_text(name, checked, tmp_path):
    space = get_space(name)
    assert isinstance(space, DrawableSpace)
    for i, genome in enumerate(genomes(space, 1)):
        path = tmp_path / f"{i}.png"
        space.draw(genome, path)
        assert path.stat().st_size > 5000
        assert checked[str(path)] == [], space.to_string(genome)


def test_small_mobilenetv3_preset_draws(checked, tmp_path):
    space = get_space("mobilenetv3").for_images(8)
    for i, genome in enumerate(genomes(space, 2, seed=1)):
        space.draw(genome, tmp_path / f"{i}.png")
        assert checked[str(tmp_path / f"{i}.png")] == []


def test_the_checker_finds_overlaps():
    """The layout check is not vacuous: boxes drawn on top of each other, a title past the border, are found."""
    panel = drawing.Panel("", [drawing.Box("a", "sep_conv_3x3", 0, 0.0), drawing.Box("b", "dil_conv_5x5", 0, 0.05)])
    assert any("overlaps" in p for p in layout_problems(drawing.figure([panel])))
    fig = drawing.figure([drawing.Panel("", [drawing.Box("a", "x", 0, 0.0)])])
    fig.text(0.5, 0.5, "a long title " * 20)
    assert any("leaves the figure" in p for p in layout_problems(fig))


def test_wrapped_titles_fit_their_width():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
    lines = drawing.wrap(f"nb201 cell: {arch}", 3.0).split("\n")
    assert len(lines) >= 2 and "".join(lines).replace(" ", "") == f"nb201cell:{arch}"
    assert all(drawing.text_size(line, drawing.TITLE_FONT)[0] <= 3.0 for line in lines)


def test_drawings_show_the_architecture(checked, tmp_path):
    """What a drawing holds follows from the genome: an nb201 edge box per edge, a box per active mobilenetv3 layer,
    the unused nodes of a macro phase marked."""
    captured = {}
    real = drawing.render

    def keep(panels, path, title=""):
        captured[str(path)] = (panels, title)
        return real(panels, path, title)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(drawing, "render", keep)
        nb201 = get_space("nb201")
        arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
        nb201.draw(nb201.from_string(arch), tmp_path / "nb.png")
        panels, title = captured[str(tmp_path / "nb.png")]
        ops = sorted(b.text.replace("\n", "_") for b in panels[0].boxes if b.key.startswith("e"))
        assert ops == sorted(["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"])
        assert sum(a.style == "none" for a in panels[0].arrows) == 4 and arch in title

        mbv3 = get_space("mobilenetv3")
        arch = "r224 | k3e4 k5e6 | k7e3 k3e3 k5e4 | k3e3 k3e3 | k5e6 k5e6 k7e4 k3e3 | k3e4 k7e6"
        mbv3.draw(mbv3.from_string(arch), tmp_path / "mb.png")
        boxes = captured[str(tmp_path / "mb.png")][0][0].boxes
        assert [b.text for b in boxes if b.key == "input"] == ["input\n224x224 px"]
        layers = [b.text for b in boxes if b.style.startswith("layer")]
        assert len(layers) == 13 and layers[:2] == ["3x3 conv\nexpand 4", "5x5 conv\nexpand 6"]
        assert sum(b.text == "skipped" for b in boxes) == 5 * 4 - 13

        macro = get_space("macro")
        macro.draw(macro.from_string("0-00-000-0000-00000-1 | 1-00-000-0000-00000-0 | 0-00-000-0000-00001-1"),
                   tmp_path / "ma.png")
        panels = captured[str(tmp_path / "ma.png")][0]
        assert [sum(b.style == "node" for b in p.boxes) for p in panels] == [0, 2, 2]
        assert [sum(a.style == "skip" for a in p.arrows) for p in panels] == [1, 0, 1]
    assert all(problems == [] for problems in checked.values())


def test_draw_command_works_for_every_space(tmp_path, capsys):
    for name in SPACES.names():
        space = get_space(name)
        out = tmp_path / f"{name}.png"
        assert main(["draw", space.to_string(space.largest()), "--space", name, "--out", str(out)]) == 0
        assert out.stat().st_size > 5000

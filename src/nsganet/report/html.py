"""The report page: one self-contained ``index.html`` beside its PNG figures.

Inline CSS, relative links, no external resources; the content needs no
JavaScript. Every string that comes from the run (architecture strings,
config values, failure reasons, paths) goes through :func:`html.escape`, and a
Content-Security-Policy allows only this page's own style and script and
images from the same place. The one tiny inline script records, once the
page has loaded, how many images decoded (``data-images-loaded`` and
``data-images-total`` on ``<body>``), which lets a headless browser check the
page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import re
import shlex
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nsganet.deploy.netfile import ONNX_FILE, SPEC_FILE
from nsganet.report.context import RunContext
from nsganet.report.plots import axis_label
from nsganet.report.run_data import RunData
from nsganet.search.store import Evaluation
from nsganet.spaces import SupernetSpace

#: At most this many failed evaluations are listed.
MAX_FAILED_ROWS = 50
#: Figures wider than this many pixels span the page's width; narrower ones sit two to a row.
WIDE_PIXELS = 800

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #c0392b; --panel: #f7f9fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
header { background: #243b53; color: #fff; padding: 22px 32px 18px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header p { margin: 0; color: #bcccdc; font-size: 14px; word-break: break-all; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 32px 48px; }
h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; margin-top: 18px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.card .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 17px; font-weight: 600; overflow-wrap: anywhere; }
.card .value.long { font-size: 14px; }
.card .value .muted { font-weight: 400; font-size: 13px; }
.notes { background: #fffbea; border: 1px solid #f0d88a; border-radius: 6px; padding: 8px 14px 8px 32px;
         margin: 16px 0 0; font-size: 14px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 18px;
           grid-auto-flow: dense; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
figcaption b { color: var(--ink); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.arch code { overflow-wrap: anywhere; }
#config { width: auto; min-width: 50%; }
#config th { width: 180px; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.muted { color: var(--muted); }
a { color: #1f6fb2; }
.scroll { overflow-x: auto; }
footer { color: var(--muted); font-size: 12px; margin-top: 36px; }
dl.meaning { margin: 8px 0 0; display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; font-size: 14px; }
dl.meaning dt { font-weight: 600; }
dl.meaning dd { margin: 0; }
section.network { border: 1px solid var(--line); border-radius: 6px; padding: 4px 14px 14px; margin: 14px 0; }
section.network h3 { font-size: 16px; margin: 10px 0 8px; }
table.facts th { width: 170px; background: none; }
td.note { color: var(--muted); font-size: 12px; }
span.word { white-space: nowrap; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-total", String(images.length));
});
"""


@dataclass
class Figure:
    """One image of the report: its file name in the report folder, a title and a caption."""

    file: str
    title: str
    caption: str
    wide: bool = False


def image_width(path: Path) -> int:
    """A PNG file's width in pixels (read from its header; 0 when it is not a PNG)."""
    with path.open("rb") as handle:
        head = handle.read(24)
    return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else 0


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def href(target: Path, base: Path) -> str:
    """A relative, percent-encoded and escaped link from folder ``base`` to ``target``."""
    relative = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    return esc(urllib.parse.quote(Path(relative).as_posix(), safe="/._-~"))


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    return "–" if not math.isfinite(value) else f"{value:.4g}"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def duration(seconds: float | None) -> str:
    """``1 h 02 min``, ``25 min 56 s``, ``7.2 s`` (``unknown`` for None)."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _run_time(data: RunData) -> str:
    time = data.time
    if time.wall_seconds is None:
        return "unknown"
    text = esc(duration(time.wall_seconds))
    if time.evaluation_seconds is not None:
        text += f"<br><span class='muted'>evaluations summed: {esc(duration(time.evaluation_seconds))}</span>"
    if isinstance(data.space, SupernetSpace) and data.record.trains and data.config.supernet_epochs:
        text += "<br><span class='muted'>the supernet's training before the search not counted</span>"
    return text


def _hardware(data: RunData) -> str:
    hardware = data.time.hardware
    if not hardware:
        return "<span class='muted'>not recorded by the run</span>"
    return "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in hardware.items() if v not in (None, "", [], {}))


def _cards(data: RunData, context: RunContext) -> str:
    hv = data.hypervolume
    evaluated = f"{len(data.evaluations)} of {data.config.budget}"
    detail = f"{len(data.ok)} ok, {data.n_failed} failed" + (f", {data.running} running" if data.running else "")
    state = "finished" if data.finished else "in progress or interrupted"
    items = [
        ("space", esc(data.config.space)), ("strategy", esc(data.config.strategy)),
        ("objectives", esc(", ".join(context.labels[n] for n in data.objectives) + ", minimised")),
        ("scored by", esc(context.scored_by)),
        ("evaluated", f"{esc(evaluated)}<br><span class='muted'>{esc(detail)}</span>"),
        ("generations", str(len(data.generations))), ("non-dominated", str(len(data.front))),
        ("normalised hypervolume", "unknown" if hv is None else f"{hv:.4f}"),
        ("seed", str(data.config.seed)), ("state", state),
        ("run time (wall clock)", _run_time(data)), ("hardware", _hardware(data)),
    ]
    return "<div class='cards'>" + "".join(
        f"<div class='card'><div class='label'>{esc(label)}</div>"
        f"<div class='value{' long' if len(re.sub('<[^>]+>', '', value)) > 24 else ''}'>{value}</div></div>"
        for label, value in items) + "</div>"


def meaning_list(data: RunData, context: RunContext) -> str:
    """What each objective measures (split, network, input size, unit)."""
    items = "".join(f"<dt>{esc(context.labels[n])}</dt><dd>{esc(context.meanings[n])}</dd>" for n in data.objectives)
    return f"<dl class='meaning' id='meaning'>{items}</dl>"


def _figures(figures: Sequence[Figure]) -> str:
    if not figures:
        return "<p class='muted'>No figures: the run has no successful evaluation yet.</p>"
    parts = []
    for f in figures:
        parts.append(f"<figure class='{'wide' if f.wide else ''}' id='fig-{esc(Path(f.file).stem)}'>"
                     f"<img src='{esc(urllib.parse.quote(f.file, safe='/._-~'))}' alt='{esc(f.title)}' "
                     f"loading='eager'>"
                     f"<figcaption><b>{esc(f.title)}.</b> {esc(f.caption)}</figcaption></figure>")
    return "<div class='figures'>" + "".join(parts) + "</div>"


def select_command(data: RunData, e: Evaluation, run_label: str) -> list[str]:
    """The command that exports exactly evaluation ``e``, as words: ``nsganet select RUN -n 1 --prefer
    error=..,flops=..``, its own objective values as the reference point. On a front every other architecture is
    worse in some objective, so the nearest one is ``e``; values are rounded as far as that stays so."""
    from nsganet.moo.front import objective_matrix
    from nsganet.moo.selection import select

    F = objective_matrix(data.front, data.objectives)
    index = next(i for i, f in enumerate(data.front) if f.seq == e.seq)
    for digits in (4, 6, 8, 10, 17):
        values = [float(f"{e.objectives[name]:.{digits}g}") for name in data.objectives]
        if int(select(F, 1, np.asarray(values))[0][0]) == index:
            break
    prefer = ",".join(f"{name}={value!r}" for name, value in zip(data.objectives, values))
    return ["nsganet", "select", shlex.quote(run_label), "-n", "1", "--prefer", prefer]


def _command(words: Sequence[str]) -> str:
    """A shell command in ``<code>``, broken between words only (never inside ``-n``)."""
    return "<code>" + " ".join(f"<span class='word'>{esc(w)}</span>" for w in words) + "</code>"


def _exported_cell(data: RunData, e: Evaluation, out: Path, run_label: str, anchors: dict[str, str]) -> str:
    folder = data.exported.get(e.arch)
    if folder is None:
        return f"<span class='muted'>not exported — {_command(select_command(data, e, run_label))}</span>"
    links = [f"<a href='{href(folder / SPEC_FILE, out)}'>{esc(folder.name)}/{SPEC_FILE}</a>"]
    if (folder / ONNX_FILE).is_file():
        links.append(f"<a href='{href(folder / ONNX_FILE, out)}'>{ONNX_FILE}</a>")
    if e.arch in anchors:
        links.append(f"<a href='#{esc(anchors[e.arch])}'>results</a>")
    return " · ".join(links)


def front_table(data: RunData, out: Path, run_label: str, anchors: dict[str, str] | None = None) -> str:
    """The non-dominated architectures, one row each (``table#front``); ``anchors`` link exported ones to their
    section."""
    if not data.front:
        return "<p class='muted'>No successful evaluation yet.</p>"
    head = "".join(f"<th>{esc(axis_label(name))}</th>" for name in data.objectives)
    rows = []
    for rank, e in enumerate(data.front, start=1):
        values = "".join(f"<td class='num'>{number(e.objectives.get(name))}</td>" for name in data.objectives)
        rows.append(f"<tr data-seq='{e.seq}'><td class='num'>{rank}</td><td class='num'>{e.seq}</td>{values}"
                    f"<td class='num'>{e.generation}</td><td class='arch'><code>{esc(e.arch)}</code></td>"
                    f"<td>{_exported_cell(data, e, out, run_label, anchors or {})}</td></tr>")
    return (f"<div class='scroll'><table id='front'><thead><tr><th>rank</th><th>evaluation</th>{head}"
            f"<th>generation</th><th>architecture</th><th>exported network</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def predictor_table(rows: Sequence[dict[str, Any]]) -> str:
    """The surrogate's figures per iteration (NSGANetV2)."""
    body = "".join(
        f"<tr><td class='num'>{esc(r['generation'])}</td><td>{esc(r.get('model') or '')}</td>"
        f"<td>{esc(r.get('winner') or '')}</td><td class='num'>{number(r.get('rmse'))}</td>"
        f"<td class='num'>{number(r.get('rho'))}</td><td class='num'>{number(r.get('tau'))}</td></tr>" for r in rows)
    return ("<div class='scroll'><table id='predictor'><thead><tr><th>generation</th><th>predictor</th>"
            "<th>chosen model</th><th>RMSE</th><th>Spearman ρ</th><th>Kendall τ</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def failed_table(data: RunData) -> str:
    failed = [e for e in data.evaluations if e.status == "failed"]
    rows = "".join(f"<tr><td class='num'>{e.seq}</td><td class='num'>{e.generation}</td>"
                   f"<td class='arch'><code>{esc(e.arch)}</code></td><td>{esc(e.reason or '')}</td></tr>"
                   for e in failed[:MAX_FAILED_ROWS])
    more = (f"<p class='muted'>{len(failed) - MAX_FAILED_ROWS} more in the run's failed/ folder.</p>"
            if len(failed) > MAX_FAILED_ROWS else "")
    return ("<div class='scroll'><table id='failed'><thead><tr><th>evaluation</th><th>generation</th>"
            f"<th>architecture</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table></div>{more}")


def config_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """The configuration as the run used it: key, value, where the value came from."""
    body = "".join(f"<tr><th>{esc(key)}</th><td><code>{esc(value)}</code></td><td class='note'>{esc(note)}</td></tr>"
                   for key, value, note in rows)
    return f"<div class='scroll'><table id='config'><tbody>{body}</tbody></table></div>"


def render_page(data: RunData, context: RunContext, figures: Sequence[Figure], notes: Sequence[str], out: Path,
                predictor_rows: Sequence[dict[str, Any]] = (), run_label: str | None = None,
                networks: str = "", anchors: dict[str, str] | None = None, n_images: int | None = None) -> str:
    """The whole ``index.html`` of a report written into folder ``out``; ``networks`` is the exported networks'
    section (``n_images`` counts its images too)."""
    run_label = str(data.path) if run_label is None else run_label
    csp = (f"default-src 'none'; img-src 'self' file:; style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; "
           "base-uri 'none'; form-action 'none'")
    title = f"nsganet report: {data.path.resolve().name}"
    sections = [
        _cards(data, context),
        "<ul class='notes' id='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "",
        "<h2 id='meaning-section'>What the objectives measure</h2>", meaning_list(data, context),
        "<h2 id='figures'>Figures</h2>", _figures(figures),
        f"<h2 id='front-section'>Non-dominated architectures ({len(data.front)})</h2>",
        "<p class='muted'>Sorted by the first objective; links open the networks exported by "
        f"<code>nsganet select</code> into <code>{esc(data.record.directory.selected_dir)}</code>.</p>",
        front_table(data, out, run_label, anchors),
        networks,
    ]
    if predictor_rows:
        sections += ["<h2 id='predictor-section'>Surrogate quality per iteration</h2>", predictor_table(predictor_rows)]
    if data.n_failed:
        sections += [f"<h2 id='failed-section'>Failed evaluations ({data.n_failed})</h2>", failed_table(data)]
    sections += ["<h2 id='config-section'>Configuration</h2>",
                 "<p class='muted'>As the run used it: keys left empty in config.yaml are shown with the value "
                 "they stood for.</p>", config_table(context.config_rows),
                 "<footer>Written by <code>nsganet report</code>. Figures are PNG files beside this page.</footer>"]
    total = len(figures) if n_images is None else n_images
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{esc(csp)}\">\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body data-images-total='{total}'>\n"
        f"<header><h1>{esc(title)}</h1><p>{esc(data.path.resolve())}</p></header>\n<main>\n"
        + "\n".join(s for s in sections if s)
        + f"\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )

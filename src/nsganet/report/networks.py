"""The networks exported from a run, as the report shows them: drawing, training curve, test results.

``nsganet select`` exports each network into ``RUN/selected/<name>/``
(``net.json``); ``nsganet train NET`` writes ``NET/train/`` (``train.json``,
``curves.png``, the weights) and ``nsganet evaluate`` writes
``eval/evaluation.json``, ``corruptions.png`` and ``fgsm.png`` into the folder
it evaluated (``NET/train/eval`` for the trained network, ``NET/eval`` for the
network as exported). The report draws each network and copies those figures
beside its page (``net-<name>-*.png``), so the report folder stands alone;
whatever does not exist yet is named with the command that makes it.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.errors import NsganetError
from nsganet.report.html import WIDE_PIXELS, Figure, duration, esc, href, image_width, number
from nsganet.report.plots import axis_label
from nsganet.report.run_data import RunData
from nsganet.search.store import Evaluation
from nsganet.spaces import SPACES, DrawableSpace, SearchSpace, get_space

logger = logging.getLogger(__name__)

SPEC, TRAIN_DIR, TRAIN_SUMMARY, CURVES = "net.json", "train", "train.json", "curves.png"
EVAL_DIR, EVALUATION, EVAL_FIGURES = "eval", "evaluation.json", ("corruptions.png", "fgsm.png")
#: File names of the report's copies of a network's figures start so (an earlier report's are removed first).
PREFIX = "net-"


@dataclass
class Tested:
    """What ``nsganet evaluate`` measured of one folder of a network (``trained``: NET/train, else NET)."""

    folder: Path
    trained: bool
    values: dict[str, Any]


@dataclass
class ExportedNetwork:
    """One exported network and what exists of its training and evaluation."""

    folder: Path
    spec: dict[str, Any]
    evaluation: Evaluation | None = None
    training: dict[str, Any] | None = None
    tested: list[Tested] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def anchor(self) -> str:
        return f"net-{self.name}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return values if isinstance(values, dict) else None


def _space_of(data: RunData, spec: dict[str, Any]) -> SearchSpace | None:
    """The space that decodes a network's architecture: the run's (its supernet's shape) or the one net.json names."""
    if spec.get("space") == data.config.space and data.space is not None:
        return data.space
    if spec.get("space") not in SPACES:
        return None
    try:
        return get_space(spec["space"], **(spec.get("space_options") or {}))
    except NsganetError:
        return None


def _copy(source: Path, out: Path, name: str) -> str | None:
    """Copy a figure beside the page (``net-<network>-<file>``); its new name, or None when it cannot be read."""
    target = f"{PREFIX}{name}-{source.name}"
    try:
        shutil.copyfile(source, out / target)
    except OSError as exc:
        logger.warning("cannot copy %s into the report: %s", source, exc)
        return None
    return target


def exported_networks(data: RunData, out: Path, notes: list[str]) -> list[ExportedNetwork]:
    """Every network exported into ``RUN/selected``, its drawing drawn and its figures copied into ``out``."""
    by_arch = {e.arch: e for e in data.evaluations}
    networks = []
    for spec_file in sorted(data.record.directory.selected_dir.glob(f"*/{SPEC}")):
        spec = _read_json(spec_file)
        if spec is None or not isinstance(spec.get("arch"), str):
            continue  # run_data noted it
        net = ExportedNetwork(spec_file.parent, spec, by_arch.get(spec["arch"]))
        _draw(data, net, out, notes)
        train = net.folder / TRAIN_DIR
        net.training = _read_json(train / TRAIN_SUMMARY)
        curves = _curves(net, train, out)
        if curves:
            best = net.training.get("best_epoch") if net.training else None
            net.figures.append(Figure(curves, f"{net.name}: training curve",
                                      "Training loss, training accuracy (augmented images) and validation "
                                      "accuracy per epoch of 'nsganet train'"
                                      + (f"; the weights of epoch {best} were kept." if best else "."), wide=True))
        for folder, trained in ((train, True), (net.folder, False)):
            values = _read_json(folder / EVAL_DIR / EVALUATION)
            if values is None:
                continue
            net.tested.append(Tested(folder, trained, values))
            label = f"{net.name}{' (trained)' if trained else ''}"
            for figure, file in zip(EVAL_FIGURES, _evaluation_figures(net, folder, values, out)):
                corruptions = figure.startswith("corr")
                if file:
                    net.figures.append(Figure(file, f"{label}: {'corruptions' if corruptions else 'FGSM'}",
                                              _eval_caption(figure, values), wide=corruptions))
        networks.append(net)
    return networks


def _curves(net: ExportedNetwork, train: Path, out: Path) -> str | None:
    """The training curve beside the page: drawn again from ``curves.csv`` (titled with the network), else copied."""
    from nsganet.train.curves import curves_title, plot_curves, read_curves

    target = f"{PREFIX}{net.name}-{CURVES}"
    if (train / "curves.csv").is_file():
        try:
            history = read_curves(train / "curves.csv")
            plot_curves(history, out / target, title=curves_title(train, f"{net.spec.get('space')} network", history))
            return target
        except (OSError, ValueError) as exc:
            logger.warning("cannot read %s: %s", train / "curves.csv", exc)
    return _copy(train / CURVES, out, net.name) if (train / CURVES).is_file() else None


def _evaluation_figures(net: ExportedNetwork, folder: Path, values: dict[str, Any], out: Path) -> list[str | None]:
    """The corruption and FGSM figures of one evaluation beside the page: drawn again from ``evaluation.json``
    (titled with the network and its test data), else copied; None where there is none."""
    from nsganet.robustness.plots import evaluation_title, plot_corruptions, plot_fgsm, report_from_dict

    stem = f"{net.name}{'-trained' if folder != net.folder else ''}"
    try:
        report = report_from_dict(values)
    except ValueError:
        report = None
    files: list[str | None] = []
    for figure, plot in zip(EVAL_FIGURES, (plot_corruptions, plot_fgsm)):
        has = report is not None and (report.corruptions if figure.startswith("corr") else report.fgsm_eps)
        if report is not None and has:
            target = f"{PREFIX}{stem}-{figure}"
            data = values.get("data") if isinstance(values.get("data"), dict) else {}
            plot(report, out / target, evaluation_title(folder, str(values.get("space", net.spec.get("space"))),
                                                        str(data.get("name", report.dataset)), report.images))
            files.append(target)
        elif report is None and (folder / EVAL_DIR / figure).is_file():
            files.append(_copy(folder / EVAL_DIR / figure, out, stem))
        else:
            files.append(None)
    return files


def _eval_caption(figure: str, values: dict[str, Any]) -> str:
    images = values.get("images")
    split = f"the {values.get('dataset', 'test')} split" + (f" ({images} images)" if images else "")
    if figure.startswith("corr"):
        return (f"Test accuracy on {split} under each common corruption at severities 1-5; the dashed line is "
                "the clean accuracy, the dotted one chance; the legend gives each corruption's mean.")
    return (f"Test accuracy on {split} under FGSM attacks of growing strength eps (pixel scale 0..1); the shaded "
            "area above chance is the normalised robustness area.")


def _draw(data: RunData, net: ExportedNetwork, out: Path, notes: list[str]) -> None:
    space = _space_of(data, net.spec)
    if space is None or not isinstance(space, DrawableSpace):
        return
    file = f"{PREFIX}{net.name}-arch.png"
    try:
        space.draw(space.from_string(net.spec["arch"]), out / file)
    except (NsganetError, OSError) as exc:
        notes.append(f"{net.name} is not drawn: {str(exc).splitlines()[0][:200]}")
        return
    net.figures.insert(0, Figure(file, f"{net.name}: architecture", f"{net.spec['arch']}",
                                 wide=image_width(out / file) > WIDE_PIXELS))


# -- the page's section ----------------------------------------------------------------------------------------------
def _facts(data: RunData, net: ExportedNetwork) -> list[tuple[str, str]]:
    spec = net.spec
    facts = []
    if net.evaluation is not None:
        e = net.evaluation
        values = ", ".join(f"{axis_label(n)} {number(e.objectives.get(n))}" for n in data.objectives)
        facts.append(("in the search", f"evaluation {e.seq}, generation {e.generation}: {values}"))
    options = ", ".join(f"{k} {v}" for k, v in (spec.get("build_options") or {}).items())
    size = spec.get("input_size")
    facts.append(("network", f"{spec.get('space')}" + (f" ({options})" if options else "")
                  + (f", {size}x{size} px, {spec.get('in_channels')} channel(s), {spec.get('num_classes')} classes"
                     if size else "")))
    training = net.training
    if training is not None:
        seconds = training.get("seconds")
        how = "fine-tuned" if training.get("finetuned") else "trained from scratch"
        facts.append(("training", f"{how}, {training.get('epochs')} epochs on "
                      f"{(training.get('data') or {}).get('name', '?')}; best epoch {training.get('best_epoch')}, "
                      f"validation accuracy {number(training.get('valid_acc'))} %"
                      + (f"; {duration(seconds)} on {training.get('device', '?')}"
                         if isinstance(seconds, (int, float)) else "")))
    for tested in net.tested:
        v = tested.values
        which = "trained weights" if tested.trained else (
            "exported weights" if v.get("weights") else "untrained weights")
        parts = [f"clean accuracy {number(v.get('clean_accuracy'))} % on {v.get('dataset', 'the test split')}"
                 + (f" ({v['images']} images)" if v.get("images") else "")]
        if isinstance(v.get("mean_corruption_accuracy"), (int, float)):
            parts.append(f"mean corruption accuracy {number(v['mean_corruption_accuracy'])} %")
        area = (v.get("fgsm") or {}).get("robustness_area")
        if isinstance(area, (int, float)):
            parts.append(f"FGSM robustness area {number(area)} / 100")
        facts.append((f"test ({which})", "; ".join(parts)))
    return facts


def _todo(net: ExportedNetwork, run_label: str) -> str:
    """The commands that would add what is missing: training, then testing."""
    folder = f"{run_label.rstrip('/')}/selected/{net.name}"
    steps = []
    if net.training is None:
        steps.append(f"train it: <code>nsganet train {esc(shlex.quote(folder))}</code>")
    if not any(t.trained for t in net.tested):
        steps.append(f"test it: <code>nsganet evaluate {esc(shlex.quote(folder + '/' + TRAIN_DIR))}</code>")
    return f"<p class='muted'>Not yet done: {'; then '.join(steps)}.</p>" if steps else ""


def networks_section(data: RunData, networks: list[ExportedNetwork], out: Path, run_label: str) -> str:
    """The page's section of exported networks: one block each with its facts, its drawing and figures."""
    if not networks:
        return ""
    blocks = []
    for net in networks:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _facts(data, net))
        figures = "".join(
            f"<figure class='{'wide' if f.wide else ''}' id='fig-{esc(Path(f.file).stem)}'>"
            f"<img src='{href(out / f.file, out)}' alt='{esc(f.title)}' loading='eager'>"
            f"<figcaption><b>{esc(f.title)}.</b> {esc(f.caption)}</figcaption></figure>" for f in net.figures)
        links = f"<a href='{href(net.folder / SPEC, out)}'>{esc(net.name)}/{SPEC}</a>"
        blocks.append(f"<section class='network' id='{esc(net.anchor)}'><h3>{esc(net.name)} · {links}</h3>"
                      f"<table class='facts'><tbody>{rows}</tbody></table>{_todo(net, run_label)}"
                      f"<div class='figures'>{figures}</div></section>")
    return (f"<h2 id='networks-section'>Exported networks ({len(networks)})</h2>"
            "<p class='muted'>Networks exported by <code>nsganet select</code>, as trained by "
            "<code>nsganet train</code> and tested by <code>nsganet evaluate</code>.</p>" + "".join(blocks))


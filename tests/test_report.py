"""``nsganet report``: figures and a self-contained HTML page of real runs, checked in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import urllib.parse
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import METRIC, run_cli

import nsganet
from nsganet.cli import main
from nsganet.deploy.netfile import NetSpec
from nsganet.errors import NsganetError
from nsganet.report.build import INDEX, write_report
from nsganet.report.figures import operation_counts, operation_shares
from nsganet.search.store import RunStore
from nsganet.spaces import genome_values, get_space
from nsganet.spaces.base import SearchSpace
from nsganet.spaces.nb201 import NB201Space

CHROMIUM = shutil.which("chromium")
XSS = "<script>alert(1)</script>"


# -- helpers ---------------------------------------------------------------------------------------
class _Page(HTMLParser):
    """Collects the rows of every table (by id), <img> sources, <script> count and <body> attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.scripts = 0
        self.body: dict[str, str | None] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "table":
            self._table = values.get("id") or ""
            self.tables[self._table], self.links[self._table] = [], []
        elif tag == "tbody" and self._table is not None:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table].append([])
            self.links[self._table].append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []
        elif tag == "a" and self._in_body and self.links[self._table]:
            self.links[self._table][-1].append(values.get("href"))
        elif tag == "img":
            self.images.append(values.get("src"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "body":
            self.body = values

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._in_body:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def front_csv(run: Path) -> list[dict[str, str]]:
    with (run / "front.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_run(table: Path, out: Path, strategy: str, objectives: str, budget: int = 40) -> Path:
    params = {"n_doe": 16, "predictor": "rbf", "generations": 5} if strategy == "nsganetv2" else {}
    nsganet.search("nb201", objectives=objectives, strategy=strategy, budget=budget, table=str(table), metric=METRIC,
                   out=out, progress=False, pop_size=16, strategy_params=params)
    return out


class AngleSpace(NB201Space):
    """NAS-Bench-201 with architecture strings full of HTML: the report must show them, not run them."""

    name = "angle<b>&\"'"

    def to_string(self, genome: np.ndarray) -> str:
        return XSS + super().to_string(genome).replace("~", "<&>")

    def from_string(self, text: str) -> np.ndarray:
        return super().from_string(text.removeprefix(XSS).replace("<&>", "~"))


def _chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000",
               "--window-size=1280,2000", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


# -- runs ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[("nsganetv1", "error,flops"), ("nsganetv1", "error,flops,params"),
                                        ("nsganetv2", "error,flops"), ("nsganetv2", "error,flops,params")],
                ids=["v1-2obj", "v1-3obj", "v2-2obj", "v2-3obj"])
def nb201_run(request, nb201_table, tmp_path_factory) -> Path:
    strategy, objectives = request.param
    return table_run(nb201_table, tmp_path_factory.mktemp(f"{strategy}-{objectives.count(',') + 1}") / "run",
                     strategy, objectives)


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory) -> Path:
    """A tiny proxy-trained micro run on the embedded digits (cells can be drawn)."""
    out = tmp_path_factory.mktemp("micro") / "run"
    nsganet.search("micro", budget=8, pop_size=4, epochs=1, train_images=32, workers=1, out=out, progress=False)
    return out


@pytest.fixture(scope="module")
def escape_run(tmp_path_factory) -> Path:
    """A user space and evaluator: HTML in arch strings, space name and failure reasons; a custom objective."""
    out = tmp_path_factory.mktemp("escape") / "run"

    def evaluate(arch):
        genome = np.asarray(arch.genome)
        if genome.sum() % 5 == 0:
            raise ValueError("bad <arch> & 'quote'")
        return {"error": 100.0 - 5 * genome.sum() + 0.1 * genome[0], "gap": float((genome == 2).sum())}

    nsganet.search(AngleSpace(), evaluator=evaluate, objectives=["error", "gap", "flops"], strategy="nsganetv2",
                   budget=40, out=out, progress=False, pop_size=16,
                   strategy_params={"n_doe": 16, "predictor": "rbf", "generations": 5})
    return out


# -- the report of real runs -----------------------------------------------------------------------
def test_report_of_table_runs_lists_exactly_the_front(nb201_run):
    report = write_report(nb201_run)
    out = nb201_run / "report"
    assert report.index == out / INDEX
    config = nsganet.config.load_config(nb201_run / "config.yaml")
    n_obj = len(config["objectives"])
    front = front_csv(nb201_run)
    files = {f.file for f in report.figures}
    drawings = {f for f in files if f.startswith("arch_")}
    assert len(drawings) == min(8, len(front))  # nb201 draws its cell
    expected = {"pareto_front.png", "fronts_by_generation.png", "hypervolume_curve.png"} | drawings
    if config["strategy"] == "nsganetv2":
        expected.add("predictor_quality.png")
    else:
        assert any("uses no surrogate" in n for n in report.notes)
    if len(front) >= 8:  # figures that say something only for this run's front and objectives
        expected.add("operation_frequency.png")
    else:
        assert any(n.startswith("no operation-frequency figure") for n in report.notes)
    if n_obj >= 3:
        expected.add("parallel_coordinates.png")
    else:
        assert any(n.startswith("no parallel-coordinates figure") for n in report.notes)
    assert files == expected
    for name in files:
        assert (out / name).stat().st_size > 5000
    page = parse(report.index.read_text(encoding="utf-8"))
    assert sorted(page.images) == sorted(files)
    rows = page.tables["front"]
    assert [r[5 + n_obj - 2] for r in rows] == [r["arch"] for r in front]  # architecture column
    for row, want in zip(rows, front):
        assert [float(v) for v in row[2:2 + n_obj]] == pytest.approx(
            [float(want[o]) for o in config["objectives"]], rel=1e-3)
        assert int(row[2 + n_obj]) == int(want["generation"])
        assert "not exported" in row[-1] and "nsganet select" in row[-1] and "--prefer" in row[-1]
    cards = report.index.read_text(encoding="utf-8")
    assert "40 of 40" in cards and "finished" in cards
    if config["strategy"] == "nsganetv2":  # one table row per surrogate iteration in the stats
        iterations = [json.loads(p.read_text())["strategy"].get("surrogate") for p in
                      sorted((nb201_run / "stats").glob("gen_*.json"))]
        predictor = page.tables["predictor"]
        assert len(predictor) == sum(s is not None for s in iterations) >= 2
        assert float(predictor[-1][3]) == pytest.approx(iterations[-1]["rmse"], rel=1e-3)


def test_report_of_micro_run_draws_front_cells(micro_run, tmp_path):
    report = write_report(micro_run, out=tmp_path / "rep")
    front = front_csv(micro_run)
    cells = sorted(p.name for p in (tmp_path / "rep").glob("arch_*.png"))
    assert len(cells) == min(8, len(front)) >= 1
    assert {f.file for f in report.figures} >= {"pareto_front.png", *cells}
    page = parse(report.index.read_text(encoding="utf-8"))
    assert len(page.tables["front"]) == len(front)
    assert not (micro_run / "report").exists()  # --out was honoured


def test_report_escapes_everything_from_the_run(escape_run):
    report = write_report(escape_run)
    text = report.index.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<b>&" not in text and "<&>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;&amp;&gt;" in text
    page = parse(text)
    assert page.scripts == 1  # only the page's own
    rows = page.tables["front"]
    arch_column = 2 + 3 + 1
    assert [r[arch_column] for r in rows] == [r["arch"] for r in front_csv(escape_run)]  # shown verbatim
    assert all(r[arch_column].startswith(XSS) for r in rows)
    failed = page.tables["failed"]
    assert failed and all(r[3] == "ValueError: bad <arch> & 'quote'" for r in failed)
    config = dict((r[0], r[1]) for r in page.tables["config"])
    assert config["space"] == AngleSpace.name and "<locals>" in config["evaluator"]
    assert any(AngleSpace.name in n and "not a registered space" in n for n in report.notes)
    # two predicted objectives (error and the custom gap): the surrogate figure has both
    assert "predictor_quality.png" in {f.file for f in report.figures}
    assert "per_objective" in json.loads(sorted((escape_run / "stats").glob("gen_*.json"))[-1].read_text())[
        "strategy"]["surrogate"]


def test_report_links_exported_networks(nb201_table, tmp_path):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=20)
    front = front_csv(run)
    exported = {}
    for row in front[:2]:  # what 'nsganet select' writes: a folder per network with net.json (and net.onnx)
        folder = run / "selected" / f"arch-{len(exported):05d}"
        folder.mkdir(parents=True)
        spec = NetSpec(space="nb201", arch=row["arch"], num_classes=10, input_size=32, in_channels=3,
                       mean=[0.0] * 3, std=[1.0] * 3, source={"seq": len(exported)})
        (folder / "net.json").write_text(json.dumps(spec.to_dict()), encoding="utf-8")
        if not exported:
            (folder / "net.onnx").write_bytes(b"onnx")
        exported[row["arch"]] = folder
    (run / "selected" / "broken").mkdir()
    (run / "selected" / "broken" / "net.json").write_text("{not json", encoding="utf-8")
    report = write_report(run, out=tmp_path / "elsewhere" / "rep")
    page = parse(report.index.read_text(encoding="utf-8"))
    arch_column = 5
    text = report.index.read_text(encoding="utf-8")
    for row, links in zip(page.tables["front"], page.links["front"]):
        arch = row[arch_column]
        if arch in exported:
            files = [h for h in links if not h.startswith("#")]
            targets = [(report.index.parent / urllib.parse.unquote(h)).resolve() for h in files]
            assert targets[0] == (exported[arch] / "net.json").resolve()
            assert all(t.is_file() for t in targets)
            assert len(files) == (2 if (exported[arch] / "net.onnx").exists() else 1)
            anchor = f"net-{exported[arch].name}"
            assert f"#{anchor}" in links and f"id='{anchor}'" in text  # to its section of the page
        else:
            assert links == [] and "not exported" in row[-1]
    assert sum(bool(links) for links in page.links["front"]) == len(exported)
    assert any("broken/net.json" in n for n in report.notes)
    for folder in exported.values():  # each exported network drawn, with what to do next
        assert (report.index.parent / f"net-{folder.name}-arch.png").is_file()
        assert f"nsganet train {run}/selected/{folder.name}" in text


def test_report_of_run_in_progress_with_one_generation_and_corrupt_stats(nb201_table, tmp_path):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)  # one generation
    expected = front_csv(run)
    for name in ("front.csv", "front.png", "hypervolume.png"):
        (run / name).unlink()
    space = get_space("nb201")
    with RunStore(run / "run.sqlite") as store:
        taken = {e.arch for e in store.evaluations()}
        genome = next(g for g in space.sample(np.random.default_rng(1), 50) if space.to_string(g) not in taken)
        store.start(16, space.to_string(genome), tuple(int(v) for v in genome), 1)  # being evaluated now
    (run / "stats" / "gen_0001.json").write_text("{truncated", encoding="utf-8")
    report = write_report(run)
    text = report.index.read_text(encoding="utf-8")
    assert "in progress" in text and "1 running" in text
    assert any("gen_0001.json" in n for n in report.notes)
    page = parse(text)
    assert [r[5] for r in page.tables["front"]] == [r["arch"] for r in expected]
    assert "fronts_by_generation.png" not in {f.file for f in report.figures}  # one generation: nothing to show
    assert any("single generation" in n for n in report.notes)


def test_report_of_run_without_successful_evaluation(tmp_path):
    def fail(arch):
        raise RuntimeError("out of memory")

    nsganet.search("nb201", evaluator=fail, objectives="error,flops", budget=6, pop_size=6, out=tmp_path / "run",
                   progress=False)
    report = write_report(tmp_path / "run")
    page = parse(report.index.read_text(encoding="utf-8"))
    assert "front" not in page.tables and len(page.tables["failed"]) == 6
    assert not any(f.file.startswith(("pareto", "operation", "parallel")) for f in report.figures)
    assert any("no successful evaluation" in n for n in report.notes)


def test_report_bad_input_is_a_one_line_error(nb201_table, tmp_path):
    with pytest.raises(NsganetError, match="is not a directory"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NsganetError, match="not a run directory"):
        write_report(tmp_path / "empty")
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)
    bad_config = tmp_path / "bad_config"
    shutil.copytree(run, bad_config)
    (bad_config / "config.yaml").write_text("space: [nb201\n", encoding="utf-8")
    with pytest.raises(NsganetError, match="not valid YAML"):
        write_report(bad_config)
    (bad_config / "config.yaml").write_text("space: nb201\nbudget: many\n", encoding="utf-8")
    with pytest.raises(NsganetError, match="budget"):
        write_report(bad_config)
    bad_store = tmp_path / "bad_store"
    shutil.copytree(run, bad_store)
    (bad_store / "run.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (bad_store / f"run.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(NsganetError, match="SQLite"):
        write_report(bad_store)
    result = run_cli("report", str(bad_store), timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("nsganet: error:")


def test_cli_prints_the_page(nb201_table, tmp_path, capsys):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)
    assert main(["report", str(run), "--out", str(tmp_path / "page")]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "page" / INDEX) and Path(printed).is_file()


# -- what the numbers mean ---------------------------------------------------------------------------
def test_config_is_shown_as_the_run_resolved_it(micro_run, tmp_path):
    """No nulls for what the run filled in: the digits' shape, micro's proxy width and depth; units everywhere."""
    report = write_report(micro_run, out=tmp_path / "rep")
    text = report.index.read_text(encoding="utf-8")
    page = parse(text)
    config = {r[0]: (r[1], r[2]) for r in page.tables["config"]}
    assert nsganet.config.load_config(micro_run / "config.yaml")["channels"] is None  # what the page resolves
    assert config["dataset"][0] == "digits" and config["data"][0] == "embedded"
    assert config["channels"] == ("8", "micro proxy default (channels)") and config["layers"][0] == "1"
    assert {k: config[k][0] for k in ("num_classes", "input_size", "in_channels", "image_size")} == {
        "num_classes": "10", "input_size": "8", "in_channels": "1", "image_size": "8"}
    assert config["table"][1].startswith("not used") and config["supernet"][1].startswith("not used")
    assert all(value != "null" for value, _ in config.values())
    assert "flops (M MACs)" in text and "error (%)" in text  # table heads, cards, axes
    meaning = re.search(r"<dl class='meaning'.*?</dl>", text, re.S).group(0)
    assert "8x8 px" in meaning and "channels 8, layers 1" in meaning and "search-validation split" in meaning
    assert "288 digits images" in meaning  # 20 % of the 1438 training digits
    assert "run time (wall clock)" in text.lower()
    import torch

    assert f"torch: {torch.__version__}" in text and "executor: local" in text  # recorded by the search


def test_run_time_and_recorded_hardware_are_shown(nb201_table, tmp_path):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)
    with RunStore(run / "run.sqlite") as store:
        rows = store.conn.execute("SELECT MIN(started), MAX(finished) FROM evaluations").fetchone()
        assert store.get_meta("hardware")["workers"] == 1
        store.set_meta("hardware", {"device": "cpu", "cpu": "Test CPU <x>", "torch": "9.9"})
    report = write_report(run)
    text = report.index.read_text(encoding="utf-8")
    from nsganet.report.html import duration

    assert duration(rows[1] - rows[0]) in text
    assert "cpu: Test CPU &lt;x&gt;" in text and "torch: 9.9" in text
    assert duration(7.25) == "7.2 s" and duration(1556) == "25 min 56 s" and duration(3720) == "1 h 02 min"


def test_select_hint_exports_exactly_that_architecture(nb201_table, tmp_path):
    import shlex

    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=40)
    page = parse(write_report(run).index.read_text(encoding="utf-8"))
    rows = page.tables["front"]
    assert len(rows) >= 2
    for row in (rows[0], rows[-1]):
        command = row[-1].split("—", 1)[1].strip()
        words = shlex.split(command)
        assert words[:2] == ["nsganet", "select"] and words[2] == str(run)
        out = tmp_path / f"sel-{row[1]}"
        assert main([*words[1:], "--out", str(out), "--no-onnx"]) == 0
        exported = [json.loads(p.read_text())["arch"] for p in out.glob("*/net.json")]
        assert exported == [row[5]]


def test_figures_without_information_are_left_out_with_a_reason(nb201_table, tmp_path):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)  # one generation
    report = write_report(run)
    files = {f.file for f in report.figures}
    assert not files & {"parallel_coordinates.png", "fronts_by_generation.png", "hypervolume_curve.png"}
    notes = "\n".join(report.notes)
    assert "two objectives" in notes and "single generation" in notes
    if len(front_csv(run)) < 8:
        assert "operation_frequency.png" not in files and "mean little below 8" in notes


def test_mobilenetv3_choices_are_shown_per_kind(tmp_path):
    """Resolution, depth, kernel and expansion are four kinds of choice, each with its own shares."""
    out = tmp_path / "run"

    def evaluate(arch):  # every architecture trades error against size: a large front
        return {"error": 100.0 / (1.0 + float(np.sum(arch.genome)))}

    nsganet.search("mobilenetv3", evaluator=evaluate, objectives=["error", "flops"], budget=24, pop_size=12,
                   out=out, progress=False)
    report = write_report(out)
    figure = next(f for f in report.figures if f.file == "operation_frequency.png")
    assert figure.title == "Choice frequency per kind" and "4 kinds" in figure.caption
    assert "r<resolution>" in figure.caption  # the space's own words for its choices
    from nsganet.report.figures import by_kind, choice_kinds

    space = get_space("mobilenetv3")
    groups = choice_kinds(op for g in space.sample(np.random.default_rng(0), 30) for op in space.operations(g))
    assert set(groups) == {"r#", "d#", "k#", "e#"} and by_kind(groups)
    assert groups["k#"] == ["k3", "k5", "k7"]
    micro = get_space("micro")
    assert not by_kind(choice_kinds(op for g in micro.sample(np.random.default_rng(0), 30)
                                    for op in micro.operations(g)))  # operations of one kind: pooled


def _trained_network(run: Path, arch: str, seq: int) -> Path:
    """What select, train and evaluate leave in RUN/selected/arch-N (files written by the real writers)."""
    from nsganet.robustness.evaluate import EvaluationReport
    from nsganet.train.curves import write_curves

    folder = run / "selected" / f"arch-{seq:05d}"
    (folder / "train" / "eval").mkdir(parents=True)
    spec = NetSpec(space="nb201", arch=arch, num_classes=10, input_size=32, in_channels=3, mean=[0.0] * 3,
                   std=[1.0] * 3, source={"seq": seq})
    (folder / "net.json").write_text(json.dumps(spec.to_dict()), encoding="utf-8")
    history = {"epoch": [1, 2, 3], "lr": [0.1, 0.05, 0.0], "train_loss": [2.0, 1.5, 1.2],
               "train_acc": [30.0, 50.0, 60.0], "valid_acc": [35.0, 58.0, 55.0], "seconds": [1.0] * 3,
               "images_per_s": [100.0] * 3}
    write_curves(history, folder / "train" / "curves.csv")
    (folder / "train" / "train.json").write_text(json.dumps(
        {"finetuned": False, "epochs": 3, "best_epoch": 2, "valid_acc": 58.0, "data": {"name": "digits"},
         "seconds": 75.0, "device": "cpu"}), encoding="utf-8")
    evaluation = EvaluationReport("digits-test", 359, 10, 91.5, {"gaussian_noise": {1: 90.0, 2: 80.0}},
                                  [0.0, 0.1], [91.5, 40.0])
    (folder / "train" / "eval" / "evaluation.json").write_text(json.dumps(
        {"net": str(folder / "train"), "space": "nb201", "data": {"name": "digits"}, **evaluation.to_dict()}),
        encoding="utf-8")
    return folder


def test_trained_and_evaluated_networks_get_a_section(nb201_table, tmp_path):
    run = table_run(nb201_table, tmp_path / "run", "nsganetv1", "error,flops", budget=16)
    row = front_csv(run)[0]
    folder = _trained_network(run, row["arch"], 7)
    report = write_report(run, out=tmp_path / "rep")
    out = report.index.parent
    text = report.index.read_text(encoding="utf-8")
    section = re.search(r"<section class='network' id='net-arch-\d+'>.*?</section>", text, re.S).group(0)
    facts = dict(parse(section.replace("class='facts'", "id='facts'")).tables["facts"])
    assert facts["training"].startswith("trained from scratch, 3 epochs on digits; best epoch 2")
    assert "1 min 15 s on cpu" in facts["training"]
    # FGSM area above chance 10 %: (81.5 + 30) / 2 over 90, in %
    assert facts["test (trained weights)"] == ("clean accuracy 91.5 % on digits-test (359 images); mean corruption "
                                               "accuracy 85 %; FGSM robustness area 61.94 / 100")
    assert "Not yet done" not in section
    name = folder.name
    for file in (f"net-{name}-arch.png", f"net-{name}-curves.png", f"net-{name}-trained-corruptions.png",
                 f"net-{name}-trained-fgsm.png"):
        assert (out / file).stat().st_size > 5000 and f"src='{file}'" in section
    page = parse(text)
    assert page.body["data-images-total"] == str(len(report.figures)) == str(len(page.images))
    write_report(run, out=tmp_path / "rep")  # again: nothing stale, nothing doubled
    assert len(list(out.glob("net-*.png"))) == 4


def test_network_figures_name_the_network(tmp_path, monkeypatch):
    """Curves have whole-number epoch ticks; titles say which network and which data."""
    from nsganet.robustness.evaluate import EvaluationReport
    from nsganet.robustness.plots import evaluation_title, report_from_dict
    from nsganet.train import curves

    assert evaluation_title(tmp_path / "arch-00007" / "train", "micro", "digits", 359) == \
        "arch-00007 (trained), micro: digits test split (359 images)"
    assert evaluation_title(tmp_path / "arch-00007", "micro", "digits") == "arch-00007, micro: digits test split"
    original = EvaluationReport("digits-test", 359, 10, 91.5, {"fog": {1: 90.0, 3: 70.0}}, [0.0, 0.1], [91.5, 40.0],
                                seed=3, seconds=2.0)
    assert report_from_dict(json.loads(json.dumps(original.to_dict()))) == original
    with pytest.raises(ValueError):
        report_from_dict({"dataset": "x"})
    history = {"epoch": [1, 2, 3], "lr": [0.1] * 3, "train_loss": [2.0, 1.5, 1.2], "train_acc": [30.0, 50.0, 60.0],
               "valid_acc": [float("nan")] * 3, "seconds": [1.0] * 3, "images_per_s": [100.0] * 3}
    curves.write_curves(history, tmp_path / "curves.csv")
    read = curves.read_curves(tmp_path / "curves.csv")
    assert read["epoch"] == [1.0, 2.0, 3.0] and all(np.isnan(read["valid_acc"]))
    seen = {}
    monkeypatch.setattr(curves, "save_figure", lambda fig, path, dpi=100: seen.update(
        ticks=[t for ax in fig.axes for t in ax.get_xticks() if 1 <= t <= 3], title=fig._suptitle.get_text()))
    curves.plot_curves(read, tmp_path / "curves.png", title=curves.curves_title(tmp_path / "arch-7" / "train",
                                                                                  "MicroNetwork", read))
    assert seen["ticks"] and all(float(t).is_integer() for t in seen["ticks"])
    assert seen["title"] == "arch-7 (trained): MicroNetwork, best epoch 3"


# -- operations ------------------------------------------------------------------------------------
def test_operations_of_constructed_architectures():
    nb201 = get_space("nb201")
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert Counter(nb201.operations(nb201.from_string(arch))) == {"nor_conv_3x3": 3, "none": 2, "skip_connect": 1}

    micro = get_space("micro")
    arch = ("normal: sep_conv_3x3(h-1) + identity(h-2) | max_pool_3x3(n0) + dil_conv_5x5(h-1) | "
            "identity(n1) + identity(h-2) | sep_conv_3x3(n0) + lbc_3x3(n2) | avg_pool_3x3(h-1) + identity(n3); "
            "reduce: conv_7x1_1x7(h-2) + sep_conv_5x5(h-1) | squeeze_excitation(n0) + identity(h-1) | "
            "sep_conv_7x7(n1) + max_pool_3x3(h-2) | lbc_5x5(n2) + dil_conv_3x3(n0) | max_pool_3x3(n3) + identity(n1)")
    ops = micro.operations(micro.from_string(arch))
    assert len(ops) == 20 and Counter(ops) == Counter(re.findall(r"([a-z0-9_]+)\(", arch))
    assert Counter(ops)["identity"] == 6

    from nsganet.nn.macro import PhaseGraph

    macro = get_space("macro")
    for arch in ("1-00-010-0111-10011-0 | 0-00-010-0101-11111-0 | 0-01-101-1011-10011-1",
                 "0-00-000-0000-00000-1 | 1-00-000-0000-00000-0 | 0-00-000-0000-00001-1"):
        genome = macro.from_string(arch)
        counts = Counter(macro.operations(genome))
        for p, (connections, skip) in enumerate(macro.decode(genome), start=1):
            assert counts[f"phase{p}:conv"] == len(PhaseGraph.from_connections(connections).active)
            assert counts[f"phase{p}:residual"] == int(skip)
    assert Counter(macro.operations(macro.from_string("0-00-000-0000-00000-1 | 1-00-000-0000-00000-0 | "
                                                      "0-00-000-0000-00001-1"))) == {
        "phase1:residual": 1, "phase2:conv": 2, "phase3:conv": 2, "phase3:residual": 1}

    mbv3 = get_space("mobilenetv3")
    arch = "r224 | k3e4 k5e6 | k7e3 k3e3 k5e4 | k3e3 k3e3 | k5e6 k5e6 k7e4 k3e3 | k3e4 k7e6"
    counts = Counter(mbv3.operations(mbv3.from_string(arch)))
    assert counts == {"r224": 1, "d2": 3, "d3": 1, "d4": 1, "k3": 6, "k5": 4, "k7": 3, "e3": 5, "e4": 4, "e6": 4}
    assert sum(counts.values()) == 1 + 5 + 2 * 13

    class Plain(NB201Space):  # a space without its own operations falls back to the genome's values
        operations = SearchSpace.operations

    assert Plain().operations(np.array([0, 1, 2, 3, 4, 0])) == ["x0=0", "x1=1", "x2=2", "x3=3", "x4=4", "x5=0"]
    assert genome_values((4, 0)) == ["x0=4", "x1=0"]


def test_operation_shares_sum_to_one():
    rng = np.random.default_rng(0)
    for name in ("nb201", "micro", "macro", "mobilenetv3"):
        space = get_space(name)
        ops = [space.operations(g) for g in space.sample(rng, 7)]
        counts = operation_counts(ops)
        assert sum(counts.values()) == sum(len(o) for o in ops)
        shares = operation_shares(ops)
        assert sum(shares.values()) == pytest.approx(1.0)
        assert shares == pytest.approx({k: v / sum(counts.values()) for k, v in counts.items()})
    assert operation_shares([]) == {}


# -- the page in a real browser --------------------------------------------------------------------
def test_page_renders_in_headless_chromium(micro_run, escape_run, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian/Ubuntu: apt-get install chromium)")
    report = write_report(micro_run, out=tmp_path / "micro")
    url = report.index.resolve().as_uri()
    shot = tmp_path / "shot.png"
    result = _chromium(url, tmp_path, f"--screenshot={shot}")
    assert shot.is_file(), result.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        grey = np.asarray(image.convert("L"), dtype=float)
    assert grey.std() > 20  # not blank
    assert (grey < 200).mean() > 0.05  # a real share of the page is drawn (text, header, figures)
    assert (grey[:60] < 100).mean() > 0.5  # the dark header band

    dom = _chromium(url, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = parse(dom.stdout)
    n_images = len(report.figures)
    assert page.body.get("data-images-total") == str(n_images) and n_images >= 4
    assert page.body.get("data-images-loaded") == str(n_images)  # every figure decoded
    assert len(page.tables["front"]) == len(front_csv(micro_run))

    escaped = write_report(escape_run, out=tmp_path / "escape")
    dom = _chromium(escaped.index.resolve().as_uri(), tmp_path, "--dump-dom")
    page = parse(dom.stdout)
    assert page.scripts == 1 and page.body.get("data-images-loaded") == str(len(escaped.figures))
    assert all(r[6].startswith(XSS) for r in page.tables["front"])  # text, not markup
    assert len(page.tables["front"]) == len(front_csv(escape_run))

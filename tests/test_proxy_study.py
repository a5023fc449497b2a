"""Proxy-fidelity study (``nsganet proxy-study``): the table maths, the settings grammar, a real tiny study on the
embedded digits through the CLI, resuming, worker independence, and a weight-inheritance study."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
import shutil
import sqlite3

import numpy as np
import pytest
from conftest import cli_in_process, run_cli
from scipy import stats

from nsganet.errors import ConfigError
from nsganet.executors import ExecutorSettings
from nsganet.proxy_study import (
    Analysis,
    PairResult,
    Setting,
    StudyCallback,
    default_reference,
    default_settings,
    parse_setting,
    run_proxy_study,
    sample_architectures,
    study_table,
)
from nsganet.proxy_study.store import StudyStore
from nsganet.spaces import get_space

# A tiny study of 5 micro architectures: what the CLI end-to-end run, the resumed run and the 2-worker run share.
TINY = {"archs": 5, "seed": 3, "reference": "c4-l1-e2-i400", "settings": ["c4-l1-e1-i200", "c2-l1-e1-i100"]}
TINY_ARGS = ["--archs", "5", "--seed", "3", "--reference", "c4-l1-e2-i400", "--setting", "c4-l1-e1-i200",
             "--setting", "c2-l1-e1-i100"]


cli = cli_in_process


def read_results(path) -> list[PairResult]:
    with open(path, newline="") as handle:
        return [PairResult(int(r["arch_index"]), r["arch"], r["setting"], float(r["error"]) if r["error"] else None,
                           float(r["seconds"])) for r in csv.DictReader(handle)]


def errors(results) -> dict[tuple[int, str], float | None]:
    return {(r.arch_index, r.setting): r.error for r in results}


# -- the table maths --------------------------------------------------------------------------------------------

def synthetic(n: int, seed: int = 0) -> tuple[list[PairResult], dict[str, list[float]]]:
    """Reference errors and three noisier settings' errors of ``n`` architectures; each with its own cost."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(5, 50, n)
    errors = {"c16-l2-e10": truth, "c8-l1-e5": truth + rng.normal(0, 2, n), "c8-l1-e2": truth + rng.normal(0, 30, n),
              "c4-l1-e5": 100 - truth}
    cost = {"c16-l2-e10": 10.0, "c8-l1-e5": 3.0, "c8-l1-e2": 1.0, "c4-l1-e5": 2.0}
    results = [PairResult(i, f"a{i}", name, float(e), cost[name] + 0.01 * i)
               for name, values in errors.items() for i, e in enumerate(values)]
    return results, {k: list(map(float, v)) for k, v in errors.items()}


SETTINGS = [parse_setting(s) for s in ("c16-l2-e10", "c8-l1-e5", "c8-l1-e2", "c4-l1-e5")]


def test_rank_correlations_and_costs_are_scipys_and_the_means():
    results, errors_ = synthetic(24)
    table = study_table(results, SETTINGS, SETTINGS[0])
    ref = errors_["c16-l2-e10"]
    for name in ("c8-l1-e5", "c8-l1-e2", "c4-l1-e5"):
        row = table.row(name)
        assert row.rho == pytest.approx(stats.spearmanr(ref, errors_[name]).statistic, abs=1e-12)
        assert row.tau == pytest.approx(stats.kendalltau(ref, errors_[name]).statistic, abs=1e-12)
        assert row.n == 24 and row.failed == 0
    assert table.row("c4-l1-e5").rho == pytest.approx(-1.0)  # the inverse ranking
    assert table.row("c16-l2-e10").rho == pytest.approx(1.0) and table.row("c16-l2-e10").is_reference
    assert table.row("c8-l1-e5").seconds == pytest.approx(3.0 + 0.01 * 23 / 2)
    assert table.row("c8-l1-e5").relative_cost == pytest.approx((3.0 + 0.115) / (10.0 + 0.115))
    assert [r.name for r in table.rows] == ["c8-l1-e2", "c4-l1-e5", "c8-l1-e5", "c16-l2-e10"]  # cheapest first
    assert table.top_k == 6  # a quarter of the architectures


def test_top_k_overlap_counts_the_references_best_found_among_the_settings_best():
    ref = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    other = [2.0, 1.0, 9.0, 3.0, 8.0, 0.5, 7.0, 6.0]  # its best 3: archs 5, 1, 0; the reference's: 0, 1, 2
    results = [PairResult(i, f"a{i}", name, e, 1.0) for name, values in (("e10", ref), ("e2", other))
               for i, e in enumerate(values)]
    reference, cheap = Setting(epochs=10), Setting(epochs=2)
    assert study_table(results, [reference, cheap], reference, top_k=3).row("e2").top_k_overlap == pytest.approx(2 / 3)
    assert study_table(results, [reference, cheap], reference, top_k=1).row("e2").top_k_overlap == 0.0
    assert study_table(results, [reference, cheap], reference, top_k=8).row("e2").top_k_overlap == 1.0
    tied = [PairResult(i, f"a{i}", "e2", e, 1.0) for i, e in enumerate([1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0])]
    # the reference's best 3 (archs 0-2) are among 4 tied for the best: each is in the best 3 with chance 3/4
    row = study_table(results[:8] + tied, [reference, cheap], reference, top_k=3).row("e2")
    assert row.top_k_overlap == pytest.approx(3 / 4)


def test_failed_pairs_are_left_out_of_the_correlations_but_counted():
    results, errors_ = synthetic(10)
    results = [PairResult(r.arch_index, r.arch, r.setting, None, r.seconds, "boom")
               if r.setting == "c8-l1-e5" and r.arch_index in (0, 4) else r for r in results]
    row = study_table(results, SETTINGS, SETTINGS[0]).row("c8-l1-e5")
    keep = [i for i in range(10) if i not in (0, 4)]
    assert row.n == 8 and row.failed == 2
    assert row.rho == pytest.approx(stats.spearmanr([errors_["c16-l2-e10"][i] for i in keep],
                                                    [errors_["c8-l1-e5"][i] for i in keep]).statistic)


def test_the_recommendation_is_the_cheapest_setting_reaching_the_threshold_or_none():
    results, _ = synthetic(24)
    table = study_table(results, SETTINGS, SETTINGS[0], threshold=0.7)
    assert table.recommended is not None and table.recommended.name == "c8-l1-e5"
    assert table.recommendation_text().startswith("recommended: c8-l1-e5 (ρ 0.9")
    assert "× the reference's cost" in table.recommendation_text()
    noisy = table.row("c8-l1-e2").rho
    cheap = study_table(results, SETTINGS, SETTINGS[0], threshold=noisy - 1e-9)  # the noisy one qualifies too
    assert cheap.recommended is not None and cheap.recommended.name == "c8-l1-e2"
    none = study_table(results, SETTINGS, SETTINGS[0], threshold=1.0)  # only the reference itself reaches 1
    assert none.recommended is None
    assert none.recommendation_text().startswith("recommended: none (no setting reaches ρ ≥ 1; the closest is "
                                                 "c8-l1-e5")
    by_tau = study_table(results, SETTINGS, SETTINGS[0], metric="tau", threshold=table.row("c8-l1-e5").tau)
    assert by_tau.recommended is not None and by_tau.recommended.name == "c8-l1-e5"
    assert "τ" in by_tau.recommendation_text()
    with pytest.raises(ConfigError, match="threshold must be from -1 to 1"):
        study_table(results, SETTINGS, SETTINGS[0], threshold=1.5)


def test_constant_errors_give_no_correlation_and_no_recommendation():
    results = [PairResult(i, f"a{i}", name, 90.0 if name == "e1" else float(i), 1.0)
               for name in ("e5", "e1") for i in range(6)]
    table = study_table(results, [Setting(epochs=5), Setting(epochs=1)], Setting(epochs=5))
    assert math.isnan(table.row("e1").rho) and table.recommended is None
    line = next(line for line in table.text().splitlines() if line.startswith("e1 "))
    assert line.split()[1:4] == ["-", "-", "0.17"]  # no ρ, no τ; top-1 overlap of a random pick, 1/6


# -- the settings grammar -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "name"), [
    ("c8-l1-e5", "c8-l1-e5"), ("e5-l1-c8", "c8-l1-e5"), (" C16-L2-E10 ", "c16-l2-e10"), ("e2-i300", "e2-i300"),
    ("c8-l1-e5-i500-r14", "c8-l1-e5-i500-r14"), ("inherit", "inherit"), ("inherit-s2", "inherit-s2"),
    ("inherit-f1-s6", "inherit-s6-f1"), ("inherit-s2-f0", "inherit-s2"), ("x1-e5", "e5-x1")])
def test_settings_are_read_into_their_canonical_names(text, name):
    assert parse_setting(text).name == name
    assert parse_setting(name) == parse_setting(text)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty part"), ("c8--e5", "empty part"), ("c8-y3", "'y3' is not a part of"), ("c8-l1-e", "'e' is not"),
    ("e5-x0", "replicate must be at least 1"), ("inherit-x1", "'x1' is not a part of"),
    ("c8-c4", "gives the channels twice"), ("c0-e5", "channels must be from 1 to 4096, got 0"),
    ("l65", "layers must be from 1 to 64"), ("e0", "epochs must be at least 1"), ("r5000", "size must be from 1"),
    ("c8-e5-s2", "'s2' is not a part of"), ("inherit-c8", "'c8' is not a part of"), ("inherit-s0", "at least 1"),
    ("c1234567890", "is not a part of"), ("e-5", "'e' is not a part of"), ("e٣", "is not a part of")])
def test_invalid_settings_are_one_line_errors(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_setting(text)
    assert "\n" not in str(caught.value)


def test_settings_are_completed_for_the_space_and_refused_where_it_lacks_a_knob():
    micro, macro, nb201 = get_space("micro"), get_space("macro"), get_space("nb201")
    mbv3 = get_space("mobilenetv3").for_images(8)
    assert parse_setting("e2").resolved(micro, 5).name == "c8-l1-e2"
    assert parse_setting("c4-i100").resolved(micro, 5).name == "c4-l1-e5-i100"
    assert parse_setting("e3").resolved(macro, 5).name == "c16-e3"
    assert parse_setting("e3").resolved(mbv3, 5).name == "e3"
    with pytest.raises(ConfigError, match="macro networks have no depth knob; leave out l2"):
        parse_setting("c8-l2-e5").resolved(macro, 5)
    with pytest.raises(ConfigError, match="mobilenetv3 networks have no width knob"):
        parse_setting("c8-e5").resolved(mbv3, 5)
    with pytest.raises(ConfigError, match="the micro space has no supernet to inherit weights from"):
        parse_setting("inherit-s2").resolved(micro, 5)
    assert default_reference(micro).name == "c16-l2-e10" and default_reference(nb201).name == "c16-l2-e10"
    assert default_reference(macro).name == "c32-e10" and default_reference(mbv3).name == "e10"
    assert [s.name for s in default_settings(micro, 1150)] == ["c8-l1-e5", "c8-l1-e2", "c8-l1-e5-i287", "c4-l1-e5"]
    assert [s.name for s in default_settings(mbv3, 1150)] == ["e5"]


def test_the_command_line_refuses_bad_settings_and_options_in_one_line(tmp_path):
    for argv, message in [
        (["--setting", "c8-y1"], "'y1' is not a part of"),
        (["--reference", "c0"], "channels must be from 1 to 4096"),
        (["--min-rho", "2"], "'2' must be from -1 to 1"),
        (["--min-rho", "0.5", "--min-tau", "0.5"], "not allowed with argument"),
        (["--space", "macro", "--setting", "l2-e1"], "macro networks have no depth knob"),
        (["--setting", "inherit-s1"], "the micro space has no supernet"),
        (["--supernet-epochs", "2"], "--supernet-epochs applies to weight inheritance"),
        (["--reference", "e1", "--setting", "e1"], "at least one setting other than the reference"),
        (["--setting", "e1-i5000"], "the search-train split has 1150 images, fewer than 5000"),
        (["--resume"], "nothing to resume"),
    ]:
        code, out, err = cli("proxy-study", *argv, "--out", str(tmp_path / "x"), "-q")
        assert code == 2, (argv, out, err)
        assert message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "x").exists()


def test_the_same_seed_samples_the_same_distinct_architectures():
    space = get_space("micro")
    first = [space.to_string(g) for g in sample_architectures(space, 12, 7)]
    assert first == [space.to_string(g) for g in sample_architectures(space, 12, 7)]
    assert len(set(first)) == 12
    assert first != [space.to_string(g) for g in sample_architectures(space, 12, 8)]


# -- real studies on the embedded digits --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """The tiny study through the command line, uninterrupted, in one process with one thread."""
    out = tmp_path_factory.mktemp("proxy-study") / "study"
    done = run_cli("proxy-study", *TINY_ARGS, "--out", str(out), "-q")
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_a_tiny_study_through_the_command_line_writes_every_output(tiny_study):
    out, stdout = tiny_study
    results = read_results(out / "results.csv")
    assert len(results) == 15 and all(r.ok and 0 <= r.error <= 100 and r.seconds > 0 for r in results)
    assert [r.setting for r in results[::5]] == ["c4-l1-e2-i400", "c4-l1-e1-i200", "c2-l1-e1-i100"]
    document = json.loads((out / "study.json").read_text())
    table = study_table(results, [parse_setting(s) for s in ("c4-l1-e2-i400", "c4-l1-e1-i200", "c2-l1-e1-i100")],
                        parse_setting("c4-l1-e2-i400"))
    assert [row["setting"] for row in document["rows"]] == [r.name for r in table.rows]
    for row in document["rows"]:
        mine = table.row(row["setting"])
        assert row["rho"] == pytest.approx(mine.rho) and row["tau"] == pytest.approx(mine.tau)
        assert row["top_k_overlap"] == pytest.approx(mine.top_k_overlap)
    assert document["recommendation"] == table.recommendation_text()
    assert document["top_k"] == 1 and document["config"]["archs"] == 5
    with open(out / "study.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["setting"] for r in rows] == [r.name for r in table.rows]
    assert rows[0]["channels"] and {"rho", "tau", "top_k_overlap", "seconds_per_arch", "relative_cost"} <= set(rows[0])
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "c4-l1-e2-i400 (reference)" in stdout and table.recommendation_text() in stdout
    assert "15 pairs evaluated now, 0 read back" in stdout


def test_a_finished_study_is_read_back_and_other_configs_are_refused(tiny_study, tmp_path):
    out = tiny_study[0]
    before = (out / "results.csv").read_text()
    code, again, err = cli("proxy-study", "--out", str(out), "--resume", "--min-tau", "0.5", "-q")
    assert code == 0, err
    assert "0 pairs evaluated now, 15 read back" in again and "recommended:" in again
    assert (out / "results.csv").read_text() == before
    code, _, err = cli("proxy-study", *TINY_ARGS[:-2], "--out", str(out), "-q")
    assert code == 2 and "holds a study whose config differs in settings" in err and "--resume" in err
    code, _, err = cli("proxy-study", "--out", str(out), "--resume", "--archs", "6", "-q")
    assert code == 2 and "leave out --archs" in err
    (tmp_path / "mine.txt").write_text("mine")
    code, _, err = cli("proxy-study", *TINY_ARGS, "--out", str(tmp_path), "-q")
    assert code == 2 and "holds no proxy study" in err


def test_a_damaged_store_is_refused_in_one_line(tiny_study, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_study[0], copy)
    with contextlib.closing(sqlite3.connect(copy / "study.sqlite")) as conn, conn:
        conn.execute("UPDATE results SET error = 150 WHERE arch_index = 0")
    code, _, err = cli("proxy-study", "--out", str(copy), "--resume", "-q")
    assert code == 2 and "corrupt study store" in err and "not a percentage" in err and err.count("\n") == 1
    (copy / "study.sqlite").write_bytes(b"")
    code, _, err = cli("proxy-study", "--out", str(copy), "--resume", "-q")
    assert code == 2 and "the file is empty" in err


class StopAfter(StudyCallback):
    """Interrupts a study, as Ctrl-C would, once ``n`` results are committed."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def on_result(self, study, result) -> None:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt


@pytest.fixture
def two_threads():
    """Torch with two threads in this process: a study's results must not depend on it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_an_interrupted_study_resumes_to_the_same_results_training_nothing_twice(tiny_study, tmp_path, two_threads):
    """Interrupted after 7 results, as Ctrl-C would; the resumed study (this process, two torch threads) ends with
    the errors of the uninterrupted command-line one (its own process, one thread)."""
    out = tmp_path / "study"
    with pytest.raises(KeyboardInterrupt):
        run_proxy_study("micro", out=out, progress=False, callbacks=[StopAfter(7)], **TINY)
    with StudyStore(out / "study.sqlite") as store:
        kept = store.finished_at()
    assert len(kept) == 7 and not (out / "results.csv").exists()
    resumed = run_proxy_study("micro", out=out, progress=False, **TINY)
    assert (resumed.trained, resumed.reused) == (8, 7)
    with StudyStore(out / "study.sqlite") as store:
        finished = store.finished_at()
    assert len(finished) == 15 and all(finished[key] == when for key, when in kept.items())  # none trained again
    assert errors(read_results(out / "results.csv")) == errors(read_results(tiny_study[0] / "results.csv"))


def test_two_workers_give_the_errors_of_one(tiny_study, tmp_path):
    result = run_proxy_study("micro", out=tmp_path / "two", progress=False,
                             executor=ExecutorSettings(workers=2), **TINY)
    assert result.trained == 15
    assert errors(result.results) == errors(read_results(tiny_study[0] / "results.csv"))
    assert result.retable(Analysis(top_k=2)).top_k == 2


def test_an_inheritance_study_trains_its_supernet_once_and_ranks_inherited_subnets(tmp_path, one_thread):
    out = tmp_path / "inherit"
    options = {"archs": 4, "seed": 1, "reference": "e1-i300", "settings": ["e1-i100"], "supernet_epochs": [1],
               "finetune_epochs": 1, "width_mult": 0.25, "batch_size": 64, "vld_size": 200}
    result = run_proxy_study("mobilenetv3", out=out, progress=False, **options)
    names = [r.setting.label for r in result.table.rows]
    assert {"inherit (supernet 1 ep)", "inherit (supernet 1 ep) + finetune 1 ep", "e1-i100", "e1-i300"} == set(names)
    assert result.config.settings == ["e1-i100", "inherit-s1", "inherit-s1-f1"]
    supernet = out / "supernet-s1" / "supernet.pt"
    assert supernet.is_file() and result.supernet_seconds["s1"] > 0
    assert result.table.row("inherit-s1").one_off_seconds == result.supernet_seconds["s1"]
    assert all(r.ok and 0 <= r.error <= 100 for r in result.results) and len(result.results) == 16
    inherited = [r.seconds for r in result.results if r.setting == "inherit-s1"]
    tuned = [r.seconds for r in result.results if r.setting == "inherit-s1-f1"]
    assert sum(tuned) > sum(inherited)  # fine-tuning costs more than extraction and calibration alone
    stamp = supernet.stat().st_mtime_ns
    again = run_proxy_study("mobilenetv3", out=out, progress=False, **options)
    assert again.trained == 0 and supernet.stat().st_mtime_ns == stamp  # nothing trained twice
    assert errors(again.results) == errors(result.results)
    rows = json.loads((out / "study.json").read_text())["rows"]
    assert {r["setting"]: r["supernet_epochs"] for r in rows}["inherit-s1-f1"] == 1


def test_random_settings_round_trip_through_their_names():
    rng = random.Random(0)
    for _ in range(200):
        values = {name: rng.choice([None, rng.randint(1, 64)]) for name in ("channels", "layers", "epochs", "images")}
        values["size"] = rng.choice([None, rng.randint(1, 4096)])
        if all(v is None for v in values.values()):
            values["epochs"] = 1
        setting = Setting(**values)
        assert parse_setting(setting.name) == setting


def test_a_replicate_is_the_same_setting_trained_with_another_seed(tmp_path):
    """x<k> changes the seed only: the same networks and data, another initialisation and batch order."""
    setting, again = parse_setting("c4-l1-e1-i120"), parse_setting("c4-l1-e1-i120-x1")
    assert again.label == "c4-l1-e1-i120 (seed 2)" and again.replicate == 1
    assert {f for f in vars(setting) if getattr(setting, f) != getattr(again, f)} == {"replicate"}
    result = run_proxy_study("micro", out=tmp_path / "noise", progress=False, archs=3, seed=3,
                             reference=setting.name, settings=[again.name])
    errors = {(r.arch_index, r.setting): r.error for r in result.results}
    assert len(errors) == 6 and any(errors[i, setting.name] != errors[i, again.name] for i in range(3))
    table = study_table(result.results, [setting, again], setting, threshold=-1.0)
    assert table.recommended is None  # a replicate measures noise; it is never the proxy to use

"""``nsganet compare``: runs on common bounds, hypervolume and IGD+ per generation, the median run, attainment
surfaces, the CSV and figure, one-line refusals, and runs left untouched."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
from pathlib import Path

import moocore
import numpy as np
import pytest
from conftest import METRIC, cli_in_process

import nsganet
from nsganet.errors import NsganetError
from nsganet.moo.comparison import (
    RunObjectives,
    attainment_levels,
    attainment_surfaces,
    compare,
    median_run,
)
from nsganet.report.compare import compare_runs, write_comparison
from nsganet.report.compare_plots import plot_comparison

SEEDS = (1, 2, 3)


def table_run(out: Path, table: Path, seed: int, objectives: str = "error,flops", budget: int = 40) -> Path:
    nsganet.search("nb201", objectives=objectives, strategy="nsganetv1", budget=budget, seed=seed, out=out,
                   table=table, metric=METRIC, pop_size=10, progress=False, plots=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, nb201_table) -> list[Path]:
    """Three finished table runs of error and flops (four generations of ten each)."""
    root = tmp_path_factory.mktemp("compare-runs")
    return [table_run(root / f"seed{s}", nb201_table, s) for s in SEEDS]


@pytest.fixture(scope="module")
def params_run(tmp_path_factory, nb201_table) -> Path:
    """A run of other objectives (error and params)."""
    return table_run(tmp_path_factory.mktemp("compare-params") / "params", nb201_table, 1, "error,params", 10)


def read_evaluations(run: Path) -> list[dict[str, str]]:
    with open(run / "evaluations.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def dominated_by(points: np.ndarray, others: np.ndarray) -> bool:
    """Whether every row of ``points`` is weakly dominated by some row of ``others`` (minimisation)."""
    return all((others <= p + 1e-12).all(axis=1).any() for p in points)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(f.relative_to(folder)): (f.read_bytes(), f.stat().st_mtime_ns)
            for f in sorted(folder.rglob("*")) if f.is_file()}


cli = cli_in_process


def assert_one_line(code: int, err: str, *expected: str) -> None:
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("nsganet: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]


# -- the values ------------------------------------------------------------------------------------------------


def test_values_on_common_bounds_agree_with_an_independent_computation(runs):
    comparison = compare_runs(runs)
    result = comparison.result
    rows = {run: read_evaluations(run) for run in runs}
    stats = {run: json.loads(sorted((run / "stats").glob("gen_*.json"))[-1].read_text()) for run in runs}
    flops_max = max(s["hv_bounds"]["upper"][1] for s in stats.values())
    assert flops_max > max(float(r["flops"]) for rs in rows.values() for r in rs if r["status"] == "ok")
    np.testing.assert_allclose(result.lower, [0.0, 0.0])
    np.testing.assert_allclose(result.upper, [100.0, flops_max])  # error: known worst; flops: the runs' own bound
    for run, quality in zip(runs, result.runs):  # runs of one configuration score as they did themselves
        assert quality.final.hypervolume == pytest.approx(stats[run]["hypervolume"], rel=1e-9)

    def normalised(rs, generation):
        F = np.array([[float(r["error"]), float(r["flops"])] for r in rs
                      if r["status"] == "ok" and int(r["generation"]) <= generation])
        return F / [100.0, flops_max]

    last = {run: max(int(r["generation"]) for r in rs) for run, rs in rows.items()}
    union = np.vstack([normalised(rs, last[run]) for run, rs in rows.items()])
    union = union[moocore.is_nondominated(union)]
    for run, quality in zip(runs, result.runs):
        assert quality.name == run.name
        for g in quality.history:
            Z = normalised(rows[run], g.generation)
            assert g.n_evaluated == sum(int(r["generation"]) <= g.generation for r in rows[run])
            assert g.hypervolume == pytest.approx(moocore.hypervolume(Z, ref=[1.0, 1.0]), rel=1e-9)
            assert g.igd_plus == pytest.approx(moocore.igd_plus(Z, ref=union), rel=1e-9)
    assert [r.seed for r in comparison.runs] == list(SEEDS)
    assert all(r.n_evaluated == 40 and r.finished and r.strategy == "nsganetv1" for r in comparison.runs)


def test_hypervolume_grows_and_igd_plus_shrinks_per_generation(runs):
    for quality in compare_runs(runs).result.runs:
        hv = [g.hypervolume for g in quality.history]
        igd = [g.igd_plus for g in quality.history]
        n = [g.n_evaluated for g in quality.history]
        assert len(hv) == 4 and n == [10, 20, 30, 40]
        assert all(b >= a - 1e-12 for a, b in itertools.pairwise(hv)), hv
        assert all(b <= a + 1e-12 for a, b in itertools.pairwise(igd)), igd
        assert 0 < hv[-1] < 1 and igd[-1] >= 0


def test_a_run_holding_the_union_front_has_igd_plus_zero(runs, tmp_path):
    copy = tmp_path / "copy-of-seed1"
    shutil.copytree(runs[0], copy)
    result = compare_runs([runs[0], copy]).result
    assert [q.final.igd_plus for q in result.runs] == [0.0, 0.0]
    assert result.runs[0].final.hypervolume == result.runs[1].final.hypervolume
    # synthetic: the front that dominates the other's is the union front
    good = RunObjectives("good", np.array([[1.0, 4.0], [2.0, 2.0], [4.0, 1.0]]), [0, 0, 1])
    bad = RunObjectives("bad", np.array([[2.0, 5.0], [3.0, 3.0], [np.nan, np.nan]]), [0, 1, 1])
    result = compare([good, bad], ["a", "b"])
    assert result.runs[0].final.igd_plus == 0.0 and result.runs[1].final.igd_plus > 0
    assert result.runs[1].history[-1].n_evaluated == 3  # the failed evaluation counts as evaluated


def test_the_median_run_is_the_run_of_median_final_hypervolume(runs):
    result = compare_runs(runs).result
    hv = result.final_hypervolumes
    assert hv[result.median] == np.median(hv)
    assert result.hypervolume_median == np.median(hv)
    assert result.hypervolume_iqr == pytest.approx(np.percentile(hv, 75) - np.percentile(hv, 25))
    assert median_run([0.3, 0.1, 0.2]) == 2
    assert median_run([0.1, 0.4, 0.2, 0.3]) == 2  # even: the lower of the two middle values (0.2, 0.3)
    assert median_run([0.5, 0.5]) == 0 and median_run([0.7]) == 0


def test_attainment_surfaces_are_nested(runs):
    result = compare_runs(runs).result
    best, middle, worst = attainment_levels(3)
    assert (best, middle, worst) == (1, 2, 3)
    surfaces = result.surfaces
    assert set(surfaces) == {1, 2, 3} and all(len(s) for s in surfaces.values())
    assert dominated_by(surfaces[middle], surfaces[best]) and dominated_by(surfaces[worst], surfaces[middle])
    assert not dominated_by(surfaces[best], surfaces[worst])  # the runs differ: the surfaces do too
    union = np.vstack([q.front for q in result.runs])
    union = union[moocore.is_nondominated(union)]
    np.testing.assert_allclose(np.unique(surfaces[best], axis=0), np.unique(union, axis=0))
    for quality in result.runs:  # every run attains the worst surface
        assert dominated_by(surfaces[worst], quality.front)
    assert attainment_levels(4) == (1, 2, 4) and attainment_levels(1) == (1, 1, 1)


def test_attainment_surfaces_of_known_fronts():
    fronts = [np.array([[1.0, 3.0], [3.0, 1.0]]), np.array([[2.0, 2.0]])]
    surfaces = attainment_surfaces(fronts, [1, 2])
    np.testing.assert_allclose(surfaces[1], [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    np.testing.assert_allclose(surfaces[2], [[2.0, 3.0], [3.0, 2.0]])


def test_three_objectives_give_the_table_and_the_hypervolume_panel_only(tmp_path):
    rng = np.random.default_rng(0)
    runs = [RunObjectives(f"r{i}", rng.random((12, 3)), np.repeat([0, 1, 2], 4)) for i in range(3)]
    result = compare(runs, ["error", "flops", "params"], [100.0, None, None])
    assert result.surfaces == {} and len(result.runs) == 3
    assert result.upper[0] == 100.0 and result.upper[1] == pytest.approx(max(r.F[:, 1].max() for r in runs))
    assert plot_comparison(result, tmp_path / "c.png").stat().st_size > 0


def test_write_comparison_refuses_a_folder_inside_a_run(runs):
    comparison = compare_runs(runs)
    with pytest.raises(NsganetError, match="inside the run"):
        write_comparison(comparison, runs[1] / "compare")


# -- the command -----------------------------------------------------------------------------------------------


def test_cli_prints_the_table_writes_csv_and_png_and_leaves_the_runs_alone(runs, tmp_path):
    before = {run: snapshot(run) for run in runs}
    code, out, err = cli("compare", *map(str, runs), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    result = compare_runs(runs).result
    lines = out.splitlines()
    assert lines[0].split() == ["run", "seed", "strategy", "evaluations", "hypervolume", "igd+", "median"]
    marked = [line.split()[0] for line in lines[1:4] if line.rstrip().endswith("*")]
    assert marked == [runs[result.median].name]
    assert "common bounds: error 0..100" in out and "median run (*)" in out and "the middle of 3 runs" in out
    assert f"median {result.hypervolume_median:.4f}, IQR {result.hypervolume_iqr:.4f}" in out
    with open(tmp_path / "cmp" / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["run", "generation", "n_evaluated", "hypervolume", "igd_plus"]
    assert len(rows) == 12 and {r["run"] for r in rows} == {r.name for r in runs}
    last = [r for r in rows if r["generation"] == "3"]
    assert [float(r["hypervolume"]) for r in last] == pytest.approx(result.final_hypervolumes, rel=1e-5)
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {run: snapshot(run) for run in runs} == before


def test_cli_names_the_lower_middle_run_of_an_even_count(runs, tmp_path):
    code, out, err = cli("compare", *map(str, runs[:2]), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    hv = compare_runs(runs[:2]).result.final_hypervolumes
    lower = runs[int(np.argmin(hv))].name
    assert f"median run (*): {lower}, the lower of the two middle runs" in out


def test_cli_compares_a_single_run_without_a_median(runs, tmp_path):
    code, out, err = cli("compare", str(runs[0]), "--out", str(tmp_path / "one"))
    assert code == 0, err
    assert "median run" not in out and (tmp_path / "one" / "compare.png").exists()


def test_a_run_in_progress_under_a_name_that_is_not_utf8(runs, tmp_path):
    live = tmp_path / os.fsdecode(b"live-\xff")
    shutil.copytree(runs[0], live)
    (live / "front.csv").unlink()  # the search writes it last: without it the run is still going
    code, out, err = cli("compare", str(live), str(runs[1]), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    assert "live-\\xff" in out and "40 (running)" in out
    assert "live-\\xff,3,40," in (tmp_path / "cmp" / "compare.csv").read_text(encoding="utf-8")


def test_cli_refuses_bad_input_in_one_line(runs, params_run, tmp_path):
    (tmp_path / "plain").mkdir()
    code, _, err = cli("compare", str(runs[0]), str(tmp_path / "plain"), "--out", str(tmp_path / "a"))
    assert_one_line(code, err, "is not a run directory")
    code, _, err = cli("compare", str(runs[0]), str(params_run), "--out", str(tmp_path / "b"))
    assert_one_line(code, err, "different objectives", "error,flops", "error,params")
    code, _, err = cli("compare", str(runs[0]), str(runs[0]), "--out", str(tmp_path / "c"))
    assert_one_line(code, err, "given twice")
    code, out, err = cli("compare", *map(str, runs), "--out", str(runs[0] / "inside"))
    assert_one_line(code, err, "inside the run")
    assert out == "" and not (runs[0] / "inside").exists()
    damaged = tmp_path / "damaged"
    shutil.copytree(runs[0], damaged)
    (damaged / "run.sqlite").write_bytes(b"not a database at all" * 100)
    code, _, err = cli("compare", str(runs[0]), str(damaged), "--out", str(tmp_path / "d"))
    assert_one_line(code, err, "corrupt run store")
    assert not any((tmp_path / x).exists() for x in "abcd")

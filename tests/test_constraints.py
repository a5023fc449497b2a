"""Hard constraints: parsing, violation, constrained domination, and constrained searches on NAS-Bench-201.

Every strategy's constrained contract (resumable, steered to feasible genomes,
unchanged when all is feasible) is in ``tests/test_contracts.py``.
"""

import csv
import json
from itertools import product

import numpy as np
import pytest
from conftest import METRIC, NB201, cli_in_process

import nsganet
from nsganet.config import SearchConfig
from nsganet.errors import ConfigError, NsganetError
from nsganet.moo.front import front_of
from nsganet.search.callbacks import Callback
from nsganet.search.constraints import (
    TIE,
    Constraint,
    canonical,
    check_measurable,
    evaluation_violation,
    parse_constraint,
    parse_constraints,
)
from nsganet.search.rundir import RunDirectory
from nsganet.strategies.ranking import feasible_front, nondominated_rank, survive

# -- parsing --------------------------------------------------------------------------------------


def test_constraints_parse_with_every_operator_and_have_one_canonical_text():
    assert parse_constraint(" flops <= 300 ") == Constraint("flops", "<=", 300.0)
    assert [c.op for c in parse_constraints(["a<=1", "b>=1", "c<1", "d>1"])] == ["<=", ">=", "<", ">"]
    assert canonical("latency<5.5, flops<=3e2") == ["flops<=300", "latency<5.5"]  # sorted, numbers canonical
    assert canonical(["flops<=300", "flops <= 300.0", "params>=-0.25"]) == ["flops<=300", "params>=-0.25"]
    assert canonical(None) == canonical([]) == []


@pytest.mark.parametrize("text, message", [
    ("flops=<300", "is not NAME<=NUMBER"), ("flops==300", "is not NAME<=NUMBER"), ("<=300", "is not NAME"),
    ("flops<=", "is not NAME"), ("flops<=3 00", "is not NAME"), ("flops<=abc", "'abc' is not a number"),
    ("flops<=inf", "finite"), ("flops<=nan", "finite"), ("__import__('os')<=1", "is not NAME"),
])
def test_bad_constraints_are_one_line_errors(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_constraint(text)
    assert "\n" not in str(info.value)


def test_constraint_names_must_be_measurable_with_a_close_match_suggested():
    flops = parse_constraints("flops<=300")
    check_measurable(flops, ["error", "params"])  # a cost is measured even when it is not an objective
    with pytest.raises(ConfigError, match="unknown name 'flop'; did you mean 'flops'"):
        check_measurable(parse_constraints("flop<=300"), ["error", "flops"])
    with pytest.raises(ConfigError, match="does not measure robustness; add it to the objectives"):
        check_measurable(parse_constraints("robustness<=30"), ["error", "flops"])
    with pytest.raises(ConfigError, match="unknown name 'acc5'"):
        check_measurable(parse_constraints("acc5>=90"), ["error"], provides={"error"}, custom_evaluator=True)
    check_measurable(parse_constraints("acc5>=90"), ["error"], provides=None, custom_evaluator=True)


# -- violation ------------------------------------------------------------------------------------


def test_violation_is_normalised_by_the_bound_and_strict_bounds_met_exactly_are_violated():
    assert Constraint("flops", "<=", 200.0).violation([100, 200, 300]).tolist() == [0, 0, 0.5]
    assert Constraint("acc", ">=", 90.0).violation([99, 81]).tolist() == [0, 0.1]
    assert Constraint("x", "<=", 0.0).violation([2.0]).tolist() == [2.0]  # a zero bound: absolute
    assert Constraint("flops", "<", 200.0).violation([199, 200]).tolist() == [0, TIE]
    assert Constraint("flops", "<=", 200.0).violation([np.nan]).tolist() == [0]  # unknown: not held against it
    # with an interval (a prediction and its doubt), the most favourable value counts
    assert Constraint("error", "<=", 10.0).violation([9, 12], [13, 14]).tolist() == [0, 0.2]
    assert Constraint("acc", ">=", 90.0).violation([80, 70], [95, 81]).tolist() == [0, 0.1]
    both = parse_constraints(["flops<=100", "params<=2"])
    assert evaluation_violation(both, "ok", {"flops": 150.0, "params": 3.0}) == pytest.approx(1.0)
    assert np.isnan(evaluation_violation(both, "failed", {}))


# -- constrained domination -----------------------------------------------------------------------


def constrained_dominates(fa, va, fb, vb):
    """Deb's rule, written out."""
    if va > 0 or vb > 0:  # not both feasible: feasible beats infeasible, then the smaller violation wins
        return va < vb
    return bool(np.all(fa <= fb) and np.any(fa < fb))


def test_constrained_rank_follows_debs_rule_and_failed_rows_come_last():
    rng = np.random.default_rng(0)
    for _ in range(20):
        F = rng.integers(0, 5, (30, 2)).astype(float)
        V = np.where(rng.random(30) < 0.4, rng.integers(1, 4, 30) / 4, 0.0)
        F[rng.random(30) < 0.1] = np.nan
        rank = nondominated_rank(F, V)
        ok = ~np.isnan(F).any(axis=1)
        for i, j in product(np.flatnonzero(ok), repeat=2):
            if constrained_dominates(F[i], V[i], F[j], V[j]):
                assert rank[i] < rank[j]
        assert (rank[~ok] > rank[ok].max()).all() if (~ok).any() else True
        feasible = ok & (V <= 0)
        assert np.array_equal(rank[feasible], nondominated_rank(F[feasible]))  # Pareto ranks among the feasible
        assert rank[ok & (V > 0)].min() > rank[feasible].max()


def test_an_infeasible_point_never_enters_the_front_even_when_it_dominates():
    F = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0], [4.0, 4.0]])
    V = np.array([0.5, 0.0, 0.0, 0.0])
    assert feasible_front(F, V).tolist() == [[2.0, 3.0], [3.0, 2.0]]
    assert feasible_front(F).tolist() == [[1.0, 1.0]]
    assert sorted(survive(F, 2, V)) == [1, 2]
    assert np.array_equal(nondominated_rank(F, np.zeros(4)), nondominated_rank(F))  # all feasible: unchanged


# -- the config and the command line --------------------------------------------------------------


def test_the_config_records_constraints_canonically_and_refuses_bad_ones():
    assert SearchConfig(constraints="latency<5, flops<=300").constraints == ["flops<=300", "latency<5"]
    assert SearchConfig(constraints=("flops<=300",)).constraints == ["flops<=300"]
    assert SearchConfig().constraints == []
    with pytest.raises(ConfigError, match="is not NAME<=NUMBER"):
        SearchConfig.from_dict({"constraints": ["flops=300"]})
    with pytest.raises(ConfigError, match="a text like NAME<=NUMBER"):
        SearchConfig.from_dict({"constraints": [300]})


def table_options(table, **extra):
    return {"table": str(table), "metric": METRIC, "pop_size": 10, "progress": False, "plots": False, **extra}


def test_cli_constraints_repeat_and_errors_are_one_line_before_anything_is_written(tmp_path, nb201_table):
    out = tmp_path / "run"
    code, stdout, stderr = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC, "--budget", "20",
                                          "--pop-size", "10", "--strategy", "nsga2", "--out", str(out), "-q",
                                          "--constraint", "flops<=40", "--constraint", "params<=0.4")
    assert code == 0, stderr
    assert "meet flops<=40, params<=0.4; the front holds only those" in stdout
    assert RunDirectory(out).read().config.constraints == ["flops<=40", "params<=0.4"]
    for bad, message in (("flop<=40", "did you mean 'flops'"), ("flops=40", "is not NAME<=NUMBER")):
        code, _, stderr = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC,
                                         "--out", str(tmp_path / "bad"), "-q", "--constraint", bad)
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()


def test_a_config_file_lists_constraints_and_options_on_the_command_line_replace_them(tmp_path, nb201_table):
    config = tmp_path / "search.yaml"
    config.write_text(f"space: nb201\ntable: {nb201_table}\nmetric: {METRIC}\nbudget: 10\npop_size: 10\n"
                      "strategy: random\nconstraints: [flops<=40, params >= 0.1]\n")
    code, _, stderr = cli_in_process("search", "--config", str(config), "--out", str(tmp_path / "a"), "-q")
    assert code == 0, stderr
    assert RunDirectory(tmp_path / "a").read().config.constraints == ["flops<=40", "params>=0.1"]
    code, _, stderr = cli_in_process("search", "--config", str(config), "--out", str(tmp_path / "b"), "-q",
                                     "--constraint", "latency<5", "--budget", "3", "--pop-size", "3")
    assert code == 0, stderr
    record = RunDirectory(tmp_path / "b").read()
    assert record.config.constraints == ["latency<5"] and all("latency" in e.objectives for e in record.ok)


# -- constrained searches -------------------------------------------------------------------------

STRATEGY_OPTIONS = {"nsganetv2": {"n_doe": 20, "n_candidates": 8}}


@pytest.mark.parametrize("strategy", ["random", "nsga2", "nsganetv1", "nsganetv2"])
def test_a_constrained_search_keeps_infeasible_architectures_out_of_its_front(tmp_path, nb201_table, strategy):
    result = nsganet.search("nb201", None, "error,flops", strategy, budget=50, seed=4, out=tmp_path / "run",
                            constraints=["flops<=40", "params<=0.4"],
                            **table_options(nb201_table, strategy_params=STRATEGY_OPTIONS.get(strategy, {})))
    feasible = [e for e in result.evaluations if e.objectives["flops"] <= 40 and e.objectives["params"] <= 0.4]
    assert result.feasible == feasible and len(feasible) > 0
    assert strategy == "nsganetv2" or len(feasible) < len(result.evaluations)  # v2 screens all out by their costs
    assert result.front == front_of(feasible, ["error", "flops"])
    assert all(result.stats[-1]["front"][i]["violation"] == 0 for i in range(len(result.front)))
    assert result.stats[-1]["n_feasible"] == len(feasible)
    with (tmp_path / "run" / "evaluations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["feasible"] == "1" for row in rows] == [e in feasible for e in result.evaluations]
    assert all(float(row["params"]) > 0.4 or float(row["flops"]) > 40 for row in rows if float(row["violation"]) > 0)
    with (tmp_path / "run" / "front.csv").open(newline="") as handle:
        assert [row["arch"] for row in csv.DictReader(handle)] == [e.arch for e in result.front]
    record = RunDirectory(tmp_path / "run").read()  # what report and select read
    assert record.front == result.front and record.feasible == feasible


def test_nothing_feasible_leaves_an_empty_front_and_zero_hypervolume(tmp_path, nb201_table):
    result = nsganet.search("nb201", None, "error,flops", "nsga2", budget=20, seed=0, out=tmp_path / "run",
                            constraints=["error<=1"], **table_options(nb201_table))
    assert result.front == [] and result.feasible == [] and result.hypervolume == 0.0
    assert len(result.evaluations) == 20


class Interrupt(Callback):
    """Stops the search (like a crash) once generation ``after`` is stored."""

    def __init__(self, after: int) -> None:
        self.after = after

    def on_generation_end(self, study, event) -> None:
        if event.generation == self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("strategy", ["nsganetv1", "nsganetv2"])
def test_a_resumed_constrained_run_equals_an_uninterrupted_one(tmp_path, nb201_table, strategy):
    options = table_options(nb201_table, constraints=["flops<=60", "error<=9"],
                            strategy_params={"n_doe": 20, "n_candidates": 8} if strategy == "nsganetv2" else
                            {"exploit_start": 0.3})
    whole = nsganet.search("nb201", None, "error,flops", strategy, budget=60, seed=7, out=tmp_path / "whole",
                           **options)
    with pytest.raises(KeyboardInterrupt):
        nsganet.search("nb201", None, "error,flops", strategy, budget=60, seed=7, out=tmp_path / "cut",
                       callbacks=[Interrupt(2)], **options)
    again = nsganet.search("nb201", None, "error,flops", strategy, budget=60, seed=7, out=tmp_path / "cut",
                           resume=True, **options)
    strip = [(e.seq, e.arch, e.generation, e.objectives) for e in whole.evaluations]
    assert [(e.seq, e.arch, e.generation, e.objectives) for e in again.evaluations] == strip
    assert [e.arch for e in again.front] == [e.arch for e in whole.front]
    assert json.dumps(again.stats) == json.dumps(whole.stats)
    assert (tmp_path / "cut" / "evaluations.csv").read_text() == (tmp_path / "whole" / "evaluations.csv").read_text()
    with pytest.raises(NsganetError, match="config differs in constraints"):
        nsganet.search("nb201", None, "error,flops", strategy, budget=60, seed=7, out=tmp_path / "cut",
                       resume=True, **{**options, "constraints": ["flops<=70", "error<=9"]})


def test_nsganetv2_screens_candidates_on_exact_costs_and_predicted_errors(tmp_path, nb201_table):
    """Every candidate meets the cost bound (the design of experiments too); after the design of experiments
    more meet the error bound (8 %: 15 % of the architectures within the cost bound) than without constraints."""
    runs = {}
    for constraints in ([], ["flops<=60", "error<=8"]):
        runs[bool(constraints)] = nsganet.search(
            "nb201", None, "error,flops", "nsganetv2", budget=60, seed=3, out=tmp_path / str(len(constraints)),
            constraints=constraints, **table_options(nb201_table, strategy_params={"n_doe": 20}))
    assert all(e.objectives["flops"] <= 60 for e in runs[True].evaluations)
    share = [np.mean([e.objectives["error"] <= 8 and e.objectives["flops"] <= 60 for e in run.evaluations
                      if e.generation > 0]) for run in (runs[False], runs[True])]
    assert share[1] > share[0], share


def test_a_constraint_on_a_cost_that_is_no_objective_is_measured_and_recorded(tmp_path, nb201_table):
    result = nsganet.search("nb201", None, "error,flops", "random", budget=20, seed=1, out=tmp_path / "run",
                            constraints=["params<=0.5"], **table_options(nb201_table))
    assert all("params" in e.objectives for e in result.evaluations)
    assert {e.arch for e in result.feasible} == {e.arch for e in result.evaluations if e.objectives["params"] <= 0.5}
    with pytest.raises(ConfigError, match="does not measure robustness"):
        nsganet.search("nb201", None, "error,flops", "random", budget=20, out=tmp_path / "bad",
                       constraints=["robustness<=5"], **table_options(nb201_table))
    assert not (tmp_path / "bad").exists()


# -- what reads a constrained run: report, select, compare, multi-fidelity promotion ---------------


def test_report_select_and_compare_of_a_constrained_run_see_only_feasible_architectures(tmp_path, nb201_table):
    from nsganet.deploy.select import export_selection
    from nsganet.report.build import write_report
    from nsganet.report.compare import compare_runs

    result = nsganet.search("nb201", None, "error,flops", "nsga2", budget=40, seed=1, out=tmp_path / "run",
                            constraints=["flops<=40"], **table_options(nb201_table))
    infeasible = [e for e in result.evaluations if e.objectives["flops"] > 40]
    assert infeasible and result.front
    report = write_report(tmp_path / "run")
    assert any(note.startswith("constraints flops<=40: ") and f"{len(result.feasible)} of 40" in note
               for note in report.notes)
    picked = export_selection(tmp_path / "run", n=3, onnx=False)
    assert picked and all(p.evaluation.objectives["flops"] <= 40 for p in picked)
    comparison = compare_runs([tmp_path / "run"])
    assert len(comparison.result.runs[0].front) == len(result.front)
    assert comparison.result.runs[0].front[:, 1].max() <= 40


def test_select_says_nothing_meets_the_constraints(tmp_path, nb201_table):
    from nsganet.deploy.select import export_selection

    nsganet.search("nb201", None, "error,flops", "random", budget=10, seed=0, out=tmp_path / "run",
                   constraints=["error<=1"], **table_options(nb201_table))
    with pytest.raises(NsganetError, match="none of its 10 evaluated architectures meets error<=1"):
        export_selection(tmp_path / "run", n=1)


def test_multi_fidelity_promotes_feasible_rows_before_infeasible_ones():
    from nsganet.search.fidelity import promote

    F = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    assert promote(F, 2) == [0, 1]
    assert promote(F, 2, np.array([0.5, 0.2, 0.0, 0.0])) == [2, 3]
    F[2] = np.nan  # failed: never promoted, even before an infeasible row
    assert promote(F, 2, np.array([0.5, 0.2, np.nan, 0.0])) == [1, 3]

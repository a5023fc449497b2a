"""Warm starts: a search seeded with an earlier run's front (--init-from) and given architectures (--init-archs).

Real table runs on NAS-Bench-201 (and a cheap user evaluator for multi-fidelity):
the seeds come first in the new run, earlier results are reused only when they
were scored the same way, and an interrupted warm-started run resumes to the
uninterrupted one even after its sources changed.
"""

import csv
import random
import shutil
import sqlite3

import numpy as np
import pytest
from conftest import METRIC, NB201, cli_in_process, lookup_evaluator, run_cli
from test_resume import assert_same_run, evaluations_reach, kill_at

import nsganet
from nsganet.config import SearchConfig
from nsganet.errors import ConfigError, NsganetError
from nsganet.search.rundir import RunDirectory
from nsganet.search.warmstart import evaluation_fingerprint
from nsganet.spaces import get_space
from nsganet.strategies import STRATEGIES

SPACE = get_space("nb201")
OBJECTIVES = ["error", "flops"]
QUICK = {"nsganetv2": {"n_doe": 12, "n_candidates": 4, "predictor": "rbf", "generations": 3}}


def table_search(table, out, strategy="nsganetv1", budget=30, seed=0, **options):
    return nsganet.search("nb201", objectives=options.pop("objectives", OBJECTIVES), strategy=strategy,
                          budget=budget, seed=seed, out=out, progress=False, plots=False, table=str(table),
                          metric=METRIC, pop_size=options.pop("pop_size", 8),
                          strategy_params=QUICK.get(strategy, {}), **options)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def fresh_archs(n, avoid, seed=5):
    """``n`` canonical nb201 strings outside ``avoid``."""
    out, rng = [], np.random.default_rng(seed)
    while len(out) < n:
        arch = SPACE.to_string(SPACE.sample(rng, 1)[0])
        if arch not in avoid and arch not in out:
            out.append(arch)
    return out


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, nb201_table):
    """An earlier table run whose front seeds the others."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    return out, table_search(nb201_table, out, "nsga2", budget=40, seed=0)


class StopAfter(nsganet.Callback):
    """Stops the search (as a crash would) once it has heard ``n`` evaluations."""

    def __init__(self, n):
        self.n, self.heard = n, 0

    def on_evaluation(self, study, evaluation, detail, reused):
        self.heard += 1
        if self.heard >= self.n:
            raise KeyboardInterrupt


# -- seeding and reuse -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_starts_with_the_earlier_front_then_the_given_archs(tmp_path, earlier, nb201_table, name):
    run, before = earlier
    front = before.front
    given = fresh_archs(3, {e.arch for e in before.evaluations})
    result = table_search(nb201_table, tmp_path / "run", name, budget=30, seed=2, init_from=str(run),
                          init=[given[0], SPACE.from_string(given[1]), given[2], front[0].arch])
    n = len(front)
    head = result.evaluations[:n + 3]
    assert [e.arch for e in head] == [e.arch for e in front] + given  # the front first, each architecture once
    assert [e.reused_from for e in head] == [f"{run.resolve()}#{e.seq}" for e in front] + [None] * 3
    assert [e.objectives for e in head[:n]] == [{k: e.objectives[k] for k in OBJECTIVES} for e in front]
    assert {e.generation for e in head} == {0}
    assert len(result.evaluations) == 30  # reused results count against the budget
    rows = read_rows(tmp_path / "run" / "evaluations.csv")
    assert [r["reused_from"] for r in rows[:n + 1]] == [f"{run.resolve()}#{e.seq}" for e in front] + [""]
    assert all(r["reused_from"] == "" for r in rows[n:])
    RunDirectory(tmp_path / "run").check_store()


def test_more_seeds_than_the_population_all_go_in_the_first_generation(tmp_path, earlier, nb201_table):
    run, before = earlier
    source = tmp_path / "archs.csv"  # another run's evaluations.csv: the 'arch' column of a CSV
    shutil.copy(run / "evaluations.csv", source)
    result = table_search(nb201_table, tmp_path / "run", "nsga2", budget=25, seed=1, pop_size=6,
                          init_archs=str(source))
    assert [e.arch for e in result.evaluations] == [e.arch for e in before.evaluations[:25]]
    assert {e.generation for e in result.evaluations} == {0}  # the budget ran out within the seeds
    assert all(e.reused_from is None for e in result.evaluations)  # given architectures are always evaluated
    assert "reused_from" not in read_rows(tmp_path / "run" / "evaluations.csv")[0]


def test_results_are_reused_only_when_scored_the_same_way(tmp_path, earlier, nb201_table):
    run, before = earlier
    n = len(before.front)
    bigger = table_search(nb201_table, tmp_path / "bigger", "random", budget=n, input_size=64, init_from=str(run))
    assert [e.arch for e in bigger.evaluations] == [e.arch for e in before.front]
    assert all(e.reused_from is None for e in bigger.evaluations)  # other input size: flops measured again
    assert [e.objectives["flops"] for e in bigger.evaluations] != [e.objectives["flops"] for e in before.front]
    params = table_search(nb201_table, tmp_path / "params", "random", budget=n, objectives=["error", "params"],
                          init_from=str(run))
    assert all(e.reused_from is None for e in params.evaluations)  # the earlier run has no params to reuse
    subset = table_search(nb201_table, tmp_path / "subset", "random", budget=n, seed=9, objectives=["error"],
                          init_from=str(run))
    assert all(e.reused_from is not None for e in subset.evaluations)  # another seed: a table does not care


def test_the_evaluation_fingerprint_holds_what_changes_objective_values(tmp_path, nb201_table):
    table = SearchConfig(space="nb201", table=str(nb201_table), metric=METRIC).to_dict(include_runtime=False)

    def of(config, run=tmp_path / "a", **changes):
        return evaluation_fingerprint({**config, **changes}, run, SPACE)

    assert of(table) == of(table, tmp_path / "b", seed=7, strategy="nsga2", budget=10, pop_size=4,
                           objectives=["error", "params"], strategy_params={"mutation_prob": 0.2},
                           init_from=str(tmp_path), init_archs=["x"], constraints=["flops<=100"])
    for change in ({"input_size": 64}, {"num_classes": 100}, {"metric": "other"}, {"channels": 8},
                   {"evaluator": "module.function"}):
        assert of(table, **change) != of(table), change
    training = SearchConfig().to_dict(include_runtime=False)  # proxy training on the embedded digits
    assert of(training) == of(training, tmp_path / "b", budget=5, fidelity_eta=2)
    for change in ({"seed": 1}, {"epochs": 2}, {"lr": 0.1}, {"train_images": 100}, {"cutout": 8}):
        assert of(training, **change) != of(training), change
    v3 = SearchConfig(space="mobilenetv3").to_dict(include_runtime=False)
    mbv3 = get_space("mobilenetv3")
    assert evaluation_fingerprint(v3, tmp_path / "a", mbv3) != evaluation_fingerprint(v3, tmp_path / "b", mbv3)
    given = {**v3, "supernet": str(tmp_path / "net.pt"), "supernet_epochs": 0}  # searched as it is: shared
    assert evaluation_fingerprint(given, tmp_path / "a", mbv3) == evaluation_fingerprint(given, tmp_path / "b", mbv3)


# -- the command line --------------------------------------------------------------------------------------------
def test_init_archs_file_with_comments_and_init_from_on_the_command_line(tmp_path, earlier, nb201_table):
    run, before = earlier
    given = fresh_archs(2, {e.arch for e in before.evaluations}, seed=8)
    archs = tmp_path / "archs.txt"
    archs.write_text(f"# seeds\n\n{given[0]}   # the first\n{before.front[1].arch}\n  {given[1]}\n")
    out = tmp_path / "run"
    code, _, err = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC, "--strategy", "random",
                                  "--budget", "20", "--pop-size", "5", "--init-from", str(run), "--init-archs",
                                  str(archs), "--out", str(out), "-q")
    assert code == 0, err
    rows = read_rows(out / "evaluations.csv")
    n = len(before.front)
    assert [r["arch"] for r in rows[:n + 2]] == [e.arch for e in before.front] + given
    assert all(r["reused_from"] for r in rows[:n]) and not any(r["reused_from"] for r in rows[n:])
    config = (out / "config.yaml").read_text()
    assert f"init_from: {run.resolve()}" in config and f"init_archs: {archs.resolve()}" in config


def test_bad_warm_starts_are_one_line_errors_before_anything_is_written(tmp_path, nb201_table):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"# fine so far\n{SPACE.to_string(SPACE.smallest())}\n|nor_conv_3x3~0|+|oops~0|x~1|\n")
    no_column = tmp_path / "bad.csv"
    no_column.write_text("architecture,error\nx,1\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    macro = tmp_path / "macro"
    nsganet.search("macro", lambda arch: float(sum(arch.genome)), ["error"], "random", budget=4, pop_size=4,
                   out=macro, progress=False, plots=False)
    cases = [(["--init-archs", str(bad)], f"{bad} line 3: "), (["--init-archs", str(no_column)],
                                                               f"{no_column} line 1: a CSV needs an 'arch' column"),
             (["--init-archs", str(empty)], "lists no architecture"),
             (["--init-archs", str(tmp_path / "missing.txt")], "cannot read architecture file"),
             (["--init-from", str(macro)], "is a run of the macro space; this search is of the nb201 space"),
             (["--init-from", str(tmp_path)], "is not a run directory")]
    for i, (options, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        code, _, err = cli_in_process(*NB201, "--table", str(nb201_table), "--metric", METRIC, "--budget", "5",
                                      *options, "--out", str(out), "-q")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (options, err)
        assert not (out / "run.sqlite").exists()
    with pytest.raises(ConfigError, match="this run's own directory"):
        table_search(nb201_table, tmp_path / "self", init_from=str(tmp_path / "self"))
    with pytest.raises(ConfigError, match="init item 2: "):
        table_search(nb201_table, tmp_path / "api", init=[SPACE.to_string(SPACE.smallest()), [9, 9, 9, 9, 9, 9]])
    with pytest.raises(ConfigError, match="either as init or as init_archs"):
        table_search(nb201_table, tmp_path / "api", init=["x"], init_archs=str(bad))


# -- resume and reproducibility ----------------------------------------------------------------------------------
def test_an_interrupted_warm_start_resumes_to_the_uninterrupted_run_though_its_sources_changed(
        tmp_path, earlier, nb201_table):
    source = tmp_path / "source"
    shutil.copytree(earlier[0], source)
    n = len(earlier[1].front)
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(fresh_archs(4, {e.arch for e in earlier[1].evaluations})) + "\n")
    kwargs = {"strategy": "nsganetv1", "budget": 40, "seed": 3, "init_from": str(source), "init_archs": str(archs)}
    table_search(nb201_table, tmp_path / "straight", **kwargs)
    again = table_search(nb201_table, tmp_path / "again", **kwargs)  # the same seed and warm start: the same run
    assert [(e.arch, e.objectives) for e in again.evaluations] == \
        [(e.arch, e.objectives) for e in table_search(nb201_table, tmp_path / "third", **kwargs).evaluations]
    out = tmp_path / "run"
    for stop in (2, n + 2, 25):  # among the reused results, among the evaluated seeds, in a later generation
        with pytest.raises(KeyboardInterrupt):
            table_search(nb201_table, out, resume=True, callbacks=[StopAfter(stop)], **kwargs)
    archs.write_text("not an architecture\n")  # the sources change or go: the run keeps the seeds it recorded
    shutil.rmtree(source)
    table_search(nb201_table, out, resume=True, **kwargs)
    for name in ("evaluations.csv", "front.csv"):
        assert (out / name).read_text() == (tmp_path / "straight" / name).read_text()
    assert (out / "evaluations.csv").read_text() == (tmp_path / "again" / "evaluations.csv").read_text()
    with pytest.raises(NsganetError, match="config differs in init_archs"):
        table_search(nb201_table, out, resume=True, **{**kwargs, "init_archs": None})


def test_killed_warm_started_cli_search_resumes_to_the_uninterrupted_result(tmp_path, earlier, nb201_table):
    def argv(out):
        return [*NB201, "--table", str(nb201_table), "--metric", METRIC, "--strategy", "nsga2", "--budget", "60",
                "--pop-size", "10", "--seed", "6", "--init-from", str(earlier[0]), "--out", str(out), "-q",
                "--resume"]

    reference = run_cli(*argv(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    out, rng = tmp_path / "killed", random.Random(7)
    targets = [1, *sorted(rng.sample(range(2, 55), 2))]
    kills = kill_at([evaluations_reach(out / "run.sqlite", k) for k in targets], argv(out), out, rng)
    assert len(kills) >= 2
    final = run_cli(*argv(out))
    assert final.returncode == 0, final.stderr
    assert_same_run(out, tmp_path / "reference")


# -- multi-fidelity and the store ----------------------------------------------------------------------------------
class EpochLookup:
    """A user evaluator training 'for epochs': the table's error plus a gap that closes with the epochs."""

    def __init__(self, accuracy, epochs=4):
        self.accuracy, self.epochs = accuracy, epochs

    def with_epochs(self, epochs):
        return EpochLookup(self.accuracy, epochs)

    def __call__(self, arch):
        return {"error": 100.0 - self.accuracy[str(arch)] + 8.0 / self.epochs}


def test_reused_results_skip_the_rungs_of_a_multi_fidelity_run(tmp_path, nb201_accuracy):
    def fidelity_search(out, budget, seed, **options):
        return nsganet.search("nb201", EpochLookup(nb201_accuracy), OBJECTIVES, "nsga2", budget=budget, seed=seed,
                              out=out, pop_size=8, epochs=4, fidelity_eta=2, progress=False, plots=False, **options)

    before = fidelity_search(tmp_path / "before", 24, 0)
    assert {e.epochs for e in before.front} == {4}
    kwargs = {"budget": 30, "seed": 1, "init_from": str(tmp_path / "before")}
    straight = fidelity_search(tmp_path / "straight", **kwargs)
    n = len(before.front)
    assert [e.reused_from for e in straight.evaluations[:n]] == [f"{(tmp_path / 'before').resolve()}#{e.seq}"
                                                                 for e in before.front]
    trained = {r.seq for r in straight.rungs}
    assert not trained & set(range(n)) and trained  # the reused train no rung; the others do
    with pytest.raises(KeyboardInterrupt):
        fidelity_search(tmp_path / "run", callbacks=[StopAfter(n + 3)], **kwargs)
    fidelity_search(tmp_path / "run", resume=True, **kwargs)
    assert (tmp_path / "run" / "evaluations.csv").read_text() == (tmp_path / "straight" / "evaluations.csv").read_text()
    RunDirectory(tmp_path / "run").check_store()
    other = nsganet.search("nb201", lookup_evaluator(nb201_accuracy), OBJECTIVES, "random", budget=n, epochs=4,
                           out=tmp_path / "other", progress=False, plots=False, init_from=kwargs["init_from"])
    assert all(e.reused_from is None for e in other.evaluations)  # another evaluator: evaluated again


def test_a_reused_row_without_its_successful_evaluation_is_damage(tmp_path, earlier, nb201_table):
    out = tmp_path / "run"
    table_search(nb201_table, out, "random", budget=len(earlier[1].front) + 2, init_from=str(earlier[0]))
    RunDirectory(out).check_store()
    with sqlite3.connect(out / "run.sqlite") as conn:
        conn.execute("INSERT INTO reused (seq, run, source_seq) VALUES (999, 'x', 0)")
    with pytest.raises(NsganetError, match="evaluation 999 is recorded as reused"):
        RunDirectory(out).check_store()

"""The search loop through the Python API, with user evaluator functions on the real NB201 table."""

import csv
import json

import numpy as np
import pytest
from conftest import lookup_evaluator

import nsganet
from nsganet.errors import ConfigError, NsganetError


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_budget_counts_distinct_evaluations_and_nothing_is_evaluated_twice(tmp_path, nb201_accuracy):
    calls = []
    inner = lookup_evaluator(nb201_accuracy)

    def evaluate(arch):
        calls.append(str(arch))
        return inner(arch)

    result = nsganet.search("nb201", evaluate, ["error", "ops"], "nsganetv1", budget=57, seed=0,
                            out=tmp_path / "run", pop_size=10, progress=False)
    assert len(calls) == 57 == len(set(calls)) == len(result.evaluations)
    rows = read_csv(tmp_path / "run" / "evaluations.csv")
    assert [r["arch"] for r in rows] == calls
    assert list(rows[0]) == ["arch", "error", "ops", "status", "generation"]
    assert {r["generation"] for r in rows} == {str(g) for g in range(6)}
    # resuming a finished run evaluates nothing more and gives the same files
    before = (tmp_path / "run" / "evaluations.csv").read_text()
    again = nsganet.search("nb201", evaluate, ["error", "ops"], "nsganetv1", budget=57, seed=0,
                           out=tmp_path / "run", pop_size=10, progress=False, resume=True)
    assert len(calls) == 57 and len(again.evaluations) == 57
    assert (tmp_path / "run" / "evaluations.csv").read_text() == before


def test_run_directory_holds_front_stats_plots_and_config(tmp_path, nb201_accuracy):
    result = nsganet.search("nb201", lookup_evaluator(nb201_accuracy), ["error", "ops"], "nsga2",
                            budget=40, seed=1, out=tmp_path / "run", pop_size=10, progress=False)
    run = tmp_path / "run"
    for name in ("run.sqlite", "config.yaml", "evaluations.csv", "front.csv", "front.png", "hypervolume.png"):
        assert (run / name).stat().st_size > 0, name
    stats = [json.loads(p.read_text()) for p in sorted((run / "stats").glob("gen_*.json"))]
    assert [s["generation"] for s in stats] == [0, 1, 2, 3]
    assert [s["n_evaluated"] for s in stats] == [10, 20, 30, 40]
    assert all(0 < s["hypervolume"] <= 1 for s in stats)
    assert [s["hypervolume"] for s in stats] == sorted(s["hypervolume"] for s in stats)
    front = read_csv(run / "front.csv")
    assert [r["arch"] for r in front] == [e.arch for e in result.front]
    F = np.array([[float(r["error"]), float(r["ops"])] for r in front])
    for i in range(len(F)):  # mutually non-dominated
        assert not any(np.all(F[j] <= F[i]) and np.any(F[j] < F[i]) for j in range(len(F)))
    assert "error" in result.front_table()


def test_same_seed_same_evaluations_different_seed_differs(tmp_path, nb201_accuracy):
    texts = []
    for i, seed in enumerate((4, 4, 5)):
        nsganet.search("nb201", lookup_evaluator(nb201_accuracy), "error,ops", "nsganetv1", budget=45,
                       seed=seed, out=tmp_path / f"r{i}", pop_size=8, progress=False, plots=False)
        texts.append((tmp_path / f"r{i}" / "evaluations.csv").read_text())
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_failing_evaluations_are_recorded_and_the_search_goes_on(tmp_path, nb201_accuracy):
    inner = lookup_evaluator(nb201_accuracy)

    def flaky(arch):
        if sum(arch.genome) % 5 == 1:
            raise RuntimeError("CUDA out of memory\nmore details")
        if sum(arch.genome) % 5 == 2:
            return {"error": float("nan"), "ops": 1.0}
        return inner(arch)

    result = nsganet.search("nb201", flaky, ["error", "ops"], "nsga2", budget=30, seed=0,
                            out=tmp_path / "run", pop_size=10, progress=False, plots=False)
    failed = [e for e in result.evaluations if e.status == "failed"]
    assert failed and len(result.evaluations) == 30
    reasons = {e.reason for e in failed}
    assert "RuntimeError: CUDA out of memory" in reasons
    assert any("diverged" in r for r in reasons)
    assert all(e.arch not in {f.arch for f in failed} for e in result.front)
    rows = read_csv(tmp_path / "run" / "evaluations.csv")
    assert {r["status"] for r in rows} == {"ok", "failed"}
    assert all(r["error"] == "" for r in rows if r["status"] == "failed")


def test_flops_and_params_are_measured_when_the_evaluator_gives_only_error(tmp_path, nb201_accuracy):
    def error_only(arch):
        return 100.0 - nb201_accuracy[str(arch)]

    result = nsganet.search("nb201", error_only, ["error", "flops", "params"], "random", budget=6, seed=0,
                            out=tmp_path / "run", pop_size=6, progress=False)
    for e in result.evaluations:
        assert 7.78 <= e.objectives["flops"] <= 220.2 and 0.07 <= e.objectives["params"] <= 1.54
    assert (tmp_path / "run" / "front.png").exists()


def test_table_search_through_the_api(tmp_path, nb201_table):
    result = nsganet.search("nb201", objectives=["error", "params"], strategy="random", budget=5, seed=0,
                            out=tmp_path / "run", table=nb201_table, metric="cifar10_test_acc_200ep",
                            progress=False, plots=False)
    assert len(result.evaluations) == 5 and all(e.status == "ok" for e in result.evaluations)


def test_resuming_with_a_changed_config_or_reusing_a_run_directory_is_refused(tmp_path, nb201_accuracy):
    kwargs = dict(space="nb201", evaluator=lookup_evaluator(nb201_accuracy), objectives="error,ops",
                  strategy="nsga2", seed=0, out=tmp_path / "run", pop_size=5, progress=False, plots=False)
    nsganet.search(budget=10, **kwargs)
    with pytest.raises(NsganetError, match="already holds a run"):
        nsganet.search(budget=10, **kwargs)
    with pytest.raises(NsganetError, match="config differs in budget"):
        nsganet.search(budget=20, resume=True, **kwargs)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(objectives="error,flops", dataset="imagenet2"), "unknown dataset"),
    (dict(objectives="error,flops", dataset="imagenet"), "dataset imagenet needs --data DIR"),
    (dict(objectives="error,flops", input_size=16), "comes from the dataset"),
    (dict(objectives="error,flops", table="x.csv", metric="m", dataset="cifar10"), "not both"),
    (dict(objectives="error,flops", space="nope"), "unknown space"),
    (dict(objectives="error,flops", strategy="nope", table="x.csv", metric="m"), "unknown strategy"),
    (dict(objectives="error,flops", budget=0), "budget must be at least 1"),
    (dict(objectives="error,flops", table="x.csv"), "go together"),
])
def test_bad_api_arguments(tmp_path, kwargs, fragment):
    with pytest.raises((ConfigError, NsganetError), match=fragment):
        nsganet.search(out=tmp_path / "run", progress=False, **kwargs)


class Recorder(nsganet.Callback):
    """A user's callback: records every event it hears, in order."""

    def __init__(self):
        self.events = []

    def on_search_start(self, study, evaluated):
        self.events.append(("start", evaluated))

    def on_generation_start(self, study, generation):
        self.events.append(("generation", generation))

    def on_evaluation(self, study, evaluation, detail, reused):
        self.events.append(("evaluation", evaluation.seq, evaluation.status, reused))

    def on_generation_end(self, study, event):
        self.events.append(("stored", event.generation, len(event.evaluations), event.stats["n_evaluated"]))

    def on_search_end(self, study, result):
        self.events.append(("end", len(result.evaluations), len(result.stats)))

    def on_close(self, study):
        self.events.append(("close",))


def test_a_users_callback_hears_every_event_of_the_study(tmp_path, nb201_accuracy):
    recorder = Recorder()
    result = nsganet.search("nb201", lookup_evaluator(nb201_accuracy), ["error", "ops"], "nsga2", budget=10,
                            seed=1, out=tmp_path / "run", pop_size=4, progress=False, callbacks=[recorder])
    events = recorder.events
    assert events[0] == ("start", 0) and events[-2] == ("end", 10, 3) and events[-1] == ("close",)
    assert [e[1] for e in events if e[0] == "evaluation"] == list(range(10))  # each evaluation once, in order
    assert [e[1] for e in events if e[0] == "generation"] == [0, 1, 2]
    stored = [e for e in events if e[0] == "stored"]
    assert [s[2] for s in stored] == [4, 8, 10] and all(s[2] == s[3] for s in stored)
    # the writers heard the same events: their files agree with the result
    assert len(read_csv(tmp_path / "run" / "evaluations.csv")) == len(result.evaluations) == 10
    assert [json.loads(p.read_text()) for p in sorted((tmp_path / "run" / "stats").glob("gen_*.json"))] == \
        result.stats
    # resuming a finished run: nothing evaluated, every evaluation read back, the end announced again
    again = Recorder()
    nsganet.search("nb201", lookup_evaluator(nb201_accuracy), ["error", "ops"], "nsga2", budget=10, seed=1,
                   out=tmp_path / "run", pop_size=4, progress=False, resume=True, callbacks=[again])
    assert again.events == [("start", 10), ("end", 10, 3), ("close",)]


class Interrupt(nsganet.Callback):
    """A callback that stops the search by raising, after the first stored generation."""

    def __init__(self):
        self.closed = False

    def on_generation_end(self, study, event):
        raise KeyboardInterrupt

    def on_close(self, study):
        self.closed = True


def test_a_callback_can_stop_the_search_and_the_run_resumes(tmp_path, nb201_accuracy):
    stop = Interrupt()
    evaluate = lookup_evaluator(nb201_accuracy)
    with pytest.raises(KeyboardInterrupt):
        nsganet.search("nb201", evaluate, ["error", "ops"], "nsga2", budget=10, seed=1, out=tmp_path / "run",
                       pop_size=4, progress=False, callbacks=[stop])
    assert stop.closed  # told, although the search did not finish
    resumed = nsganet.search("nb201", evaluate, ["error", "ops"], "nsga2", budget=10, seed=1, out=tmp_path / "run",
                             pop_size=4, progress=False, resume=True)
    straight = nsganet.search("nb201", evaluate, ["error", "ops"], "nsga2", budget=10, seed=1,
                              out=tmp_path / "straight", pop_size=4, progress=False)
    assert [e.arch for e in resumed.evaluations] == [e.arch for e in straight.evaluations]
    assert (tmp_path / "run" / "evaluations.csv").read_text() == \
        (tmp_path / "straight" / "evaluations.csv").read_text()

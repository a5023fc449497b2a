"""Generational against asynchronous scheduling on a simulated cluster of 8, 32 and 128 workers (NAS-Bench-201).

Every search is a real nsganet search of the shared NATS-Bench table
(objectives error and FLOPs) whose evaluations run on a
:class:`~nsganet.executors.simulated.SimulatedCluster`: the table gives the
result at once, and each evaluation is charged a simulated duration,
log-normal (sigma --sigma, default 0.5) around a median proportional to the
architecture's FLOPs plus a constant (--offset, as a share of the largest
network's time; the largest network's median is one hour). The noise is drawn
per architecture and seed, so both schedules of a seed see the same durations.

Runs: for each worker count, nsganetv1 (population 20) and nsganetv2 (its
batch of 8 after the design of experiments) with ``schedule="generational"``
(a batch is evaluated, the search waits for its slowest) and with
``schedule="async"`` (each free worker gets a new architecture at once), on
--seeds seeds with --budget evaluations each (--horizon: stop at that many
simulated hours too).

Scores (the true-front scoring of nb201_strategies.py: hypervolume ratio to the
exhaustive front, objectives normalised by its ideal and nadir points):

- busy: the share of the workers' time spent evaluating, from the start to the
  last finish (median over seeds); steady: the same until the budget's last
  evaluation started (after it the workers drain: the tail of a finite budget);
- HV at equal simulated wall-clock: the evaluations finished by the time the
  generational nsganetv1 run needs for 100 and 300 evaluations at that worker
  count (median over seeds; "t100", "t300");
- HV at equal evaluations: the first 100 and 300 evaluations to finish;
- cheap: the share of the run's evaluations cheaper (in FLOPs) than the
  space's median architecture; "early cheap": that share among the first
  finishers (the first --workers evaluations to finish after the first
  round of starts, where asynchronous scheduling hears of cheap architectures
  first).

Written to --out: cluster_simulation.csv (summary), cluster_simulation_runs.csv
(one row per run) and cluster_simulation_log.csv (every run's evaluations in
the order they finished, with their simulated start and finish).

    python benchmarks/cluster_simulation.py [--seeds 10] [--budget 1000] [--workers 8,32,128]
    python benchmarks/cluster_simulation.py --seeds 3 --workers 32 --strategies nsganetv1   # a quick look

Needs the bench extra; FLOPs come from benchmarks/.cache (measured once by
nb201_strategies.py's loader).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from nb201_strategies import DEFAULT_TABLE, METRIC, TrueFront, load_problem, quartiles

import nsganet
from nsganet.executors.simulated import SimulatedCluster, lognormal
from nsganet.search.callbacks import Callback

HERE = Path(__file__).resolve().parent
POP_SIZE = 20
SCHEDULES = ("generational", "async")
HOUR = 3600.0
CHECKPOINTS = (100, 300)  # evaluations: HV at this many, and at the time generational nsganetv1 needs for them
REFERENCE = ("generational", "nsganetv1")  # whose time to each checkpoint sets the equal wall-clock

Genome = tuple[int, ...]
_PROBLEM: dict[Genome, tuple[float, float]] = {}  # genome -> (error, flops), per worker process


class HorizonReached(Exception):
    """The simulated wall-clock passed --horizon: the run stops there."""


class Finishes(Callback):
    """Records each evaluation as it finishes: its genome and the cluster's start and finish of it."""

    def __init__(self, clusters: list[SimulatedCluster], horizon: float | None) -> None:
        self.clusters, self.horizon = clusters, horizon
        self.rows: list[tuple[Genome, float, float]] = []

    def on_evaluation(self, study: Any, evaluation: Any, detail: str | None, reused: bool) -> None:
        cluster = self.clusters[-1]
        self.rows.append((tuple(evaluation.genome), cluster.clock - (evaluation.seconds or 0.0), cluster.clock))
        if self.horizon is not None and cluster.clock > self.horizon:
            raise HorizonReached


@dataclass(frozen=True)
class Job:
    workers: int
    schedule: str
    strategy: str
    seed: int
    budget: int
    sigma: float
    offset: float
    horizon: float | None


@dataclass
class Run:
    """One simulated search: its evaluations in finishing order and the cluster's measurements."""

    job: Job
    genomes: list[Genome]
    starts: list[float]
    finishes: list[float]
    busy: float
    steady_busy: float  # busy share until the budget's last evaluation started (the tail drains after it)
    clock: float
    seconds: float  # real seconds the search took (the strategy's own computation)


def duration_median(max_flops: float, offset: float):
    """Median simulated seconds of an architecture: one hour for the largest network, proportional to FLOPs,
    plus ``offset`` hours."""

    def median(item: Any) -> float:
        flops = _PROBLEM[tuple(int(v) for v in item)][1]
        return HOUR * (offset + flops / max_flops)

    return median


def run_job(job: Job) -> Run:
    max_flops = max(f for _, f in _PROBLEM.values())
    duration = lognormal(duration_median(max_flops, job.offset), job.sigma, seed=job.seed)
    clusters: list[SimulatedCluster] = []

    def factory(fn):
        clusters.append(SimulatedCluster(fn, job.workers, duration))
        return clusters[-1]

    finishes = Finishes(clusters, None if job.horizon is None else job.horizon * HOUR)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(HorizonReached):
        nsganet.search("nb201", None, "error,flops", job.strategy, budget=job.budget, seed=job.seed,
                       out=Path(tmp) / "run", table=str(DEFAULT_TABLE), metric=METRIC, pop_size=POP_SIZE,
                       schedule=job.schedule, progress=False, plots=False, callbacks=[finishes],
                       executor_factory=factory)
    cluster = clusters[-1]
    genomes, starts, ends = zip(*finishes.rows)
    last_start = max(s.start for s in cluster.log)
    return Run(job, list(genomes), list(starts), list(ends), cluster.busy_share(), cluster.busy_share(last_start),
               cluster.clock, time.perf_counter() - start)


def _init_worker(problem: dict) -> None:
    _PROBLEM.update(problem)
    logging.disable(logging.WARNING)


# -- scoring -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    job: Job
    busy: float
    steady_busy: float
    hours: float  # simulated wall-clock to the end
    hv_time: dict[int, float]  # checkpoint -> HV ratio of what finished by the reference's time to it
    n_time: dict[int, int]  # checkpoint -> evaluations finished by then
    hv_evals: dict[int, float]  # checkpoint -> HV ratio of the first evaluations to finish
    cheap: float  # share of evaluations cheaper than the space's median architecture
    early_cheap: float  # that share among the first finishers
    seconds: float


def hv_ratio(truth: TrueFront, genomes: list[Genome]) -> float:
    if not genomes:
        return 0.0
    return truth.score(np.array([_PROBLEM[g] for g in genomes]))[0]


def time_to(run: Run, n: int) -> float | None:
    """When the run's ``n``-th evaluation finished (None: it did not get that far)."""
    return run.finishes[n - 1] if len(run.finishes) >= n else None


def score(run: Run, truth: TrueFront, deadlines: dict[int, float], median_flops: float) -> Score:
    cheap = [_PROBLEM[g][1] < median_flops for g in run.genomes]
    first = run.job.workers  # the first round of finishers
    n_time = {c: sum(f <= t for f in run.finishes) for c, t in deadlines.items()}
    return Score(run.job, run.busy, run.steady_busy, run.clock / HOUR,
                 {c: hv_ratio(truth, run.genomes[:n]) for c, n in n_time.items()}, n_time,
                 {c: hv_ratio(truth, run.genomes[:c]) for c in CHECKPOINTS if c <= len(run.genomes)},
                 float(np.mean(cheap)), float(np.mean(cheap[:first])), run.seconds)


def reference_deadlines(runs: list[Run], workers: int) -> dict[int, float]:
    """The median time the reference (generational nsganetv1) needs for each checkpoint at ``workers``."""
    reference = [r for r in runs if (r.job.schedule, r.job.strategy) == REFERENCE and r.job.workers == workers]
    deadlines = {}
    for c in CHECKPOINTS:
        times = [t for t in (time_to(r, c) for r in reference) if t is not None]
        if times:
            deadlines[c] = float(np.median(times))
    return deadlines


# -- the report ----------------------------------------------------------------------------------

def fmt(q: np.ndarray) -> str:
    return f"{q[1]:.4f} [{q[0]:.4f}, {q[2]:.4f}]"


def summary_rows(scores: list[Score], deadlines: dict[int, dict[int, float]]) -> list[dict[str, Any]]:
    groups: dict[tuple[int, str, str], list[Score]] = {}
    for s in scores:
        groups.setdefault((s.job.workers, s.job.strategy, s.job.schedule), []).append(s)
    rows = []
    for (workers, strategy, schedule), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                        SCHEDULES.index(kv[0][2]))):
        row: dict[str, Any] = {"workers": workers, "strategy": strategy, "schedule": schedule, "seeds": len(group),
                               "busy_median": float(np.median([s.busy for s in group])),
                               "steady_busy_median": float(np.median([s.steady_busy for s in group])),
                               "hours_median": float(np.median([s.hours for s in group]))}
        for c in CHECKPOINTS:
            if c in deadlines[workers]:
                row[f"t{c}_hours"] = deadlines[workers][c] / HOUR
                row[f"n_at_t{c}_median"] = float(np.median([s.n_time[c] for s in group]))
                row.update(zip((f"hv_at_t{c}_q25", f"hv_at_t{c}_median", f"hv_at_t{c}_q75"),
                               quartiles([s.hv_time[c] for s in group])))
            values = [s.hv_evals[c] for s in group if c in s.hv_evals]
            if values:
                row.update(zip((f"hv_at_{c}_q25", f"hv_at_{c}_median", f"hv_at_{c}_q75"), quartiles(values)))
        row["cheap_share"] = float(np.mean([s.cheap for s in group]))
        row["early_cheap_share"] = float(np.mean([s.early_cheap for s in group]))
        row["real_seconds_median"] = float(np.median([s.seconds for s in group]))
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'workers':>7} {'strategy':<10}{'schedule':<13}{'busy':>6}{'steady':>7}{'hours':>7}"
            + "".join(f"{f'HV@t{c} (n)':>20}" for c in CHECKPOINTS)
            + "".join(f"{f'HV@{c} [IQR]':>28}" for c in CHECKPOINTS) + f"{'cheap':>7}{'early':>7}")
    print(head)
    print("-" * len(head))
    for i, r in enumerate(rows):
        if i and (r["workers"], r["strategy"]) != (rows[i - 1]["workers"], rows[i - 1]["strategy"]):
            print()
        cells = "".join(f"{r[f'hv_at_t{c}_median']:>12.4f} ({r[f'n_at_t{c}_median']:>4.0f})"
                        if f"hv_at_t{c}_median" in r else f"{'-':>20}" for c in CHECKPOINTS)
        cells += "".join(f"{fmt(np.array([r[f'hv_at_{c}_q25'], r[f'hv_at_{c}_median'], r[f'hv_at_{c}_q75']])):>28}"
                         if f"hv_at_{c}_median" in r else f"{'-':>28}" for c in CHECKPOINTS)
        print(f"{r['workers']:>7} {r['strategy']:<10}{r['schedule']:<13}{100 * r['busy_median']:>5.1f}%"
              f"{100 * r['steady_busy_median']:>6.1f}%"
              f"{r['hours_median']:>7.1f}{cells}{100 * r['cheap_share']:>6.1f}%{100 * r['early_cheap_share']:>6.1f}%")


def print_checks(rows: list[dict[str, Any]]) -> None:
    """Async against generational: busy share, the gap to the true front at equal time, HV per evaluation."""
    by = {(r["workers"], r["strategy"], r["schedule"]): r for r in rows}
    print("\nasync against generational (same workers and strategy):")
    for (workers, strategy, schedule), r in sorted(by.items()):
        g = by.get((workers, strategy, "generational"))
        if schedule != "async" or g is None:
            continue
        parts = [f"busy {100 * r['busy_median']:.1f}% vs {100 * g['busy_median']:.1f}% (until the last start "
                 f"{100 * r['steady_busy_median']:.1f}% vs {100 * g['steady_busy_median']:.1f}%)"]
        for c in CHECKPOINTS:
            if f"hv_at_t{c}_median" in r:
                gap_a, gap_g = 1 - r[f"hv_at_t{c}_median"], 1 - g[f"hv_at_t{c}_median"]
                parts.append(f"gap to the front at t{c}: {gap_a:.4f} vs {gap_g:.4f} "
                             f"({gap_g / gap_a if gap_a > 0 else float('inf'):.1f}x closer)")
            if f"hv_at_{c}_median" in r and f"hv_at_{c}_q25" in g:
                inside = g[f"hv_at_{c}_q25"] <= r[f"hv_at_{c}_median"] <= g[f"hv_at_{c}_q75"]
                above = r[f"hv_at_{c}_median"] > g[f"hv_at_{c}_q75"]
                parts.append(f"HV@{c} median {'within' if inside else 'above' if above else 'BELOW'} the "
                             f"generational IQR")
        print(f"  {workers:>4} workers {strategy:<10} " + "; ".join(parts))


def write_csvs(out: Path, rows: list[dict[str, Any]], scores: list[Score], runs: list[Run]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "cluster_simulation.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    with (out / "cluster_simulation_runs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["workers", "strategy", "schedule", "seed", "busy", "steady_busy", "hours", "evaluations",
                         *(f"hv_at_t{c}" for c in CHECKPOINTS), *(f"n_at_t{c}" for c in CHECKPOINTS),
                         *(f"hv_at_{c}" for c in CHECKPOINTS), "cheap_share", "early_cheap_share", "real_seconds"])
        for s, run in zip(scores, runs):
            j = s.job
            writer.writerow([j.workers, j.strategy, j.schedule, j.seed, round(s.busy, 5), round(s.steady_busy, 5),
                             round(s.hours, 4),
                             len(run.genomes), *(s.hv_time.get(c, "") for c in CHECKPOINTS),
                             *(s.n_time.get(c, "") for c in CHECKPOINTS), *(s.hv_evals.get(c, "") for c in CHECKPOINTS),
                             round(s.cheap, 4), round(s.early_cheap, 4), round(s.seconds, 2)])
    with (out / "cluster_simulation_log.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["workers", "strategy", "schedule", "seed", "order", "genome", "error", "mflops",
                         "start_hours", "finish_hours"])
        for run in runs:
            j = run.job
            for k, (g, a, b) in enumerate(zip(run.genomes, run.starts, run.finishes)):
                error, flops = _PROBLEM[g]
                writer.writerow([j.workers, j.strategy, j.schedule, j.seed, k, "-".join(map(str, g)), error,
                                 round(flops, 4), round(a / HOUR, 5), round(b / HOUR, 5)])


# -- main ----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--horizon", type=float, help="stop each run after this many simulated hours too")
    parser.add_argument("--workers", default="8,32,128", help="comma-separated worker counts")
    parser.add_argument("--strategies", default="nsganetv1,nsganetv2")
    parser.add_argument("--schedules", default=",".join(SCHEDULES))
    parser.add_argument("--sigma", type=float, default=0.5, help="log-normal noise of the durations")
    parser.add_argument("--offset", type=float, default=0.1,
                        help="constant part of a duration, as a share of the largest network's median")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="searches run at once")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cluster_simulation")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.strategies = args.strategies.split(",")
    args.schedules = args.schedules.split(",")
    if not set(args.schedules) <= set(SCHEDULES):
        parser.error(f"--schedules: of {', '.join(SCHEDULES)}")
    return args


def main() -> None:
    args = parse_args()
    problem = load_problem(DEFAULT_TABLE, ["error", "flops"], args.jobs, METRIC)
    _PROBLEM.update(problem)
    F = np.array(list(problem.values()))
    truth = TrueFront.of(F)
    median_flops = float(np.median(F[:, 1]))
    jobs = [Job(w, schedule, strategy, seed, args.budget, args.sigma, args.offset, args.horizon)
            for w in args.workers for strategy in args.strategies for schedule in args.schedules
            for seed in range(args.seeds)]
    jobs.sort(key=lambda j: j.strategy != "nsganetv2")  # the slowest first
    runs: list[Run] = []
    start = time.perf_counter()
    with get_context("spawn").Pool(args.jobs, initializer=_init_worker, initargs=(problem,)) as pool:
        for done, run in enumerate(pool.imap_unordered(run_job, jobs), 1):
            j = run.job
            runs.append(run)
            print(f"  [{done}/{len(jobs)}] {j.workers} workers {j.strategy} {j.schedule} seed {j.seed}: "
                  f"{len(run.genomes)} evaluations, {run.clock / HOUR:.1f} simulated h, busy "
                  f"{100 * run.busy:.1f}%, {run.seconds:.1f} s ({time.perf_counter() - start:.0f} s so far)",
                  file=sys.stderr, flush=True)
    runs.sort(key=lambda r: (r.job.workers, r.job.strategy, SCHEDULES.index(r.job.schedule), r.job.seed))
    deadlines = {w: reference_deadlines(runs, w) for w in args.workers}
    scores = [score(r, truth, deadlines[r.job.workers], median_flops) for r in runs]
    print(f"{len(jobs)} simulated searches in {time.perf_counter() - start:.0f} s; {args.seeds} seeds, budget "
          f"{args.budget}, durations log-normal (sigma {args.sigma}) around (offset {args.offset} + FLOPs / max) h")
    for w in args.workers:
        print(f"  {w} workers: generational nsganetv1 needs "
              + ", ".join(f"{t / HOUR:.1f} h for {c}" for c, t in deadlines[w].items()) + " evaluations (median)")
    print()
    rows = summary_rows(scores, deadlines)
    print_table(rows)
    print_checks(rows)
    write_csvs(args.out, rows, scores, runs)
    print(f"\ntables written to {args.out}")


if __name__ == "__main__":
    main()

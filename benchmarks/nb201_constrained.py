"""Hard constraints on NAS-Bench-201 (CIFAR-10): a constrained search against an unconstrained one filtered afterwards.

Objectives error and FLOPs; the constraint is a FLOPs bound (default: the
median FLOPs of the space; --bound). For each strategy, budget and seed two
searches of the same budget run on the shared table:

(a) constrained: ``nsganet.search(..., constraints=["flops<=BOUND"])``;
(b) filtered: the same search without the constraint, whose evaluations are
    filtered to the feasible ones afterwards.

Scores (median [IQR] over the seeds): the hypervolume of the feasible
architectures found divided by that of the true feasible front (every
architecture of the table within the bound; objectives normalised by that
front's ideal and nadir points, reference point 1.1, exact, moocore: the
scoring of benchmarks/nb201_strategies.py); the share of the budget spent on
feasible architectures; and the share of runs whose reported front lies
entirely within the bound (for (b) the unconstrained run's own front, before
filtering). "win" is the share of seeds where (a)'s HV ratio beats (b)'s (ties
half). Written to --out: nb201_constrained.csv (summary) and
nb201_constrained_runs.csv (one row per search).

    python benchmarks/nb201_constrained.py [--seeds 10] [--budgets 100,300] [--bound MFLOPS] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import nb201_strategies as base
import numpy as np
from nb201_strategies import DEFAULT_TABLE, POP_SIZE, Log, TrueFront, load_problem, quartiles, win_rate

import nsganet

HERE = Path(__file__).resolve().parent
OBJECTIVES = ["error", "flops"]
STRATEGIES = ("nsga2", "nsganetv1", "nsganetv2")
MODES = ("constrained", "filtered")


# -- the searches (in the workers) ---------------------------------------------------------------

def run_search(job: tuple[str, int, int, str, float]) -> tuple[list[tuple[int, ...]], list[str], float]:
    """One search: its evaluated genomes in order, the architectures of the front it reports, and its seconds."""
    name, budget, seed, mode, bound = job
    log = Log()

    def evaluator(arch) -> dict[str, float]:
        return dict(zip(OBJECTIVES, log.evaluate(arch.genome)))

    constraints = [f"flops<={bound!r}"] if mode == "constrained" else []
    with tempfile.TemporaryDirectory() as tmp:
        result = nsganet.search("nb201", evaluator, OBJECTIVES, name, budget=budget, seed=seed,
                                out=Path(tmp) / "run", pop_size=POP_SIZE, constraints=constraints,
                                progress=False, plots=False)
    assert len(result.evaluations) == len(log.genomes), (name, len(result.evaluations), len(log.genomes))
    return log.genomes, [e.arch for e in result.front], time.perf_counter() - log.start


def _init_worker(problem: dict) -> None:
    """Load the table and warm up (imports, first calls), so that no search's seconds include them."""
    base._TABLE.update(problem)
    logging.disable(logging.WARNING)
    run_search(("random", POP_SIZE, 0, "filtered", 0.0))


# -- scoring -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunScore:
    strategy: str
    budget: int
    seed: int
    mode: str
    hv_ratio: float
    feasible_share: float
    front_in_bound: bool
    seconds: float


def score(job: tuple, genomes: list[tuple[int, ...]], front: list[str], seconds: float, truth: TrueFront,
          bound: float) -> RunScore:
    name, budget, seed, mode, _ = job
    F = np.array([base._TABLE[g] for g in genomes])
    feasible = F[:, 1] <= bound
    hv = truth.score(F[feasible])[0] if feasible.any() else 0.0
    front_flops = [base._TABLE[tuple(int(v) for v in base.SPACE.from_string(a))][1] for a in front]
    return RunScore(name, budget, seed, mode, hv, float(feasible.mean()), all(f <= bound for f in front_flops),
                    seconds)


# -- the report ----------------------------------------------------------------------------------

def summarize(scores: list[RunScore], names: list[str], budgets: list[int]) -> list[list]:
    rows = []
    for name in names:
        for budget in budgets:
            runs = {mode: {s.seed: s for s in scores if (s.strategy, s.budget, s.mode) == (name, budget, mode)}
                    for mode in MODES}
            for mode in MODES:
                hv = quartiles([s.hv_ratio for s in runs[mode].values()])
                share = quartiles([s.feasible_share for s in runs[mode].values()])
                in_bound = float(np.mean([s.front_in_bound for s in runs[mode].values()]))
                win = win_rate(runs["constrained"], runs["filtered"]) if mode == "constrained" else None
                rows.append([name, budget, mode, *hv, *share, in_bound, win])
    return rows


def print_table(rows: list[list], bound: float, seeds: int) -> None:
    print(f"NAS-Bench-201 CIFAR-10, error vs FLOPs, constraint flops<={bound:g} (MFLOPs); median [IQR] over "
          f"{seeds} seeds")
    header = (f"{'strategy':<11}{'budget':>7}  {'search':<12}{'HV ratio vs true feasible front':<34}"
              f"{'feasible evaluations':<26}{'front in bound':>15}{'win':>7}")
    print(header)
    print("-" * len(header))
    for i, (name, budget, mode, h25, h50, h75, s25, s50, s75, in_bound, win) in enumerate(rows):
        if i and i % 2 == 0 and name != rows[i - 1][0]:
            print()
        print(f"{name:<11}{budget:>7}  {mode:<12}{h50:.4f} [{h25:.4f}, {h75:.4f}]{'':<10}"
              f"{100 * s50:5.1f}% [{100 * s25:.1f}, {100 * s75:.1f}]{'':<5}{100 * in_bound:13.0f}%"
              f"{'' if win is None else f'{win:7.2f}'}")


def write_csvs(out: Path, rows: list[list], scores: list[RunScore]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "nb201_constrained.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "budget", "search", "hv_q25", "hv_median", "hv_q75", "feasible_q25",
                         "feasible_median", "feasible_q75", "front_in_bound_share", "constrained_win_rate"])
        writer.writerows([*row[:-1], "" if row[-1] is None else row[-1]] for row in rows)
    with (out / "nb201_constrained_runs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "budget", "seed", "search", "hv_ratio", "feasible_share", "front_in_bound",
                         "seconds"])
        writer.writerows((s.strategy, s.budget, s.seed, s.mode, s.hv_ratio, s.feasible_share, int(s.front_in_bound),
                          round(s.seconds, 3))
                         for s in sorted(scores, key=lambda s: (s.strategy, s.budget, s.seed, s.mode)))


# -- main ----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--metric", help="accuracy column of --table (default: its only one besides arch)")
    parser.add_argument("--bound", type=float, help="FLOPs bound in MFLOPs (default: the space's median)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="100,300")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "nb201_constrained")
    args = parser.parse_args()
    args.budgets = sorted(int(b) for b in args.budgets.split(","))
    args.strategies = args.strategies.split(",")
    unknown = [n for n in args.strategies if n not in nsganet.strategies.strategy_names()]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]}")
    return args


def main() -> None:
    args = parse_args()
    problem = load_problem(args.table, OBJECTIVES, args.workers, args.metric)
    base._TABLE.update(problem)
    F = np.array(list(problem.values()))
    bound = float(np.median(F[:, 1])) if args.bound is None else args.bound
    feasible = F[:, 1] <= bound
    if not feasible.any():
        raise SystemExit(f"no architecture has at most {bound:g} MFLOPs")
    truth = TrueFront.of(F[feasible])
    print(f"bound flops<={bound:g}: {feasible.sum()} of {len(F)} architectures feasible; true feasible front "
          f"{len(truth.front)} architectures, ideal {truth.ideal.round(3).tolist()}, nadir "
          f"{truth.nadir.round(3).tolist()}", file=sys.stderr)

    jobs = [(n, b, s, m, bound) for b in sorted(args.budgets, reverse=True) for n in args.strategies
            for s in range(args.seeds) for m in MODES]
    scores: list[RunScore] = []
    start = time.perf_counter()
    with get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=(problem,)) as pool:
        for done, (job, (genomes, front, seconds)) in enumerate(zip(jobs, pool.imap(run_search, jobs)), 1):
            scores.append(score(job, genomes, front, seconds, truth, bound))
            print(f"  [{done}/{len(jobs)}] {job[0]} budget {job[1]} seed {job[2]} {job[3]}: {seconds:.1f} s "
                  f"({time.perf_counter() - start:.0f} s so far)", file=sys.stderr, flush=True)
    print(f"{len(jobs)} searches in {time.perf_counter() - start:.0f} s on {args.workers} workers; population "
          f"{POP_SIZE}\n", file=sys.stderr)
    rows = summarize(scores, args.strategies, args.budgets)
    print_table(rows, bound, args.seeds)
    write_csvs(args.out, rows, scores)
    print(f"\ntables written to {args.out}")


if __name__ == "__main__":
    main()

"""Sample efficiency on NAS-Bench-201 (CIFAR-10): nsganet's strategies against pymoo and Optuna.

Every strategy searches (error, flops) on the shared NATS-Bench table at each
budget with the same seeds. Score: hypervolume of the architectures found,
divided by that of the exhaustive true front (objectives normalised by the true
front's ideal and nadir points, reference point (1.1, 1.1)), and IGD to the
true front in the same normalised space. Budgets count evaluation calls: ours
never repeat an architecture; pymoo's and Optuna's count their repeats, as a
user training each proposal would pay for them.

    python benchmarks/nb201_strategies.py [--seeds 30] [--budgets 100,200,300,500,1000]
    python benchmarks/nb201_strategies.py --budgets 300,1000 --out benchmarks/results/ablation \\
        --strategies random,nsga2,nsganetv1,nsganetv1-nobn,nsganetv1-tau1/3,nsganetv1-tau9/10
    python benchmarks/nb201_strategies.py --seeds 10 --budgets 100,200,300,500 --out benchmarks/results/nsganetv2 \\
        --strategies random,nsga2,nsganetv1,pymoo-nsga2,optuna-nsga2,nsganetv2-rbf,nsganetv2-gbt,nsganetv2-mlp

Needs the bench extra (pip install -e ".[bench]"). FLOPs of all 15,625
architectures are measured once with nsganet's cost model and cached in
benchmarks/.cache/.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import nsganet
from nsganet.costs.model import CostModel
from nsganet.moo.indicators import igd, normalize, normalized_hypervolume, pareto_front_mask
from nsganet.spaces import get_space
from nsganet.spaces.nb201 import OPERATIONS

HERE = Path(__file__).resolve().parent
DEFAULT_TABLE = HERE.parent.parent / "shared" / "data" / "nats_tss_cifar10.csv"
METRIC = "cifar10_test_acc_200ep"
POP_SIZE = 20
OURS = ("random", "nsga2", "nsganetv1", "nsganetv2")
PEERS = ("pymoo-nsga2", "optuna-nsga2")
#: What runs without --strategies: the evolutionary strategies and the peers (nsganetv2's predictor
#: fits make it slower; see the Makefile's bench target for its run).
DEFAULT = ("random", "nsga2", "nsganetv1", *PEERS)
#: Ablations of NSGANetV1's Bayesian-network exploitation (V1 paper Fig. 8a and Fig. 26):
#: name -> (strategy, options). Not run by default; pass them to --strategies.
VARIANTS = {
    "nsganetv1-nobn": ("nsganetv1", {"exploit_start": 1.0}),  # exploitation never starts
    "nsganetv1-tau1/3": ("nsganetv1", {"exploit_start": 1 / 3}),  # starts after 1/3 of the budget
    "nsganetv1-tau9/10": ("nsganetv1", {"exploit_start": 0.9}),  # starts late
    "nsganetv1-bn1": ("nsganetv1", {"bn_order": 1}),  # each node conditioned on the one before it only
    "nsganetv1-bn1-tau1/3": ("nsganetv1", {"bn_order": 1, "exploit_start": 1 / 3}),
    # NSGANetV2 with a fixed predictor instead of adaptive switching
    **{f"nsganetv2-{p}": ("nsganetv2", {"predictor": p}) for p in ("rbf", "gp", "mlp", "cart", "gbt")},
}

SPACE = get_space("nb201")
_TABLE: dict[tuple[int, ...], tuple[float, float]] = {}  # genome -> (error, flops), per worker


def measure_costs(keys: list[str]) -> list[float]:
    model = CostModel(SPACE)
    return [model.measure(SPACE.from_string(k))["flops"] for k in keys]


def load_problem(table: Path, workers: int) -> dict[tuple[int, ...], tuple[float, float]]:
    """Error and FLOPs of every architecture; FLOPs measured once and cached."""
    with table.open(newline="") as handle:
        accuracy = {row["arch"]: float(row[METRIC]) for row in csv.DictReader(handle)}
    cache = HERE / ".cache" / "nb201_flops_32px_10classes.csv"
    flops: dict[str, float] = {}
    if cache.exists():
        with cache.open(newline="") as handle:
            flops = {row["arch"]: float(row["flops"]) for row in csv.DictReader(handle)}
    missing = [a for a in accuracy if a not in flops]
    if missing:
        print(f"measuring FLOPs of {len(missing)} architectures (cached afterwards)...", file=sys.stderr)
        chunks = [missing[i::workers * 8] for i in range(workers * 8)]
        with get_context("spawn").Pool(workers) as pool:
            for chunk, values in zip(chunks, pool.map(measure_costs, chunks)):
                flops.update(zip(chunk, values))
        cache.parent.mkdir(exist_ok=True)
        with cache.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["arch", "flops"])
            writer.writerows((a, repr(flops[a])) for a in accuracy)
    return {tuple(int(v) for v in SPACE.from_string(a)): (100.0 - acc, flops[a]) for a, acc in accuracy.items()}


def _init_worker(problem: dict) -> None:
    _TABLE.update(problem)
    logging.disable(logging.WARNING)


def _objectives(genome) -> list[float]:
    return list(_TABLE[tuple(int(v) for v in genome)])


def _table_objectives(arch) -> dict[str, float]:
    error, flops = _TABLE[arch.genome]
    return {"error": error, "flops": flops}


def run_ours(name: str, budget: int, seed: int) -> tuple[np.ndarray, int]:
    strategy, params = VARIANTS.get(name, (name, {}))
    with tempfile.TemporaryDirectory() as tmp:
        result = nsganet.search("nb201", _table_objectives, ["error", "flops"], strategy, budget=budget, seed=seed,
                                out=Path(tmp) / "run", pop_size=POP_SIZE, strategy_params=params,
                                progress=False, plots=False)
    F = np.array([[e.objectives["error"], e.objectives["flops"]] for e in result.evaluations])
    return F, len({e.arch for e in result.evaluations})


def run_pymoo(budget: int, seed: int) -> tuple[np.ndarray, int]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    log: list[tuple[int, ...]] = []

    class NB201(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=6, n_obj=2, xl=0, xu=len(OPERATIONS) - 1, vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            genomes = [tuple(int(v) for v in np.round(x)) for x in X]
            log.extend(genomes)
            out["F"] = np.array([_objectives(g) for g in genomes])

    # pymoo's documented set-up for integer variables
    algorithm = NSGA2(pop_size=POP_SIZE, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                      mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    minimize(NB201(), algorithm, ("n_eval", budget), seed=seed, verbose=False)
    return np.array([_objectives(g) for g in log[:budget]]), len(set(log[:budget]))


def run_optuna(budget: int, seed: int) -> tuple[np.ndarray, int]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log: list[tuple[int, ...]] = []

    def objective(trial):
        genome = tuple(OPERATIONS.index(trial.suggest_categorical(f"edge{i}", list(OPERATIONS)))
                       for i in range(6))
        log.append(genome)
        return _objectives(genome)

    sampler = optuna.samplers.NSGAIISampler(population_size=POP_SIZE, seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=budget)
    return np.array([_objectives(g) for g in log[:budget]]), len(set(log[:budget]))


def run_job(job: tuple[str, int, int]) -> tuple[str, int, int, np.ndarray, int, float]:
    """One search; returns the objective values in evaluation order and the number of distinct architectures."""
    name, budget, seed = job
    start = time.perf_counter()
    if name in OURS or name in VARIANTS:
        F, distinct = run_ours(name, budget, seed)
    elif name == "pymoo-nsga2":
        F, distinct = run_pymoo(budget, seed)
    else:
        F, distinct = run_optuna(budget, seed)
    return name, budget, seed, F, distinct, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budgets", default="100,200,300,500,1000")
    parser.add_argument("--strategies", default=",".join(DEFAULT))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    names = args.strategies.split(",")
    unknown = [n for n in names if n not in OURS + PEERS and n not in VARIANTS]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]}; known: {', '.join(OURS + PEERS + tuple(VARIANTS))}")

    problem = load_problem(args.table, args.workers)
    F_all = np.array(list(problem.values()))
    true_front = F_all[pareto_front_mask(F_all)]
    ideal, nadir = true_front.min(axis=0), true_front.max(axis=0)
    true_hv = normalized_hypervolume(true_front, ideal, nadir, reference=1.1)
    print(f"true front: {len(true_front)} of {len(F_all)} architectures; ideal {ideal.round(3).tolist()}, "
          f"nadir {nadir.round(3).tolist()}")

    jobs = [(n, b, s) for n in names for b in budgets for s in range(args.seeds)]
    scores: dict[tuple[str, int], list[tuple[float, float]]] = {}
    repeats: dict[tuple[str, int], list[float]] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    with get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=(problem,)) as pool:
        for name, budget, _seed, F, distinct, elapsed in pool.imap_unordered(run_job, jobs):
            assert len(F) == budget, (name, budget, len(F))
            front = F[pareto_front_mask(F)]
            hv = normalized_hypervolume(front, ideal, nadir, reference=1.1) / true_hv
            distance = igd(normalize(front, ideal, nadir), normalize(true_front, ideal, nadir))
            scores.setdefault((name, budget), []).append((hv, distance))
            repeats.setdefault((name, budget), []).append(1.0 - distinct / budget)
            seconds[name] = seconds.get(name, 0.0) + elapsed
    print(f"{len(jobs)} searches in {time.perf_counter() - start:.0f} s on {args.workers} workers; "
          f"{args.seeds} seeds, population {POP_SIZE}\n")

    header = (f"{'strategy':<18}{'budget':>7}  {'HV ratio median [IQR]':<28}{'IGD median [IQR]':<26}"
              f"{'repeats':>8}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in names:
        for budget in budgets:
            values = np.array(scores[(name, budget)])
            hv_q = np.percentile(values[:, 0], [25, 50, 75])
            igd_q = np.percentile(values[:, 1], [25, 50, 75])
            rows.append((name, budget, *hv_q, *igd_q))
            repeated = 100 * np.mean(repeats[(name, budget)])
            print(f"{name:<18}{budget:>7}  {hv_q[1]:.4f} [{hv_q[0]:.4f}, {hv_q[2]:.4f}]      "
                  f"{igd_q[1]:.4f} [{igd_q[0]:.4f}, {igd_q[2]:.4f}]  {repeated:6.1f}%")
        print()
    print("search seconds per evaluation (strategy overhead, the table look-up is free):")
    for name in names:
        n_evals = args.seeds * sum(budgets)
        print(f"  {name:<18}{1e3 * seconds[name] / n_evals:8.3f} ms")

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "nb201_strategies.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "budget", "hv_q25", "hv_median", "hv_q75", "igd_q25", "igd_median", "igd_q75"])
        writer.writerows(rows)
    plot(rows, names, budgets, args.out / "nb201_strategies.png", args.seeds)
    print(f"\ntable and plot written to {args.out}")


def plot(rows, names, budgets, path: Path, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        data = np.array([r[2:] for r in rows if r[0] == name])
        for ax, offset in ((axes[0], 0), (axes[1], 3)):
            ax.plot(budgets, data[:, offset + 1], "o-", label=name)
            ax.fill_between(budgets, data[:, offset], data[:, offset + 2], alpha=0.15)
    axes[0].set_ylabel("hypervolume / true front's (median, IQR)")
    axes[1].set_ylabel("IGD to the true front (median, IQR)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("architectures evaluated")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"NAS-Bench-201 CIFAR-10, error vs FLOPs, {seeds} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()

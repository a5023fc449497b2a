"""Sample efficiency on NAS-Bench-201 (CIFAR-10): nsganet's strategies against pymoo and Optuna.

Every strategy searches the shared NATS-Bench table (objectives: error and FLOPs,
or with --objectives error,flops,latency also latency from a look-up table built
on this machine, benchmarks/nb201_latency.py) at each budget with the same
seeds. Score: hypervolume of the architectures found, divided by that of the
exhaustive true front (objectives normalised by the true front's ideal and nadir
points, reference point 1.1 in each objective; exact, moocore), and IGD to the
true front in the same normalised space.

Budgets count evaluations. Ours never repeat an architecture. pymoo's NSGA-II
and optuna-nsga2 count their repeats, as a user training each proposal would pay
for them. optuna-tpe and optuna-gp are charged per distinct architecture like
ours: a proposal repeating an architecture of the study is pruned, and the run
goes on until ``budget`` distinct architectures are evaluated or 20 x budget
trials are spent (then it is scored on what it got: see the "distinct" column).
The "repeats" column is the share of proposals (trials) that repeated an
architecture, charged or pruned.

random and the peers (pymoo-nsga2, optuna-*) propose the same architectures
whatever the budget, so each runs once per seed at the largest budget and every
smaller budget is scored on the prefix of its evaluation log (for a pruning
peer: the distinct architectures of its first 20 x budget trials, at most
``budget`` of them). nsganet's other strategies plan with the budget and run
once per budget.

The report: HV ratio and IGD (median [IQR]) per strategy and budget; the win
rate of --focus (default nsganetv2) against each other strategy (share of seed
indices where its HV ratio is higher, ties half) and whether its IQR is clear of
(above the 75th percentile of) the other's; search seconds per evaluation
actually run. Written to --out: nb201_strategies.csv (summary),
nb201_strategies_runs.csv (one row per strategy, budget and seed) and
nb201_strategies.png; with other objectives than error,flops the names get a
suffix (_3obj for error,flops,latency).

    python benchmarks/nb201_strategies.py [--seeds 10] [--budgets 50,100,200,300,500] [--focus nsganetv2]
    python benchmarks/nb201_strategies.py --objectives error,flops,latency --budgets 50,100,200 \\
        --out benchmarks/results/nb201_3obj
    python benchmarks/nb201_strategies.py --seeds 30 --budgets 300,1000 --out benchmarks/results/ablation \\
        --strategies random,nsga2,nsganetv1,nsganetv1-nobn,nsganetv1-tau1/3,nsganetv1-tau9/10
    python benchmarks/nb201_strategies.py --budgets 100,300 --out benchmarks/results/nsganetv2_ablation \\
        --strategies nsganetv2,nsganetv2-onehot,nsganetv2-kappa0,nsganetv2-bag5,nsganetv2-nsga2,nsganetv2-randdoe

Needs the bench extra (pip install -e ".[bench]"). FLOPs of all 15,625
architectures are measured once with nsganet's cost model and cached in
benchmarks/.cache/, as is the latency look-up table.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from nb201_latency import load_table as load_latency_table
from nb201_latency import predict as predict_latency

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
PEERS = ("pymoo-nsga2", "optuna-nsga2", "optuna-tpe", "optuna-gp")
#: Strategies whose proposals do not depend on the budget: run once per seed, scored on prefixes.
BUDGET_FREE = ("random", *PEERS)
#: Peers whose repeated proposals are pruned, not charged; they may spend TRIAL_CAP x budget trials.
PRUNING = ("optuna-tpe", "optuna-gp")
TRIAL_CAP = 20
#: What runs without --strategies.
DEFAULT = ("random", "nsga2", "nsganetv1", "nsganetv2", *PEERS)
#: Variants of our strategies: name -> (strategy, options). Not run by default; pass them to --strategies.
VARIANTS = {
    # Ablations of NSGANetV1's Bayesian-network exploitation (V1 paper Fig. 8a and Fig. 26)
    "nsganetv1-nobn": ("nsganetv1", {"exploit_start": 1.0}),  # exploitation never starts
    "nsganetv1-tau1/3": ("nsganetv1", {"exploit_start": 1 / 3}),  # starts after 1/3 of the budget
    "nsganetv1-tau9/10": ("nsganetv1", {"exploit_start": 0.9}),  # starts late
    "nsganetv1-bn1": ("nsganetv1", {"bn_order": 1}),  # each node conditioned on the one before it only
    "nsganetv1-bn1-tau1/3": ("nsganetv1", {"bn_order": 1, "exploit_start": 1 / 3}),
    # NSGANetV2's former defaults (adaptive switching, one model, one-hot genome, even spread along the cost)
    "nsganetv2-v1.0": ("nsganetv2", {"predictor": "as", "features": "onehot", "target": "log", "selection": "spread",
                                     "inner": "nsga2", "doe": "random", "ensemble": 1}),
    # NSGANetV2's default with one change each
    "nsganetv2-onehot": ("nsganetv2", {"features": "onehot"}),  # no descriptors
    "nsganetv2-spread": ("nsganetv2", {"selection": "spread"}),  # the original subset selection
    "nsganetv2-kappa0": ("nsganetv2", {"kappa": 0.0}),  # no second, optimistic pass
    "nsganetv2-bag5": ("nsganetv2", {"ensemble": 5}),  # doubt from 5 bootstrap models
    "nsganetv2-nsga2": ("nsganetv2", {"inner": "nsga2"}),  # NSGA-II on the surrogate instead of enumeration
    "nsganetv2-randdoe": ("nsganetv2", {"doe": "random"}),  # uniform design of experiments
    # NSGANetV2 with another predictor than the default
    **{f"nsganetv2-{p}": ("nsganetv2", {"predictor": p}) for p in ("rbf", "gp", "mlp", "cart", "as")},
}
#: Objectives of --objectives -> the name nsganet searches. The table's latency is a plain evaluator
#: objective ("lut_ms"): an objective named "latency" is a cost nsganet would measure on built networks.
OBJECTIVES = {"error": "error", "flops": "flops", "latency": "lut_ms"}

SPACE = get_space("nb201")
Genome = tuple[int, ...]
_TABLE: dict[Genome, tuple[float, ...]] = {}  # genome -> objective values, per worker


# -- the problem ---------------------------------------------------------------------------------

def measure_costs(keys: list[str]) -> list[float]:
    model = CostModel(SPACE)
    return [model.measure(SPACE.from_string(k))["flops"] for k in keys]


def load_flops(archs: list[str], workers: int) -> dict[str, float]:
    """FLOPs of every architecture, measured once and cached."""
    cache = HERE / ".cache" / "nb201_flops_32px_10classes.csv"
    flops: dict[str, float] = {}
    if cache.exists():
        with cache.open(newline="") as handle:
            flops = {row["arch"]: float(row["flops"]) for row in csv.DictReader(handle)}
    missing = [a for a in archs if a not in flops]
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
            writer.writerows((a, repr(flops[a])) for a in archs)
    return flops


def read_accuracy(table: Path, metric: str | None = None) -> dict[str, float]:
    """Accuracy (%) of every architecture of a NATS-Bench table (``arch`` and accuracy columns).

    Without ``metric`` the table's one column besides ``arch`` is read, or
    :data:`METRIC` among several: tables of other datasets name theirs after it.
    """
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c for c in reader.fieldnames or () if c != "arch"]
        if metric is None:
            metric = columns[0] if len(columns) == 1 else METRIC
        if "arch" not in (reader.fieldnames or ()) or metric not in columns:
            raise SystemExit(f"{table}: needs an 'arch' column and the accuracy column {metric!r} "
                             f"(columns: {', '.join(reader.fieldnames or ())}); pass --metric")
        return {row["arch"]: float(row[metric]) for row in reader}


def load_problem(table: Path, objectives: list[str], workers: int,
                 metric: str | None = None) -> dict[Genome, tuple[float, ...]]:
    """The objective values of every architecture, in the order of ``objectives``."""
    accuracy = read_accuracy(table, metric)
    archs = list(accuracy)
    genomes = np.array([SPACE.from_string(a) for a in archs])
    columns = {"error": 100.0 - np.array([accuracy[a] for a in archs])}
    if "flops" in objectives:
        flops = load_flops(archs, workers)
        columns["flops"] = np.array([flops[a] for a in archs])
    if "latency" in objectives:
        columns["latency"] = predict_latency(load_latency_table(), genomes)
    F = np.stack([columns[name] for name in objectives], axis=1)
    return {tuple(int(v) for v in g): tuple(float(v) for v in row) for g, row in zip(genomes, F)}


@dataclass(frozen=True)
class TrueFront:
    """The exhaustive Pareto front and the scores of a set of objective vectors against it."""

    front: np.ndarray
    ideal: np.ndarray
    nadir: np.ndarray
    hv: float

    @classmethod
    def of(cls, F: np.ndarray) -> TrueFront:
        front = F[pareto_front_mask(F)]
        ideal, nadir = front.min(axis=0), front.max(axis=0)
        return cls(front, ideal, nadir, normalized_hypervolume(front, ideal, nadir, reference=1.1))

    def score(self, F: np.ndarray) -> tuple[float, float]:
        """HV ratio and IGD of the non-dominated points of ``F``."""
        front = F[pareto_front_mask(F)]
        hv = normalized_hypervolume(front, self.ideal, self.nadir, reference=1.1) / self.hv
        distance = igd(normalize(front, self.ideal, self.nadir), normalize(self.front, self.ideal, self.nadir))
        return hv, distance


# -- the searches (in the workers) ---------------------------------------------------------------

@dataclass
class Log:
    """A search's evaluations in order: genome, index of the trial (proposal) and seconds since the start."""

    genomes: list[Genome] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    n_trials: int | None = None  # proposals made in all (None: one per evaluation)
    start: float = field(default_factory=time.perf_counter)

    def evaluate(self, genome, trial: int | None = None) -> list[float]:
        genome = tuple(int(v) for v in genome)
        self.genomes.append(genome)
        self.trials.append(len(self.trials) if trial is None else trial)
        self.times.append(time.perf_counter() - self.start)
        return list(_TABLE[genome])


def run_ours(name: str, budget: int, seed: int, objectives: list[str], log: Log) -> None:
    strategy, params = VARIANTS.get(name, (name, {}))
    names = [OBJECTIVES[o] for o in objectives]

    def evaluator(arch) -> dict[str, float]:
        return dict(zip(names, log.evaluate(arch.genome)))

    with tempfile.TemporaryDirectory() as tmp:
        result = nsganet.search("nb201", evaluator, names, strategy, budget=budget, seed=seed,
                                out=Path(tmp) / "run", pop_size=POP_SIZE, strategy_params=params,
                                progress=False, plots=False)
    assert len(result.evaluations) == len(log.genomes), (name, len(result.evaluations), len(log.genomes))


def run_pymoo(name: str, budget: int, seed: int, objectives: list[str], log: Log) -> None:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    class NB201(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=6, n_obj=len(objectives), xl=0, xu=len(OPERATIONS) - 1, vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            out["F"] = np.array([log.evaluate(np.round(x)) for x in X])

    # pymoo's documented set-up for integer variables
    algorithm = NSGA2(pop_size=POP_SIZE, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                      mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
                      eliminate_duplicates=True)
    minimize(NB201(), algorithm, ("n_eval", budget), seed=seed, verbose=False)


def _optuna_sampler(name: str, seed: int):
    import optuna

    if name == "optuna-gp":  # multi-objective: log expected hypervolume improvement
        return optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    return optuna.samplers.NSGAIISampler(population_size=POP_SIZE, seed=seed)


def run_optuna(name: str, budget: int, seed: int, objectives: list[str], log: Log) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prune = name in PRUNING
    seen: set[Genome] = set()

    def objective(trial):
        genome = tuple(OPERATIONS.index(trial.suggest_categorical(f"edge{i}", list(OPERATIONS)))
                       for i in range(6))
        if prune and genome in seen:
            raise optuna.TrialPruned()
        seen.add(genome)
        return log.evaluate(genome, trial.number)

    def stop_at_budget(study, _trial) -> None:
        if len(seen) >= budget:
            study.stop()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # GPSampler's options
        study = optuna.create_study(directions=["minimize"] * len(objectives), sampler=_optuna_sampler(name, seed))
        study.optimize(objective, n_trials=TRIAL_CAP * budget if prune else budget,
                       callbacks=[stop_at_budget] if prune else None)
    log.n_trials = len(study.trials)


def run_job(job: tuple[str, int, int, list[str]]) -> tuple[Log, float]:
    """One search (strategy, budget, seed, objectives); returns its evaluation log and its seconds."""
    name, budget, seed, objectives = job
    runner = run_pymoo if name == "pymoo-nsga2" else run_optuna if name.startswith("optuna-") else run_ours
    log = Log()
    runner(name, budget, seed, objectives, log)
    return log, time.perf_counter() - log.start


def _init_worker(problem: dict, objectives: list[str]) -> None:
    """Load the table and warm up (imports, first calls), so that no strategy's seconds include them."""
    _TABLE.update(problem)
    logging.disable(logging.WARNING)
    run_ours("random", POP_SIZE, 0, objectives, Log())
    import optuna  # noqa: F401
    import pymoo.algorithms.moo.nsga2  # noqa: F401


# -- scoring -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunScore:
    strategy: str
    budget: int
    seed: int
    hv_ratio: float
    igd: float
    distinct: int
    repeats: float  # share of the trials that repeated an architecture (charged or pruned)
    seconds: float


def score_prefix(log: Log, name: str, budget: int, seed: int, elapsed: float, truth: TrueFront) -> RunScore:
    """The score of the run at ``budget``: its evaluations within ``budget`` (x TRIAL_CAP trials when pruning)."""
    limit = budget * (TRIAL_CAP if name in PRUNING else 1)
    k = min(budget, sum(t < limit for t in log.trials))
    n_trials = len(log.trials) if log.n_trials is None else log.n_trials
    trials = log.trials[k - 1] + 1 if k == budget else min(limit, n_trials)
    genomes = log.genomes[:k]
    distinct = len(set(genomes))
    seconds = elapsed if k == len(log.genomes) else log.times[k - 1]
    hv, distance = truth.score(np.array([_TABLE[g] for g in genomes]))
    return RunScore(name, budget, seed, hv, distance, distinct, 1.0 - distinct / trials, seconds)


def make_jobs(names: list[str], budgets: list[int], seeds: int, objectives: list[str]) -> list[tuple]:
    """(strategy, budget, seed, objectives) of every search; the slowest first."""
    runs = [(n, b) for n in names for b in ([max(budgets)] if n in BUDGET_FREE else budgets)]
    runs.sort(key=lambda run: (run[0] != "optuna-gp", -run[1]))
    return [(n, b, s, objectives) for n, b in runs for s in range(seeds)]


# -- the report ----------------------------------------------------------------------------------

def quartiles(values) -> np.ndarray:
    return np.percentile(np.asarray(values, dtype=float), [25, 50, 75])


def group(scores: list[RunScore]) -> dict[tuple[str, int], dict[int, RunScore]]:
    """Scores by (strategy, budget), then by seed."""
    out: dict[tuple[str, int], dict[int, RunScore]] = {}
    for s in scores:
        out.setdefault((s.strategy, s.budget), {})[s.seed] = s
    return out


def win_rate(focus: dict[int, RunScore], peer: dict[int, RunScore]) -> float:
    """Share of the common seed indices where focus's HV ratio is higher (ties count half)."""
    seeds = sorted(set(focus) & set(peer))
    if not seeds:
        return float("nan")
    difference = np.array([focus[s].hv_ratio - peer[s].hv_ratio for s in seeds])
    return float(np.mean((np.sign(difference) + 1) / 2))


def clear_of(focus: dict[int, RunScore], peer: dict[int, RunScore]) -> bool:
    """Whether focus's HV-ratio IQR lies above the peer's (25th percentile above the other's 75th)."""
    return bool(quartiles([s.hv_ratio for s in focus.values()])[0] > quartiles([s.hv_ratio for s in peer.values()])[2])


@dataclass(frozen=True)
class Summary:
    """One strategy at one budget over the seeds; ``win_rate``/``clear``: --focus against it (None for itself)."""

    strategy: str
    budget: int
    hv: np.ndarray  # quartiles of the HV ratio
    igd: np.ndarray  # quartiles of the IGD
    distinct: float  # median
    repeats: float  # mean share
    win_rate: float | None
    clear: bool | None

    def csv_row(self) -> list:
        return [self.strategy, self.budget, *self.hv, *self.igd, self.distinct, self.repeats,
                *(["", ""] if self.win_rate is None else [self.win_rate, self.clear])]


def summarize(grouped, names: list[str], budgets: list[int], focus: str) -> list[Summary]:
    rows = []
    for name in names:
        for budget in budgets:
            runs = grouped[(name, budget)]
            versus = grouped.get((focus, budget)) if name != focus else None
            rows.append(Summary(name, budget, quartiles([r.hv_ratio for r in runs.values()]),
                                quartiles([r.igd for r in runs.values()]),
                                float(np.median([r.distinct for r in runs.values()])),
                                float(np.mean([r.repeats for r in runs.values()])),
                                None if versus is None else win_rate(versus, runs),
                                None if versus is None else clear_of(versus, runs)))
    return rows


def print_table(rows: list[Summary]) -> None:
    header = (f"{'strategy':<20}{'budget':>7}  {'HV ratio median [IQR]':<28}{'IGD median [IQR]':<26}"
              f"{'distinct':>9}{'repeats':>9}")
    print(header)
    print("-" * len(header))
    for i, r in enumerate(rows):
        if i and r.strategy != rows[i - 1].strategy:
            print()
        print(f"{r.strategy:<20}{r.budget:>7}  {r.hv[1]:.4f} [{r.hv[0]:.4f}, {r.hv[2]:.4f}]      "
              f"{r.igd[1]:.4f} [{r.igd[0]:.4f}, {r.igd[2]:.4f}]  {r.distinct:7.0f}  {100 * r.repeats:6.1f}%")


def print_win_rates(rows: list[Summary], budgets: list[int], focus: str) -> None:
    against = [r for r in rows if r.win_rate is not None]
    if not against:
        print(f"\n(no win rates: --focus {focus} was not run)")
        return
    print(f"\nwin rate of {focus} (share of seeds with a higher HV ratio, ties half); "
          f"* its IQR is clear of (above the 75th percentile of) the other's:")
    print(f"  {'against':<20}" + "".join(f"{b:>9}" for b in budgets))
    for name in dict.fromkeys(r.strategy for r in against):
        cells = [f"{r.win_rate:.2f}{'*' if r.clear else ' '}" for r in against if r.strategy == name]
        print(f"  {name:<20}" + "".join(f"{c:>9}" for c in cells))


def print_overhead(names: list[str], seconds: dict[str, float], evaluations: dict[str, int]) -> None:
    print("\nsearch seconds per evaluation run (strategy overhead, the table look-up is free):")
    for name in names:
        print(f"  {name:<20}{1e3 * seconds[name] / max(evaluations[name], 1):8.3f} ms")


def write_csvs(out: Path, suffix: str, rows: list[Summary], scores: list[RunScore]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"nb201_strategies{suffix}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "budget", "hv_q25", "hv_median", "hv_q75", "igd_q25", "igd_median", "igd_q75",
                         "distinct_median", "repeat_share", "focus_win_rate", "focus_iqr_clear"])
        writer.writerows(r.csv_row() for r in rows)
    with (out / f"nb201_strategies_runs{suffix}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "budget", "seed", "hv_ratio", "igd", "distinct", "seconds"])
        writer.writerows((s.strategy, s.budget, s.seed, s.hv_ratio, s.igd, s.distinct, round(s.seconds, 3))
                         for s in sorted(scores, key=lambda s: (s.strategy, s.budget, s.seed)))


def plot(rows: list[Summary], names: list[str], budgets: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in names:
        for ax, metric in zip(axes, ("hv", "igd")):
            q = np.array([getattr(r, metric) for r in rows if r.strategy == name])
            ax.plot(budgets, q[:, 1], "o-", label=name)
            ax.fill_between(budgets, q[:, 0], q[:, 2], alpha=0.15)
    axes[0].set_ylabel("hypervolume / true front's (median, IQR)")
    axes[1].set_ylabel("IGD to the true front (median, IQR)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("architectures evaluated")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.tick_params(axis="x", which="minor", labelbottom=False)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- main ----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--metric", help="accuracy column of --table (default: its only one besides arch)")
    parser.add_argument("--objectives", default="error,flops", help="comma-separated, of: error, flops, latency")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="50,100,200,300,500")
    parser.add_argument("--strategies", default=",".join(DEFAULT))
    parser.add_argument("--focus", default="nsganetv2", help="strategy whose win rates are reported")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "nb201_2obj")
    args = parser.parse_args()
    args.budgets = sorted(int(b) for b in args.budgets.split(","))
    args.strategies = args.strategies.split(",")
    args.objectives = args.objectives.split(",")
    known = OURS + PEERS + tuple(VARIANTS)
    unknown = [n for n in args.strategies if n not in known]
    if unknown:
        parser.error(f"unknown strategy {unknown[0]}; known: {', '.join(known)}")
    if len(args.objectives) < 2 or len(set(args.objectives)) < len(args.objectives) \
            or not set(args.objectives) <= set(OBJECTIVES):
        parser.error(f"--objectives: two or three distinct names of {', '.join(OBJECTIVES)}")
    return args


def file_suffix(objectives: list[str]) -> str:
    if objectives == ["error", "flops"]:
        return ""
    return "_3obj" if len(objectives) == 3 else "_" + "-".join(objectives)


def main() -> None:
    args = parse_args()
    problem = load_problem(args.table, args.objectives, args.workers, args.metric)
    _TABLE.update(problem)
    truth = TrueFront.of(np.array(list(problem.values())))
    print(f"objectives {', '.join(args.objectives)}; true front: {len(truth.front)} of {len(problem)} "
          f"architectures; ideal {truth.ideal.round(3).tolist()}, nadir {truth.nadir.round(3).tolist()}")

    jobs = make_jobs(args.strategies, args.budgets, args.seeds, args.objectives)
    scores: list[RunScore] = []
    seconds = dict.fromkeys(args.strategies, 0.0)
    evaluations = dict.fromkeys(args.strategies, 0)
    start = time.perf_counter()
    with get_context("spawn").Pool(args.workers, initializer=_init_worker,
                                    initargs=(problem, args.objectives)) as pool:
        for done, ((name, budget, seed, _), (log, elapsed)) in enumerate(zip(jobs, pool.imap(run_job, jobs)), 1):
            print(f"  [{done}/{len(jobs)}] {name} budget {budget} seed {seed}: {elapsed:.1f} s "
                  f"({time.perf_counter() - start:.0f} s so far)", file=sys.stderr, flush=True)
            scored = [b for b in args.budgets if b <= budget] if name in BUDGET_FREE else [budget]
            scores += [score_prefix(log, name, b, seed, elapsed, truth) for b in scored]
            seconds[name] += elapsed
            evaluations[name] += len(log.genomes)
    print(f"{len(jobs)} searches in {time.perf_counter() - start:.0f} s on {args.workers} workers; "
          f"{args.seeds} seeds, population {POP_SIZE}\n")

    rows = summarize(group(scores), args.strategies, args.budgets, args.focus)
    print_table(rows)
    print_win_rates(rows, args.budgets, args.focus)
    print_overhead(args.strategies, seconds, evaluations)
    suffix = file_suffix(args.objectives)
    write_csvs(args.out, suffix, rows, scores)
    plot(rows, args.strategies, args.budgets, args.out / f"nb201_strategies{suffix}.png",
         f"NAS-Bench-201 CIFAR-10, {' vs '.join(args.objectives)}, {args.seeds} seeds")
    print(f"\ntables and plot written to {args.out}")


if __name__ == "__main__":
    main()

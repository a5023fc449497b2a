"""Accuracy predictors on NAS-Bench-201 (CIFAR-10): ranking quality against the number of training architectures.

Every predictor is fitted on n random architectures (target: test error in %,
100 - cifar10_test_acc_200ep) and tested on all the other ones of the 15,625;
the same split per seed for every predictor, feature encoding and target
transform, so that they are compared pairwise. Scores: Kendall's τ (what a
surrogate-assisted search needs: the order of candidates) and RMSE (in % error)
on the held-out architectures; median and interquartile range over seeds.

    python benchmarks/nb201_predictors.py [--seeds 10] [--sizes 50,100,200,500] [--predictors rbf,gp,mlp,cart,gbt,as]
    python benchmarks/nb201_predictors.py --features onehot,integer --target raw,log,rank
    python benchmarks/nb201_predictors.py --features onehot --target log --predictors as --seeds 3

``--features`` one or more of structure (the one-hot genome plus the space's
live-path descriptors, nsganetv2's default), onehot and integer; ``--target``
one or more of raw (the error), log (log error, the default) and rank (the
error's rank). Results go to
benchmarks/results/predictors/: every run (nb201_predictors_runs.csv), the
summary (nb201_predictors.csv) and the tables as markdown (nb201_predictors.md).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import time
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from nb201_strategies import read_accuracy

from nsganet.spaces import get_space
from nsganet.surrogates import TARGETS, get_features, get_predictor, predictor_names, quality

HERE = Path(__file__).resolve().parent
DEFAULT_TABLE = HERE.parent.parent / "shared" / "data" / "nats_tss_cifar10.csv"
PREDICTORS = ("rbf", "gp", "mlp", "cart", "gbt", "as")
#: Feature sets: "structure" adds NAS-Bench-201's live-path descriptors to the one-hot genome (nsganetv2's default).
FEATURES = ("structure", "onehot", "integer")

SPACE = get_space("nb201")
_DATA: dict[str, np.ndarray] = {}  # "X", "y": per worker


def load_table(table: Path, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Genomes (15,625 x 6) and test errors (%) of every architecture."""
    accuracy = read_accuracy(table, metric)
    X = np.array([SPACE.from_string(arch) for arch in accuracy], dtype=np.int64)
    y = 100.0 - np.array(list(accuracy.values()))
    return X, y


def _init_worker(X: np.ndarray, y: np.ndarray) -> None:
    _DATA.update(X=X, y=y)
    logging.disable(logging.WARNING)


def run_job(job: tuple[str, int, int, str, str]) -> dict:
    """Fit one predictor on ``size`` architectures drawn with ``seed``; score it on all the others."""
    name, size, seed, features, target = job
    X, y = _DATA["X"], _DATA["y"]
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:size], order[size:]
    encode = get_features(features, SPACE.encoding.lower, SPACE.encoding.upper, SPACE.descriptors)
    start = time.perf_counter()
    model = get_predictor(name, seed=seed, encode=encode, target=target).fit(X[train], y[train])
    seconds = time.perf_counter() - start
    scores = quality(y[test], model.predict(X[test]))
    return {"predictor": name, "size": size, "seed": seed, "features": features, "target": target,
            "tau": scores["tau"], "rho": scores["rho"], "rmse": scores["rmse"], "fit_seconds": seconds,
            "winner": getattr(model, "winner", "") or ""}


def summarise(runs: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Median and quartiles of τ, ρ and RMSE, mean fit time and adaptive switching's winners per group."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in keys), []).append(run)
    rows = []
    for key, group in groups.items():
        row = dict(zip(keys, key), n=len(group))
        for metric in ("tau", "rho", "rmse"):
            q25, q50, q75 = np.percentile([r[metric] for r in group], [25, 50, 75])
            row.update({f"{metric}_q25": q25, f"{metric}_median": q50, f"{metric}_q75": q75})
        row["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in group]))
        winners = [r["winner"] for r in group if r["winner"]]
        row["winners"] = " ".join(f"{w}:{winners.count(w)}" for w in sorted(set(winners), key=winners.index))
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--metric", help="accuracy column of --table (default: its only one besides arch)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", default="50,100,200,500")
    parser.add_argument("--predictors", default=",".join(PREDICTORS))
    parser.add_argument("--features", default=",".join(FEATURES), help=f"comma-separated, of {', '.join(FEATURES)}")
    parser.add_argument("--target", default="log", help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "predictors")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.predictors.split(",")
    features = args.features.split(",")
    targets = args.target.split(",")
    if unknown := [f for f in features if f not in FEATURES]:
        parser.error(f"unknown feature set {unknown[0]}; known: {', '.join(FEATURES)}")
    if unknown := [n for n in names if n not in predictor_names()]:
        parser.error(f"unknown predictor {unknown[0]}; known: {', '.join(predictor_names())}")
    if unknown := [t for t in targets if t not in TARGETS]:
        parser.error(f"unknown target {unknown[0]}; known: {', '.join(TARGETS)}")

    X, y = load_table(args.table, args.metric)
    combos = [(f, t) for f in features for t in targets]
    # the slowest jobs (adaptive switching, large training sets) first, for an even load
    jobs = sorted(((n, s, seed, f, t) for n in names for s in sizes for seed in range(args.seeds) for f, t in combos),
                  key=lambda job: (job[0] != "as", -job[1]))
    start = time.perf_counter()
    runs = []
    with get_context("spawn").Pool(args.workers, initializer=_init_worker, initargs=(X, y)) as pool:
        for done, run in enumerate(pool.imap_unordered(run_job, jobs), 1):
            runs.append(run)
            if done % max(1, len(jobs) // 20) == 0:
                print(f"  {done}/{len(jobs)} fits, {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{len(jobs)} fits in {time.perf_counter() - start:.0f} s on {args.workers} workers; {args.seeds} seeds, "
          f"tested on all other architectures of {len(X)}\n")

    order = {(n, s): i for i, (n, s) in enumerate((n, s) for n in names for s in sizes)}
    summary = sorted(summarise(runs, ("features", "target", "predictor", "size")),
                     key=lambda r: (combos.index((r["features"], r["target"])), order[(r["predictor"], r["size"])]))
    lines = ["# Accuracy predictors on NAS-Bench-201 (CIFAR-10 test error)", "",
             f"{args.seeds} seeds; train on n random architectures, test on all the other ones; "
             "median [IQR] over seeds.", ""]
    for f, t in combos:
        title = f"features {f}, target {t}"
        header = (f"{'predictor':<10}{'n':>5}  {'Kendall τ median [IQR]':<26}{'RMSE median [IQR]':<24}{'fit s':>7}"
                  "  as picks")
        print(title + "\n" + header + "\n" + "-" * len(header))
        lines += [f"## {title}", "",
                  "| predictor | n | Kendall τ median [IQR] | RMSE median [IQR] | fit s | as picks |",
                  "|---|---:|---|---|---:|---|"]
        for r in (r for r in summary if (r["features"], r["target"]) == (f, t)):
            tau = f"{r['tau_median']:.3f} [{r['tau_q25']:.3f}, {r['tau_q75']:.3f}]"
            err = f"{r['rmse_median']:.2f} [{r['rmse_q25']:.2f}, {r['rmse_q75']:.2f}]"
            print(f"{r['predictor']:<10}{r['size']:>5}  {tau:<26}{err:<24}{r['fit_seconds']:7.2f}  {r['winners']}")
            lines.append(f"| {r['predictor']} | {r['size']} | {tau} | {err} | {r['fit_seconds']:.2f} "
                         f"| {r['winners']} |")
        print()
        lines.append("")

    # median τ side by side: which features and which target rank best
    by_key = {(r["features"], r["target"], r["predictor"], r["size"]): r["tau_median"] for r in summary}
    labels = [f"{f}/{t}" for f, t in combos]
    print("median Kendall τ by features/target (best of each row marked *)")
    print(f"{'predictor':<10}{'n':>5}" + "".join(f"{label:>16}" for label in labels))
    lines += ["## Median Kendall τ by features/target", "",
              "| predictor | n | " + " | ".join(labels) + " |", "|---|---:|" + "---:|" * len(labels)]
    for n in names:
        for s in sizes:
            values = [by_key[(f, t, n, s)] for f, t in combos]
            best = int(np.argmax(values))
            print(f"{n:<10}{s:>5}" + "".join(f"{v:>15.3f}{'*' if i == best else ' '}" for i, v in enumerate(values)))
            cells = [f"**{v:.3f}**" if i == best else f"{v:.3f}" for i, v in enumerate(values)]
            lines.append(f"| {n} | {s} | " + " | ".join(cells) + " |")
    means = [np.mean([by_key[(f, t, n, s)] for n in names for s in sizes]) for f, t in combos]
    print(f"{'mean':<15}" + "".join(f"{m:>16.3f}" for m in means))
    lines.append("| mean | | " + " | ".join(f"{m:.3f}" for m in means) + " |")

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "nb201_predictors_runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(runs[0]))
        writer.writeheader()
        writer.writerows(sorted(runs, key=lambda r: (r["features"], r["target"], r["predictor"], r["size"], r["seed"])))
    with (args.out / "nb201_predictors.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    (args.out / "nb201_predictors.md").write_text("\n".join(lines) + "\n")
    print(f"\nruns, summary and markdown written to {args.out}")


if __name__ == "__main__":
    main()

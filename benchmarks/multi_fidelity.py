"""Multi-fidelity against full-fidelity proxy search: hypervolume per CPU-second on the embedded digits.

For every seed, two NSGANetV1 searches of the micro space with the same
settings and seed: full fidelity (each architecture trains for ``--epochs``,
``--budget`` architectures), then multi-fidelity (successive halving with
``--eta`` from ``--min-epochs`` to ``--epochs`` inside each generation), which
runs until it has spent the full-fidelity run's compute (checked after each
generation; at most ``--mf-budget`` architectures). Each search trains in one
process with one thread, so the stored seconds of its evaluations (of its
rungs) are CPU-seconds; they are summed in the order they ran.

The score at C CPU-seconds is what a user of either run would export at that
moment: the normalised hypervolume (the runs' own bounds: error 0..100 %,
flops 0..the largest network's) of the non-dominated architectures evaluated
at **full fidelity** within C. Partial-fidelity errors are higher than full
ones, so architectures that stopped early are not counted for the
multi-fidelity run. The table gives, at fractions of the compute the
full-fidelity run spent, the median and interquartile range over seeds of
both hypervolumes, and the architectures evaluated (at full fidelity / any).

Writes ``results.json`` (settings, every run's curve), ``table.csv``,
``table.md`` and ``hv_vs_seconds.png`` into ``--out``.

    python benchmarks/multi_fidelity.py                 # about 18 minutes on 2 idle cores (4 seeds, 2 jobs)
    python benchmarks/multi_fidelity.py --seeds 3 --budget 6 --pop-size 3 --epochs 3 --train-images 64 \\
        --channels 4 --out /tmp/mf-check               # a check that it works: about a minute
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

import nsganet
from nsganet.moo.front import objective_matrix
from nsganet.moo.indicators import normalized_hypervolume
from nsganet.search.callbacks import Callback, GenerationEnd
from nsganet.search.store import RunStore

OBJECTIVES = ["error", "flops"]
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


class Spent(Exception):
    """The multi-fidelity run has spent the compute it may."""


class StopAfter(Callback):
    """Stop a search after the first generation at which its evaluations have spent ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_generation_end(self, study: Any, event: GenerationEnd) -> None:
        if sum(e.seconds or 0.0 for e in event.evaluations) >= self.seconds:
            raise Spent


def search(out: Path, seed: int, args: dict[str, Any], fidelity: bool, stop_after: float | None) -> float:
    """One search into ``out``; its wall seconds."""
    started = time.perf_counter()
    options = {"epochs": args["epochs"], "train_images": args["train_images"], "batch_size": args["batch_size"],
               "channels": args["channels"], "layers": args["layers"], "pop_size": args["pop_size"]}
    if fidelity:
        options.update(fidelity_eta=args["eta"], fidelity_min_epochs=args["min_epochs"])
    with contextlib.suppress(Spent):  # the multi-fidelity run has spent the full-fidelity run's compute
        nsganet.search("micro", budget=args["mf_budget"] if fidelity else args["budget"], seed=seed, out=out,
                       workers=1, progress=False, plots=False, device="cpu",
                       callbacks=[StopAfter(stop_after)] if stop_after is not None else [], **options)
    return time.perf_counter() - started


def timeline(out: Path, epochs: int) -> dict[str, Any]:
    """When each full-fidelity architecture of a run became available, in cumulative CPU-seconds.

    Returns the times, the objective rows of those architectures (NaN rows
    failed), the time each architecture got any result, the run's bounds and
    the epochs it trained.
    """
    with RunStore.read_only(out / "run.sqlite", live=False) as store:
        evaluations = store.evaluations()
        rungs = store.rungs()
        bounds = store.get_meta("hv_bounds")
    generation = {e.seq: e.generation for e in evaluations}
    by_seq = {e.seq: e for e in evaluations}
    full_at, any_at, rows = [], [], []
    if rungs:  # the rungs in the order they ran: generation by generation, rung by rung, in evaluation order
        spent, last_rung = 0.0, {}
        for r in rungs:
            last_rung[r.seq] = r.rung
        for r in sorted((r for r in rungs if r.seq in by_seq), key=lambda r: (generation[r.seq], r.rung, r.seq)):
            spent += r.seconds or 0.0
            if r.rung == last_rung[r.seq]:
                any_at.append(spent)
                if r.epochs == epochs:
                    full_at.append(spent)
                    rows.append(objective_matrix([by_seq[r.seq]], OBJECTIVES)[0])
        trained = sum(r.epochs for r in rungs)
    else:
        spent = np.cumsum([e.seconds or 0.0 for e in evaluations])
        full_at = any_at = [float(s) for s in spent]
        rows = list(objective_matrix(evaluations, OBJECTIVES))
        trained = epochs * len(evaluations)
    return {"full_at": [float(t) for t in full_at], "any_at": [float(t) for t in any_at],
            "F": [None if np.isnan(row).any() else [float(v) for v in row] for row in rows],  # None: failed
            "lower": bounds["lower"], "upper": bounds["upper"], "trained_epochs": trained,
            "seconds": float(max(any_at, default=0.0))}


def hypervolume_at(run: dict[str, Any], seconds: float) -> tuple[float, int, int]:
    """Hypervolume of the full-fidelity architectures available at ``seconds`` (that of their front); how many
    full-fidelity and how many architectures in all had a result by then."""
    n = int(np.searchsorted(run["full_at"], seconds, side="right"))
    ok = np.array([row for row in run["F"][:n] if row is not None], dtype=float).reshape(-1, len(OBJECTIVES))
    hv = normalized_hypervolume(ok, np.asarray(run["lower"]), np.asarray(run["upper"]))
    return hv, n, int(np.searchsorted(run["any_at"], seconds, side="right"))


def run_seed(job: tuple[int, dict[str, Any], str]) -> dict[str, Any]:
    """Both searches of one seed (full fidelity first: it sets the compute of the other); their timelines."""
    import torch

    torch.set_num_threads(1)
    seed, args, work = job
    full_out, mf_out = Path(work) / f"full-seed{seed}", Path(work) / f"mf-seed{seed}"
    wall_full = search(full_out, seed, args, fidelity=False, stop_after=None)
    full = timeline(full_out, args["epochs"])
    wall_mf = search(mf_out, seed, args, fidelity=True, stop_after=full["seconds"])
    mf = timeline(mf_out, args["epochs"])
    print(f"seed {seed}: full fidelity {full['seconds']:.0f} CPU-s ({wall_full:.0f} s wall), multi-fidelity "
          f"{mf['seconds']:.0f} CPU-s ({wall_mf:.0f} s wall)", flush=True)
    return {"seed": seed, "full": full, "multi": mf, "wall": {"full": wall_full, "multi": wall_mf}}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per checkpoint (a fraction of each seed's full-fidelity compute): median and IQR over seeds."""
    assert all(r["full"]["lower"] == r["multi"]["lower"] and r["full"]["upper"] == r["multi"]["upper"]
               for r in runs), "the runs must share their hypervolume bounds"
    table = []
    for fraction in FRACTIONS:
        row: dict[str, Any] = {"fraction": fraction,
                               "cpu_seconds": float(np.median([fraction * r["full"]["seconds"] for r in runs]))}
        for kind in ("full", "multi"):
            scores = [hypervolume_at(r[kind], fraction * r["full"]["seconds"] * (1 + 1e-9)) for r in runs]
            hv = np.array([s[0] for s in scores])
            row[f"{kind}_hv_median"] = float(np.median(hv))
            row[f"{kind}_hv_q25"], row[f"{kind}_hv_q75"] = (float(q) for q in np.percentile(hv, [25, 75]))
            row[f"{kind}_full_evaluated"] = float(np.median([s[1] for s in scores]))
            row[f"{kind}_evaluated"] = float(np.median([s[2] for s in scores]))
        row["multi_better"] = sum(hypervolume_at(r["multi"], fraction * r["full"]["seconds"] * (1 + 1e-9))[0] >
                                  hypervolume_at(r["full"], fraction * r["full"]["seconds"] * (1 + 1e-9))[0]
                                  for r in runs)
        table.append(row)
    return table


def markdown(table: list[dict[str, Any]], n_seeds: int) -> str:
    header = ["compute (of full run)", "CPU-s (median)", "HV full: median [IQR]", "HV multi: median [IQR]",
              "multi better (seeds)", "evaluated full", "evaluated multi (full / any)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in table:
        lines.append("| " + " | ".join([
            f"{100 * r['fraction']:.0f} %", f"{r['cpu_seconds']:.0f}",
            f"{r['full_hv_median']:.4f} [{r['full_hv_q25']:.4f}, {r['full_hv_q75']:.4f}]",
            f"{r['multi_hv_median']:.4f} [{r['multi_hv_q25']:.4f}, {r['multi_hv_q75']:.4f}]",
            f"{r['multi_better']} / {n_seeds}", f"{r['full_evaluated']:g}",
            f"{r['multi_full_evaluated']:g} / {r['multi_evaluated']:g}"]) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    from nsganet.utils.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for kind, color, label in (("full", "tab:blue", "full fidelity"), ("multi", "tab:orange", "multi-fidelity")):
        for i, r in enumerate(runs):
            times = r[kind]["full_at"]
            if not times:
                continue
            hv = [hypervolume_at(r[kind], t)[0] for t in times]
            ax.step(times, hv, where="post", color=color, alpha=0.7, label=label if i == 0 else None)
    ax.set_xlabel("CPU-seconds of training")
    ax.set_ylabel("normalised hypervolume (full-fidelity front)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0..N-1 (at least 3)")
    parser.add_argument("--budget", type=int, default=24, help="architectures of the full-fidelity runs")
    parser.add_argument("--mf-budget", type=int, default=None,
                        help="most architectures of the multi-fidelity runs (default 4x --budget); they stop once "
                             "they have spent the full-fidelity run's compute")
    parser.add_argument("--pop-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=9, help="full fidelity")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-epochs", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="seeds searched at once, one process (one core) each")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/multi_fidelity"))
    args = parser.parse_args()
    if args.seeds < 3:
        parser.error("--seeds must be at least 3 (a median and a spread)")
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "jobs")}
    settings["mf_budget"] = args.mf_budget or 4 * args.budget
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nsganet-mf-") as work:
        jobs = [(seed, settings, work) for seed in range(args.seeds)]
        if args.jobs > 1:
            with get_context("spawn").Pool(args.jobs) as pool:
                runs = pool.map(run_seed, jobs, chunksize=1)
        else:
            runs = [run_seed(job) for job in jobs]
    wall = time.perf_counter() - started

    table = summarise(runs)
    text = markdown(table, len(runs))
    print(text)
    print(f"wall time {wall / 60:.1f} min with {args.jobs} job(s)")
    (args.out / "table.md").write_text(text)
    with (args.out / "table.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    (args.out / "results.json").write_text(json.dumps({"settings": settings, "jobs": args.jobs,
                                                       "wall_seconds": wall, "table": table, "runs": runs},
                                                      indent=1) + "\n")
    plot(runs, args.out / "hv_vs_seconds.png")


if __name__ == "__main__":
    main()

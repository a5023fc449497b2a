"""Latency look-up tables against measurement, for PyTorch (eager) and ONNX Runtime, in one run.

For each back-end a look-up table of the configured mobilenetv3 supernet
shape is built on this machine (``nsganet.costs.lut.build_table``). Then random
subnets (the same ones for both back-ends) are built and timed with each
back-end (``nsganet.costs.latency.measure_latency``: median of ``--repeats`` runs,
one thread, batch ``--batch``), alternating back-ends per subnet so that a
busy spell of the machine hits both. Reported per back-end: the table's mean
absolute percentage error and Spearman's rho / Kendall's tau against the
measured latency, the build time of the table, and the same figures for a
second measurement of every subnet against the first (how noisy measurement
itself is: the best a table can hope for); and the speed ratio of
ONNX Runtime over PyTorch eager (median over the subnets of torch ms / ORT ms).
No timing is asserted: the figures describe this machine at that moment.

    OMP_NUM_THREADS=1 python benchmarks/latency_lut.py                       # small preset, 16 px (digits)
    OMP_NUM_THREADS=1 python benchmarks/latency_lut.py --preset imagenet --resolutions 192 --subnets 20 --repeats 10

Defaults: the supernet ``nsganet search --space mobilenetv3`` trains on the
embedded digits (``SupernetConfig.small(16)``, width 0.5, 1-channel input, 10
classes), 50 subnets. Results go to benchmarks/results/latency/: one row per
subnet (``latency_lut_<preset>.csv``), the summary (``..._summary.csv``) and a
scatter plot of predicted against measured latency (``latency_lut_<preset>.png``).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nsganet.costs.latency import BACKENDS, measure_latency
from nsganet.costs.lut import build_table
from nsganet.nn.mobilenetv3 import MobileNetV3
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=("small", "imagenet"), default="small")
    parser.add_argument("--image-size", type=int, default=16, help="image size of the small preset (default 16)")
    parser.add_argument("--width-mult", type=float, help="width multiplier (default 0.5 small, 1.0 imagenet)")
    parser.add_argument("--resolutions", help="comma-separated subset of the space's resolutions (default all)")
    parser.add_argument("--subnets", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per layer and per network")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latency")
    args = parser.parse_args()

    if args.preset == "small":
        config = SupernetConfig.small(args.image_size, width_mult=args.width_mult or 0.5)
        classes, channels = 10, 1
    else:
        config = SupernetConfig.imagenet(args.width_mult or 1.0)
        classes, channels = 1000, 3
    resolutions = (tuple(int(r) for r in args.resolutions.split(",")) if args.resolutions
                   else tuple(config.resolutions))
    space = MobileNetV3Space(config)
    rng = np.random.default_rng(args.seed)
    genomes = space.sample(rng, args.subnets)
    for genome in genomes:
        genome[space.layout.resolution_var] = config.resolutions.index(int(rng.choice(resolutions)))
    genomes = space.encoding.canonical(genomes)

    load_start = tuple(round(v, 2) for v in os.getloadavg())
    start_all = time.perf_counter()
    tables, build_seconds = {}, {}
    for backend in BACKENDS:
        start = time.perf_counter()
        tables[backend] = build_table(space, classes, channels, backend=backend, batch_size=args.batch,
                                      repeats=args.repeats, resolutions=resolutions, seed=args.seed)
        build_seconds[backend] = time.perf_counter() - start
        print(f"{backend}: table of {len(tables[backend].entries)} layer settings built in "
              f"{build_seconds[backend]:.1f} s", flush=True)

    rows = []
    for i, genome in enumerate(genomes):
        arch = space.to_config(genome)
        model = MobileNetV3.from_config(config, arch, num_classes=classes, in_channels=channels)
        shape = (channels, arch["resolution"], arch["resolution"])
        row = {"arch": space.to_string(genome), "resolution": arch["resolution"],
               "flops": space.analytic_costs(genome, num_classes=classes, in_channels=channels)["flops"]}
        order = BACKENDS if i % 2 == 0 else BACKENDS[::-1]
        for backend in order:
            row[f"{backend}_measured_ms"] = measure_latency(model, shape, backend, args.batch,
                                                            repeats=args.repeats).median_ms
            row[f"{backend}_predicted_ms"] = tables[backend].predict(genome)
        rows.append(row)
    for i, (genome, row) in enumerate(zip(genomes, rows)):  # again: how repeatable is a measurement itself?
        arch = space.to_config(genome)
        model = MobileNetV3.from_config(config, arch, num_classes=classes, in_channels=channels)
        for backend in BACKENDS if i % 2 else BACKENDS[::-1]:
            row[f"{backend}_remeasured_ms"] = measure_latency(model, (channels, arch["resolution"], arch["resolution"]),
                                                              backend, args.batch, repeats=args.repeats).median_ms
    total = time.perf_counter() - start_all

    summary = []
    for backend in BACKENDS:
        measured = np.array([r[f"{backend}_measured_ms"] for r in rows])
        predicted = np.array([r[f"{backend}_predicted_ms"] for r in rows])
        again = np.array([r[f"{backend}_remeasured_ms"] for r in rows])
        summary.append({"backend": backend, "subnets": len(rows), "settings": len(tables[backend].entries),
                        "build_s": build_seconds[backend],
                        "mape_pct": float(np.mean(np.abs(predicted - measured) / measured) * 100),
                        "spearman": float(spearmanr(predicted, measured)[0]),
                        "kendall": float(kendalltau(predicted, measured)[0]),
                        "measured_median_ms": float(np.median(measured)),
                        "repeat_mape_pct": float(np.mean(np.abs(again - measured) / measured) * 100),
                        "repeat_spearman": float(spearmanr(again, measured)[0]),
                        "overhead_ms": tables[backend].overhead_ms})
    ratio = statistics.median(r["torch_measured_ms"] / r["onnxruntime_measured_ms"] for r in rows)
    flops = np.array([r["flops"] for r in rows])
    flops_rho = {b: float(spearmanr(flops, [r[f"{b}_measured_ms"] for r in rows])[0]) for b in BACKENDS}

    device = tables["torch"].device
    print(f"\n{args.preset} preset (width {config.width_mult:g}, resolutions {', '.join(map(str, resolutions))}), "
          f"{len(rows)} subnets, batch {args.batch}, 1 thread, {args.repeats} runs; {device['cpu']}, "
          f"{device['cpu_count']} cores, torch {device['torch']}, onnxruntime {device['onnxruntime']}")
    print(f"{'backend':<12} {'settings':>8} {'build s':>8} {'MAPE %':>7} {'rho':>6} {'tau':>6} "
          f"{'median ms':>9} {'flops rho':>9} {'rerun MAPE %':>12} {'rerun rho':>9}")
    for s in summary:
        print(f"{s['backend']:<12} {s['settings']:>8} {s['build_s']:>8.1f} {s['mape_pct']:>7.2f} "
              f"{s['spearman']:>6.3f} {s['kendall']:>6.3f} {s['measured_median_ms']:>9.3f} "
              f"{flops_rho[s['backend']]:>9.3f} {s['repeat_mape_pct']:>12.2f} {s['repeat_spearman']:>9.3f}")
    print("MAPE, rho, tau: LUT prediction vs measurement; flops rho: FLOPs vs measurement; rerun: a second "
          "measurement of the same subnets vs the first (the noise floor)")
    print(f"ONNX Runtime / PyTorch eager speed-up (median of torch ms / ORT ms): {ratio:.2f}x")
    print(f"total {total:.0f} s; load average (1, 5, 15 min) at start {load_start}, at end "
          f"{tuple(round(v, 2) for v in os.getloadavg())} on {os.cpu_count()} cores")

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"latency_lut_{args.preset}"
    with (args.out / f"{stem}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with (args.out / f"{stem}_summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*summary[0], "flops_spearman", "ort_speedup_median"])
        writer.writeheader()
        for s in summary:
            writer.writerow({**s, "flops_spearman": flops_rho[s["backend"]], "ort_speedup_median": ratio})
    plot(rows, summary, args.out / f"{stem}.png", f"{args.preset} preset, {len(rows)} subnets, batch {args.batch}")
    print(f"results in {args.out}")


def plot(rows: list[dict], summary: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(BACKENDS), figsize=(5 * len(BACKENDS), 4.5))
    for ax, s in zip(axes, summary):
        backend = s["backend"]
        measured = [r[f"{backend}_measured_ms"] for r in rows]
        predicted = [r[f"{backend}_predicted_ms"] for r in rows]
        low, high = min(measured + predicted), max(measured + predicted)
        ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", label="y = x")
        ax.scatter(measured, predicted, s=14, color="tab:blue")
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("LUT-predicted latency (ms)")
        ax.set_title(f"{backend}: MAPE {s['mape_pct']:.1f} %, rho {s['spearman']:.2f}, tau {s['kendall']:.2f}",
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()

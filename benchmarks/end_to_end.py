"""After the search, end to end on the embedded digits: search -> select 3 -> train -> evaluate, against a ResNet.

1. ``nsganet search`` with the default settings (NSGANetV1, micro space, proxy
   training on the search split of the embedded digits) into ``--run``
   (resumed, or reused when finished);
2. ``nsganet select RUN -n 3``: the high trade-off architectures of the front
   (the most accurate included), exported at ``--channels``/``--layers``;
3. ``nsganet train`` each with the re-training recipe (best epoch chosen on a
   held-out part of the training data);
4. ``nsganet evaluate`` each on the test split, which nothing before has seen:
   clean accuracy, 12 common corruptions at 5 severities, FGSM over the
   supplement's attack strengths and the normalised robustness area;
5. a hand-designed baseline, a CIFAR-style ResNet whose multiply-accumulates
   are nearest to those of the selected network with the best validation
   accuracy, trained with the same recipe on the same split and evaluated the
   same way.

Prints a table and writes it (``table.md``, ``results.json``, ``fgsm.png``)
into ``--out``. Every step is seeded; re-running the script resumes finished
steps from their files.

    python benchmarks/end_to_end.py                 # about 15 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

from nsganet.costs.model import count_costs
from nsganet.deploy.netfile import load_net
from nsganet.deploy.retrain import train_net
from nsganet.deploy.select import export_selection
from nsganet.nn.resnet import ResNet
from nsganet.robustness.evaluate import evaluate_network
from nsganet.train.checkpoint import CHECKPOINT_FILE
from nsganet.train.recipe import RetrainSettings, fit, split_for
from nsganet.utils.plotting import pyplot

#: ResNet shapes tried for the baseline: (width, blocks per stage)
BASELINE_SHAPES = [(w, b) for w in (8, 12, 16, 20, 24, 32) for b in (1, 2, 3)]


def search(run: Path, seed: int) -> float:
    """The main job's search (resumed or reused); wall seconds spent now."""
    started = time.perf_counter()
    if not (run / "front.csv").exists() or not _finished(run):
        command = [sys.executable, "-m", "nsganet", "search", "--out", str(run), "--seed", str(seed), "--resume",
                   "-q"]
        subprocess.run(command, check=True)
    return time.perf_counter() - started


def _finished(run: Path) -> bool:
    lines = (run / "evaluations.csv").read_text().splitlines() if (run / "evaluations.csv").exists() else []
    return len(lines) - 1 >= 100


def evaluate(model: torch.nn.Module, mean: list[float], std: list[float], test_set, seed: int) -> dict:
    report = evaluate_network(model, test_set, mean, std, seed=seed)
    return report.to_dict() | {"robustness_area": report.robustness_area}


def baseline_shape(target_macs: float, in_channels: int, size: int, classes: int) -> tuple[int, int, float]:
    """The ResNet (width, blocks) whose multiply-accumulates are nearest to ``target_macs`` (millions)."""
    best = None
    for width, blocks in BASELINE_SHAPES:
        macs = count_costs(ResNet(classes, in_channels, width, blocks), (in_channels, size, size))["flops"]
        if best is None or abs(macs - target_macs) < abs(best[2] - target_macs):
            best = (width, blocks, macs)
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("benchmarks/results/end_to_end/run"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/end_to_end"))
    parser.add_argument("--select", type=int, default=3)
    parser.add_argument("--channels", type=int, default=16, help="width of the re-trained networks")
    parser.add_argument("--layers", type=int, default=2, help="cells per stage of the re-trained networks")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    args.out.mkdir(parents=True, exist_ok=True)

    search_seconds = search(args.run, args.seed)
    selected = export_selection(args.run, n=args.select, out=args.out / "selected", channels=args.channels,
                                layers=args.layers)
    rows = []
    for s in selected:
        out = s.folder / "train"
        trained = train_net(s.folder, out, {"epochs": args.epochs}, seed=args.seed, progress=False,
                            resume=(out / CHECKPOINT_FILE).exists())
        spec, model = load_net(out)
        test_set, _ = spec.load_data(split="test")
        costs = count_costs(model, (spec.in_channels, spec.input_size, spec.input_size))
        rows.append({"name": f"searched #{s.evaluation.seq}", "arch": spec.arch, **costs,
                     "search_error": s.evaluation.objectives["error"],
                     "valid_acc": trained.result.best_accuracy, "train_seconds": trained.result.seconds,
                     **evaluate(model, spec.mean, spec.std, test_set, args.seed)})
        print(f"{rows[-1]['name']}: {costs['flops']:.3f} MMACs, validation {rows[-1]['valid_acc']:.2f} %, "
              f"test {rows[-1]['clean_accuracy']:.2f} %", flush=True)

    best = max(rows, key=lambda r: r["valid_acc"])
    spec, _ = load_net(selected[0].folder / "train")
    width, blocks, _ = baseline_shape(best["flops"], spec.in_channels, spec.input_size, spec.num_classes)
    train_set, _ = spec.load_data()
    test_set, _ = spec.load_data(split="test")
    settings = RetrainSettings.defaults(False, epochs=args.epochs)
    train_part, valid_part = split_for(settings, train_set, seed=args.seed)
    baseline_dir = args.out / f"resnet-w{width}-b{blocks}"
    torch.manual_seed(args.seed)
    model = ResNet(spec.num_classes, spec.in_channels, width, blocks)
    result = fit(model, train_part, valid_part, settings, baseline_dir, mean=spec.mean, std=spec.std, seed=args.seed,
                 resume=(baseline_dir / CHECKPOINT_FILE).exists(), progress=False)
    model.load_state_dict(result.best_state)
    model.eval()
    costs = count_costs(model, (spec.in_channels, spec.input_size, spec.input_size))
    rows.append({"name": f"ResNet-{model.depth} (width {width})", "arch": f"resnet w{width} b{blocks}", **costs,
                 "search_error": None, "valid_acc": result.best_accuracy, "train_seconds": result.seconds,
                 **evaluate(model, spec.mean, spec.std, test_set, args.seed)})

    eps = rows[0]["fgsm"]["eps"]
    header = ["network", "MMACs", "params (K)", "valid %", "test %", "corrupt %", *[f"FGSM {e:g}" for e in eps[1:]],
              "robust area"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        marker = " (best)" if r is best else ""
        cells = [r["name"] + marker, f"{r['flops']:.3f}", f"{1000 * r['params']:.1f}", f"{r['valid_acc']:.2f}",
                 f"{r['clean_accuracy']:.2f}", f"{r['mean_corruption_accuracy']:.2f}",
                 *[f"{a:.1f}" for a in r["fgsm"]["accuracy"][1:]], f"{r['robustness_area']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    print(f"\ntest split: {rows[0]['images']} images; search {search_seconds:.0f} s now (0 when reused); "
          f"training {sum(r['train_seconds'] for r in rows):.0f} s in all")
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for r in rows:
        ax.plot(r["fgsm"]["eps"], r["fgsm"]["accuracy"], "o-", ms=3, label=f"{r['name']} ({r['flops']:.2f} M)")
    ax.set_xlabel("FGSM ε (pixel scale 0..1)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "fgsm.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

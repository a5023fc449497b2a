"""How well do weights inherited from the supernet rank architectures? (NSGANetV2's weight-level surrogate)

On the embedded digits: train a small once-for-all MobileNetV3 supernet on the
search-train split (or take --supernet), then for N random architectures plus
the smallest and the largest measure the validation accuracy

* inherited, as extracted (batch-norm statistics accumulated over all subnets),
* inherited after batch-norm recalibration on 500 search-train images,
* trained from scratch (the same network, randomly initialised, --epochs epochs),

and report the effect of recalibration and the rank correlation (Spearman ρ,
Kendall τ) between inherited and from-scratch accuracy. Also checks that every
extracted subnet computes what the supernet's active subnet computes.

    python benchmarks/supernet_inheritance.py [--archs 24] [--epochs 10] [--supernet-epochs 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from scipy import stats

from nsganet.data import BatchLoader, load_dataset, split_train_valid
from nsganet.data.augment import Augmentation
from nsganet.evaluators.supernet import SupernetEvaluator
from nsganet.spaces import get_space
from nsganet.supernet.files import fit_supernet, load_supernet
from nsganet.supernet.settings import SupernetTrainSettings
from nsganet.supernet.training import SUPERNET_FILE
from nsganet.train.loop import TrainSettings, accuracy, train

HERE = Path(__file__).resolve().parent
_STATE: dict = {}


def _init(supernet_file: str, seed: int, epochs: int) -> None:
    torch.set_num_threads(1)
    train_set, _ = load_dataset("digits")
    search_train, search_valid = split_train_valid(train_set, 0.2, seed=seed)
    supernet = load_supernet(supernet_file)
    _STATE.update(evaluator=SupernetEvaluator(supernet, search_train, search_valid, seed=seed),
                  train=search_train, valid=search_valid, supernet=supernet, epochs=epochs, seed=seed)


def measure(genome: list[int]) -> tuple[list[int], float, float, float, float]:
    """Inherited accuracy before/after recalibration, from-scratch accuracy, and extraction error."""
    evaluator, supernet = _STATE["evaluator"], _STATE["supernet"]
    arch = evaluator.space.architecture(np.asarray(genome))
    subnet = supernet.extract(arch.genome).eval()  # (the supernet now runs the same architecture)
    x = evaluator.calibration[:8]
    with torch.no_grad():
        gap = float((supernet.module.eval()(x) - subnet(x)).abs().max())
    before = 100 - evaluator.error(evaluator.subnet(arch, calibrate=False))
    after = 100 - evaluator(arch)["error"]
    torch.manual_seed(_STATE["seed"])
    model = arch.build(num_classes=supernet.num_classes, in_channels=supernet.in_channels)
    train_set = _STATE["train"]
    loader = BatchLoader(train_set, 64, supernet.mean, supernet.std, shuffle=True, seed=_STATE["seed"],
                         augmentation=Augmentation(crop_padding=1, flip=False), drop_last=True)
    train(model, loader, TrainSettings(epochs=_STATE["epochs"], lr=0.05, channels_last=False))
    valid = BatchLoader(_STATE["valid"], 256, supernet.mean, supernet.std, shuffle=False)
    scratch = accuracy(model, valid, channels_last=False)
    return genome, before, after, scratch, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=24, help="random architectures (plus smallest and largest)")
    parser.add_argument("--epochs", type=int, default=10, help="from-scratch training epochs")
    parser.add_argument("--supernet", type=Path, help="a trained supernet file (default: train one)")
    parser.add_argument("--supernet-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        supernet_file = args.supernet
        if supernet_file is None:
            train_set, _ = load_dataset("digits")
            search_train, _ = split_train_valid(train_set, 0.2, seed=args.seed)
            torch.set_num_threads(args.workers)
            space = get_space("mobilenetv3").for_images(int(search_train.images.shape[-1]))
            fit_supernet(search_train, Path(tmp), SupernetTrainSettings(epochs=args.supernet_epochs), space,
                         seed=args.seed, progress=sys.stderr.isatty())
            supernet_file = Path(tmp) / SUPERNET_FILE
            print(f"supernet trained in {time.perf_counter() - start:.0f} s ({args.supernet_epochs} epochs)")
        space = load_supernet(supernet_file).space
        rng = np.random.default_rng(args.seed)
        genomes = [space.smallest(), space.largest(), *space.sample(rng, args.archs)]
        with get_context("spawn").Pool(args.workers, initializer=_init,
                                       initargs=(str(supernet_file), args.seed, args.epochs)) as pool:
            rows = pool.map(measure, [g.tolist() for g in genomes])

    print(f"\n{'architecture':<92}{'inherited':>10}{'+ BN cal':>10}{'scratch':>10}")
    for genome, before, after, scratch, _ in rows:
        print(f"{space.to_string(np.asarray(genome)):<92}{before:>10.2f}{after:>10.2f}{scratch:>10.2f}")
    data = np.array([r[1:4] for r in rows])
    gaps = [r[4] for r in rows]
    rho, tau = stats.spearmanr(data[:, 1], data[:, 2])[0], stats.kendalltau(data[:, 1], data[:, 2])[0]
    rho0, tau0 = stats.spearmanr(data[:, 0], data[:, 2])[0], stats.kendalltau(data[:, 0], data[:, 2])[0]
    print(f"\n{len(rows)} architectures, {time.perf_counter() - start:.0f} s in all")
    print(f"extracted subnet vs supernet output: max abs difference {max(gaps):.2e}")
    print(f"inherited accuracy, mean [min, max]: before BN recalibration {data[:, 0].mean():.2f} "
          f"[{data[:, 0].min():.2f}, {data[:, 0].max():.2f}], after {data[:, 1].mean():.2f} "
          f"[{data[:, 1].min():.2f}, {data[:, 1].max():.2f}]")
    print(f"from scratch ({args.epochs} epochs): mean {data[:, 2].mean():.2f} "
          f"[{data[:, 2].min():.2f}, {data[:, 2].max():.2f}]")
    print(f"rank correlation with from-scratch accuracy: after recalibration Spearman {rho:.3f}, Kendall {tau:.3f}; "
          f"before: Spearman {rho0:.3f}, Kendall {tau0:.3f}")


if __name__ == "__main__":
    main()

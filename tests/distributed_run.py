"""Train one batch-norm-free network, alone or as one process of ``torchrun --nproc-per-node N`` (test helper).

``python distributed_run.py fit OUT`` re-trains a SlimNet with the recipe;
``python distributed_run.py supernet OUT`` trains a SlimSupernet with the
sandwich rule. Under torchrun every process runs this and joins the gloo
group; ``--stop-after K`` interrupts the run after epoch K (as a crash would).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from slim_space import SlimNet, SlimSpace

from nsganet.data import load_dataset, split_train_valid
from nsganet.train.distributed import Distributed


class Interrupted(Exception):
    pass


def digits(n: int = 256):
    train, _ = load_dataset("digits")
    return train.subset(torch.arange(n))


def run_fit(out: Path, stop_after: int | None, resume: bool) -> None:
    from nsganet.train.recipe import RetrainSettings, fit

    torch.manual_seed(0)
    model = SlimNet([8, 12], 10, 1)
    train, valid = split_train_valid(digits(), 0.25, seed=0)
    settings = RetrainSettings(epochs=3, batch_size=32, lr=0.05, ema_decay=0.99, drop_path=0.0)

    def on_epoch(epoch, result):
        if stop_after is not None and epoch == stop_after:
            raise Interrupted

    with contextlib.suppress(Interrupted):  # the process "crashes" after epoch stop_after
        fit(model, train, valid, settings, out, seed=0, progress=False, resume=resume, on_epoch=on_epoch,
            distributed=Distributed.from_environment())


def run_supernet(out: Path, stop_after: int | None, resume: bool) -> None:
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.training import SupernetTrainSettings

    if stop_after is not None:
        raise SystemExit("--stop-after applies to fit")
    settings = SupernetTrainSettings(epochs=2, batch_size=32, lr=0.05, n_random=1)
    fit_supernet(digits(128), out, settings, SlimSpace(), seed=0, resume=resume, progress=False, device="cpu")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fit", "supernet"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--stop-after", type=int)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    (run_fit if args.mode == "fit" else run_supernet)(args.out, args.stop_after, args.resume)

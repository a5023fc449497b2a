"""``nsganet supernet train``: train a weight-sharing supernet on a dataset, or fine-tune a given one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nsganet.commands.args import (
    OneLineParser,
    add_data_arguments,
    add_device_arguments,
    add_field_options,
    nonnegative_int,
    positive_float,
)
from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError


def supernet_spaces() -> list[str]:
    """The registered spaces whose architectures are subnets of a supernet."""
    from nsganet.spaces import SPACES, SupernetSpace

    return [name for name, cls in SPACES.items() if issubclass(cls, SupernetSpace)]


@register
class Supernet(Command):
    name = "supernet"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        from nsganet.supernet.settings import SupernetTrainSettings

        n = subparsers.add_parser("supernet", help="train or fine-tune a once-for-all supernet",
                                  description="Once-for-all supernets for the spaces whose architectures share "
                                              f"weights ({', '.join(supernet_spaces())}).")
        commands = n.add_subparsers(dest="supernet_command", required=True, parser_class=OneLineParser)
        st = commands.add_parser(
            "train", help="train a supernet on a dataset (sandwich rule, in-place distillation)",
            description="Train a supernet with the sandwich rule (largest, smallest and random subnets every step, "
                        "the others distilled from the largest), or fine-tune a given one on new data (--init; "
                        "NSGANetV2 used 5 epochs). Checkpoints every epoch into --out; --resume continues. "
                        "Writes OUT/supernet.pt for 'nsganet search --space SPACE --supernet'. Reads the training "
                        "split only. Runs on several GPUs (or CPU processes) under 'torchrun --nproc-per-node N -m "
                        "nsganet supernet train ...': each process trains its share of every batch.")
        spaces = supernet_spaces()
        st.add_argument("--space", choices=spaces, default=spaces[0], help=f"search space (default {spaces[0]})")
        add_data_arguments(st, default="digits")
        st.add_argument("--out", metavar="DIR", help="output folder (default runs/supernet-DATASET)")
        add_field_options(st, SupernetTrainSettings, ("epochs", "batch_size", "lr", "n_random"),
                          defaults=SupernetTrainSettings())
        st.add_argument("--width-mult", type=positive_float, metavar="W",
                        help="width multiplier of a new supernet (default: the space's for small images)")
        st.add_argument("--init", metavar="FILE",
                        help="start from this supernet file, or a published checkpoint (OFA MobileNetV3), and "
                             "fine-tune")
        st.add_argument("--seed", type=nonnegative_int, default=0, metavar="N",
                        help="random seed (default %(default)s)")
        add_device_arguments(st)
        st.add_argument("--resume", action="store_true", help="continue the training in --out")
        st.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        return n

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.data import load_split
        from nsganet.spaces import get_space
        from nsganet.supernet.files import fit_supernet
        from nsganet.supernet.training import SUPERNET_FILE, SupernetTrainSettings
        from nsganet.train.distributed import main_process

        if args.width_mult is not None and args.init is not None:
            raise NsganetError("--width-mult shapes a new supernet; --init keeps the given one's")
        train_set = load_split(args.dataset, args.data, "train", image_size=args.image_size, mode=args.data_mode)
        out = Path(args.out or f"runs/supernet-{args.dataset}")
        try:
            space = get_space(args.space).for_images(train_set.image_size, width_mult=args.width_mult)
        except ValueError as exc:
            raise NsganetError(str(exc)) from None
        settings = SupernetTrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                         n_random=args.n_random, amp=args.amp)
        trained = fit_supernet(train_set, out, settings, space, init=args.init, seed=args.seed, resume=args.resume,
                               progress=not args.quiet, device=args.device, data_workers=args.data_workers)
        if not main_process():  # the other processes of a torchrun launch stay quiet
            return 0
        print(f"supernet for {trained.num_classes} classes written to {out / SUPERNET_FILE}")
        print(f"search it with: nsganet search --space {trained.space.name} --strategy nsganetv2 --supernet "
              f"{out / SUPERNET_FILE}" + (f" --dataset {args.dataset}" if args.dataset != "digits" else "")
              + (f" --data {args.data}" if args.data else ""))
        return 0

"""``nsganet train NET``: re-train (or fine-tune) an exported network into a new exported network folder."""

from __future__ import annotations

import argparse
from typing import Any

from nsganet.commands.args import (
    add_data_arguments,
    add_device_arguments,
    key_value,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe settings given on the command line (the rest keep their defaults)."""
    names = {"epochs": "epochs", "lr": "lr", "batch_size": "batch_size", "weight_decay": "weight_decay",
             "cutout": "cutout", "drop_path": "drop_path", "aux_weight": "aux_weight",
             "label_smoothing": "label_smoothing", "ema": "ema_decay", "distill": "distill",
             "temperature": "temperature", "valid_fraction": "valid_fraction", "amp": "amp"}
    values = {setting: getattr(args, arg) for arg, setting in names.items() if getattr(args, arg) is not None}
    if args.full:
        if args.valid_fraction:
            raise NsganetError("--full trains on all the training data; it cannot go with --valid-fraction")
        values["valid_fraction"] = 0.0
    if args.no_auxiliary:
        values["auxiliary"] = False
    if args.no_ema:
        values["ema_decay"] = None
    return values


@register
class Train(Command):
    name = "train"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        p = subparsers.add_parser(
            "train", help="re-train or fine-tune an exported network (from 'nsganet select')",
            description="Train the network of NET (a folder with net.json, from 'nsganet select') with the NSGANet "
                        "recipe: SGD, cosine schedule, random crop/flip and cutout, scheduled drop-path and an "
                        "auxiliary head (micro space), gradient clipping. With NET/net.pt (weights inherited from a "
                        "supernet) it fine-tunes from them: lower learning rate and an EMA of the weights, optionally "
                        "distilled from the supernet (--distill). The best epoch is chosen on a held-out part of the "
                        "training data (never the test split). Every epoch is checkpointed; --resume continues an "
                        "interrupted run. OUT ends up an exported network folder itself (net.json, net.pt = best "
                        "weights, net.onnx) for 'nsganet evaluate OUT', next to best.pt, last.pt, curves.csv, "
                        "curves.png, train.json.",
            epilog="examples:\n"
                   "  nsganet train runs/demo/selected/arch-00042\n"
                   "  nsganet train NET --epochs 100 --batch-size 128 --out runs/long\n"
                   "  nsganet train NET --distill 1 --temperature 2      # mobilenetv3: distil from the supernet\n"
                   "  nsganet train NET --resume                         # after an interruption\n"
                   "  nsganet train NET --full                           # all training data, best = last\n"
                   "  torchrun --nproc-per-node 4 -m nsganet train NET   # one network on 4 GPUs (docs/distributed.md)",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("net", metavar="NET", help="exported network folder (net.json, optional net.pt)")
        p.add_argument("--out", metavar="DIR", help="output folder (default NET/train)")
        d = p.add_argument_group("data (default: what the network was searched on, as net.json records)")
        add_data_arguments(d, default_text="the network's, from net.json, else the embedded digits")
        from nsganet.train.settings import FINETUNE_EMA, FINETUNE_LR, RetrainSettings

        default = RetrainSettings()
        d.add_argument("--valid-fraction", type=nonnegative_float, metavar="F",
                       help=f"share of the training data held out to choose the best epoch (default "
                            f"{default.valid_fraction})")
        d.add_argument("--train-images", type=positive_int, metavar="N",
                       help="train on a fixed random subset of N images of the training part (default all)")
        d.add_argument("--full", action="store_true", help="train on all training data; the best weights are the last")
        r = p.add_argument_group("recipe")
        r.add_argument("--epochs", type=positive_int, metavar="N", help=f"epochs (default {default.epochs})")
        r.add_argument("--lr", type=positive_float, metavar="LR",
                       help=f"initial learning rate of the cosine schedule (default {default.lr}; {FINETUNE_LR} "
                            "when fine-tuning)")
        r.add_argument("--batch-size", type=positive_int, metavar="N",
                       help=f"batch size (default {default.batch_size})")
        r.add_argument("--weight-decay", type=nonnegative_float, metavar="W",
                       help=f"L2 weight decay (default {default.weight_decay})")
        r.add_argument("--cutout", type=nonnegative_int, metavar="PX", help="cutout size (default half the image side)")
        r.add_argument("--drop-path", type=nonnegative_float, metavar="P",
                       help=f"final drop-path probability, reached linearly (default {default.drop_path}; micro "
                            "space)")
        r.add_argument("--aux-weight", type=nonnegative_float, metavar="W",
                       help=f"weight of the auxiliary head's loss (default {default.aux_weight})")
        r.add_argument("--no-auxiliary", action="store_true", help="train without an auxiliary head")
        r.add_argument("--label-smoothing", type=nonnegative_float, metavar="E",
                       help=f"label smoothing (default {default.label_smoothing:g})")
        ema = r.add_mutually_exclusive_group()
        ema.add_argument("--ema", type=positive_float, metavar="DECAY",
                         help="keep an EMA of the weights with this decay, validated and saved instead of them "
                              f"(default: {FINETUNE_EMA} when fine-tuning, else off)")
        ema.add_argument("--no-ema", action="store_true", help="no EMA, also when fine-tuning")
        r.add_argument("--distill", type=nonnegative_float, metavar="W",
                       help=f"weight of distillation from the supernet's largest subnet (default {default.distill:g}: "
                            "off)")
        r.add_argument("--temperature", type=positive_float, metavar="T",
                       help=f"distillation temperature (default {default.temperature:g})")
        r.add_argument("--scratch", action="store_true", help="ignore NET/net.pt: train from random initial weights")
        r.add_argument("-B", "--build-option", action="append", type=key_value, metavar="KEY=VALUE",
                       dest="build_option",
                       help="change an option of the network (repeatable; with --scratch), e.g. -B stem=imagenet")
        p.add_argument("--seed", type=nonnegative_int, default=0, metavar="N",
                       help="seed of the split, initial weights, batches and augmentation (default %(default)s)")
        add_device_arguments(p)
        p.add_argument("--resume", action="store_true", help="continue the interrupted training in OUT")
        p.add_argument("--no-onnx", action="store_true", help="do not write OUT/net.onnx")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        return p

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.deploy.retrain import SUMMARY_FILE, train_net
        from nsganet.train.distributed import main_process

        trained = train_net(args.net, args.out, overrides_of(args), dataset=args.dataset, data=args.data,
                            image_size=args.image_size, train_images=args.train_images, seed=args.seed,
                            scratch=args.scratch, resume=args.resume, progress=not args.quiet, device=args.device,
                            onnx=not args.no_onnx, data_mode=args.data_mode, data_workers=args.data_workers,
                            build_options=dict(args.build_option or []))
        if not main_process():  # the other processes of a torchrun launch stay quiet
            return 0
        result, settings = trained.result, trained.settings
        how = "fine-tuned from NET/net.pt" if trained.finetuned else "trained from scratch"
        selected = (f"best validation accuracy {result.best_accuracy:.2f}% (epoch {result.best_epoch})"
                    if result.best_accuracy is not None else "trained on all training data (best = last)")
        epochs = f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''}"
        print(f"{trained.spec.space} network {how}: {epochs}, {selected}")
        print(f"{result.images_per_second:.0f} images/s, {result.seconds:.1f} s in all epochs")
        print(f"written to {trained.out}: net.json, net.pt (best weights), "
              f"{'' if args.no_onnx else 'net.onnx, '}best.pt, last.pt, curves.csv, curves.png, {SUMMARY_FILE}")
        print(f"next: nsganet evaluate {trained.out}")
        return 0

"""``nsganet train NET``: re-train (or fine-tune) an exported network into a new exported network folder."""

from __future__ import annotations

import argparse
from pathlib import Path
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

#: options of the recipe settings besides V1's own: option -> setting (help, metavar, choices from its field)
RECIPE_OPTIONS = {"--momentum": "momentum", "--nesterov": "nesterov", "--grad-clip": "grad_clip",
                  "--crop": "crop", "--crop-padding": "crop_padding", "--fill": "fill",
                  "--aa": "auto_augment", "--reprob": "erase_prob", "--remode": "erase_mode",
                  "--opt": "optimizer", "--opt-eps": "opt_eps", "--rms-decay": "rms_decay",
                  "--decay-bias-bn": "decay_bias_bn", "--sched": "schedule", "--decay-epochs": "decay_epochs",
                  "--decay-rate": "decay_rate", "--warmup-epochs": "warmup_epochs", "--warmup-lr": "warmup_lr",
                  "--dropout": "dropout", "--drop-path-schedule": "drop_path_schedule", "--ema-warmup": "ema_warmup"}
#: how a None setting reads in help texts
_NONE_TEXT = {"crop_padding": "1/8 of the image side", "cutout": "half the image side", "dropout": "the network's own",
              "ema_decay": "off", "grad_clip": "none", "auto_augment": "none"}
#: settings that may be set to None on the command line, with 'none'
_NONABLE = {"grad_clip", "crop_padding", "dropout", "auto_augment"}


def _value_text(name: str, value: Any) -> str:
    if value is None:
        return _NONE_TEXT.get(name, "none")
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_defaults(name: str) -> str:
    """The defaults of setting ``name`` as help text: 'default X', or per recipe when they differ."""
    from nsganet.train.settings import FINETUNE_EMA, FINETUNE_LR, IMAGENET_LR_PER_256, RECIPES, RetrainSettings

    default = RetrainSettings.__dataclass_fields__[name].default
    texts = {recipe: _value_text(name, values.get(name, default)) for recipe, values in RECIPES.items()}
    if name == "lr":
        texts["v1"] += f" ({FINETUNE_LR:g} when fine-tuning)"
        texts["imagenet"] = f"{IMAGENET_LR_PER_256:g} per 256 images of batch"
    elif name == "ema_decay":
        texts["v1"] += f" ({FINETUNE_EMA:g} when fine-tuning)"
    if len(set(texts.values())) == 1:
        return f"default {texts['v1']}"
    return "default: " + ", ".join(f"{recipe} {text}" for recipe, text in texts.items())


def _setting_type(name: str) -> Any:
    """The argparse type of setting ``name``: its bound, or 'none' for None where the setting allows it."""
    from nsganet.train.settings import RetrainSettings

    kind = str(RetrainSettings.__dataclass_fields__[name].type)
    parse = (str if kind.startswith("str") else nonnegative_int if kind.startswith("int")
             else positive_float if name in ("opt_eps", "decay_epochs", "decay_rate", "grad_clip")
             else nonnegative_float)

    def value(text: str) -> Any:
        return None if name in _NONABLE and text.lower() == "none" else parse(text)

    value.__name__ = getattr(parse, "__name__", name)  # argparse names the type in its messages
    return value


def add_recipe_argument(group: Any) -> None:
    """``--recipe NAME``."""
    from nsganet.train.settings import RECIPES

    group.add_argument("--recipe", choices=tuple(RECIPES), default="v1",
                       help="the recipe, whose settings the other options override: v1 (NSGANetV1's: SGD, cosine, "
                            "crop/flip/cutout, drop-path, auxiliary head), imagenet (NSGANetV2's ImageNet fine-tuning: "
                            "RMSpropTF, step decay with warm-up, RandAugment, random erasing, EMA, distillation), "
                            "cifar (NSGANetV2's CIFAR fine-tuning: SGD, AutoAugment, cutout) (default %(default)s)")


def add_recipe_options(group: Any) -> None:
    """The options of :data:`RECIPE_OPTIONS`; one not given leaves the recipe's value (its attribute is absent:
    ``argparse.SUPPRESS``)."""
    from nsganet.train.settings import RetrainSettings

    for option, name in RECIPE_OPTIONS.items():
        f = RetrainSettings.__dataclass_fields__[name]
        help_text = f"{f.metadata['help']} ({recipe_defaults(name)})".replace("%", "%%")
        if str(f.type) == "bool":
            group.add_argument(option, dest=name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
        elif f.metadata["choices"]:
            group.add_argument(option, dest=name, choices=f.metadata["choices"], default=argparse.SUPPRESS,
                               help=help_text)
        else:
            group.add_argument(option, dest=name, type=_setting_type(name), metavar=f.metadata["metavar"],
                               default=argparse.SUPPRESS, help=help_text)


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
    if getattr(args, "auxiliary", False):
        if args.no_auxiliary:
            raise NsganetError("--auxiliary and --no-auxiliary contradict each other")
        values["auxiliary"] = True
    values.update({name: getattr(args, name) for name in RECIPE_OPTIONS.values() if hasattr(args, name)})
    return values


#: What the files a training writes hold, as its output lists them.
FILE_NOTES = {"net.pt": "best weights", "checkpoint.pt": "for --resume", "best.pt": "best epoch's weights",
              "last.pt": "last epoch's weights"}


def written_files(folder: Path, since: float) -> list[str]:
    """The files in ``folder`` written since ``since`` (a time.time()), each with what it holds where that helps."""
    names = sorted(f.name for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.stat().st_mtime >= since - 1)
    return [f"{name} ({FILE_NOTES[name]})" if name in FILE_NOTES else name for name in names]


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
                        "interrupted run. NET may also hold only NSGANetV2's net.config with net.init or "
                        "net.inherited. With --dataset/--data of other classes, channels or image size the network "
                        "is transferred: a new classifier (and input), cell networks from scratch (V1), supernet "
                        "subnets from their inherited weights (V2). OUT ends up an exported network folder itself "
                        "(net.json, net.pt = best "
                        "weights, net.onnx) for 'nsganet evaluate OUT', next to best.pt, last.pt, curves.csv, "
                        "curves.png, train.json.",
            epilog="examples:\n"
                   "  nsganet train runs/demo/selected/arch-00042\n"
                   "  nsganet train NET --epochs 100 --batch-size 128 --out runs/long\n"
                   "  nsganet train NET --distill 1 --temperature 2      # mobilenetv3: distil from the supernet\n"
                   "  nsganet train NET --resume                         # after an interruption\n"
                   "  nsganet train NET --full                           # all training data, best = last\n"
                   "  nsganet train NET --recipe imagenet --batch-size 256  # NSGANetV2's ImageNet fine-tuning\n"
                   "  nsganet train NET --recipe cifar --epochs 30       # NSGANetV2's CIFAR fine-tuning\n"
                   "  nsganet train NET --dataset mnist --data ~/mnist   # transfer to other data (a new classifier)\n"
                   "  torchrun --nproc-per-node 4 -m nsganet train NET   # one network on 4 GPUs (docs/scaling-out.md)",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("net", metavar="NET", help="exported network folder (net.json, optional net.pt; or NSGANetV2's "
                       "net.config with net.init or net.inherited)")
        p.add_argument("--out", metavar="DIR", help="output folder (default NET/train)")
        d = p.add_argument_group("data (default: what the network was searched on, as net.json records)")
        add_data_arguments(d, default_text="the network's, from net.json, else the embedded digits")
        from nsganet.train.settings import RetrainSettings

        default = RetrainSettings()
        d.add_argument("--valid-fraction", type=nonnegative_float, metavar="F",
                       help=f"share of the training data held out to choose the best epoch (default "
                            f"{default.valid_fraction})")
        d.add_argument("--train-images", type=positive_int, metavar="N",
                       help="train on a fixed random subset of N images of the training part (default all)")
        d.add_argument("--full", action="store_true", help="train on all training data; the best weights are the last")
        r = p.add_argument_group("recipe (--recipe; every option below overrides one of its settings)")
        add_recipe_argument(r)
        r.add_argument("--epochs", type=positive_int, metavar="N", help=f"epochs ({recipe_defaults('epochs')})")
        r.add_argument("--lr", type=positive_float, metavar="LR",
                       help=f"initial learning rate ({recipe_defaults('lr')})")
        r.add_argument("--batch-size", type=positive_int, metavar="N",
                       help=f"batch size, over all processes ({recipe_defaults('batch_size')})")
        r.add_argument("--weight-decay", type=nonnegative_float, metavar="W",
                       help=f"L2 weight decay ({recipe_defaults('weight_decay')})")
        r.add_argument("--cutout", type=nonnegative_int, metavar="PX",
                       help=f"cutout size ({recipe_defaults('cutout')})")
        r.add_argument("--drop-path", type=nonnegative_float, metavar="P",
                       help="drop-path probability of networks that have it (micro cells, mobilenetv3 blocks), "
                            f"see --drop-path-schedule ({recipe_defaults('drop_path')})")
        r.add_argument("--aux-weight", type=nonnegative_float, metavar="W",
                       help=f"weight of the auxiliary head's loss (default {default.aux_weight})")
        r.add_argument("--no-auxiliary", action="store_true", help="train without an auxiliary head")
        r.add_argument("--auxiliary", action="store_true",
                       help=f"train with an auxiliary head where the space has one ({recipe_defaults('auxiliary')})")
        r.add_argument("--label-smoothing", type=nonnegative_float, metavar="E",
                       help=f"label smoothing ({recipe_defaults('label_smoothing')})")
        ema = r.add_mutually_exclusive_group()
        ema.add_argument("--ema", type=positive_float, metavar="DECAY",
                         help="keep an EMA of the weights with this decay, validated and saved instead of them "
                              f"({recipe_defaults('ema_decay')})")
        ema.add_argument("--no-ema", action="store_true", help="no EMA, also when fine-tuning")
        r.add_argument("--distill", type=nonnegative_float, metavar="W",
                       help="weight of distillation from the supernet's largest subnet, 0: off "
                            f"({recipe_defaults('distill')})")
        r.add_argument("--temperature", type=positive_float, metavar="T",
                       help=f"distillation temperature ({recipe_defaults('temperature')})")
        add_recipe_options(r)
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
        import time

        from nsganet.deploy.retrain import train_net
        from nsganet.train.distributed import main_process

        started = time.time()
        trained = train_net(args.net, args.out, overrides_of(args), dataset=args.dataset, data=args.data,
                            image_size=args.image_size, train_images=args.train_images, seed=args.seed,
                            scratch=args.scratch, resume=args.resume, progress=not args.quiet, device=args.device,
                            onnx=not args.no_onnx, data_mode=args.data_mode, data_workers=args.data_workers,
                            build_options=dict(args.build_option or []), recipe=args.recipe)
        if not main_process():  # the other processes of a torchrun launch stay quiet
            return 0
        result, settings = trained.result, trained.settings
        how = "fine-tuned from NET/net.pt" if trained.finetuned else "trained from scratch"
        selected = (f"best validation accuracy {result.best_accuracy:.2f}% (epoch {result.best_epoch})"
                    if result.best_accuracy is not None else "trained on all training data (best = last)")
        epochs = f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''}"
        if trained.transfer is not None:
            source, now = trained.transfer["from"], trained.spec

            def shape(classes: int, size: int, channels: int) -> str:
                return f"{classes} classes, {size} px, {channels} channel{'s' if channels != 1 else ''}"

            print(f"transferred from {(source['dataset'] or {}).get('name', '?')} ("
                  f"{shape(source['num_classes'], source['input_size'], source['in_channels'])}) to "
                  f"{now.dataset['name']} ({shape(now.num_classes, now.input_size, now.in_channels)}); weights "
                  f"{trained.transfer['weights']}")
        print(f"{trained.spec.space} network {how}: {epochs}, {selected}")
        print(f"{result.images_per_second:.0f} images/s, {result.seconds:.1f} s in all epochs")
        print(f"written to {trained.out}: {', '.join(written_files(trained.out, started))}")
        print(f"next: nsganet evaluate {trained.out}")
        return 0

"""``nsganet proxy-study``: which cheap proxy ranks architectures like an expensive training (V1 Sec. V-C)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nsganet.commands.args import (
    add_data_arguments,
    add_device_arguments,
    int_list,
    nonnegative_int,
    positive_float,
    positive_int,
)
from nsganet.commands.base import Command, register
from nsganet.errors import NsganetError

EPILOG = """settings (--setting, --reference):
  c<channels>-l<layers>-e<epochs>[-i<images>][-r<px>][-x<k>]   train from scratch: width, cells per
        stage, epochs, a subset of the search-train images, image size; a part left out is the search's
        default (e.g. e2 is c8-l1-e2 in the micro space); x<k> trains it again with another seed: against
        the same setting without x (as the reference) it measures the noise ceiling
  inherit[-s<epochs>][-f<epochs>]   weights from a supernet trained s epochs in the study folder
        (without s: the given --supernet as it is), batch norm recalibrated, fine-tuned f epochs

defaults: the reference is V1's search proxy (Table I: 32 channels, 4 cells, 36 epochs on 32-px
CIFAR) scaled to what the 8-px digits afford on a CPU: twice the search default's width, depth and
epochs (c16-l2-e10 for micro); the cheaper settings are the search's own proxy (c8-l1-e5), fewer
epochs (e2), a quarter of the images and half the channels. In a supernet space (mobilenetv3) the
settings are the search's proxy and inheritance from a supernet trained for --supernet-epochs.

examples:
  nsganet proxy-study                                   # micro space, 20 digits architectures
  nsganet proxy-study --archs 10 --reference c8-l1-e10 --setting c8-l1-e2 --setting c4-l1-e5-i300
  nsganet proxy-study --space mobilenetv3 --supernet-epochs 2,6 --finetune-epochs 1 --reference e5
  nsganet proxy-study --out runs/proxy-study-micro-digits-seed0 --resume --workers 2"""

#: The options that decide a study's results (``--resume`` takes them from the study instead).
STUDY_OPTIONS = ("space", "setting", "reference", "archs", "seed", "batch_size", "lr", "vld_size", "dataset", "data",
                 "image_size", "supernet", "supernet_epochs", "finetune_epochs", "width_mult")


def setting_arg(text: str) -> str:
    """An argparse type for a setting of the grammar; returns its canonical text."""
    from nsganet.proxy_study import parse_setting

    try:
        return parse_setting(text).name
    except NsganetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def correlation_arg(text: str) -> float:
    """An argparse type for a rank-correlation threshold within -1..1."""
    from nsganet.utils.checks import Bound

    return Bound(-1.0, high=1.0).parse(text)


@register
class ProxyStudy(Command):
    name = "proxy-study"

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        from nsganet.executors import EXECUTORS
        from nsganet.spaces import space_names

        p = subparsers.add_parser(
            "proxy-study", help="rank correlation of cheap proxy settings with a reference (V1 Fig. 12)",
            description="Sample architectures of a space, score each at a reference setting and at cheaper ones "
                        "(fewer channels, layers, epochs, images, smaller images, or weight inheritance from a "
                        "supernet), and report per setting the Spearman rho and Kendall tau of its validation "
                        "errors against the reference's, the overlap of the best --top-k, and the cost per "
                        "architecture; recommend the cheapest setting whose rank correlation reaches --min-rho "
                        "(or --min-tau). Every result is committed to OUT/study.sqlite at once: running the same "
                        "command again, or --resume, continues a stopped study. Writes results.csv, study.csv, "
                        "study.json and study.png.",
            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--space", choices=space_names(), help="search space (default micro)")
        p.add_argument("--setting", action="append", type=setting_arg, metavar="SETTING",
                       help="a setting to compare with the reference (repeatable), e.g. c8-l1-e5, e2-i300, "
                            "inherit-s2-f1 (default: see below)")
        p.add_argument("--reference", type=setting_arg, metavar="SETTING",
                       help="the setting the others are ranked against, trained from scratch (default: V1's "
                            "Table I proxy scaled down, c16-l2-e10 for micro)")
        p.add_argument("--archs", type=positive_int, metavar="N", help="architectures sampled (default 20)")
        p.add_argument("--seed", type=nonnegative_int, metavar="N",
                       help="random seed: the same seed samples the same architectures (default 0)")
        p.add_argument("--batch-size", type=positive_int, metavar="N", help="batch size (default: the search's, 32)")
        p.add_argument("--lr", type=positive_float, metavar="LR",
                       help="initial learning rate of the cosine schedule (default: the search's, 0.05)")
        p.add_argument("--vld-size", type=positive_int, metavar="N",
                       help="training images held out for validation (default: a fifth of them)")
        add_data_arguments(p)
        inherit = p.add_argument_group("weight inheritance (supernet spaces, e.g. mobilenetv3)")
        inherit.add_argument("--supernet-epochs", type=int_list(1, what="epochs"), metavar="N1,N2",
                             help="add inherit-s<N> settings: supernets trained N epochs in the study folder (or "
                                  "--supernet fine-tuned N epochs); default 10 when no --setting is given")
        inherit.add_argument("--finetune-epochs", type=positive_int, metavar="N",
                             help="add a setting that fine-tunes each subnet of the longest-trained supernet N "
                                  "epochs before validating it")
        inherit.add_argument("--supernet", metavar="FILE",
                             help="a trained supernet (an 'nsganet supernet train' file or a published checkpoint): "
                                  "adds the setting inherit (it as it is)")
        inherit.add_argument("--width-mult", type=positive_float, metavar="W",
                             help="width multiplier of the supernets trained here (default: the space's for "
                                  "small images)")
        reading = p.add_argument_group("reading the results (may change when a study continues)")
        reading.add_argument("--top-k", type=positive_int, metavar="K",
                             help="compare the best K architectures of each setting (default: a quarter of them)")
        threshold = reading.add_mutually_exclusive_group()
        threshold.add_argument("--min-rho", type=correlation_arg, metavar="R",
                               help="recommend the cheapest setting with Spearman rho >= R (default 0.7)")
        threshold.add_argument("--min-tau", type=correlation_arg, metavar="T",
                               help="recommend the cheapest setting with Kendall tau >= T instead")
        run = p.add_argument_group("running (may change when a study continues)")
        run.add_argument("--out", metavar="DIR", help="study folder (default runs/proxy-study-SPACE-DATASET-seedN)")
        run.add_argument("--workers", type=positive_int, default=1, metavar="N",
                         help="evaluate in N local processes (default 1: the measured costs stay comparable)")
        run.add_argument("--executor", choices=EXECUTORS.names(), default="local",
                         help="where evaluations run: local processes or the tasks of a Ray cluster (default local)")
        run.add_argument("--ray-address", metavar="ADDR", help="Ray cluster to join (default: start Ray here)")
        add_device_arguments(run)
        run.add_argument("--resume", action="store_true",
                         help="continue the study in --out with its recorded settings (leave the study's options out)")
        run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        return p

    def run(self, args: argparse.Namespace) -> int:
        from nsganet.api import local_gpus
        from nsganet.executors import ExecutorSettings
        from nsganet.proxy_study import (
            DEFAULT_ARCHS,
            DEFAULT_THRESHOLD,
            RESULTS_CSV,
            STUDY_CSV,
            STUDY_JSON,
            STUDY_PNG,
            default_out,
            resume_proxy_study,
            run_proxy_study,
        )
        from nsganet.report.proxy_study_plots import StudyPlot

        if args.ray_address is not None and args.executor != "ray":
            raise NsganetError("--ray-address applies to --executor ray")
        if args.executor == "ray":
            from nsganet.executors.ray import import_ray

            import_ray()  # fail before anything is written when Ray is missing
        seed = 0 if args.seed is None else args.seed
        out = Path(args.out) if args.out else default_out(args.space or "micro", args.dataset, seed)
        executor = ExecutorSettings(kind=args.executor, workers=args.workers, ray_address=args.ray_address,
                                    gpus=tuple(local_gpus(args.device)))
        metric, threshold = ("tau", args.min_tau) if args.min_tau is not None else \
            ("rho", DEFAULT_THRESHOLD if args.min_rho is None else args.min_rho)
        common = {"top_k": args.top_k, "metric": metric, "threshold": threshold, "executor": executor,
                  "device": args.device, "amp": args.amp, "data_mode": args.data_mode,
                  "data_workers": args.data_workers, "progress": not args.quiet, "callbacks": [StudyPlot()]}
        if args.resume:
            given = [f"--{name.replace('_', '-')}" for name in STUDY_OPTIONS if getattr(args, name) is not None]
            if given:
                raise NsganetError(f"--resume continues the study recorded in {out}; leave out {', '.join(given)} "
                                   "(or run the same command without --resume)")
            result = resume_proxy_study(out, **common)
        else:
            result = run_proxy_study(
                args.space or "micro", args.setting, args.reference, out,
                archs=DEFAULT_ARCHS if args.archs is None else args.archs, seed=seed, dataset=args.dataset,
                data=args.data, image_size=args.image_size, batch_size=args.batch_size, lr=args.lr,
                vld_size=args.vld_size, supernet=args.supernet, supernet_epochs=args.supernet_epochs,
                finetune_epochs=args.finetune_epochs, width_mult=args.width_mult, **common)
        config = result.config
        print(f"study folder: {result.out}")
        print(f"{config.archs} architectures of the {config.space} space on {config.dataset}, {len(config.names)} "
              f"settings: {result.trained} pairs evaluated now, {result.reused} read back from the study store")
        for key, seconds in sorted(result.supernet_seconds.items()):
            print(f"supernet {key}: trained in {seconds:.1f} s (once, not counted per architecture)")
        print(result.table.text())
        print(result.table.recommendation_text())
        print("files: " + ", ".join((RESULTS_CSV, STUDY_CSV, STUDY_JSON, STUDY_PNG)))
        return 0

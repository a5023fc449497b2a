"""The ``nsganet`` command."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

# OpenMP threads that spin while waiting make training many times slower whenever another process
# (a worker, another job) shares the cores; torch is imported later, so this still takes effect.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nsganet.commands import (
    COMMANDS,
    add_data_arguments,
    command_module,
    float_list,
    key_value,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from nsganet.config import EXECUTORS, LATENCY_BACKENDS, SearchConfig, load_config
from nsganet.errors import NsganetError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from nsganet.search.objectives import OBJECTIVES
    from nsganet.spaces import space_names
    from nsganet.strategies import strategy_names

    parser = _Parser(prog="nsganet", description="Evolutionary multi-objective neural architecture search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = commands.add_parser(
        "search", help="search a space for the accuracy-vs-cost trade-off",
        description="Search a space for architectures trading off the objectives. With no options: "
                    "NSGANetV1 on the micro (cell) space, proxy-training each architecture on the embedded "
                    "digits. Every option can "
                    "also be given in a YAML --config file under the same name (dashes as underscores); "
                    "options on the command line win. The run directory keeps a SQLite store, "
                    "evaluations.csv, front.csv, stats/gen_N.json, config.yaml and plots.",
        epilog="config-file keys:\n"
               "  strategy_params  strategy options (also -S KEY=VALUE), e.g. {crossover_prob: 0.9,\n"
               "                   exploit_start: 0.667} for nsganetv1, {n_doe: 40, n_candidates: 8,\n"
               "                   predictor: as} for nsganetv2; 'nsganet list' shows them all\n"
               "  valid_fraction   share of the training data held out for validation (default 0.2)\n"
               "  in_channels      input channels of the networks measured in --table runs (default 3)\n\n"
               "examples:\n"
               "  nsganet search                                   # micro space, embedded digits\n"
               "  nsganet search --dataset cifar10 --data ~/cifar-10-batches-py --workers 2 --budget 300\n"
               "  nsganet search --space nb201 --table nats_tss_cifar10.csv --metric cifar10_test_acc_200ep\n"
               "  nsganet search --space nb201 --table nats_tss_cifar10.csv --metric cifar10_test_acc_200ep \\\n"
               "      --strategy nsganetv2 -S predictor=gp -S n_doe=30\n"
               "  nsganet search --config runs/demo/config.yaml --out runs/again\n"
               "  nsganet search --config runs/demo/config.yaml --out runs/demo --resume   # after a crash",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--config", metavar="FILE", help="YAML file with any of the options below")
    s.add_argument("--space", choices=space_names(), help="search space (default micro)")
    s.add_argument("--strategy", choices=strategy_names(), help="search strategy (default nsganetv1)")
    s.add_argument("--objectives", metavar="A,B",
                   help=f"comma-separated objectives to minimise, from {', '.join(OBJECTIVES)} "
                        "(default error,flops)")
    s.add_argument("--budget", type=positive_int, metavar="N",
                   help="distinct architectures to evaluate (default 100)")
    s.add_argument("--seed", type=nonnegative_int, metavar="N", help="random seed (default 0)")
    s.add_argument("--pop-size", type=positive_int, metavar="N",
                   help="population (batch) size (default 20; the V1 paper used 40)")
    s.add_argument("-S", "--strategy-param", action="append", type=key_value, metavar="KEY=VALUE",
                   dest="strategy_param",
                   help="a strategy option (repeatable), e.g. -S n_doe=40 -S predictor=gp; see 'nsganet list'")
    s.add_argument("--workers", type=positive_int, metavar="N",
                   help="evaluate in N local processes, each with its share of the CPU threads and, with GPUs, "
                        "its own GPU (default: one per GPU, else per core, when training; 1 otherwise)")
    s.add_argument("--executor", choices=EXECUTORS,
                   help="where evaluations run: local processes (default) or the tasks of a Ray cluster")
    s.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join, e.g. 10.0.0.1:6379 or auto (default: start Ray on this machine)")
    s.add_argument("--cpus-per-eval", type=positive_float, metavar="C",
                   help="CPUs each Ray evaluation task reserves, and its torch threads (default 1)")
    s.add_argument("--gpus-per-eval", type=nonnegative_float, metavar="G",
                   help="GPUs each Ray evaluation task reserves; fractions share a GPU (default 0)")
    s.add_argument("--eval-retries", type=nonnegative_int, metavar="N",
                   help="run an evaluation whose worker or node died again up to N times, then record it as "
                        "failed (default 2)")
    s.add_argument("--out", metavar="DIR", help="run directory (default runs/SPACE-DATA-STRATEGY-seedN)")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out where it stopped (starts it if there is none)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d = s.add_argument_group("proxy training (the default: architectures are trained on a dataset)")
    add_data_arguments(d)
    d.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs per architecture (default 5)")
    d.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="batch size (default 32; the V1 paper used 128)")
    d.add_argument("--lr", type=float, metavar="LR", help="initial learning rate of the cosine schedule (default 0.05)")
    d.add_argument("--channels", type=positive_int, metavar="C", help="proxy width, initial channels (default 8)")
    d.add_argument("--layers", type=positive_int, metavar="N", help="proxy depth, cells per stage (default 1)")
    d.add_argument("--train-images", type=positive_int, metavar="N",
                   help="train each proxy on a fixed subset of N search-train images (default all)")
    d.add_argument("--cutout", type=nonnegative_int, metavar="PX", help="cutout size (default 0: off)")
    n = s.add_argument_group("weight inheritance (the mobilenetv3 space: subnets of a once-for-all supernet)")
    n.add_argument("--supernet", metavar="FILE",
                   help="trained supernet (from 'nsganet supernet train'); default: train one in the run directory")
    n.add_argument("--supernet-epochs", type=positive_int, metavar="N",
                   help="epochs of the supernet trained in the run directory (default 10)")
    n.add_argument("--vld-size", type=positive_int, metavar="N",
                   help="training images held out for validation, for proxy training too (default: a fifth)")
    n.add_argument("--finetune-epochs", type=nonnegative_int, metavar="N",
                   help="fine-tune each subnet for N epochs before validating it (default 0)")
    o = s.add_argument_group("robustness and latency objectives (--objectives error,flops,latency,robustness)")
    o.add_argument("--fgsm-eps", type=float_list, metavar="E1,E2,...",
                   help="FGSM attack strengths (pixel scale 0..1) of the robustness objective "
                        "(default the NSGANetV1 supplement's 0,0.01,0.03,0.05,0.07,0.1,0.15)")
    o.add_argument("--latency-backend", choices=LATENCY_BACKENDS,
                   help="engine the latency objective is measured with (default torch)")
    o.add_argument("--latency-batch", type=positive_int, metavar="N", help="batch size of latency measurements "
                   "(default 1)")
    o.add_argument("--lut", metavar="FILE",
                   help="per-layer latency look-up table ('nsganet lut build') predicting mobilenetv3 latency")
    t = s.add_argument_group("tabular benchmark (look accuracies up instead of training)")
    t.add_argument("--table", metavar="FILE",
                   help="tabular benchmark CSV with an 'arch' column and accuracy columns")
    t.add_argument("--metric", metavar="COLUMN", help="accuracy column of --table (percent); error = 100 - it")
    t.add_argument("--num-classes", type=positive_int, metavar="N",
                   help="classes of the networks whose flops/params are measured (default 10)")
    t.add_argument("--input-size", type=positive_int, metavar="PX",
                   help="input resolution of the networks whose flops/params are measured (default 32)")

    c = commands.add_parser("costs", help="print the FLOPs/params range of a space, or of one architecture",
                            description="Measure flops (million multiply-accumulates) and params (millions) "
                                        "of a space's smallest and largest networks, or of --arch.")
    c.add_argument("--space", choices=space_names(), default="nb201", help="search space (default nb201)")
    c.add_argument("--arch", metavar="STRING", help="canonical architecture string to measure")
    c.add_argument("--num-classes", type=positive_int, default=10, metavar="N", help="classes (default 10)")
    c.add_argument("--input-size", type=positive_int, default=32, metavar="PX", help="resolution (default 32)")
    c.add_argument("--channels", type=positive_int, metavar="C", help="network width (default: the space's)")
    c.add_argument("--layers", type=positive_int, metavar="N", help="cells per stage (default: the space's)")

    w = commands.add_parser("draw", help="draw an architecture's cells into an image",
                            description="Draw the cells of an architecture given by its canonical string.")
    w.add_argument("arch", metavar="STRING", help="canonical architecture string (quote it)")
    w.add_argument("--space", choices=space_names(), default="micro", help="search space (default micro)")
    w.add_argument("--out", metavar="FILE", default="cell.png", help="image file to write (default cell.png)")

    n = commands.add_parser("supernet", help="train or fine-tune a once-for-all supernet",
                            description="Once-for-all MobileNetV3 supernets for the mobilenetv3 space.")
    supernet_commands = n.add_subparsers(dest="supernet_command", required=True, parser_class=_Parser)
    st = supernet_commands.add_parser(
        "train", help="train a supernet on a dataset (sandwich rule, in-place distillation)",
        description="Train a supernet with the sandwich rule (largest, smallest and random subnets every step, "
                    "the others distilled from the largest), or fine-tune a given one on new data (--init; "
                    "NSGANetV2 used 5 epochs). Checkpoints every epoch into --out; --resume continues. "
                    "Writes OUT/supernet.pt for 'nsganet search --space mobilenetv3 --supernet'.")
    add_data_arguments(st, default="digits")
    st.add_argument("--out", metavar="DIR", help="output folder (default runs/supernet-DATASET)")
    st.add_argument("--epochs", type=positive_int, default=10, metavar="N", help="epochs (default 10)")
    st.add_argument("--batch-size", type=positive_int, default=64, metavar="N", help="batch size (default 64)")
    st.add_argument("--lr", type=float, default=0.05, metavar="LR", help="initial learning rate (default 0.05)")
    st.add_argument("--n-random", type=nonnegative_int, default=2, metavar="N",
                    help="random subnets per step besides the largest and smallest (default 2)")
    st.add_argument("--width-mult", type=float, metavar="W",
                    help="width multiplier of a new supernet (default 0.5 for small images)")
    st.add_argument("--init", metavar="FILE",
                    help="start from this supernet file, or an official OFA MobileNetV3 checkpoint, and fine-tune")
    st.add_argument("--seed", type=nonnegative_int, default=0, metavar="N", help="random seed (default 0)")
    st.add_argument("--resume", action="store_true", help="continue the training in --out")
    st.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    for name in COMMANDS:
        command_module(name).add_parser(commands)
    commands.add_parser("list", help="list the spaces, strategies, objectives and datasets")
    return parser


def _search(args: argparse.Namespace) -> int:
    from nsganet.api import run_config

    values: dict[str, Any] = load_config(args.config) if args.config else {}
    for f in dataclasses.fields(SearchConfig):  # options given on the command line win over the file
        if getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
    if args.strategy_param:
        params = values.get("strategy_params") or {}
        if not isinstance(params, dict):
            raise NsganetError("config key 'strategy_params' must be a mapping")
        values["strategy_params"] = {**params, **dict(args.strategy_param)}
    config = SearchConfig.from_dict(values)
    result = run_config(config, resume=args.resume, progress=not args.quiet)
    print(f"run directory: {result.out}")
    print(f"evaluated {len(result.evaluations)} architectures ({result.n_failed} failed) in "
          f"{result.generations} generations; normalised hypervolume {result.hypervolume:.4f}")
    print(f"non-dominated front ({len(result.front)} architectures):")
    print(result.front_table())
    return 0


def _costs(args: argparse.Namespace) -> int:
    from nsganet.search.objectives import CostModel
    from nsganet.spaces import get_space

    space = get_space(args.space)
    model = CostModel(space, num_classes=args.num_classes, input_size=args.input_size,
                      build_options=space.proxy_options(args.channels, args.layers, use_defaults=False))
    setting = f"{args.space}, {args.input_size} px, {args.num_classes} classes"
    if args.arch:
        values = model.measure(space.from_string(args.arch))
        print(f"{args.arch} ({setting}): {values['flops']:.4f} MFLOPs, {values['params']:.6f} M params")
        return 0
    low, high = model.measure(space.smallest()), model.measure(space.largest())
    print(f"{setting}: flops {low['flops']:.4f}-{high['flops']:.4f} M multiply-accumulates, "
          f"params {low['params']:.6f}-{high['params']:.6f} M")
    print(f"  smallest: {space.to_string(space.smallest())}")
    print(f"  largest:  {space.to_string(space.largest())}")
    return 0


def _supernet_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsganet.data import load_dataset
    from nsganet.spaces.mobilenetv3 import SupernetConfig
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.training import SUPERNET_FILE, SupernetTrainSettings

    if args.lr <= 0:
        raise NsganetError(f"--lr must be positive, got {args.lr}")
    train_set, _ = load_dataset(args.dataset, args.data, image_size=args.image_size)
    out = Path(args.out or f"runs/supernet-{args.dataset}")
    config = None
    if args.width_mult is not None:
        if args.init is not None:
            raise NsganetError("--width-mult shapes a new supernet; --init keeps the given one's")
        if args.width_mult <= 0:
            raise NsganetError(f"--width-mult must be positive, got {args.width_mult}")
        config = SupernetConfig.small(max(train_set.images.shape[-1], 16), width_mult=args.width_mult)
    settings = SupernetTrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                     n_random=args.n_random)
    _, meta = fit_supernet(train_set, out, settings, config=config, init=args.init, seed=args.seed,
                           resume=args.resume, progress=not args.quiet)
    print(f"supernet for {meta['num_classes']} classes written to {out / SUPERNET_FILE}")
    print(f"search it with: nsganet search --space mobilenetv3 --strategy nsganetv2 --supernet {out / SUPERNET_FILE}"
          + (f" --dataset {args.dataset}" if args.dataset != "digits" else "")
          + (f" --data {args.data}" if args.data else ""))
    return 0


def _draw(args: argparse.Namespace) -> int:
    from nsganet.spaces import get_space

    space = get_space(args.space)
    try:
        space.draw(space.from_string(args.arch), args.out)
    except NotImplementedError as exc:
        raise NsganetError(str(exc)) from None
    except OSError as exc:
        raise NsganetError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"drew {args.out}")
    return 0


def _list() -> int:
    from nsganet.data import dataset_names
    from nsganet.search.objectives import OBJECTIVES
    from nsganet.spaces import space_names
    from nsganet.strategies import strategy_defaults, strategy_names

    print("spaces:     " + ", ".join(space_names()))
    print("strategies (options and defaults, set with -S KEY=VALUE):")
    for name in strategy_names():
        defaults = strategy_defaults(name)
        print(f"  {name:<10} " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
    print("objectives: " + ", ".join(f"{o.name} ({o.description})" for o in OBJECTIVES.values()))
    print("datasets:   " + ", ".join(dataset_names()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "search":
            return _search(args)
        if args.command == "costs":
            return _costs(args)
        if args.command == "draw":
            return _draw(args)
        if args.command == "supernet":
            return _supernet_train(args)
        if args.command in COMMANDS:
            return command_module(args.command).run(args)
        return _list()
    except NsganetError as exc:
        print(f"nsganet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nsganet: interrupted; continue with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``nsganet`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from nsganet.config import SearchConfig, load_config
from nsganet.errors import NsganetError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for integers no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    from nsganet.objectives import OBJECTIVES
    from nsganet.spaces import space_names
    from nsganet.strategies import strategy_names

    parser = _Parser(prog="nsganet", description="Evolutionary multi-objective neural architecture search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = commands.add_parser(
        "search", help="search a space for the accuracy-vs-cost trade-off",
        description="Search a space for architectures trading off the objectives. Every option can "
                    "also be given in a YAML --config file under the same name (dashes as underscores); "
                    "options on the command line win. The run directory keeps a SQLite store, "
                    "evaluations.csv, front.csv, stats/gen_N.json, config.yaml and plots.",
        epilog="config-file-only keys:\n"
               "  strategy_params  strategy options, e.g. {crossover_prob: 0.9, mutation_prob: 0.1,\n"
               "                   mutation_eta: 3, exploit_start: 0.667, exploit_rate: 0.25, top_k: 100}\n"
               "  in_channels      input channels of the built networks (default 3)\n\n"
               "examples:\n"
               "  nsganet search --table nats_tss_cifar10.csv --metric cifar10_test_acc_200ep --budget 300\n"
               "  nsganet search --config runs/demo/config.yaml --out runs/again\n"
               "  nsganet search --config runs/demo/config.yaml --out runs/demo --resume   # after a crash",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--config", metavar="FILE", help="YAML file with any of the options below")
    s.add_argument("--space", choices=space_names(), help="search space (default nb201)")
    s.add_argument("--strategy", choices=strategy_names(), help="search strategy (default nsganetv1)")
    s.add_argument("--objectives", metavar="A,B",
                   help=f"comma-separated objectives to minimise, from {', '.join(OBJECTIVES)} "
                        "(default error,flops)")
    s.add_argument("--budget", type=_positive_int, metavar="N",
                   help="distinct architectures to evaluate (default 300)")
    s.add_argument("--seed", type=_nonnegative_int, metavar="N", help="random seed (default 0)")
    s.add_argument("--pop-size", type=_positive_int, metavar="N",
                   help="population (batch) size (default: the strategy's, 40 for nsga2/nsganetv1)")
    s.add_argument("--table", metavar="FILE",
                   help="tabular benchmark CSV with an 'arch' column and accuracy columns")
    s.add_argument("--metric", metavar="COLUMN", help="accuracy column of --table (percent); error = 100 - it")
    s.add_argument("--num-classes", type=_positive_int, metavar="N",
                   help="classes of the built networks, for flops/params (default 10)")
    s.add_argument("--input-size", type=_positive_int, metavar="PX",
                   help="input resolution of the built networks, for flops/params (default 32)")
    s.add_argument("--out", metavar="DIR", help="run directory (default runs/SPACE-STRATEGY-seedN)")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out where it stopped (starts it if there is none)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    c = commands.add_parser("costs", help="print the FLOPs/params range of a space, or of one architecture",
                            description="Measure flops (million multiply-accumulates) and params (millions) "
                                        "of a space's smallest and largest networks, or of --arch.")
    c.add_argument("--space", choices=space_names(), default="nb201", help="search space (default nb201)")
    c.add_argument("--arch", metavar="STRING", help="canonical architecture string to measure")
    c.add_argument("--num-classes", type=_positive_int, default=10, metavar="N", help="classes (default 10)")
    c.add_argument("--input-size", type=_positive_int, default=32, metavar="PX", help="resolution (default 32)")

    commands.add_parser("list", help="list the spaces, strategies and objectives")
    return parser


def _search(args: argparse.Namespace) -> int:
    from nsganet.api import run_config

    values: dict[str, Any] = load_config(args.config) if args.config else {}
    for key in ("space", "strategy", "objectives", "budget", "seed", "pop_size", "table", "metric",
                "num_classes", "input_size", "out"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    config = SearchConfig.from_dict(values)
    result = run_config(config, resume=args.resume, progress=not args.quiet)
    print(f"run directory: {result.out}")
    print(f"evaluated {len(result.evaluations)} architectures ({result.n_failed} failed) in "
          f"{result.generations} generations; normalised hypervolume {result.hypervolume:.4f}")
    print(f"non-dominated front ({len(result.front)} architectures):")
    print(result.front_table())
    return 0


def _costs(args: argparse.Namespace) -> int:
    from nsganet.objectives import CostModel
    from nsganet.spaces import get_space

    space = get_space(args.space)
    model = CostModel(space, num_classes=args.num_classes, input_size=args.input_size)
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


def _list() -> int:
    from nsganet.objectives import OBJECTIVES
    from nsganet.spaces import space_names
    from nsganet.strategies import strategy_names

    print("spaces:     " + ", ".join(space_names()))
    print("strategies: " + ", ".join(strategy_names()))
    print("objectives: " + ", ".join(f"{o.name} ({o.description})" for o in OBJECTIVES.values()))
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

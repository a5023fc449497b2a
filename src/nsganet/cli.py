"""The ``nsganet`` command: one parser whose sub-commands come from the command registry."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

# OpenMP threads that spin while waiting make training many times slower whenever another process
# (a worker, another job) shares the cores; torch is imported later, so this still takes effect.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nsganet.commands import COMMANDS
from nsganet.commands.args import EXIT_USAGE, OneLineParser
from nsganet.errors import NsganetError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nsganet", description="Evolutionary multi-objective neural architecture search.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for _, command in COMMANDS.items():
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS.get(args.command).run(args)
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

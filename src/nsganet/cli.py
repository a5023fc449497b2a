"""The ``nsganet`` command: one parser whose sub-commands come from the command registry."""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence

# OpenMP threads that spin while waiting make training many times slower whenever another process
# (a worker, another job) shares the cores; torch is imported later, so this still takes effect.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nsganet.commands import COMMANDS
from nsganet.commands.args import EXIT_USAGE, OneLineParser
from nsganet.errors import NsganetError
from nsganet.executors.base import first_line
from nsganet.utils.signals import Interrupts

EXIT_STATUS = ("exit status: 0 done; 2 bad input or a system error such as a full disk (one line on stderr); "
               "130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM: an interrupted search continues "
               "with --resume, and a second interrupt ends nsganet at once")


def version() -> str:
    """The installed package's version, from its metadata (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("nsganet")
    except PackageNotFoundError:
        from nsganet import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nsganet", description="Evolutionary multi-objective neural architecture search.",
                           epilog=EXIT_STATUS)
    parser.add_argument("--version", action="version", version=f"nsganet {version()}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                                       parser_class=OneLineParser)
    for _, command in COMMANDS.items():
        command.add_parser(subparsers)
    return parser


def command_list(parser: argparse.ArgumentParser) -> str:
    """The short usage and every command with its one-line description (what a bare ``nsganet`` prints)."""
    formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    for action in parser._subparsers._group_actions:  # the one sub-commands action
        formatter.start_section("commands")
        formatter.add_arguments(action._get_subactions())
        formatter.end_section()
    formatter.add_text("'nsganet COMMAND --help' shows a command's options; 'nsganet --help' the rest")
    return formatter.format_help()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command; SIGINT and SIGTERM stop it cleanly (exit 130 and 143), a second one at once."""
    for stream in (sys.stdout, sys.stderr):  # paths with bytes that are not UTF-8 print with a replacement mark
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        print(command_list(parser), end="", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    with Interrupts() as interrupts:
        try:
            return COMMANDS.get(args.command).run(args)
        except NsganetError as exc:
            print(f"nsganet: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return interrupts.report()
        except BrokenPipeError:  # output piped into e.g. head: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (OSError, sqlite3.Error) as exc:  # the machine's problem (disk full, permissions), not a bug
            print(f"nsganet: error: {system_error_line(exc)}", file=sys.stderr)
            return EXIT_USAGE


def system_error_line(exc: OSError | sqlite3.Error) -> str:
    """An operating-system or SQLite error in one line: '<strerror>: <filename>' where it names a file."""
    if isinstance(exc, OSError) and exc.strerror:
        files = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
        return ": ".join([exc.strerror, " -> ".join(files)] if files else [exc.strerror])
    return first_line(exc) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())

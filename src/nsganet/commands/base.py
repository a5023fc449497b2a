"""What a sub-command of ``nsganet`` is, and the registry of them."""

from __future__ import annotations

import argparse
from typing import Any, ClassVar

from nsganet.registry import Registry


class Command:
    """One sub-command: ``add_parser`` adds its sub-parser, ``run`` does the work and returns the exit code."""

    name: ClassVar[str]

    def add_parser(self, subparsers: Any) -> argparse.ArgumentParser:
        """Add this command's parser to the ``argparse`` sub-parsers and return it."""
        raise NotImplementedError

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the exit code."""
        raise NotImplementedError


#: Every sub-command by name, in the order ``nsganet --help`` lists them.
COMMANDS: Registry[Command] = Registry("command")


def register(cls: type[Command]) -> type[Command]:
    """Class decorator: register an instance of a :class:`Command` subclass under its ``name``."""
    COMMANDS.add(cls.name, cls())
    return cls

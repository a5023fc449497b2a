"""Sub-commands of ``nsganet`` that live in their own modules, and the argument types they share.

Each module named in :data:`COMMANDS` has ``add_parser(commands)``, which adds
its sub-parser to the ``argparse`` sub-parsers object, and ``run(args) -> int``.
Modules must stay cheap to import (no torch at module level): the whole parser
is built for every invocation.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

#: command name -> module under nsganet.commands
COMMANDS: dict[str, str] = {
    "select": "select",
    "train": "train",
    "evaluate": "evaluate",
    "lut": "lut",
    "report": "report",
}


def command_module(name: str) -> ModuleType:
    """The module implementing sub-command ``name``."""
    return importlib.import_module(f"nsganet.commands.{COMMANDS[name]}")


def add_data_arguments(parser: Any, default: str | None = None,
                       default_text: str = "digits: scikit-learn's 8x8 digits, embedded") -> None:
    """``--dataset``, ``--data`` and ``--image-size``, the same for every command that reads a dataset."""
    from nsganet.data import dataset_names

    parser.add_argument("--dataset", choices=dataset_names(), default=default,
                        help=f"dataset format (default {default_text})")
    parser.add_argument("--data", metavar="DIR", help="dataset location (a folder, or a .npz file for numpy)")
    parser.add_argument("--image-size", type=positive_int, metavar="PX", help="resize images to PX x PX")


def int_at_least(minimum: int) -> Callable[[str], int]:
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


def _finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def positive_float(text: str) -> float:
    """An argparse type for a finite number greater than zero."""
    value = _finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def nonnegative_float(text: str) -> float:
    """An argparse type for a finite number no smaller than zero."""
    value = _finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a non-negative number")
    return value


def int_list(low: int, high: int | None = None, what: str = "value") -> Callable[[str], list[int]]:
    """An argparse type for comma-separated integers within ``low..high``, sorted and without repeats."""

    def parse(text: str) -> list[int]:
        values = set()
        for part in text.replace(" ", ",").split(","):
            if not part:
                continue
            try:
                value = int(part)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{part!r} in {text!r} is not an integer") from None
            if value < low or (high is not None and value > high):
                bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise argparse.ArgumentTypeError(f"{what} {value} in {text!r} must be {bounds}")
            values.add(value)
        if not values:
            raise argparse.ArgumentTypeError(f"give at least one {what}")
        return sorted(values)

    return parse


def float_list(text: str) -> list[float]:
    """An argparse type for comma-separated non-negative numbers, e.g. ``0,0.01,0.02``."""
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} in {text!r} is not a number") from None
        if not 0 <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"{part.strip()!r} in {text!r} must be a non-negative number")
        values.append(value)
    return values


def key_value(text: str) -> tuple[str, Any]:
    """An argparse type for KEY=VALUE; VALUE is read as a YAML scalar (a number, a word, true/false)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    if isinstance(value, (dict, list)):
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE must be a number, a word or true/false")
    return key.strip(), value


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)

"""Argument types and option helpers every sub-command shares.

Numeric options are parsed by the same :class:`~nsganet.utils.checks.Bound`
that validates them elsewhere; options that mirror a settings dataclass
(:func:`add_field_options`) take their help and default from the field, so a
default is written once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from nsganet.utils.checks import (
    CHANNELS,
    CLASSES,
    IMAGE_SIZE,
    IN_CHANNELS,
    LAYERS,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Bound,
)

#: Exit code of a usage error or bad input (one line on stderr).
EXIT_USAGE = 2

positive_int = POSITIVE_INT.parse
nonnegative_int = NONNEGATIVE_INT.parse
positive_float = POSITIVE.parse
nonnegative_float = NONNEGATIVE.parse
#: Sizes of networks and images, bounded (:mod:`nsganet.utils.checks` states the bounds).
image_size_arg = IMAGE_SIZE.parse
num_classes_arg = CLASSES.parse
channels_arg = CHANNELS.parse
layers_arg = LAYERS.parse
in_channels_arg = IN_CHANNELS.parse


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the known name closest to ``word``, or "" when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def invalid_choice(value: Any, known: Iterable[str]) -> str:
    """The one-line message for ``value`` not among ``known``: the close match, else every choice."""
    known = list(known)
    return f"invalid choice: {value!r}" + (did_you_mean(str(value), known) or f" (choose from {', '.join(known)})")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2.

    Options are never abbreviated (``--epoch`` is not ``--epochs``); an
    unknown option, choice or sub-command is named with its closest match.
    Each parser, sub-command parsers included, refuses its own unknown
    arguments, so the message names the sub-command (``nsganet search: error``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("metavar", "COMMAND")  # errors say "argument COMMAND", not the attribute's name
        return super().add_subparsers(**kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        return namespace, extras

    def _unrecognized(self, extras: list[str]) -> str:
        """``unrecognized argument --budjet (did you mean --budget?)`` for the first unknown option (or argument)."""
        option = next((e for e in extras if e.startswith("-") and e != "-"), None)
        if option is None:
            return f"unrecognized argument {extras[0]!r}"
        name = option.split("=", 1)[0]
        known = [s for action in self._actions for s in action.option_strings if s.startswith("--")]
        return f"unrecognized argument {name}{did_you_mean(name, known)}"

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, invalid_choice(value, map(str, action.choices)))


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
    if isinstance(value, str):  # YAML reads 1e-3 as a word; a number is meant
        with contextlib.suppress(ValueError):
            number = float(value)
            if math.isfinite(number):
                value = number
    if isinstance(value, (dict, list)):
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE must be a number, a word or true/false")
    return key.strip(), value


def one_of(names: Callable[[], Iterable[str]]) -> Callable[[str], str]:
    """An argparse type accepting one of ``names()``, listed only when the option is used (they may be costly)."""

    def parse(text: str) -> str:
        known = list(names())
        if text not in known:
            raise argparse.ArgumentTypeError(invalid_choice(text, known))
        return text

    return parse


def _config_option(parser: Any, name: str, **kwargs: Any) -> None:
    """``--name`` with the help, default and choices of the search config's key ``name`` (stated once, there)."""
    from nsganet.config import FIELDS, default_text

    meta = FIELDS[name].metadata
    if meta["choices"] is not None:
        kwargs["choices"] = list(meta["choices"]())
    elif meta["bound"] is not None:
        kwargs["type"] = meta["bound"].parse
    if meta["metavar"] and "choices" not in kwargs:
        kwargs["metavar"] = meta["metavar"]
    parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=FIELDS[name].default,
                        help=f"{meta['help']}{default_text(name)}", **kwargs)


def add_data_arguments(parser: Any, default: str | None = None,
                       default_text: str = "digits: scikit-learn's 8x8 digits, embedded") -> None:
    """``--dataset``, ``--data``, ``--image-size``, ``--data-mode`` and ``--data-workers``, the same for every
    command that reads a dataset."""
    from nsganet.data import dataset_names

    parser.add_argument("--dataset", type=one_of(dataset_names), default=default, metavar="NAME",
                        help=f"dataset format, 'nsganet list' shows them (default {default_text})")
    parser.add_argument("--data", metavar="DIR", help="dataset location (a folder, or a .npz file for numpy)")
    parser.add_argument("--image-size", type=image_size_arg, metavar="PX", help="resize images to PX x PX")
    _config_option(parser, "data_mode")
    _config_option(parser, "data_workers")


def add_device_arguments(parser: Any) -> None:
    """``--device`` and ``--amp``, the same for every command that trains or runs networks."""
    _config_option(parser, "device", type=device_arg)
    _config_option(parser, "amp")


def device_arg(text: str) -> str:
    """An argparse type for ``--device``: auto, cpu, cuda or cuda:N."""
    from nsganet.errors import ConfigError
    from nsganet.utils.device import check_device

    try:
        return check_device(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_field_options(parser: Any, settings: type, names: Iterable[str], defaults: Any = None) -> None:
    """One ``--name`` option per field of the dataclass ``settings``, help and default from the field.

    The field's metadata gives ``help`` and ``metavar``; its type the parser
    (positive numbers). ``defaults`` (an instance) sets the shown defaults
    and the values parsed when an option is not given; without it the
    options default to None (the caller's defaults apply).
    """
    fields = {f.name: f for f in dataclasses.fields(settings)}
    for name in names:
        f = fields[name]
        default = getattr(defaults, name) if defaults is not None else f.default
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        bound: Bound | None = f.metadata.get("bound") or (POSITIVE_INT if kind.startswith("int") else
                                                          POSITIVE if kind.startswith("float") else None)
        parser.add_argument(f"--{name.replace('_', '-')}", type=bound.parse if bound else str,
                            default=default if defaults is not None else None, metavar=f.metadata.get("metavar"),
                            help=f"{f.metadata.get('help', name)} (default {default})")

"""Checking options that may come from YAML or the command line: numeric option fields, and numeric bounds."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

from nsganet.errors import ConfigError

_NUMERIC = {"int": int, "float": float}


def coerce_numeric_options(options: Any, owner: str) -> None:
    """Check that every ``int``/``float`` init field of a dataclass holds a number, and cast it to that type.

    Booleans and non-integral values of ``int`` fields are refused with a
    one-line :class:`ConfigError` naming ``owner`` (e.g. "nsga2", "predictor gp").
    """
    for f in dataclasses.fields(options):
        kind = _NUMERIC.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
        if kind is None or not f.init:
            continue
        value = getattr(options, f.name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (kind is int and value != int(value)):
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{owner} option {f.name} must be {what}, got {value!r}")
        setattr(options, f.name, kind(value))


@dataclasses.dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric option: the one place its rule is written.

    The same bound validates a config value (:meth:`check`, a
    :class:`ConfigError`) and parses a command-line argument (:meth:`parse`,
    an ``argparse`` error), so both say the same thing.
    """

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        """The rule in words: "at least 1", "a positive number", "strictly between 0 and 1", ..."""
        if self.low is not None and self.high is not None:
            return (f"strictly between {self.low:g} and {self.high:g}" if self.low_open and self.high_open
                    else f"from {self.low:g} to {self.high:g}")
        if self.low is not None:
            if self.integer:
                return f"at least {int(self.low) + (1 if self.low_open else 0)}"
            if self.low == 0:
                return "a positive number" if self.low_open else "a non-negative number"
            return f"{'greater than' if self.low_open else 'at least'} {self.low:g}"
        return "an integer" if self.integer else "a number"

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def check(self, name: str, value: Any) -> None:
        """Raise a :class:`ConfigError` naming ``name`` when ``value`` (a number, or None) breaks the rule."""
        if value is not None and not self.holds(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")

    def parse(self, text: str) -> int | float:
        """``text`` as a number within the bound, for ``argparse`` (its error says which rule is broken)."""
        import argparse
        import math

        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if self.integer else 'a number'}") \
                from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if not self.holds(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {self.describe()}")
        return value

    @property
    def __name__(self) -> str:  # argparse names the type in some messages
        return "int" if self.integer else "float"

    def __call__(self, text: str) -> int | float:
        return self.parse(text)


POSITIVE_INT = Bound(1, integer=True)
NONNEGATIVE_INT = Bound(0, integer=True)
POSITIVE = Bound(0, low_open=True)
NONNEGATIVE = Bound(0)
OPEN_UNIT = Bound(0, True, 1, True)


def float_list(text: str) -> list[float]:
    """An argparse type for comma-separated non-negative numbers, e.g. ``0,0.01,0.02``."""
    import argparse

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

"""Checking options that may come from YAML or the command line: numeric option fields, numeric bounds, and the
bounds on the sizes of networks and datasets (stated once, here).

Every number from outside is finite: NaN and infinities are refused where they
enter (a ``--lr nan``, a ``.nan`` in a YAML config, a ``-S KEY=.inf``), since
they would make every evaluation diverge and, as NaN differs from itself, a
run impossible to resume.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from pathlib import Path
from typing import Any

from nsganet.errors import ConfigError

_NUMERIC = {"int": int, "float": float}

#: Upper bounds on sizes that decide how much memory a network or a dataset takes, checked before anything is
#: allocated. Generous for real use: ImageNet-21k has 21,841 classes; multispectral images a dozen or so bands;
#: the largest published NAS networks run at a few hundred pixels, a few thousand channels, a few dozen cells.
MAX_CLASSES = 100_000
MAX_IN_CHANNELS = 64
MAX_IMAGE_SIZE = 4096
MAX_CHANNELS = 4096
MAX_LAYERS = 64


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
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
            raise ConfigError(f"{owner} option {f.name} must be a finite number, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or (kind is int and value != int(value)):
            what = "an integer" if kind is int else "a number"
            raise ConfigError(f"{owner} option {f.name} must be {what}, got {value!r}")
        setattr(options, f.name, kind(value))


@dataclasses.dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric option: the one place its rule is written.

    The same bound validates a config value (:meth:`check`, a
    :class:`ConfigError`) and parses a command-line argument (:meth:`parse`,
    an ``argparse`` error), so both say the same thing. Either way the value
    must be a finite number (an integer when ``integer``).
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
                    else f"from {self.low:g} to {_number(self.high)}")
        if self.low is not None:
            if self.integer:
                return f"at least {int(self.low) + (1 if self.low_open else 0)}"
            if self.low == 0:
                return "a positive number" if self.low_open else "a non-negative number"
            return f"{'greater than' if self.low_open else 'at least'} {self.low:g}"
        return "an integer" if self.integer else "a number"

    def holds(self, value: float) -> bool:
        """Whether ``value`` (a finite number) lies within the bound."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def check(self, name: str, value: Any) -> None:
        """Raise a :class:`ConfigError` naming ``name`` when ``value`` (a number, or None) breaks the rule.

        Something other than a number, NaN, an infinity, or (for an integer
        bound) a fraction breaks it too.
        """
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{name} must be {'an integer' if self.integer else 'a number'}, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if self.integer and value != int(value):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if not self.holds(value):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")

    def parse(self, text: str) -> int | float:
        """``text`` as a number within the bound, for ``argparse`` (its error says which rule is broken)."""
        import argparse

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
#: Classes of a network or a dataset.
CLASSES = Bound(1, high=MAX_CLASSES, integer=True)
#: Channels of a network's input images.
IN_CHANNELS = Bound(1, high=MAX_IN_CHANNELS, integer=True)
#: The side of a network's input images, and of images resized for one.
IMAGE_SIZE = Bound(1, high=MAX_IMAGE_SIZE, integer=True)
#: A network's width: the channels of its first cells or phase.
CHANNELS = Bound(1, high=MAX_CHANNELS, integer=True)
#: A network's depth: cells (or layers) per stage.
LAYERS = Bound(1, high=MAX_LAYERS, integer=True)


def _number(value: float) -> str:
    """``value`` in words for messages: 4096, 100000, 0.5."""
    return str(int(value)) if value == int(value) else f"{value:g}"


def machine_memory() -> int | None:
    """Bytes of memory this process may use: the machine's, or less where its control group or its address-space
    limit (``ulimit -v``) says so; None when unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            total = min(total, soft)
    except (ImportError, OSError, ValueError):
        pass
    for limit in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total if total > 0 else None


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

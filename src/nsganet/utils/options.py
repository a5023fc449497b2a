"""Checking numeric options of option dataclasses (strategies, predictors), which may come from YAML."""

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

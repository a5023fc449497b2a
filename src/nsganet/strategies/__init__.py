"""Search strategies and the registry that maps names to them. Numpy only: no torch here."""

from __future__ import annotations

from typing import Any

from nsganet.errors import ConfigError
from nsganet.strategies.archive import Archive
from nsganet.strategies.base import Strategy
from nsganet.strategies.nsga2 import NSGA2
from nsganet.strategies.nsganetv1 import NSGANetV1
from nsganet.strategies.nsganetv2 import NSGANetV2
from nsganet.strategies.random_search import RandomSearch

_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Make a strategy class available by its ``name`` (usable as a decorator)."""
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def strategy_defaults(name: str) -> dict[str, Any]:
    """Options of a strategy with their default values."""
    import dataclasses

    cls = _REGISTRY[name]
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def get_strategy(name: str | Strategy, **params: Any) -> Strategy:
    """A new strategy by name with hyper-parameters ``params`` (a :class:`Strategy` is returned as is)."""
    if isinstance(name, Strategy):
        return name
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ConfigError(f"unknown strategy {name!r}; known strategies: {', '.join(strategy_names())}")
    known = {f.name for f in cls.__dataclass_fields__.values()}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"strategy {name} has no option {unknown[0]!r}; options: {', '.join(sorted(known))}")
    return cls(**params)


for _cls in (RandomSearch, NSGA2, NSGANetV1, NSGANetV2):
    register_strategy(_cls)

__all__ = ["NSGA2", "Archive", "NSGANetV1", "NSGANetV2", "RandomSearch", "Strategy", "get_strategy",
           "register_strategy", "strategy_defaults", "strategy_names"]

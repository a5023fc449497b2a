"""Search strategies and the registry that names them. Numpy only: no torch here.

Every strategy passes the same contract (``tests/test_contracts.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nsganet.errors import ConfigError
from nsganet.strategies.archive import Archive
from nsganet.strategies.base import STRATEGIES, Strategy
from nsganet.strategies.nsga2 import NSGA2
from nsganet.strategies.nsganetv1 import NSGANetV1
from nsganet.strategies.nsganetv2 import NSGANetV2
from nsganet.strategies.random_search import RandomSearch


def strategy_names() -> list[str]:
    return STRATEGIES.names()


def strategy_defaults(name: str) -> dict[str, Any]:
    """Options of a strategy with their default values."""
    cls = STRATEGIES.get(name)
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def get_strategy(name: str | Strategy, **params: Any) -> Strategy:
    """A new strategy by name with hyper-parameters ``params`` (a :class:`Strategy` is returned as is)."""
    if isinstance(name, Strategy):
        return name
    cls = STRATEGIES.get(name)
    known = {f.name for f in cls.__dataclass_fields__.values()}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"strategy {name} has no option {unknown[0]!r}; options: {', '.join(sorted(known))}")
    return cls(**params)


__all__ = ["NSGA2", "STRATEGIES", "Archive", "NSGANetV1", "NSGANetV2", "RandomSearch", "Strategy", "get_strategy",
           "strategy_defaults", "strategy_names"]

"""nsganet: evolutionary multi-objective neural architecture search (NSGANetV1 and NSGANetV2).

The Python API: :func:`search` / :func:`run_config` run a search;
:func:`export_selection`, :func:`load_net`, :func:`train_net`, :func:`fit`,
:func:`evaluate_network`, :func:`measure_latency` and :func:`write_report` are
what comes after it. Names that need torch or matplotlib load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from nsganet.api import run_config, search
from nsganet.config import SearchConfig
from nsganet.errors import ConfigError, InvalidArchitecture, NsganetError
from nsganet.search.callbacks import Callback
from nsganet.search.result import SearchResult
from nsganet.spaces import Architecture, SearchSpace, get_space
from nsganet.strategies import get_strategy

__version__ = "0.1.0"

_LAZY = {
    "NetSpec": "nsganet.deploy.netfile", "load_net": "nsganet.deploy.netfile",
    "export_selection": "nsganet.deploy.select", "train_net": "nsganet.deploy.retrain",
    "fit": "nsganet.train.recipe", "evaluate_network": "nsganet.robustness.evaluate",
    "measure_latency": "nsganet.costs.latency", "write_report": "nsganet.report.build",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nsganet' has no attribute {name!r}")


__all__ = ["Architecture", "Callback", "ConfigError", "InvalidArchitecture", "NsganetError", "SearchConfig",
           "SearchResult", "SearchSpace", "__version__", "get_space", "get_strategy", "run_config", "search",
           *sorted(_LAZY)]

"""nsganet: evolutionary multi-objective neural architecture search (NSGANetV1 and NSGANetV2)."""

from __future__ import annotations

from nsganet.api import run_config, search
from nsganet.config import SearchConfig
from nsganet.deploy.netfile import NetSpec, load_net
from nsganet.deploy.select import export_selection
from nsganet.errors import ConfigError, InvalidArchitecture, NsganetError
from nsganet.search.study import SearchResult
from nsganet.spaces import Architecture, SearchSpace, get_space
from nsganet.strategies import get_strategy

__version__ = "0.1.0"

__all__ = ["Architecture", "ConfigError", "InvalidArchitecture", "NetSpec", "NsganetError", "SearchConfig",
           "SearchResult", "SearchSpace", "__version__", "export_selection", "get_space", "get_strategy", "load_net",
           "run_config", "search"]

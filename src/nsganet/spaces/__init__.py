"""Search spaces and the registry that maps names to them."""

from __future__ import annotations

from collections.abc import Callable

from nsganet.errors import ConfigError
from nsganet.spaces.base import Architecture, Encoding, SearchSpace
from nsganet.spaces.macro import MacroSpace
from nsganet.spaces.micro import MicroSpace
from nsganet.spaces.mobilenetv3 import MobileNetV3Space
from nsganet.spaces.nb201 import NB201Space

_REGISTRY: dict[str, Callable[[], SearchSpace]] = {}


def register_space(name: str, factory: Callable[[], SearchSpace]) -> None:
    """Make a space available by name to :func:`get_space`, the CLI and config files."""
    _REGISTRY[name] = factory


def space_names() -> list[str]:
    return sorted(_REGISTRY)


def get_space(name: str | SearchSpace) -> SearchSpace:
    """The space registered under ``name`` (a :class:`SearchSpace` is returned as is)."""
    if isinstance(name, SearchSpace):
        return name
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ConfigError(f"unknown space {name!r}; known spaces: {', '.join(space_names())}") from None


for _space in (MacroSpace, MicroSpace, MobileNetV3Space, NB201Space):
    register_space(_space.name, _space)

__all__ = ["Architecture", "Encoding", "MacroSpace", "MicroSpace", "MobileNetV3Space", "NB201Space", "SearchSpace",
           "get_space", "register_space", "space_names"]

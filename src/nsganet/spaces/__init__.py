"""Search spaces: the interface, its capabilities, the built-in spaces and the registry that names them."""

from __future__ import annotations

from typing import Any

from nsganet.errors import ConfigError
from nsganet.spaces.base import (
    SPACES,
    Architecture,
    DrawableSpace,
    Encoding,
    ForeignNetFiles,
    ForeignNetwork,
    LayerwiseSpace,
    SearchSpace,
    SupernetSpace,
    genome_values,
)
from nsganet.spaces.macro import MacroSpace
from nsganet.spaces.micro import MicroSpace
from nsganet.spaces.micro_increment import MicroIncrementSpace
from nsganet.spaces.mobilenetv3 import MobileNetV3Space
from nsganet.spaces.nb201 import NB201Space


def space_names() -> list[str]:
    return SPACES.names()


def get_space(name: str | SearchSpace, **options: Any) -> SearchSpace:
    """The space registered under ``name``, made with ``options`` (a :class:`SearchSpace` is returned as is)."""
    if isinstance(name, SearchSpace):
        return name
    cls = SPACES.get(name)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:  # options of another space, or of another version
        raise ConfigError(f"space {name} cannot be made with options {sorted(options)}: "
                          f"{(str(exc).splitlines() or [type(exc).__name__])[0][:200]}") from None


__all__ = ["SPACES", "Architecture", "DrawableSpace", "Encoding", "ForeignNetFiles", "ForeignNetwork", "LayerwiseSpace",
           "MacroSpace", "MicroIncrementSpace", "MicroSpace", "MobileNetV3Space", "NB201Space", "SearchSpace",
           "SupernetSpace", "genome_values", "get_space", "space_names"]

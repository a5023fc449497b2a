"""One registry pattern for everything nsganet looks up by name.

Spaces, strategies, predictors, feature encodings, evaluators, executors,
objectives, datasets, corruptions and commands each have one
:class:`Registry`, and each entry registers itself where it is defined::

    @SPACES.register()  # under MicroSpace.name, "micro"
    class MicroSpace(SearchSpace): ...

A user's own entry registers the same way from their code, before the name is
used. Looking up an unknown name is a one-line :class:`~nsganet.errors.ConfigError`
that lists the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from nsganet.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one ``kind`` (a class, a factory function or a value per name).

    ``names()`` lists them in registration order, or sorted with ``sort=True``.
    Registering a name twice is an error unless ``replace=True``.
    """

    def __init__(self, kind: str, plural: str | None = None, sort: bool = False) -> None:
        self.kind, self.plural, self.sort = kind, plural or f"{kind}s", sort
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None, *, replace: bool = False) -> Callable[[T], T]:
        """A decorator registering what it decorates under ``name`` (default: its ``name`` attribute)."""

        def decorate(entry: T) -> T:
            return self.add(name if name is not None else getattr(entry, "name", None), entry, replace=replace)

        return decorate

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` under ``name`` and return it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries and self._entries[name] is not entry and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already (pass replace=True to replace it)")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Unregister ``name`` (a temporary entry, e.g. a test's) and return its entry."""
        return self._entries.pop(name)

    def get(self, name: str) -> T:
        """The entry registered under ``name``; an unknown name is a one-line error listing the known ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.plural}: {', '.join(self.names())}") \
                from None

    def names(self) -> list[str]:
        return sorted(self._entries) if self.sort else list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self.names())})"

"""The dataset formats nsganet reads, by name: each reader registers here where it is defined."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nsganet.registry import Registry


@dataclass(frozen=True)
class DatasetFormat:
    """A named format: its reader, what ``--data`` must point at ("" for embedded data), whether it resizes.

    ``read(data)`` (``read()`` for embedded data; ``read(data, image_size=...)``
    when ``resizes``) returns the ``(train, test)`` datasets, test None where
    the format has none.
    """

    name: str
    read: Callable[..., tuple[Any, Any]]
    data: str = ""
    resizes: bool = False


#: The embedded dataset a search trains on when neither a dataset nor a table is given.
DEFAULT_DATASET = "digits"
#: Every dataset format by name.
DATASETS: Registry[DatasetFormat] = Registry("dataset")


def dataset(name: str, data: str = "", resizes: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated reader as dataset format ``name`` (see :class:`DatasetFormat`)."""

    def register(read: Callable[..., Any]) -> Callable[..., Any]:
        DATASETS.add(name, DatasetFormat(name, read, data, resizes))
        return read

    return register

"""The dataset formats nsganet reads, by name, and the splits a format offers; readers register here.

A format's ``open(data, image_size)`` looks at where the data is and returns
its :class:`Splits` without reading images: each split (``train``, the
official ``valid`` where the format has one, ``test``) is read only when
asked for, so a search never opens the test split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nsganet.registry import Registry

#: The embedded dataset a search trains on when neither a dataset nor a table is given.
DEFAULT_DATASET = "digits"
#: The splits a format may offer, in order.
SPLITS = ("train", "valid", "test")
#: How a dataset of image files is held: decoded into memory when it fits (``auto``), always, or streamed.
DATA_MODES = ("auto", "memory", "stream")
#: ``auto`` decodes a split of image files into memory when its pixels take at most this many bytes.
MEMORY_LIMIT = 2 * 2**30


@dataclass
class Splits:
    """The splits of a dataset, each read by its function when first asked for (then kept)."""

    name: str
    readers: dict[str, Callable[[], Any]]
    _read: dict[str, Any] = field(default_factory=dict, repr=False)

    def has(self, split: str) -> bool:
        return split in self.readers

    def get(self, split: str) -> Any:
        """Split ``split`` (read now, once), or None when the format has no such split."""
        if split not in self.readers:
            return None
        if split not in self._read:
            self._read[split] = self.readers[split]()
        return self._read[split]

    def read_train_test(self) -> tuple[Any, Any]:
        """(train, test): the training split (with the official validation split, if any) and the test split."""
        from nsganet.data.dataset import concat

        train = self.get("train")
        if self.has("valid"):
            train = concat([train, self.get("valid")], self.name)
        return train, self.get("test")


@dataclass(frozen=True)
class DatasetFormat:
    """A named format: how to open it, what ``--data`` must point at ("" for embedded data).

    ``files``: its images are files on disk (read lazily; streamed when large),
    not arrays; ``image_size`` then sets the size they are decoded at.
    """

    name: str
    open: Callable[..., Splits]
    data: str = ""
    files: bool = False


#: Every dataset format by name.
DATASETS: Registry[DatasetFormat] = Registry("dataset")


def dataset(name: str, data: str = "", files: bool = False) -> Callable[[Callable[..., Splits]], Callable[..., Splits]]:
    """Register the decorated ``open(data, image_size) -> Splits`` as dataset format ``name``."""

    def register(open_: Callable[..., Splits]) -> Callable[..., Splits]:
        DATASETS.add(name, DatasetFormat(name, open_, data, files))
        return open_

    return register

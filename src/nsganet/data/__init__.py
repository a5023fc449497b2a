"""Datasets for proxy training: readers of the published formats, splitting, batching and augmentation.

``load_dataset(name, data)`` returns the (train, test) datasets of a named
format. The heavy modules (torch, numpy, Pillow, scikit-learn) are imported
only when a dataset is loaded or a class is used, so listing the dataset
names (e.g. to build the command line) stays cheap.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsganet.errors import NsganetError

if TYPE_CHECKING:
    from nsganet.data.augment import Augmentation
    from nsganet.data.dataset import ImageDataset, channel_stats, split_train_valid
    from nsganet.data.loader import BatchLoader

__all__ = ["Augmentation", "BatchLoader", "ImageDataset", "channel_stats", "dataset_names", "load_dataset",
           "split_train_valid"]

# name -> (reader function in nsganet.data.readers, what --data must point at)
_READERS: dict[str, tuple[str, str]] = {
    "digits": ("read_digits", ""),
    "mnist": ("read_mnist", "DIR"),
    "fashion-mnist": ("read_fashion_mnist", "DIR"),
    "cifar10": ("read_cifar10", "DIR"),
    "cifar100": ("read_cifar100", "DIR"),
    "folder": ("read_folder", "DIR"),
    "numpy": ("read_numpy", "FILE.npz"),
}

_EXPORTS = {"Augmentation": "augment", "BatchLoader": "loader", "ImageDataset": "dataset",
            "channel_stats": "dataset", "split_train_valid": "dataset"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nsganet.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nsganet.data' has no attribute {name!r}")


def dataset_names() -> list[str]:
    """The dataset formats :func:`load_dataset` knows; the first one is the embedded default."""
    return list(_READERS)


def load_dataset(name: str, data: str | Path | None = None,
                 image_size: int | None = None) -> tuple[ImageDataset, ImageDataset | None]:
    """The (train, test) datasets of format ``name`` read from ``data``; test is None if the data has none.

    ``image_size`` resizes every image to image_size×image_size (the folder
    reader resizes while reading, so its images may differ in size).
    """
    if name not in _READERS:
        raise NsganetError(f"unknown dataset {name!r}; known datasets: {', '.join(_READERS)}")
    if image_size is not None and image_size < 1:
        raise NsganetError(f"image size must be positive, got {image_size}")
    from nsganet.data import readers
    from nsganet.data.dataset import resize

    function, needs = _READERS[name]
    reader = getattr(readers, function)
    if not needs:
        if data is not None:
            raise NsganetError(f"dataset {name} is embedded; --data is not used (got {data})")
        train, test = reader()
    elif data is None:
        raise NsganetError(f"dataset {name} needs --data {needs}")
    elif name == "folder":
        train, test = reader(data, image_size=image_size)
    else:
        train, test = reader(data)
    if image_size is not None:
        train = resize(train, image_size)
        test = resize(test, image_size) if test is not None else None
    return train, test

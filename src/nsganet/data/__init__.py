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

from nsganet.data.formats import DATASETS
from nsganet.errors import ConfigError, NsganetError

if TYPE_CHECKING:
    from nsganet.data.augment import Augmentation
    from nsganet.data.dataset import ImageDataset, channel_stats, split_train_valid
    from nsganet.data.loader import BatchLoader

__all__ = ["DATASETS", "Augmentation", "BatchLoader", "ImageDataset", "channel_stats", "dataset_names",
           "load_dataset", "search_split", "split_train_valid"]

_EXPORTS = {"Augmentation": "augment", "BatchLoader": "loader", "ImageDataset": "dataset",
            "channel_stats": "dataset", "split_train_valid": "dataset"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nsganet.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nsganet.data' has no attribute {name!r}")


def dataset_names() -> list[str]:
    """The dataset formats :func:`load_dataset` knows; the first one is the embedded default."""
    import nsganet.data.readers  # noqa: F401  (the built-in formats register there)

    return DATASETS.names()


def load_dataset(name: str, data: str | Path | None = None,
                 image_size: int | None = None) -> tuple[ImageDataset, ImageDataset | None]:
    """The (train, test) datasets of format ``name`` read from ``data``; test is None if the data has none.

    ``image_size`` resizes every image to image_size×image_size (the folder
    reader resizes while reading, so its images may differ in size).
    """
    import nsganet.data.readers  # noqa: F401  (the built-in formats register there)
    from nsganet.data.dataset import resize

    fmt = DATASETS.get(name)
    if image_size is not None and image_size < 1:
        raise NsganetError(f"image size must be positive, got {image_size}")
    if not fmt.data:
        if data is not None:
            raise NsganetError(f"dataset {name} is embedded; --data is not used (got {data})")
        train, test = fmt.read()
    elif data is None:
        raise NsganetError(f"dataset {name} needs --data {fmt.data}")
    elif fmt.resizes:
        train, test = fmt.read(data, image_size=image_size)
    else:
        train, test = fmt.read(data)
    if image_size is not None:
        train = resize(train, image_size)
        test = resize(test, image_size) if test is not None else None
    return train, test


def search_split(name: str, data: str | Path | None, image_size: int | None, valid_fraction: float,
                 vld_size: int | None, seed: int) -> tuple[ImageDataset, ImageDataset, ImageDataset]:
    """A dataset's training images and their (search-train, search-validation) split; the test split is unused.

    The validation part is ``vld_size`` images when given, else
    ``valid_fraction`` of them, stratified and drawn with ``seed``.
    """
    from nsganet.data.dataset import split_train_valid

    train_set, _ = load_dataset(name, data, image_size=image_size)
    fraction = valid_fraction
    if vld_size is not None:
        if vld_size >= len(train_set):
            raise ConfigError(f"vld_size {vld_size} must be smaller than the {len(train_set)} training images")
        fraction = vld_size / len(train_set)
    return train_set, *split_train_valid(train_set, fraction, seed=seed)

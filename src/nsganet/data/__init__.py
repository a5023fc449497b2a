"""Datasets: readers of the published formats, split-aware loading, in-memory or streamed data, batching.

``load_split(name, data, split)`` reads one split of a named format (a search
never opens the test split); ``load_dataset`` reads (train, test). Arrays are
held in memory; image files are decoded into memory when they fit, and
stream from disk otherwise (``mode``). ``make_loader`` batches either. The
heavy modules (torch, numpy, Pillow, scikit-learn) are imported only when a
dataset is loaded or a class is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsganet.data.formats import DATA_MODES, DATASETS, MEMORY_LIMIT, Splits
from nsganet.errors import ConfigError, NsganetError

if TYPE_CHECKING:
    from nsganet.data.augment import Augmentation
    from nsganet.data.dataset import ImageDataset, channel_stats, split_train_valid
    from nsganet.data.files import ImageFiles
    from nsganet.data.loader import BatchLoader, StreamLoader, make_loader

__all__ = ["DATASETS", "DATA_MODES", "Augmentation", "BatchLoader", "ImageDataset", "ImageFiles", "StreamLoader",
           "channel_stats", "dataset_names", "load_dataset", "load_split", "make_loader", "open_dataset", "prepare",
           "search_split", "split_train_valid"]

_EXPORTS = {"Augmentation": "augment", "BatchLoader": "loader", "StreamLoader": "loader", "make_loader": "loader",
            "ImageDataset": "dataset", "channel_stats": "dataset", "split_train_valid": "dataset",
            "ImageFiles": "files"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"nsganet.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'nsganet.data' has no attribute {name!r}")


def _register_formats() -> None:
    import nsganet.data.folders  # noqa: F401  (the built-in formats register there: arrays, then image files)


def dataset_names() -> list[str]:
    """The dataset formats :func:`load_dataset` knows; the first one is the embedded default."""
    _register_formats()
    return DATASETS.names()


def open_dataset(name: str, data: str | Path | None = None, image_size: int | None = None) -> Splits:
    """The splits of dataset ``name`` at ``data``, none read yet (an unknown name or a missing root is an error)."""
    _register_formats()
    fmt = DATASETS.get(name)
    if image_size is not None and image_size < 1:
        raise NsganetError(f"image size must be positive, got {image_size}")
    if not fmt.data:
        if data is not None:
            raise NsganetError(f"dataset {name} is embedded; --data is not used (got {data})")
        return fmt.open(None, image_size)
    if data is None:
        raise NsganetError(f"dataset {name} needs --data {fmt.data}")
    return fmt.open(data, image_size)


def prepare(dataset: Any, image_size: int | None = None, mode: str = "auto") -> Any:
    """A split as it will be used: arrays resized to ``image_size``; image files decoded into memory when
    ``mode`` says so (``auto``: when they fit in :data:`MEMORY_LIMIT`), else left to stream."""
    from nsganet.data.dataset import resize

    if mode not in DATA_MODES:
        raise NsganetError(f"data mode must be one of {', '.join(DATA_MODES)}, got {mode!r}")
    if dataset is None:
        return None
    if dataset.in_memory:
        return resize(dataset, image_size) if image_size is not None else dataset
    if mode == "memory" or (mode == "auto" and dataset.bytes_in_memory() <= MEMORY_LIMIT):
        return dataset.materialize()
    return dataset


def load_split(name: str, data: str | Path | None, split: str, image_size: int | None = None,
               mode: str = "auto") -> Any:
    """One split of a dataset (``train``: with the official validation split, if any; ``valid``; ``test``),
    or None when the dataset has no such split. Only that split's files are opened."""
    splits = open_dataset(name, data, image_size)
    if split == "train" and splits.has("valid"):
        from nsganet.data.dataset import concat

        return prepare(concat([splits.get("train"), splits.get("valid")], splits.name), image_size, mode)
    return prepare(splits.get(split), image_size, mode)


def load_dataset(name: str, data: str | Path | None = None, image_size: int | None = None,
                 mode: str = "auto") -> tuple[Any, Any]:
    """The (train, test) datasets of format ``name`` read from ``data``; test is None if the data has none.

    ``image_size`` resizes every image to image_size×image_size. Both splits
    are read: commands that need one split use :func:`load_split`.
    """
    splits = open_dataset(name, data, image_size)
    train, test = splits.read_train_test()
    return prepare(train, image_size, mode), prepare(test, image_size, mode)


def search_split(name: str, data: str | Path | None, image_size: int | None, valid_fraction: float,
                 vld_size: int | None, seed: int, mode: str = "auto",
                 official_valid: bool = False) -> tuple[Any, Any, Any]:
    """A dataset's training images and their (search-train, search-validation) split; the test split is unused.

    The validation part is ``vld_size`` images when given, else
    ``valid_fraction`` of them, stratified and drawn with ``seed``. With
    ``official_valid`` the training images are the format's training split,
    all of them search-train, and the validation part is the format's own
    validation split (a stratified sample of ``vld_size`` of it when given).
    """
    from nsganet.data.dataset import split_train_valid

    splits = open_dataset(name, data, image_size)
    if official_valid:
        if not splits.has("valid"):
            raise ConfigError(f"dataset {name} has no official validation split; drop official_valid")
        train, valid = prepare(splits.get("train"), image_size, mode), prepare(splits.get("valid"), image_size, mode)
        if vld_size is not None and vld_size < len(valid):
            valid = split_train_valid(valid, vld_size / len(valid), seed=seed)[1]
        return train, train, valid
    train_set = load_split(name, data, "train", image_size, mode) if splits.has("valid") else \
        prepare(splits.get("train"), image_size, mode)
    fraction = valid_fraction
    if vld_size is not None:
        if vld_size >= len(train_set):
            raise ConfigError(f"vld_size {vld_size} must be smaller than the {len(train_set)} training images")
        fraction = vld_size / len(train_set)
    return train_set, *split_train_valid(train_set, fraction, seed=seed)

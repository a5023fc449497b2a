"""In-memory image datasets: the container, the train/validation split and the channel statistics of any dataset.

A small dataset is kept in memory as one uint8 tensor (CIFAR-10: 150 MB),
which makes batching a single indexing operation instead of a per-image
Python loop; a large one streams from its files
(:class:`~nsganet.data.files.ImageFiles`). Both offer the same interface:
``len``, ``labels``, ``num_classes``, ``channels``, ``image_size``,
``subset``, ``read`` and ``in_memory``; splitting and statistics work on either.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nsganet.errors import NsganetError
from nsganet.utils.checks import MAX_CLASSES, machine_memory

logger = logging.getLogger(__name__)

_STATS_CHUNK = 4096  # images per chunk when summing pixels or resizing (bounded temporary memory)


def one_line(text: object) -> str:
    """``text`` with line breaks turned into spaces, so that error messages stay one line."""
    return " ".join(str(text).split("\n")).replace("\r", " ")


def data_error(where: object, problem: str) -> NsganetError:
    """A one-line :class:`NsganetError` naming the file (or dataset) and what is wrong with it."""
    return NsganetError(one_line(f"{where}: {problem}"))


def check_class_count(num_classes: int, where: object) -> None:
    """Raise if a dataset has more classes than :data:`~nsganet.utils.checks.MAX_CLASSES`, before anything is
    allocated per class."""
    if num_classes > MAX_CLASSES:
        raise data_error(where, f"{num_classes:,} classes; nsganet takes at most {MAX_CLASSES:,}")


def class_count(labels: torch.Tensor, where: object) -> int:
    """The classes labels ``0..max`` imply; a label of :data:`~nsganet.utils.checks.MAX_CLASSES` or more is refused
    by value and position (nothing is allocated by label value)."""
    if labels.numel() == 0:
        return 0
    index = int(torch.argmax(labels))
    top = int(labels[index])
    if top >= MAX_CLASSES:
        raise NsganetError(one_line(f"label {top} in {where} (image {index}) is beyond the {MAX_CLASSES:,} classes "
                                    "nsganet takes"))
    return top + 1


def check_labels(labels: torch.Tensor, num_classes: int, where: object) -> None:
    """Raise if a label lies outside ``0..num_classes-1``; ``where`` names the file for the message."""
    if labels.numel() == 0:
        return
    bad = (labels < 0) | (labels >= num_classes)
    if bool(bad.any()):
        index = int(torch.nonzero(bad)[0, 0])
        raise NsganetError(one_line(f"label {int(labels[index])} out of range 0..{num_classes - 1} in {where} "
                                    f"(image {index})"))


@dataclass
class ImageDataset:
    """Images (uint8, N×C×H×W) with integer class labels, held in memory.

    ``flip`` says whether a horizontal flip keeps an image's class (natural
    images: yes; digits and letters: no), so augmentation can respect it.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    class_names: list[str] | None = None
    flip: bool = True

    def __post_init__(self) -> None:
        where = self.name
        if not isinstance(self.images, torch.Tensor) or not isinstance(self.labels, torch.Tensor):
            raise data_error(where, "images and labels must be torch tensors")
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise data_error(where, f"images must be a 4-D uint8 tensor (N×C×H×W), got {self.images.dim()}-D "
                                    f"{self.images.dtype}")
        if self.images.shape[0] == 0 or min(self.images.shape[1:]) == 0:
            raise data_error(where, f"the dataset is empty (images of shape {tuple(self.images.shape)})")
        if self.labels.dim() != 1 or self.labels.dtype != torch.int64:
            raise data_error(where, f"labels must be a 1-D int64 tensor, got {self.labels.dim()}-D {self.labels.dtype}")
        if len(self.labels) != len(self.images):
            raise data_error(where, f"{len(self.images)} images but {len(self.labels)} labels")
        if self.num_classes < 2:
            raise data_error(where, f"a classification dataset needs at least 2 classes, got {self.num_classes}")
        check_class_count(self.num_classes, where)
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise data_error(where, f"{len(self.class_names)} class names for {self.num_classes} classes")
        check_labels(self.labels, self.num_classes, where)
        self.images = self.images.contiguous()
        self.labels = self.labels.contiguous()

    in_memory = True

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> int:
        """The side of the images (their width)."""
        return int(self.images.shape[3])

    def read(self, indices: Sequence[int] | torch.Tensor | slice, size: int | None = None) -> torch.Tensor:
        """The images at ``indices`` (a slice, or positions) as uint8 N×C×H×W, resized to ``size`` when given."""
        images = self.images[indices] if isinstance(indices, slice) else \
            self.images.index_select(0, torch.as_tensor(indices, dtype=torch.long))
        if size is None or (self.height == size and self.width == size):
            return images
        scaled = F.interpolate(images.to(torch.float32), size=(size, size), mode="bilinear", align_corners=False,
                               antialias=True)
        return scaled.round_().clamp_(0, 255).to(torch.uint8)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def height(self) -> int:
        return int(self.images.shape[2])

    @property
    def width(self) -> int:
        return int(self.images.shape[3])

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageDataset:
        """The images at ``indices`` (in that order), with the same classes and flip setting."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return dataclasses.replace(self, images=self.images.index_select(0, index),
                                   labels=self.labels.index_select(0, index))

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, {len(self)} images of {self.channels}×{self.height}×{self.width}, "
                f"{self.num_classes} classes)")


def concat(parts: Sequence[Any], name: str) -> Any:
    """Datasets of the same classes as one (in memory when all are, else as files)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if all(p.in_memory for p in parts):
        return dataclasses.replace(first, name=name, images=torch.cat([p.read(slice(None)) for p in parts]),
                                   labels=torch.cat([p.labels for p in parts]))
    if any(p.in_memory for p in parts):
        raise data_error(name, "cannot join in-memory and streamed splits")
    return dataclasses.replace(first, name=name, files=[f for p in parts for f in p.files],
                               labels=torch.cat([p.labels for p in parts]),
                               crops=None if first.crops is None else [c for p in parts for c in p.crops])


def _valid_quotas(counts: list[int], valid_fraction: float) -> list[int]:
    """Validation images per class: proportional (largest remainder), at least 1 and at most count-1."""
    exact = [c * valid_fraction for c in counts]
    quotas = [math.floor(e) for e in exact]
    target = round(sum(counts) * valid_fraction)
    by_remainder = sorted(range(len(counts)), key=lambda c: (-(exact[c] - quotas[c]), c))
    for c in by_remainder[: max(0, target - sum(quotas))]:
        quotas[c] += 1
    return [min(max(q, 1), c - 1) if c >= 2 else 0 for q, c in zip(quotas, counts)]


def split_train_valid(dataset: Any, valid_fraction: float = 0.2, seed: int = 0) -> tuple[Any, Any]:
    """Split into (search-train, search-validation), stratified by class and deterministic for ``seed``.

    Search must never see the test data, so architectures are ranked on a part
    of the training data. Each class with at least two images lands in both
    parts; a class with a single image stays in the training part.
    """
    if not 0 < valid_fraction < 1:
        raise data_error(dataset.name, f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator)
    _, by_class = torch.sort(dataset.labels[order], stable=True)
    grouped = order[by_class]  # indices grouped by class, shuffled within each class
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes).tolist()
    quotas = _valid_quotas(counts, valid_fraction)
    parts, start = [], 0
    for count, quota in zip(counts, quotas):
        parts.append(grouped[start:start + quota])
        start += count
    valid = torch.sort(torch.cat(parts)).values
    n_valid = len(valid)
    if n_valid == 0 or n_valid == len(dataset):
        raise data_error(dataset.name, f"{len(dataset)} images are too few to split into search-train and "
                                       f"search-validation parts (need a class with at least 2 images)")
    in_valid = torch.zeros(len(dataset), dtype=torch.bool)
    in_valid[valid] = True
    train = torch.nonzero(~in_valid).flatten()
    logger.info("split %s into %d + %d images (valid_fraction %g, seed %d)", dataset.name, len(train), n_valid,
                valid_fraction, seed)
    return dataset.subset(train), dataset.subset(valid)


#: Images a streamed dataset's channel statistics are estimated on (a fixed, evenly spread sample).
STATS_SAMPLE = 2048


def channel_stats(dataset: Any) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) standard deviation of the pixels scaled to [0, 1].

    Counts each channel's 256 pixel values chunk by chunk (a histogram: exact,
    and ten times faster than summing converted pixels), then takes the
    moments in float64, so the result does not depend on chunking. An
    in-memory dataset counts every image; a streamed one :data:`STATS_SAMPLE`
    images spread evenly over it (reading all of ImageNet for two numbers per
    channel would take an hour).
    """
    if dataset.in_memory or len(dataset) <= STATS_SAMPLE:
        positions: Sequence[int] | None = None
        count = len(dataset)
    else:
        positions = torch.linspace(0, len(dataset) - 1, STATS_SAMPLE).round().long().tolist()
        count = len(positions)
    histogram = torch.zeros(dataset.channels, 256, dtype=torch.int64)
    for start in range(0, count, _STATS_CHUNK):
        chunk = dataset.read(slice(start, start + _STATS_CHUNK) if positions is None else
                             positions[start:start + _STATS_CHUNK])
        for channel in range(dataset.channels):
            histogram[channel] += torch.bincount(chunk[:, channel].reshape(-1), minlength=256)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    count_t = histogram.sum(dim=1).to(torch.float64)
    mean = (histogram.to(torch.float64) @ values) / count_t
    variance = (histogram.to(torch.float64) @ (values * values)) / count_t - mean * mean
    std = variance.clamp_min(0.0).sqrt()
    return mean.tolist(), std.tolist()


def resize(dataset: ImageDataset, size: int) -> ImageDataset:
    """The dataset with every image resized to size×size (bilinear, antialiased when shrinking)."""
    if size < 1:
        raise data_error(dataset.name, f"image size must be positive, got {size}")
    if dataset.height == size and dataset.width == size:
        return dataset
    pixels = dataset.channels * size * size
    needed = 2 * len(dataset) * pixels + 4 * min(len(dataset), _STATS_CHUNK) * pixels  # chunks, result, a float chunk
    memory = machine_memory()
    if memory is not None and needed > memory:
        raise data_error(dataset.name, f"resizing {len(dataset):,} images to {size}x{size} px takes "
                                       f"{needed / 2**30:,.1f} GiB, more than this machine's {memory / 2**30:,.1f} GiB "
                                       "of memory: give a smaller --image-size")
    logger.info("resizing %s from %dx%d to %dx%d", dataset.name, dataset.height, dataset.width, size, size)
    chunks = []
    for start in range(0, len(dataset), _STATS_CHUNK):
        chunk = dataset.images[start:start + _STATS_CHUNK].to(torch.float32)
        scaled = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        chunks.append(scaled.round_().clamp_(0, 255).to(torch.uint8))
    return dataclasses.replace(dataset, images=torch.cat(chunks))

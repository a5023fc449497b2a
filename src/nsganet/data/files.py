"""Datasets read from image files on demand: what streams from disk when a dataset is too large for memory.

An :class:`ImageFiles` holds the paths and labels of a split, never the
pixels: an image is opened, decoded, converted (grey or RGB) and resized
when it is asked for, by the streaming loader's worker processes
(:class:`~nsganet.data.loader.StreamLoader`) or, for a few hundred images at
a time (calibration, robustness), by the caller. Its memory is the list of
paths, whatever the number of images. :meth:`ImageFiles.materialize` decodes
it once into an in-memory :class:`~nsganet.data.dataset.ImageDataset`, in
parallel, when it is small enough to be held.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nsganet.data.dataset import ImageDataset, check_labels, data_error

logger = logging.getLogger(__name__)

#: Pillow modes decoded as one grey channel.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
#: Files whose mode decides, when a split does not say, whether it is grey: all of them up to this many, else
#: this many spread over the split (reading a header costs far less than decoding, but not nothing).
MODE_SAMPLE = 512


def open_image(path: str | Path) -> tuple[tuple[int, int], bool]:
    """An image file's (width, height) and whether it is grey, from its header; a bad file is a one-line error."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size, image.mode in GRAY_MODES
    except Exception as exc:  # Pillow reports damaged files with many exception types
        raise data_error(path, f"cannot read the image ({type(exc).__name__}: {exc})") from exc


def decode(path: str | Path, channels: int, size: tuple[int, int] | None,
           crop: tuple[int, int, int, int] | None = None, expected: tuple[int, int] | None = None) -> np.ndarray:
    """One image as uint8 C×H×W: converted to ``channels`` (1 or 3), cropped to ``crop`` (left, top, right,
    bottom) when given, resized (bilinear) to ``size`` (width, height) when given. Without ``size`` an image
    whose (width, height) is not ``expected`` is an error (images of one size stack into batches). A JPEG at
    least twice as large as ``size`` is decoded at a reduced scale first (Pillow's ``draft``, the JPEG
    decoder's own downscaling), which makes small crops of large photos several times faster."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if size is not None and crop is None:  # a JPEG much larger than asked for decodes at 1/2, 1/4 or 1/8
                image.draft("L" if channels == 1 else "RGB", tuple(size))
            image = image.convert("L" if channels == 1 else "RGB")
            if crop is not None:
                image = image.crop(crop)
            if size is not None and image.size != tuple(size):
                image = image.resize(tuple(size), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except Exception as exc:  # Pillow reports damaged files with many exception types
        raise data_error(path, f"cannot read the image ({type(exc).__name__}: {exc})") from exc
    if size is None and expected is not None and (array.shape[1], array.shape[0]) != expected:
        raise data_error(path, f"image is {array.shape[1]}x{array.shape[0]} but the first image is "
                               f"{expected[0]}x{expected[1]}; all images must have one size (or pass --image-size "
                               "to resize them)")
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def grey_files(files: Sequence[str], sample: int = MODE_SAMPLE) -> bool:
    """Whether a list of image files is grey: every file when there are at most ``sample``, else an even sample."""
    picks = files if len(files) <= sample else [files[i] for i in np.linspace(0, len(files) - 1, sample).astype(int)]
    return all(open_image(path)[1] for path in picks)


@dataclass
class ImageFiles:
    """A split of images read from files when needed: paths, labels, and how to decode them.

    Images come as ``channels`` (1 or 3) × ``height`` × ``width`` uint8
    arrays: resized to that when ``resize`` is set, otherwise they must all
    have that size already. ``crops`` (optional, per file) cut a box out
    first (e.g. an image's caption band). ``flip`` says whether a horizontal
    flip keeps a class. The interface is :class:`~nsganet.data.dataset.ImageDataset`'s.
    """

    name: str
    files: list[str]
    labels: torch.Tensor
    num_classes: int
    height: int
    width: int
    channels: int = 3
    class_names: list[str] | None = None
    flip: bool = True
    resize: bool = True
    crops: list[tuple[int, int, int, int]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.files) == 0:
            raise data_error(self.name, "the dataset is empty (no image files)")
        if not isinstance(self.labels, torch.Tensor) or self.labels.dim() != 1 or self.labels.dtype != torch.int64:
            raise data_error(self.name, "labels must be a 1-D int64 tensor")
        if len(self.labels) != len(self.files):
            raise data_error(self.name, f"{len(self.files)} files but {len(self.labels)} labels")
        if self.crops is not None and len(self.crops) != len(self.files):
            raise data_error(self.name, f"{len(self.files)} files but {len(self.crops)} crop boxes")
        if self.num_classes < 2:
            raise data_error(self.name, f"a classification dataset needs at least 2 classes, got {self.num_classes}")
        if self.channels not in (1, 3) or self.height < 1 or self.width < 1:
            raise data_error(self.name, f"images must have 1 or 3 channels and a positive size, got {self.channels} "
                                        f"and {self.width}x{self.height}")
        check_labels(self.labels, self.num_classes, self.name)

    in_memory = False

    def __len__(self) -> int:
        return len(self.files)

    @property
    def image_size(self) -> int:
        """The side of the images this dataset yields (their width)."""
        return self.width

    def load(self, index: int, size: int | None = None) -> np.ndarray:
        """Image ``index`` as uint8 C×H×W: ``size``×``size`` px when given, else the dataset's size."""
        crop = self.crops[index] if self.crops is not None else None
        target = (size, size) if size is not None else (self.width, self.height) if self.resize else None
        return decode(self.files[index], self.channels, target, crop, expected=(self.width, self.height))

    def read(self, indices: Sequence[int] | torch.Tensor | slice, size: int | None = None) -> torch.Tensor:
        """The images at ``indices`` (a slice, or positions) as one uint8 N×C×H×W tensor, decoded here."""
        positions = range(len(self))[indices] if isinstance(indices, slice) else torch.as_tensor(indices).tolist()
        if len(positions) == 0:  # e.g. a process's share of a last batch smaller than the number of processes
            side = (size, size) if size is not None else (self.height, self.width)
            return torch.empty((0, self.channels, *side), dtype=torch.uint8)
        return torch.from_numpy(np.stack([self.load(int(i), size) for i in positions]))

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageFiles:
        """The images at ``indices`` (in that order), with the same classes and decoding."""
        index = torch.as_tensor(indices, dtype=torch.long)
        picks = index.tolist()
        return dataclasses.replace(self, files=[self.files[i] for i in picks],
                                   labels=self.labels.index_select(0, index),
                                   crops=None if self.crops is None else [self.crops[i] for i in picks])

    def materialize(self, workers: int | None = None) -> ImageDataset:
        """Every image decoded once, in ``workers`` processes, into an in-memory dataset."""
        from torch.utils.data import DataLoader

        from nsganet.data.loader import worker_context

        workers = min(8, os.cpu_count() or 1) if workers is None else workers
        workers = workers if len(self) > 512 else 0
        loader = DataLoader(_Decoded(self), batch_size=256, num_workers=workers, collate_fn=_stack,
                            multiprocessing_context=worker_context() if workers else None)
        images = torch.cat(list(loader))
        logger.info("decoded %d images of %s into memory", len(self), self.name)
        return ImageDataset(self.name, images, self.labels.clone(), self.num_classes, self.class_names, self.flip)

    def bytes_in_memory(self) -> int:
        """What holding every image decoded (uint8) would take."""
        return len(self) * self.channels * self.height * self.width

    def __repr__(self) -> str:
        return (f"ImageFiles({self.name!r}, {len(self)} images read as {self.channels}×{self.height}×{self.width}, "
                f"{self.num_classes} classes)")


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    """Decoded images of one size as one uint8 tensor (a module-level function: workers may be spawned)."""
    return torch.from_numpy(np.stack(images))


class _Decoded(torch.utils.data.Dataset):
    """Item ``i``: image ``i`` of an :class:`ImageFiles`, decoded (for :meth:`ImageFiles.materialize`)."""

    def __init__(self, files: ImageFiles) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.files.load(index)

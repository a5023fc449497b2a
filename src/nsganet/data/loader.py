"""Mini-batches of normalised float tensors: from an in-memory dataset, or streamed from image files.

:func:`make_loader` picks the loader a dataset needs; both loaders yield
``(x, y)`` batches, x float32 N×C×H×W normalised by mean/std, y int64, and
are reproducible for their seed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from nsganet.data.augment import Augmentation
from nsganet.data.dataset import data_error
from nsganet.utils.seeds import derived_seed


class EpochBatches:
    """What both loaders share: checked arguments, the normalisation, and one seeded draw per epoch.

    An augmentation with ``pixel_space`` set (e.g.
    :class:`nsganet.data.policies.RecipeAugmentation`) gets the raw pixels and
    the normalisation (``convert``) instead of normalised images, so it can
    augment pixels first.

    Each ``iter()`` is one epoch. Its shuffling order and augmentation draw
    from a per-epoch seed that comes from a generator seeded once here, so
    epoch k of two loaders with the same seed yields identical batches, even
    when an earlier epoch was not iterated to the end. ``shard`` (rank,
    world size) yields this process's share of every global batch,
    ``batch[rank::world]``, of a multi-process run.
    """

    def __init__(self, dataset: Any, batch_size: int, mean: Sequence[float], std: Sequence[float], shuffle: bool,
                 augmentation: Augmentation | None = None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False, pin_memory: bool = False, shard: tuple[int, int] = (0, 1)) -> None:
        if batch_size < 1:
            raise data_error(dataset.name, f"batch size must be at least 1, got {batch_size}")
        if len(mean) != dataset.channels or len(std) != dataset.channels:
            raise data_error(dataset.name, f"{len(mean)} means and {len(std)} standard deviations for "
                                           f"{dataset.channels} channels")
        if any(not s >= 0 for s in std):
            raise data_error(dataset.name, f"standard deviations must be non-negative, got {list(std)}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.augmentation, self.drop_last, self.channels_last = augmentation, drop_last, channels_last
        self.pin_memory, self.shard = pin_memory, shard
        std_t = torch.tensor(std, dtype=torch.float32).clamp_min(1e-8)  # a constant channel normalises to 0
        mean_t = torch.tensor(mean, dtype=torch.float32)
        # x / 255 normalised = x * scale + shift, one fused pass per batch.
        self._scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1)
        self._shift = (-mean_t / std_t).view(1, -1, 1, 1)
        self._seeds = torch.Generator().manual_seed(seed)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """0-255 pixel values (a float batch, changed in place) normalised by mean/std."""
        return pixels.mul_(self._scale).add_(self._shift)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def next_epoch(self) -> tuple[int, torch.Generator, torch.Tensor | None]:
        """The next epoch's seed, its generator, and its order of the images (None: in order)."""
        epoch_seed = int(torch.randint(2**62, (1,), generator=self._seeds))
        generator = torch.Generator().manual_seed(epoch_seed)
        order = torch.randperm(len(self.dataset), generator=generator) if self.shuffle else None
        return epoch_seed, generator, order


class BatchLoader(EpochBatches):
    """Iterates an in-memory dataset in batches ``(x, y)``: x float32 N×C×H×W normalised by mean/std, y int64.

    Batches are gathered with one indexing operation on the uint8 tensor and
    converted to float per batch, which keeps memory low and the loop fast;
    the augmentation draws from the epoch's generator, batch after batch.
    See :class:`EpochBatches` for epochs, seeds and shards.
    """

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        _, generator, order = self.next_epoch()
        return self._batches(order, generator)

    def _batches(self, order: torch.Tensor | None,
                 generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self.dataset.images, self.dataset.labels
        for b in range(len(self)):
            start, stop = b * self.batch_size, (b + 1) * self.batch_size
            if order is None:
                xb, y = images[start:stop], labels[start:stop]
            else:
                index = order[start:stop]
                xb, y = images.index_select(0, index), labels.index_select(0, index)
            if getattr(self.augmentation, "pixel_space", False):  # augments raw pixels, normalising on the way
                x = self.augmentation(xb, generator, convert=self.normalise)
            else:
                x = xb.to(torch.float32).mul_(self._scale).add_(self._shift)
                if self.augmentation is not None:
                    x = self.augmentation(x, generator)
            rank, world = self.shard
            if world > 1:  # this process's share of the global batch
                x, y = x[rank::world], y[rank::world]
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            yield x, y


#: Most data-loading processes of a streamed dataset when not given: enough to keep one GPU fed.
DEFAULT_WORKERS = 4


def default_workers() -> int:
    """Data-loading processes when not given: up to :data:`DEFAULT_WORKERS`, within this process's CPU threads
    (a search's evaluation worker has its share of the cores)."""
    return max(1, min(DEFAULT_WORKERS, torch.get_num_threads()))


class StreamLoader(EpochBatches):
    """Batches ``(x, y)`` of a dataset read from files: decoded, resized, normalised and augmented by workers.

    Epochs, seeds and shards as :class:`EpochBatches`. A batch is built by one
    worker process of a ``torch.utils.data.DataLoader`` (``workers`` of them,
    default :func:`default_workers`; 0: in this process): it decodes the
    batch's images at ``resolution`` px (default the dataset's size),
    normalises them and augments them with draws from a generator seeded by
    (epoch seed, batch number), so the batches depend neither on the number
    of workers nor on ``shard`` (a process of a multi-process run decodes only
    its share, ``batch[rank::world]``).
    Memory holds a few batches in flight, whatever the size of the dataset.
    ``pin_memory`` pins batches for fast, non-blocking copies to a GPU.
    """

    def __init__(self, dataset: Any, batch_size: int, mean: Sequence[float], std: Sequence[float], shuffle: bool,
                 augmentation: Augmentation | None = None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False, resolution: int | None = None, workers: int | None = None,
                 pin_memory: bool = False, shard: tuple[int, int] = (0, 1)) -> None:
        super().__init__(dataset, batch_size, mean, std, shuffle, augmentation, seed, drop_last, channels_last,
                         pin_memory, shard)
        self.resolution = resolution or dataset.image_size
        self.workers = default_workers() if workers is None else workers

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        epoch_seed, _, order = self.next_epoch()
        images = list(range(len(self.dataset))) if order is None else order.tolist()
        rank, world = self.shard
        batches = [[(p, images[p]) for p in range(b * self.batch_size,
                                                  min((b + 1) * self.batch_size, len(images)))[rank::world]]
                   for b in range(len(self))]
        source = _Batches(self, epoch_seed, batches)
        loader = DataLoader(source, batch_size=None, shuffle=False, num_workers=self.workers,
                            pin_memory=self.pin_memory, persistent_workers=False,
                            prefetch_factor=2 if self.workers else None,
                            multiprocessing_context=worker_context() if self.workers else None)
        return iter(loader)

    def make_batch(self, b: int, picks: list[tuple[int, int]], epoch_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``b`` of an epoch, or this process's share of it: ``picks`` are (place in the epoch, image
        index) pairs. The images are decoded, normalised and augmented with draws made for the whole batch
        from a generator seeded by (``epoch_seed``, ``b``), of which the share takes its rows."""
        indices = [index for _, index in picks]
        xb = self.dataset.read(indices, self.resolution)
        if self.augmentation is not None:
            start = b * self.batch_size
            whole = min(self.batch_size, len(self.dataset) - start)
            draws = self.augmentation.draw(whole, xb.shape[2], xb.shape[3],
                                           torch.Generator().manual_seed(derived_seed(epoch_seed, b)))
            scale, shift = self._scale[0], self._shift[0]
            x = self.augmentation.apply(xb, draws.rows(torch.tensor([p - start for p, _ in picks])),
                                        convert=lambda image: image.to(torch.float32).mul_(scale).add_(shift))
        else:
            x = xb.to(torch.float32).mul_(self._scale).add_(self._shift)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.dataset.labels[torch.as_tensor(indices, dtype=torch.long)]


def worker_context() -> Any:
    """How data-loading processes start: forked where the platform allows it (cheap to start every epoch, and
    nothing to pickle), else as the platform starts processes. A search's evaluation workers are spawned,
    which would otherwise make spawning the default for their data-loading processes too."""
    import multiprocessing

    return multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None


class _Batches(torch.utils.data.Dataset):
    """Item ``b``: batch ``b`` of one epoch of a :class:`StreamLoader` (built in a worker process)."""

    def __init__(self, loader: StreamLoader, epoch_seed: int, batches: list[list[tuple[int, int]]]) -> None:
        self.loader, self.epoch_seed, self.batches = loader, epoch_seed, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loader.make_batch(b, self.batches[b], self.epoch_seed)


def make_loader(dataset: Any, batch_size: int, mean: Sequence[float], std: Sequence[float], shuffle: bool,
                augmentation: Augmentation | None = None, seed: int = 0, drop_last: bool = False,
                channels_last: bool = False, resolution: int | None = None, workers: int | None = None,
                pin_memory: bool = False, shard: tuple[int, int] = (0, 1)) -> BatchLoader | StreamLoader:
    """The loader of ``dataset``: a :class:`BatchLoader` for one in memory, a :class:`StreamLoader` otherwise.

    ``resolution`` (streamed data) decodes the images at that size, e.g. a
    subnet's own input resolution; in memory the images keep their size (a
    network that wants another resizes them).
    """
    if dataset.in_memory:
        return BatchLoader(dataset, batch_size, mean, std, shuffle, augmentation, seed, drop_last, channels_last,
                           pin_memory=pin_memory, shard=shard)
    return StreamLoader(dataset, batch_size, mean, std, shuffle, augmentation, seed, drop_last, channels_last,
                        resolution, workers, pin_memory, shard)

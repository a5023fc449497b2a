"""Mini-batches of normalised float tensors from an in-memory :class:`ImageDataset`."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from nsganet.data.augment import Augmentation
from nsganet.data.dataset import ImageDataset, data_error


class BatchLoader:
    """Iterates a dataset in batches ``(x, y)``: x float32 N×C×H×W normalised by mean/std, y int64.

    Each ``iter()`` is one epoch. Its shuffling order and augmentation draw
    from a per-epoch generator whose seed comes from a generator seeded once
    here, so epoch k of two loaders with the same seed yields identical
    batches, even when an earlier epoch was not iterated to the end.
    Batches are gathered with one indexing operation on the uint8 tensor and
    converted to float per batch, which keeps memory low and the loop fast.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, mean: Sequence[float], std: Sequence[float],
                 shuffle: bool, augmentation: Augmentation | None = None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False) -> None:
        if batch_size < 1:
            raise data_error(dataset.name, f"batch size must be at least 1, got {batch_size}")
        if len(mean) != dataset.channels or len(std) != dataset.channels:
            raise data_error(dataset.name, f"{len(mean)} means and {len(std)} standard deviations for "
                                           f"{dataset.channels} channels")
        if any(not s >= 0 for s in std):
            raise data_error(dataset.name, f"standard deviations must be non-negative, got {list(std)}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.augmentation, self.drop_last, self.channels_last = augmentation, drop_last, channels_last
        std_t = torch.tensor(std, dtype=torch.float32).clamp_min(1e-8)  # a constant channel normalises to 0
        mean_t = torch.tensor(mean, dtype=torch.float32)
        # x / 255 normalised = x * scale + shift, one fused pass per batch.
        self._scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1)
        self._shift = (-mean_t / std_t).view(1, -1, 1, 1)
        self._seeds = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch_seed = int(torch.randint(2**62, (1,), generator=self._seeds))
        generator = torch.Generator().manual_seed(epoch_seed)
        order = torch.randperm(len(self.dataset), generator=generator) if self.shuffle else None
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
            x = xb.to(torch.float32).mul_(self._scale).add_(self._shift)
            if self.augmentation is not None:
                x = self.augmentation(x, generator)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y

"""One training loop for proxy training (search), fine-tuning and re-training.

SGD with momentum and weight decay, a cosine learning-rate schedule over all
steps (Algorithm 2 of the V1 paper, per step instead of per epoch so that one-
or two-epoch proxies still anneal), optional auxiliary-head loss and scheduled
drop-path. A non-finite loss stops training with :class:`TrainingDiverged`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

logger = logging.getLogger("nsganet")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation hyper-parameters; defaults follow Table I of the V1 paper where it gives them."""

    epochs: int = 1
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    grad_clip: float | None = 5.0
    aux_weight: float = 0.4
    drop_path: float = 0.0
    channels_last: bool = True


@dataclass
class TrainHistory:
    """Per-epoch loss and throughput of a training run."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images: list[int] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return sum(self.images) / max(sum(self.seconds), 1e-9)


def _sized(loader: Iterable) -> int:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return 0


def train(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], settings: TrainSettings,
          device: torch.device | str = "cpu") -> TrainHistory:
    """Train ``model`` in place on the batches of ``loader`` for ``settings.epochs`` epochs."""
    device = torch.device(device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=settings.nesterov)
    steps_per_epoch = _sized(loader)
    total = max(1, settings.epochs * steps_per_epoch)
    criterion = nn.CrossEntropyLoss()
    history = TrainHistory()
    step = 0
    for epoch in range(settings.epochs):
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = settings.drop_path * epoch / settings.epochs
        model.train()
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        for x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * settings.lr * (1 + math.cos(math.pi * step / total))
            x = x.to(device, non_blocking=True, memory_format=memory_format)
            y = y.to(device, non_blocking=True)
            output = model(x)
            if isinstance(output, tuple):
                logits, aux = output
                loss = criterion(logits, y) + settings.aux_weight * criterion(aux, y)
            else:
                loss = criterion(output, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.grad_clip:
                nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            step += 1
        history.losses.append(loss_sum / max(seen, 1))
        history.seconds.append(time.perf_counter() - start)
        history.images.append(seen)
        logger.debug("epoch %d: loss %.4f, %.0f images/s", epoch + 1, history.losses[-1],
                     seen / max(history.seconds[-1], 1e-9))
    return history


@torch.no_grad()
def accuracy(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device | str = "cpu", channels_last: bool = True) -> float:
    """Top-1 accuracy of ``model`` on ``loader``, in percent."""
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    model.eval()
    correct = total = 0
    for x, y in loader:
        logits = model(x.to(device, memory_format=memory_format))
        correct += int((logits.argmax(dim=1).cpu() == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)

"""Training a weight-sharing supernet with the sandwich rule and in-place distillation.

Every step trains, on the same batch, the largest subnet on the labels, then
the smallest and ``n_random`` random subnets on the largest one's soft
predictions (in-place distillation, as in BigNAS/OFA), accumulating gradients
for one optimiser step. The space (a :class:`~nsganet.spaces.base.SupernetSpace`)
activates the subnets, so any such space trains the same way. Fine-tuning a
given supernet on a new dataset (the NSGANetV2 recipe: a few epochs) is the
same loop started from its weights.

Progress is checkpointed after every epoch by the one resumable-checkpoint
scaffold (:mod:`nsganet.train.checkpoint`); a killed run resumes from its last
finished epoch and, because each epoch's data order, augmentation and sampled
subnets come from seeds derived from (seed, epoch), ends with the weights an
uninterrupted run would have produced.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nsganet.errors import NsganetError
from nsganet.spaces.base import SupernetSpace
from nsganet.supernet.settings import SupernetTrainSettings
from nsganet.train.checkpoint import Checkpointed, ProgressBar, TrainingListener
from nsganet.train.loop import check_finite, distillation_loss
from nsganet.utils.seeds import derived_seed

logger = logging.getLogger(__name__)

SUPERNET_FILE = "supernet.pt"
CHECKPOINT_FORMAT = "nsganet-supernet-training"

#: ``loader_for_epoch(epoch, seed)``: that epoch's batches, deterministic for its arguments
EpochLoader = Callable[[int, int], Iterable[tuple[torch.Tensor, torch.Tensor]]]


@dataclasses.dataclass
class SupernetHistory:
    """Per-epoch mean losses of the largest subnet and of the distilled ones, and seconds."""

    largest_loss: list[float] = dataclasses.field(default_factory=list)
    student_loss: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)


def train_supernet(supernet: nn.Module, space: SupernetSpace, loader_for_epoch: EpochLoader,
                   settings: SupernetTrainSettings, out: Path, seed: int = 0, meta: dict[str, Any] | None = None,
                   resume: bool = True, progress: bool = True,
                   listeners: list[TrainingListener] | None = None) -> SupernetHistory:
    """Train ``supernet`` (of ``space``) in place for ``settings.epochs`` epochs, checkpointing into ``out``.

    ``meta`` is stored with the checkpoint and must match on resume (it
    describes the supernet and the data). With ``resume`` an existing
    checkpoint in ``out`` is continued (a fresh run starts when there is
    none). The caller writes the trained supernet (see
    :func:`nsganet.supernet.files.fit_supernet`).
    """
    params = [p for p in supernet.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    run = Checkpointed(out, CHECKPOINT_FORMAT, "supernet training", dataclasses.asdict(settings), meta or {},
                       resume=resume, missing_ok=True,
                       listeners=[*([ProgressBar("supernet")] if progress else []), *(listeners or [])])
    history = SupernetHistory()
    if run.state is not None:
        supernet.load_state_dict(run.state["model"])
        optimizer.load_state_dict(run.state["optimizer"])
        history = SupernetHistory(**run.state["history"])

    steps_per_epoch = max(1, len(loader_for_epoch(0, seed)))
    total = settings.epochs * steps_per_epoch
    run.start(total, run.start_epoch * steps_per_epoch)
    try:
        for epoch in range(run.start_epoch, settings.epochs):
            started = time.perf_counter()
            torch.manual_seed(derived_seed(seed, "torch", epoch))
            rng = np.random.default_rng(derived_seed(seed, "subnets", epoch))
            losses = _train_epoch(supernet, space, loader_for_epoch(epoch, seed), optimizer, settings, rng,
                                  epoch * steps_per_epoch, total, run)
            history.largest_loss.append(losses[0])
            history.student_loss.append(losses[1])
            history.seconds.append(time.perf_counter() - started)
            run.end_epoch(epoch + 1, {"model": supernet.state_dict(), "optimizer": optimizer.state_dict()},
                          dataclasses.asdict(history), {"loss": f"{losses[0]:.3f}", "kd": f"{losses[1]:.3f}"})
    finally:
        run.end(dataclasses.asdict(history))
    space.activate(supernet, space.largest())
    return history


def _train_epoch(supernet: nn.Module, space: SupernetSpace, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                 optimizer: torch.optim.Optimizer, settings: SupernetTrainSettings, rng: np.random.Generator,
                 step: int, total: int, run: Checkpointed) -> tuple[float, float]:
    """One epoch of the sandwich rule; returns the mean largest-subnet and student losses."""
    supernet.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    largest, smallest = space.largest(), space.smallest()
    largest_sum = student_sum = 0.0
    n = 0
    for x, y in batches:
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * settings.lr * (1 + math.cos(math.pi * step / total))
        optimizer.zero_grad(set_to_none=True)
        space.activate(supernet, largest)
        teacher = supernet(x)
        loss = F.cross_entropy(teacher, y)
        check_finite(loss, "in supernet training", NsganetError, what="the largest subnet's loss", hint="lower --lr")
        loss.backward()
        largest_sum += loss.item()
        students = 0.0
        for i in range(1 + settings.n_random):
            space.activate(supernet, smallest if i == 0 else space.sample(rng, 1)[0])
            kd = distillation_loss(supernet(x), teacher, settings.kd_temperature)
            check_finite(kd, "in supernet training", NsganetError, what="a distilled subnet's loss",
                         hint="lower --lr")
            kd.backward()
            students += kd.item()
        student_sum += students / (1 + settings.n_random)
        if settings.grad_clip:
            nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        n += 1
        step += 1
        run.step()
    return largest_sum / max(n, 1), student_sum / max(n, 1)

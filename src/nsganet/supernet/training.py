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
from nsganet.train.distributed import Distributed
from nsganet.train.loop import Precision, check_finite, distillation_loss
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
                   resume: bool = True, progress: bool = True, listeners: list[TrainingListener] | None = None,
                   device: torch.device | str = "cpu", distributed: Distributed | None = None) -> SupernetHistory:
    """Train ``supernet`` (of ``space``) in place for ``settings.epochs`` epochs, checkpointing into ``out``.

    ``meta`` is stored with the checkpoint and must match on resume (it
    describes the supernet and the data). With ``resume`` an existing
    checkpoint in ``out`` is continued (a fresh run starts when there is
    none). The network trains on ``device`` in the precision of
    ``settings.amp``; with ``distributed`` (a ``torchrun`` launch) each
    process trains its share of every batch (``loader_for_epoch`` yields the
    shares) and rank 0 alone writes checkpoints. The caller writes the
    trained supernet (see :func:`nsganet.supernet.files.fit_supernet`).
    """
    distributed = distributed or Distributed()
    device = torch.device(device)
    supernet.to(device)
    params = [p for p in supernet.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    precision = Precision(settings.amp, device)
    main = distributed.is_main
    run = Checkpointed(out, CHECKPOINT_FORMAT, "supernet training", dataclasses.asdict(settings), meta or {},
                       resume=resume, missing_ok=True, writes=main,
                       listeners=[*([ProgressBar("supernet")] if progress and main else []), *(listeners or [])])
    history = SupernetHistory()
    if run.state is not None:
        supernet.load_state_dict(run.state["model"])
        optimizer.load_state_dict(run.state["optimizer"])
        precision.load_state_dict(run.state.get("scaler", {}))
        history = SupernetHistory(**run.state["history"])
    network = distributed.wrap(supernet, device, find_unused=True)  # a subnet uses a part of the weights

    steps_per_epoch = max(1, len(loader_for_epoch(0, seed)))
    total = settings.epochs * steps_per_epoch
    run.start(total, run.start_epoch * steps_per_epoch)
    try:
        for epoch in range(run.start_epoch, settings.epochs):
            started = time.perf_counter()
            torch.manual_seed(derived_seed(seed, "torch", epoch))
            rng = np.random.default_rng(derived_seed(seed, "subnets", epoch))
            losses = _train_epoch(supernet, network, space, loader_for_epoch(epoch, seed), optimizer, settings, rng,
                                  epoch * steps_per_epoch, total, run, device, precision, distributed)
            history.largest_loss.append(losses[0])
            history.student_loss.append(losses[1])
            history.seconds.append(time.perf_counter() - started)
            run.end_epoch(epoch + 1, {"model": supernet.state_dict(), "optimizer": optimizer.state_dict(),
                                      "scaler": precision.state_dict()},
                          dataclasses.asdict(history), {"loss": f"{losses[0]:.3f}", "kd": f"{losses[1]:.3f}"})
            distributed.barrier()
    finally:
        run.end(dataclasses.asdict(history))
    space.activate(supernet, space.largest())
    return history


def _train_epoch(supernet: nn.Module, network: nn.Module, space: SupernetSpace,
                 batches: Iterable[tuple[torch.Tensor, torch.Tensor]], optimizer: torch.optim.Optimizer,
                 settings: SupernetTrainSettings, rng: np.random.Generator, step: int, total: int, run: Checkpointed,
                 device: torch.device, precision: Precision, distributed: Distributed) -> tuple[float, float]:
    """One epoch of the sandwich rule; returns the mean largest-subnet and student losses.

    ``network`` is ``supernet`` as it computes (wrapped for multi-process
    training); the space activates subnets on ``supernet`` itself. Gradients
    of all the step's subnets accumulate, and are averaged over processes
    once, with the last one.
    """
    network.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    largest, smallest = space.largest(), space.smallest()
    largest_sum = student_sum = 0.0
    n = 0
    for x, y in batches:
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * settings.lr * (1 + math.cos(math.pi * step / total))
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        space.activate(supernet, largest)
        with distributed.no_sync(network, sync=False), precision.autocast():
            teacher = network(x)
            loss = F.cross_entropy(teacher, y)
        check_finite(loss, "in supernet training", NsganetError, what="the largest subnet's loss", hint="lower --lr")
        with distributed.no_sync(network, sync=False):
            precision.backward(loss)
        largest_sum += loss.item()
        students = 0.0
        for i in range(1 + settings.n_random):
            space.activate(supernet, smallest if i == 0 else space.sample(rng, 1)[0])
            last = i == settings.n_random
            with distributed.no_sync(network, sync=last):
                with precision.autocast():
                    kd = distillation_loss(network(x), teacher, settings.kd_temperature)
                check_finite(kd, "in supernet training", NsganetError, what="a distilled subnet's loss",
                             hint="lower --lr")
                precision.backward(kd)
            students += kd.item()
        student_sum += students / (1 + settings.n_random)
        precision.optimizer_step(optimizer, params, settings.grad_clip)
        n += 1
        step += 1
        run.step()
    return largest_sum / max(n, 1), student_sum / max(n, 1)

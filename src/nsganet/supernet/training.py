"""Training a once-for-all supernet with the sandwich rule and in-place distillation.

Every step trains, on the same batch, the largest subnet on the labels, then
the smallest and ``n_random`` random subnets on the largest one's soft
predictions (in-place distillation, as in BigNAS/OFA), accumulating gradients
for one optimiser step. Fine-tuning a given supernet on a new dataset (the
NSGANetV2 recipe: a few epochs) is the same loop started from its weights.

Progress is checkpointed after every epoch (atomically, in the output
folder) together with the optimiser state; a killed run resumes from its last
finished epoch and, because each epoch's data order, augmentation and
sampled subnets come from seeds derived from (seed, epoch), ends with the
weights an uninterrupted run would have produced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from nsganet.errors import NsganetError, torch_load_problem

logger = logging.getLogger("nsganet")

CHECKPOINT_FILE = "checkpoint.pt"
SUPERNET_FILE = "supernet.pt"
FORMAT = "nsganet-supernet"


class ElasticSupernet(Protocol):
    """What the sandwich rule needs of a supernet: choose the active subnet, run it."""

    def set_max(self) -> None: ...
    def set_min(self) -> None: ...
    def sample_active(self, rng: np.random.Generator) -> np.ndarray: ...
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclasses.dataclass(frozen=True)
class SupernetTrainSettings:
    """Optimisation of a supernet: SGD with Nesterov momentum, cosine schedule, sandwich rule."""

    epochs: int = 10
    lr: float = 0.05
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 3e-5
    n_random: int = 2
    kd_temperature: float = 1.0
    grad_clip: float | None = 5.0
    crop_padding: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.n_random < 0 or self.lr <= 0:
            raise NsganetError("supernet training needs epochs >= 1, batch_size >= 1, n_random >= 0 and lr > 0")


@dataclasses.dataclass
class SupernetHistory:
    """Per-epoch mean losses of the largest subnet and of the distilled ones, and seconds."""

    largest_loss: list[float] = dataclasses.field(default_factory=list)
    student_loss: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` (independent of Python's hash randomisation)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL divergence of the student's predictions from the teacher's soft labels (teacher detached)."""
    soft = F.softmax(teacher.detach() / temperature, dim=1)
    return F.kl_div(F.log_softmax(student / temperature, dim=1), soft, reduction="batchmean") * temperature ** 2


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by nsganet, loaded without unpickling arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NsganetError(f"no such checkpoint: {path}") from None
    except Exception as exc:  # corrupt, truncated or not a torch file
        raise NsganetError(f"cannot read checkpoint {path}: {torch_load_problem(exc)}") from None


def train_supernet(supernet: nn.Module, loader_for_epoch: Any, settings: SupernetTrainSettings, out: Path,
                   seed: int = 0, meta: dict[str, Any] | None = None, resume: bool = True,
                   progress: bool = True) -> SupernetHistory:
    """Train ``supernet`` in place for ``settings.epochs`` epochs, checkpointing into ``out``.

    ``loader_for_epoch(epoch, seed)`` returns that epoch's batches (deterministic
    for its arguments). ``meta`` is stored with the checkpoint and must match
    on resume (it describes the supernet and the data). With ``resume`` an
    existing checkpoint in ``out`` is continued; the final weights are written
    to ``out/supernet.pt``.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NsganetError(f"cannot create {out}: {exc.strerror or exc}") from None
    meta = dict(meta or {})
    params = [p for p in supernet.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=True)
    history = SupernetHistory()
    start_epoch = 0
    checkpoint_path = out / CHECKPOINT_FILE
    if checkpoint_path.exists():
        if not resume:
            raise NsganetError(f"{out} already holds supernet training; pass --resume to continue it")
        state = load_checkpoint(checkpoint_path)
        if not isinstance(state, dict) or "model" not in state:
            raise NsganetError(f"{checkpoint_path} is not an nsganet supernet training checkpoint")
        if state.get("meta") != meta or state.get("settings") != dataclasses.asdict(settings):
            raise NsganetError(f"cannot resume {out}: it was started with other settings or data")
        supernet.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = SupernetHistory(**state["history"])
        start_epoch = int(state["epoch"])
        logger.info("resuming supernet training in %s after epoch %d", out, start_epoch)

    steps_per_epoch = max(1, len(loader_for_epoch(0, seed)))
    total = settings.epochs * steps_per_epoch
    bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, unit="step", desc="supernet",
               disable=not progress, file=sys.stderr, dynamic_ncols=True,
               mininterval=0.1 if sys.stderr.isatty() else 5.0)
    try:
        for epoch in range(start_epoch, settings.epochs):
            started = time.perf_counter()
            torch.manual_seed(derived_seed(seed, "torch", epoch))
            rng = np.random.default_rng(derived_seed(seed, "subnets", epoch))
            losses = _train_epoch(supernet, loader_for_epoch(epoch, seed), optimizer, settings, rng,
                                  epoch * steps_per_epoch, total, bar)
            history.largest_loss.append(losses[0])
            history.student_loss.append(losses[1])
            history.seconds.append(time.perf_counter() - started)
            bar.set_postfix(loss=f"{losses[0]:.3f}", kd=f"{losses[1]:.3f}")
            atomic_save({"model": supernet.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                         "meta": meta, "settings": dataclasses.asdict(settings),
                         "history": dataclasses.asdict(history)}, checkpoint_path)
    finally:
        bar.close()
    supernet.set_max()
    atomic_save({"format": FORMAT, "version": 1, **meta, "state_dict": supernet.state_dict()}, out / SUPERNET_FILE)
    return history


def _train_epoch(supernet: Any, batches: Any, optimizer: torch.optim.Optimizer, settings: SupernetTrainSettings,
                 rng: np.random.Generator, step: int, total: int, bar: tqdm) -> tuple[float, float]:
    """One epoch of the sandwich rule; returns the mean largest-subnet and student losses."""
    supernet.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    largest_sum = student_sum = 0.0
    n = 0
    for x, y in batches:
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * settings.lr * (1 + math.cos(math.pi * step / total))
        optimizer.zero_grad(set_to_none=True)
        supernet.set_max()
        teacher = supernet(x)
        loss = F.cross_entropy(teacher, y)
        _check_finite(loss, "largest")
        loss.backward()
        largest_sum += loss.item()
        students = 0.0
        for i in range(1 + settings.n_random):
            if i == 0:
                supernet.set_min()
            else:
                supernet.sample_active(rng)
            kd = distillation_loss(supernet(x), teacher, settings.kd_temperature)
            _check_finite(kd, "distilled")
            kd.backward()
            students += kd.item()
        student_sum += students / (1 + settings.n_random)
        if settings.grad_clip:
            nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        n += 1
        step += 1
        bar.update(1)
    return largest_sum / max(n, 1), student_sum / max(n, 1)


def _check_finite(loss: torch.Tensor, which: str) -> None:
    if not torch.isfinite(loss):
        raise NsganetError(f"supernet training diverged: the {which} subnet's loss is {float(loss)}; "
                           "lower --lr")

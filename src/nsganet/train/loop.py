"""One training loop for proxy training (search), fine-tuning and re-training, and the losses it uses.

SGD with momentum and weight decay, a cosine learning-rate schedule over all
steps (Algorithm 2 of the V1 paper, per step instead of per epoch so that one-
or two-epoch proxies still anneal), optional auxiliary-head loss and scheduled
drop-path. :func:`train_epoch` is the shared per-epoch loop: :func:`train`
(proxy evaluation, supernet fine-tuning) and :func:`nsganet.train.recipe.fit`
(re-training an exported network) both run it. A non-finite loss stops
training (:func:`check_finite`, the one such check, which supernet training
uses too); the loop checks every :data:`CHECK_EVERY` steps and at the end of
each epoch rather than every step, because reading a value back from the
device each step stalls the pipeline.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nsganet.utils.device import amp_dtype

logger = logging.getLogger(__name__)

#: steps between divergence checks (one read-back of the running loss sum from the device)
CHECK_EVERY = 20

#: ``loss_fn(x, y) -> (loss, logits)``: the training loss of a batch and the logits it is scored on
LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
#: ``on_step(loss_text)``: called after every step, with the running loss as text when it was read back
StepFn = Callable[[str | None], Any]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def check_finite(loss: float | torch.Tensor, where: str, error: type[Exception] = TrainingDiverged,
                 what: str = "loss", hint: str = "") -> None:
    """Raise ``error`` when ``loss`` is NaN or infinite: "``what`` is nan ``where``[; ``hint``]".

    Proxy training raises :class:`TrainingDiverged` (the evaluation fails, the
    search goes on); supernet training an :class:`~nsganet.errors.NsganetError`
    (the run stops with the hint).
    """
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if not math.isfinite(value):
        raise error(f"{what} is {value} {where}" + (f"; {hint}" if hint else ""))


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
    amp: str = "auto"  # mixed precision (nsganet.utils.device.AMP_MODES): off on the CPU unless asked for


@dataclass
class TrainHistory:
    """Per-epoch loss and throughput of a training run."""

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images: list[int] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return sum(self.images) / max(sum(self.seconds), 1e-9)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch of :func:`train_epoch` measured: mean loss, training accuracy (%), images, steps, time."""

    loss: float
    accuracy: float
    images: int
    steps: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images / max(self.seconds, 1e-9)


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """Learning rate at ``step`` of ``total_steps`` on a cosine from ``base_lr`` down to zero."""
    return 0.5 * base_lr * (1 + math.cos(math.pi * step / max(1, total_steps)))


def classification_loss(output: torch.Tensor | tuple[torch.Tensor, torch.Tensor], y: torch.Tensor,
                        criterion: nn.Module, aux_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and main logits of a network's output; an ``(logits, aux_logits)`` pair adds the weighted aux loss."""
    if isinstance(output, tuple):
        logits, aux = output
        return criterion(logits, y) + aux_weight * criterion(aux, y), logits
    return criterion(output, y), output


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL divergence of the student's predictions from the teacher's soft labels (teacher detached)."""
    soft = F.softmax(teacher.detach() / temperature, dim=1)
    return F.kl_div(F.log_softmax(student / temperature, dim=1), soft, reduction="batchmean") * temperature ** 2


class Precision:
    """The numeric precision of a run: autocast to ``dtype`` (None: full precision) and, for fp16, loss scaling.

    Made from a mixed-precision mode (``auto``, ``off``, ``bf16``, ``fp16``; see
    :data:`nsganet.utils.device.AMP_MODES`) and the device it runs on.
    """

    def __init__(self, mode: str = "off", device: torch.device | str = "cpu") -> None:
        self.device_type = torch.device(device).type
        self.dtype = amp_dtype(mode, device)
        self.scaler = torch.amp.GradScaler(self.device_type) if self.dtype == torch.float16 else None

    def autocast(self) -> Any:
        """The context a forward pass runs in."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss`` (scaled where fp16 needs it; several may accumulate before a step)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def optimizer_step(self, optimizer: torch.optim.Optimizer, params: list[torch.Tensor],
                       grad_clip: float | None) -> None:
        """Clip the (unscaled) gradients and step the optimiser."""
        if self.scaler is not None and grad_clip:
            self.scaler.unscale_(optimizer)
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip)
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[torch.Tensor],
             grad_clip: float | None) -> None:
        """Backward, gradient clipping and the optimiser step."""
        self.backward(loss)
        self.optimizer_step(optimizer, params, grad_clip)

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


FULL_PRECISION = Precision()


def sized(loader: Iterable) -> int:
    """``len(loader)``, or 0 for an iterable without a length."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return 0


def train_epoch(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                optimizer: torch.optim.Optimizer, loss_fn: LossFn, *, lr_at: Callable[[int], float], step: int,
                grad_clip: float | None = None, device: torch.device | str = "cpu", channels_last: bool = True,
                after_step: Callable[[], Any] | None = None, on_step: StepFn | None = None,
                epoch: int = 0, precision: Precision = FULL_PRECISION) -> EpochStats:
    """One epoch over ``batches``: the schedule's learning rate, backward, clipping, optimiser step, ``after_step``.

    ``step`` is the global step the epoch starts at and ``lr_at(step)`` the
    learning rate of a global step (e.g. :func:`cosine_lr` over the run). Loss and correct predictions are summed on
    the device; the only read-backs are the periodic divergence checks and
    the epoch's totals. ``on_step`` hears of every step (progress);
    ``precision`` runs the forward pass in mixed precision.
    """
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    params = [p for group in optimizer.param_groups for p in group["params"]]
    model.train()
    started = time.perf_counter()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = steps = 0
    for x, y in batches:
        lr = lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = x.to(device, non_blocking=True, memory_format=memory_format)
        y = y.to(device, non_blocking=True)
        with precision.autocast():
            loss, logits = loss_fn(x, y)
        optimizer.zero_grad(set_to_none=True)
        precision.step(loss, optimizer, params, grad_clip)
        if after_step is not None:
            after_step()
        with torch.no_grad():
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
        seen += len(y)
        step += 1
        steps += 1
        loss_text = None
        if steps % CHECK_EVERY == 0:
            running = float(loss_sum)
            check_finite(running, f"in epoch {epoch + 1}, by step {step}")
            loss_text = f"{running / seen:.3f}"
        if on_step is not None:
            on_step(loss_text)
    total = float(loss_sum)
    check_finite(total, f"in epoch {epoch + 1}, by step {step}")
    return EpochStats(loss=total / max(seen, 1), accuracy=100.0 * int(correct) / max(seen, 1), images=seen,
                      steps=steps, seconds=time.perf_counter() - started)


def train(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], settings: TrainSettings,
          device: torch.device | str = "cpu") -> TrainHistory:
    """Train ``model`` in place on the batches of ``loader`` for ``settings.epochs`` epochs."""
    device = torch.device(device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay, nesterov=settings.nesterov)
    steps_per_epoch = sized(loader)
    total = max(1, settings.epochs * steps_per_epoch)
    criterion = nn.CrossEntropyLoss()

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return classification_loss(model(x), y, criterion, settings.aux_weight)

    precision = Precision(settings.amp, device)
    history = TrainHistory()
    step = 0
    for epoch in range(settings.epochs):
        if hasattr(model, "drop_path_prob"):
            model.drop_path_prob = settings.drop_path * epoch / settings.epochs
        stats = train_epoch(model, loader, optimizer, loss_fn, lr_at=lambda s: cosine_lr(settings.lr, s, total),
                            step=step,
                            grad_clip=settings.grad_clip, device=device, channels_last=settings.channels_last,
                            epoch=epoch, precision=precision)
        step += stats.steps
        history.losses.append(stats.loss)
        history.seconds.append(stats.seconds)
        history.images.append(stats.images)
        logger.debug("epoch %d: loss %.4f, %.0f images/s", epoch + 1, stats.loss, stats.images_per_second)
    return history


@torch.no_grad()
def correct_count(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  device: torch.device | str = "cpu", channels_last: bool = True,
                  amp: str = "off") -> tuple[int, int]:
    """(correct top-1 predictions, images) of ``model`` on ``loader`` (``amp``: precision of the forward pass)."""
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    precision = Precision(amp, device)
    for x, y in loader:
        with precision.autocast():
            logits = model(x.to(device, non_blocking=True, memory_format=memory_format))
        correct += (logits.argmax(dim=1) == y.to(device, non_blocking=True)).sum()
        total += len(y)
    return int(correct), total


def accuracy(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device | str = "cpu", channels_last: bool = True, amp: str = "off") -> float:
    """Top-1 accuracy of ``model`` on ``loader``, in percent (``amp``: mixed-precision mode of the forward pass)."""
    correct, total = correct_count(model, loader, device, channels_last, amp)
    return 100.0 * correct / max(total, 1)

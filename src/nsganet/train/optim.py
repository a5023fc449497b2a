"""Optimisers and learning-rate schedules of the re-training recipes.

* SGD with momentum (NSGANetV1, and NSGANetV2's CIFAR fine-tuning);
* :class:`RMSpropTF`, RMSprop as TensorFlow computes it (timm's ``rmsproptf``,
  which NSGANetV2's ImageNet fine-tuning uses, like EfficientNet and
  MobileNetV3): the mean square starts at one, epsilon is added inside the
  square root, and the learning rate is folded into the momentum buffer;
* optionally no weight decay on biases and one-dimensional parameters
  (batch-norm scales and shifts), as timm's optimiser factory does by default;
* schedules (:class:`LRSchedule`): ``cosine`` to zero over all steps, updated
  every step (V1); ``cosine-epoch``, the same curve updated once per epoch
  (torch's ``CosineAnnealingLR`` stepped each epoch, as NSGANetV2's CIFAR
  script); ``step``, timm's step decay (``lr * decay_rate ** (epoch //
  decay_epochs)``, once per epoch). The per-epoch schedules may start with a
  linear warm-up from ``warmup_lr`` over ``warmup_epochs`` (timm 0.1's: the
  decay counts epochs from 0, warm-up included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nsganet.train.loop import cosine_lr

if TYPE_CHECKING:  # pragma: no cover
    from nsganet.train.settings import RetrainSettings

logger = logging.getLogger(__name__)



class RMSpropTF(torch.optim.Optimizer):
    """RMSprop with TensorFlow's arithmetic (timm's ``RMSpropTF``), per parameter ``p`` with gradient ``g``::

        g  = g + weight_decay * p                      (coupled L2 decay)
        s  = s + (1 - alpha) * (g * g - s)             (s starts at 1, not 0)
        b  = momentum * b + lr * g / sqrt(s + eps)     (eps inside the square root; b starts at 0)
        p  = p - b

    Without momentum ``p = p - lr * g / sqrt(s + eps)``. The updates of a
    parameter group run as fused ``torch._foreach`` operations.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.9, eps: float = 1e-10,
                 weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        for name, value in (("lr", lr), ("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                            ("momentum", momentum)):
            if not value >= 0.0:
                raise ValueError(f"RMSpropTF {name} must be non-negative, got {value}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter with a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("RMSpropTF does not support sparse gradients")
            momentum = group["momentum"]
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    if momentum > 0:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
            grads = [p.grad for p in params]
            if group["weight_decay"] != 0:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            squares = [self.state[p]["square_avg"] for p in params]
            torch._foreach_add_(squares, torch._foreach_sub(torch._foreach_mul(grads, grads), squares),
                                alpha=1.0 - group["alpha"])
            roots = torch._foreach_sqrt(torch._foreach_add(squares, group["eps"]))
            if momentum > 0:
                buffers = [self.state[p]["momentum_buffer"] for p in params]
                torch._foreach_mul_(buffers, momentum)
                torch._foreach_addcdiv_(buffers, grads, roots, value=group["lr"])
                torch._foreach_sub_(params, buffers)
            else:
                torch._foreach_addcdiv_(params, grads, roots, value=-group["lr"])
        return loss


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """The trainable parameters in two groups: biases and 1-D parameters without weight decay, the rest with it
    (timm's ``add_weight_decay``)."""
    plain, decayed = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if p.dim() <= 1 or name.endswith(".bias") else decayed).append(p)
    return [{"params": plain, "weight_decay": 0.0}, {"params": decayed, "weight_decay": weight_decay}]


def make_optimizer(model: nn.Module, settings: RetrainSettings) -> torch.optim.Optimizer:
    """The optimiser ``settings`` names, over the model's trainable parameters."""
    params: list[Any] = [p for p in model.parameters() if p.requires_grad]
    if not settings.decay_bias_bn and settings.weight_decay > 0:
        params = decay_groups(model, settings.weight_decay)
    if settings.optimizer == "rmsproptf":
        return RMSpropTF(params, lr=settings.lr, alpha=settings.rms_decay, eps=settings.opt_eps,
                         weight_decay=settings.weight_decay, momentum=settings.momentum)
    return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
                           nesterov=settings.nesterov)


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of every step of a run of ``epochs`` x ``steps_per_epoch`` steps (module docstring)."""

    kind: str
    base_lr: float
    epochs: int
    steps_per_epoch: int
    decay_epochs: float = 2.4
    decay_rate: float = 0.97
    warmup_epochs: int = 0
    warmup_lr: float = 1e-6

    @classmethod
    def of(cls, settings: RetrainSettings, steps_per_epoch: int) -> LRSchedule:
        """The schedule ``settings`` describe."""
        return cls(settings.schedule, settings.lr, settings.epochs, steps_per_epoch, settings.decay_epochs,
                   settings.decay_rate, settings.warmup_epochs, settings.warmup_lr)

    @property
    def per_step(self) -> bool:
        """Whether the rate changes every step (else once per epoch)."""
        return self.kind == "cosine"

    def epoch_lr(self, epoch: int) -> float:
        """The rate of epoch ``epoch`` (0-based) of a per-epoch schedule."""
        if epoch < self.warmup_epochs:
            return self.warmup_lr + epoch * ((self.base_lr - self.warmup_lr) / self.warmup_epochs)
        if self.kind == "step":
            return self.base_lr * self.decay_rate ** (epoch // self.decay_epochs)
        return cosine_lr(self.base_lr, epoch, self.epochs)

    def lr(self, step: int) -> float:
        """The rate of global step ``step`` (0-based)."""
        if self.per_step:
            return cosine_lr(self.base_lr, step, self.epochs * self.steps_per_epoch)
        return self.epoch_lr(step // max(1, self.steps_per_epoch))

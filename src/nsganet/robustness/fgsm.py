"""FGSM adversarial accuracy and the normalised robustness area of the NSGANetV1 supplement (Fig. 21).

The fast gradient sign method moves every pixel by ``eps`` in the direction
that increases the loss: ``x' = clamp(x + eps * sign(grad_x L(x, y)), 0, 1)``,
with ``L`` the cross-entropy and ``x`` the image in pixel space [0, 1] (the
network's mean/std normalisation is applied inside, so ``eps`` is in pixel
units: 0.01 is about 2.5 of 255 grey levels). One gradient per image serves
every ``eps`` (a single-step attack).

Robustness (supplement, Fig. 21): the area under the accuracy-vs-``eps``
curve, normalised by the rectangle between the nadir point (chance accuracy
at the smallest ``eps``, 0 for clean images) and the ideal point (100 %
accuracy at the largest ``eps``), in percent. The curve is the piecewise-linear
interpolation of the measured points; where it falls below chance it counts
as chance (it leaves the rectangle). 100 means no loss of accuracy at any
``eps``, 0 a network at or below chance throughout. The search objective
``robustness`` is 100 minus this area (minimised). The supplement's attack
strengths, ``0, 0.01, 0.03, 0.05, 0.07, 0.1, 0.15``, are the default.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nsganet.errors import ConfigError, NsganetError
from nsganet.robustness import DEFAULT_EPS


class Normalized(nn.Module):
    """A network that takes images in [0, 1] and normalises them per channel by ``mean`` and ``std`` first."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).clamp_min(1e-8).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model((x - self.mean) / self.std)
        return out[0] if isinstance(out, tuple) else out  # logits of networks that also return an auxiliary head


def check_eps(eps: Sequence[float]) -> list[float]:
    """Attack strengths as floats, each finite and non-negative, or a one-line error."""
    values = []
    for e in eps:
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e < math.inf:
            raise NsganetError(f"FGSM eps must be non-negative numbers (pixel scale 0..1), got {e!r}")
        values.append(float(e))
    return values


def gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                  std: Sequence[float]) -> torch.Tensor:
    """``sign(grad_x L(x, y))`` of the cross-entropy of ``model`` (in eval mode) at pixel-space images ``x``."""
    net = model if isinstance(model, Normalized) else Normalized(model, mean, std)
    was_training = net.training
    net.eval()
    try:
        x = images.detach().to(torch.float32).requires_grad_(True)
        with torch.enable_grad():
            # summed, not averaged: the sign is the same and small gradients do not underflow
            loss = nn.functional.cross_entropy(net(x), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
    finally:
        net.train(was_training)
    return grad.sign()


def fgsm_attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, mean: Sequence[float],
                std: Sequence[float], clamp: bool = True) -> torch.Tensor:
    """Adversarial images ``x + eps * sign(grad)``, clamped to [0, 1] unless ``clamp`` is False."""
    (eps,) = check_eps([eps])
    adversarial = images.detach().to(torch.float32) + eps * gradient_sign(model, images, labels, mean, std)
    return adversarial.clamp_(0.0, 1.0) if clamp else adversarial


@torch.no_grad()
def _correct(net: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> int:
    return int((net(x).argmax(dim=1) == labels).sum())


def fgsm_accuracy(model: nn.Module, images: Any, labels: torch.Tensor, eps_list: Sequence[float],
                  mean: Sequence[float], std: Sequence[float], batch_size: int = 256,
                  precision: Any = None) -> list[float]:
    """Top-1 accuracy (percent) on FGSM images of each strength in ``eps_list``; ``eps`` 0 is clean accuracy.

    ``images`` are float in [0, 1] (N x C x H x W) or uint8 (0..255, scaled
    here), or a dataset, read batch by batch (it may stream from files). The
    attack runs where the model is, its forward passes in the autocast of
    ``precision`` (a :class:`nsganet.train.loop.Precision`; default full).
    """
    eps_list = check_eps(eps_list)
    if batch_size < 1:
        raise NsganetError(f"batch size must be at least 1, got {batch_size}")
    if len(images) != len(labels) or len(images) == 0:
        raise NsganetError(f"FGSM needs images with one label each, got {len(images)} images, {len(labels)} labels")
    device = next(model.parameters()).device
    net = Normalized(model, mean, std).to(device).eval()
    was_training = model.training
    correct = [0] * len(eps_list)
    autocast = precision.autocast if precision is not None else contextlib.nullcontext
    try:
        for start in range(0, len(images), batch_size):
            x = _pixels(images[start:start + batch_size] if isinstance(images, torch.Tensor) else
                        images.read(slice(start, start + batch_size))).to(device)
            y = labels[start:start + batch_size].to(device)
            with autocast():
                sign = gradient_sign(net, x, y, mean, std) if any(e > 0 for e in eps_list) else None
                for i, eps in enumerate(eps_list):
                    adversarial = x if eps == 0 or sign is None else (x + eps * sign).clamp_(0.0, 1.0)
                    correct[i] += _correct(net, adversarial, y)
    finally:
        model.train(was_training)
    return [100.0 * c / len(images) for c in correct]


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    return images.detach().to(torch.float32)


def robustness_area(eps: Sequence[float], acc: Sequence[float], chance: float = 0.0) -> float:
    """Normalised area (0..100) under the accuracy-vs-``eps`` curve, above ``chance`` accuracy (percent).

    The rectangle spans ``min(eps)..max(eps)`` and ``chance..100``; points
    are sorted by ``eps``, which must be distinct (at least two).
    """
    eps = check_eps(eps)
    acc = [float(a) for a in acc]
    if len(eps) != len(acc):
        raise NsganetError(f"{len(eps)} eps values but {len(acc)} accuracies")
    if len(eps) < 2 or len(set(eps)) != len(eps):
        raise NsganetError(f"the robustness area needs at least two distinct eps values, got {eps}")
    if any(not 0 <= a <= 100 for a in acc):
        raise NsganetError(f"accuracies must be percentages in 0..100, got {acc}")
    if not 0 <= chance < 100:
        raise NsganetError(f"chance accuracy must lie in 0..100 (exclusive), got {chance}")
    points = sorted(zip(eps, acc))
    area = 0.0
    for (e0, a0), (e1, a1) in itertools.pairwise(points):
        low, high, width = a0 - chance, a1 - chance, e1 - e0
        if low >= 0 and high >= 0:
            area += width * (low + high) / 2
        elif low > 0 or high > 0:  # the segment crosses chance: only the triangle above it counts
            top = max(low, high)
            area += width * top * top / (2 * (top - min(low, high)))
    return 100.0 * area / ((points[-1][0] - points[0][0]) * (100.0 - chance))


def fgsm_robustness(model: nn.Module, images: Any, labels: torch.Tensor, num_classes: int,
                    eps: Sequence[float], mean: Sequence[float], std: Sequence[float],
                    batch_size: int = 256) -> float:
    """The normalised FGSM area (0..100) of ``model`` on ``images``, chance being ``100 / num_classes``."""
    accuracies = fgsm_accuracy(model, images, labels, eps, mean, std, batch_size)
    return robustness_area(eps, accuracies, chance=100.0 / num_classes)


def objective_eps(objectives: Sequence[str], fgsm_eps: Sequence[float] | None) -> tuple[float, ...] | None:
    """The attack strengths a search's evaluator needs: ``fgsm_eps`` (default :data:`DEFAULT_EPS`) or None.

    None when ``robustness`` is not an objective (the attack is costly);
    ``fgsm_eps`` without it is a mistake worth reporting.
    """
    if "robustness" not in objectives:
        if fgsm_eps is not None:
            raise ConfigError("--fgsm-eps sets up the robustness objective: add robustness to --objectives")
        return None
    values = sorted(set(check_eps(DEFAULT_EPS if fgsm_eps is None else fgsm_eps)))
    if len(values) < 2:
        raise ConfigError(f"the robustness objective needs at least two distinct FGSM eps values, got {values}")
    return tuple(values)

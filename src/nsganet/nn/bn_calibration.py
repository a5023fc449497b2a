"""Batch-norm recalibration: re-estimate running statistics of a network whose weights were inherited.

A subnet of a weight-sharing supernet inherits batch-norm statistics that were
accumulated over many different subnets; evaluated as is, its accuracy is
badly underestimated. OFA and NSGANetV2 therefore reset the statistics and
re-estimate them on a few hundred training images before evaluating.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

logger = logging.getLogger(__name__)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: torch.Tensor, batch_size: int = 100,
                   device: torch.device | str | None = None) -> nn.Module:
    """Reset every batch norm's running statistics and re-estimate them on ``images``.

    The statistics become the cumulative (equally weighted) average over the
    batches of ``images`` of the batch means and unbiased variances (momentum
    ``None``), computed in training mode without gradients. Everything else is
    restored afterwards: each module's training flag and each batch norm's
    momentum. Works on static networks and on a supernet (whose active subnet
    is the one calibrated; the statistics of channels it does not use are left
    at their reset values). ``device``, when given, is where batches are sent
    (default: the device of the model's first parameter). Returns ``model``.
    """
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError("recalibrate_bn needs a non-empty batch of images (N, C, H, W)")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return model
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else images.device
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in norms}
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        for start in range(0, images.shape[0], batch_size):
            model(images[start:start + batch_size].to(device))
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        for m, training in modes.items():
            m.training = training
    logger.debug("recalibrated %d batch norms on %d images", len(norms), images.shape[0])
    return model

"""Exponential moving average (EMA) of a network's weights, as NSGANetV2 fine-tunes with (``--model-ema``).

The average covers every floating-point entry of the ``state_dict`` (weights
and batch-norm running statistics); integer buffers (batch counters) are
copied. One update is two fused ``torch._foreach`` calls, so it adds no Python
loop over tensors to a training step. The decay warms up as
``min(decay, (1 + n) / (10 + n))`` after ``n`` updates: short runs would
otherwise average mostly the initial weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """A copy of ``model`` whose weights follow the model's as an exponential moving average.

    Create it after the model has been moved to its device and memory format:
    the average keeps references to the model's tensors. ``module`` is the
    averaged network (always in eval mode), ready to validate or export.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie strictly between 0 and 1, got {decay}")
        self.decay, self.warmup, self.updates = float(decay), warmup, 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._bind(model)

    def _bind(self, model: nn.Module) -> None:
        source, target = model.state_dict(), self.module.state_dict()
        if source.keys() != target.keys():
            raise ValueError("the EMA copy and the model have different state_dict entries")
        seen, keys = set(), []
        for k, t in target.items():  # tied weights appear under several names: average them once
            identity = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
            if identity not in seen:
                seen.add(identity)
                keys.append(k)
        floats = [k for k in keys if target[k].is_floating_point()]
        others = [k for k in keys if not target[k].is_floating_point()]
        self._avg, self._src = [target[k] for k in floats], [source[k] for k in floats]
        self._copy_dst, self._copy_src = [target[k] for k in others], [source[k] for k in others]

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current weights: avg += (1 - decay) * (w - avg)."""
        weight = 1.0 - self.current_decay()
        if self._avg:
            torch._foreach_lerp_(self._avg, self._src, weight)
        if self._copy_dst:
            torch._foreach_copy_(self._copy_dst, self._copy_src)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, as a ``state_dict`` of the model."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Restore an average saved with :meth:`state_dict` after ``updates`` updates."""
        self.module.load_state_dict(state)  # copies in place: the bound tensors stay valid
        self.updates = int(updates)

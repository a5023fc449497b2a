"""The re-training recipe's settings (torch-free, so the command line can state their defaults)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nsganet.errors import NsganetError

if TYPE_CHECKING:  # pragma: no cover
    from nsganet.data import Augmentation

#: learning rate and EMA decay of fine-tuning inherited weights
FINETUNE_LR, FINETUNE_EMA = 0.005, 0.9998


@dataclass(frozen=True)
class RetrainSettings:
    """The re-training recipe (:mod:`nsganet.train.recipe` describes it); ``None`` sizes scale with the image."""

    epochs: int = 30
    lr: float = 0.025
    batch_size: int = 96
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    grad_clip: float | None = 5.0
    crop_padding: int | None = None  # default: 1/8 of the image side (4 px of 32)
    cutout: int | None = None  # default: half the image side (16 px of 32)
    drop_path: float = 0.2
    auxiliary: bool = True  # build with an auxiliary head where the space has one (used by train_net)
    aux_weight: float = 0.4
    label_smoothing: float = 0.0
    ema_decay: float | None = None
    distill: float = 0.0
    temperature: float = 1.0
    valid_fraction: float = 0.2
    amp: str = "auto"  # mixed precision (nsganet.utils.device.AMP_MODES): bf16/fp16 on GPUs, off on CPUs

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> NsganetError:
            return NsganetError(f"{name} must be {rule}, got {getattr(self, name)!r}")

        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "a positive integer")
        for name in ("crop_padding", "cutout"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise bad(name, "a non-negative integer")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "a positive number")
        if not 0 <= self.momentum < 1:
            raise bad("momentum", "in [0, 1)")
        for name in ("weight_decay", "aux_weight", "distill"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise bad(name, "a non-negative number")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise bad("grad_clip", "positive (or None: no clipping)")
        for name in ("drop_path", "label_smoothing", "valid_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise bad(name, "in [0, 1)")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise bad("ema_decay", "in (0, 1) (or None: no EMA)")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise bad("temperature", "a positive number")
        from nsganet.utils.device import AMP_MODES

        if self.amp not in AMP_MODES:
            raise bad("amp", f"one of {', '.join(AMP_MODES)}")

    @classmethod
    def defaults(cls, finetune: bool = False, **overrides: Any) -> RetrainSettings:
        """The recipe from scratch, or for fine-tuning inherited weights (lower lr, EMA on); then ``overrides``."""
        base: dict[str, Any] = {"lr": FINETUNE_LR, "ema_decay": FINETUNE_EMA} if finetune else {}
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
        if unknown:
            raise NsganetError(f"unknown re-training setting {unknown[0]!r}")
        return cls(**{**base, **overrides})

    def augmentation(self, dataset: Any) -> Augmentation:
        """Crop, flip (where the data allows) and cutout, sized for the dataset's images."""
        from nsganet.data import Augmentation

        side = dataset.image_size
        padding = self.crop_padding if self.crop_padding is not None else max(1, side // 8)
        cut = self.cutout if self.cutout is not None else side // 2
        return Augmentation(crop_padding=padding, flip=dataset.flip, cutout=cut)

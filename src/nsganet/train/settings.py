"""The re-training recipes' settings (torch-free, so the command line can state their defaults).

Three recipes (:data:`RECIPES`, :meth:`RetrainSettings.for_recipe`):

* ``v1``: NSGANetV1's (the field defaults below; fine-tuning inherited weights
  lowers the learning rate and turns an EMA on);
* ``imagenet``: NSGANetV2's ImageNet fine-tuning (its README's
  ``scripts/distributed_train.sh`` command with timm 0.1.30's defaults);
* ``cifar``: NSGANetV2's CIFAR fine-tuning (``train_cifar.py --cutout
  --autoaugment --drop 0.2 --drop-path 0.2`` with that script's defaults).

Every setting can be overridden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nsganet.data.augment_names import CROPS, ERASE_MODES
from nsganet.errors import NsganetError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from nsganet.data import Augmentation
    from nsganet.data.policies import RecipeAugmentation

#: learning rate and EMA decay of fine-tuning inherited weights (v1)
FINETUNE_LR, FINETUNE_EMA = 0.005, 0.9998

#: NSGANetV2's ImageNet learning rate per 256 images of global batch: its README's
#: "(batch_size_per_gpu * #GPUs / 256) * 0.006" (0.024 for its 8 GPUs x 128 images)
IMAGENET_LR_PER_256 = 0.006

OPTIMIZERS = ("sgd", "rmsproptf")
SCHEDULES = ("cosine", "cosine-epoch", "step")
DROP_PATH_SCHEDULES = ("linear", "constant")
FILLS = ("mean", "black")

#: each recipe's settings that differ from the field defaults (v1's)
RECIPES: dict[str, dict[str, Any]] = {
    "v1": {},
    "imagenet": {
        "epochs": 450, "batch_size": 1024,  # lr: IMAGENET_LR_PER_256 per 256 images of batch
        "optimizer": "rmsproptf", "opt_eps": 1e-3, "rms_decay": 0.9, "momentum": 0.9, "weight_decay": 1e-5,
        "decay_bias_bn": False, "grad_clip": None,
        "schedule": "step", "decay_epochs": 2.4, "decay_rate": 0.97, "warmup_epochs": 3, "warmup_lr": 1e-6,
        "crop": "resized", "cutout": 0, "auto_augment": "rand-m9-mstd0.5", "erase_prob": 0.2, "erase_mode": "pixel",
        "dropout": 0.2, "drop_path": 0.2, "drop_path_schedule": "constant", "auxiliary": False,
        "label_smoothing": 0.1, "ema_decay": 0.9999, "ema_warmup": False, "distill": 1.0, "temperature": 1.0,
    },
    "cifar": {
        "epochs": 150, "batch_size": 96, "lr": 0.01, "momentum": 0.9, "weight_decay": 4e-5, "grad_clip": 5.0,
        "schedule": "cosine-epoch", "fill": "black", "auto_augment": "cifar10",
        "dropout": 0.2, "drop_path": 0.2, "drop_path_schedule": "constant", "auxiliary": False, "ema_decay": None,
    },
}


def _field(default: Any, help: str, metavar: str | None = None, choices: Sequence[str] | None = None) -> Any:
    """A settings field whose help, metavar and choices the command line reads (``metadata``)."""
    return field(default=default, metadata={"help": help, "metavar": metavar, "choices": choices})


@dataclass(frozen=True)
class RetrainSettings:
    """A re-training recipe (:mod:`nsganet.train.recipe` describes it); ``None`` sizes scale with the image."""

    epochs: int = 30
    lr: float = 0.025
    batch_size: int = 96
    momentum: float = _field(0.9, "momentum of SGD and RMSpropTF", "M")
    weight_decay: float = 5e-4
    nesterov: bool = _field(False, "Nesterov momentum (SGD)")
    grad_clip: float | None = _field(5.0, "clip the gradients' norm at this value (none: no clipping)", "NORM")
    crop_padding: int | None = _field(None, "zero padding of the random crop, in pixels", "PX")
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
    # -- the recipes (defaults: v1's) --
    recipe: str = _field("v1", "the recipe these settings came from", "NAME", tuple(RECIPES))
    optimizer: str = _field("sgd", "optimiser: SGD with momentum, or RMSprop in TensorFlow's form", "NAME",
                            OPTIMIZERS)
    opt_eps: float = _field(1e-3, "RMSpropTF's epsilon, added inside the square root", "EPS")
    rms_decay: float = _field(0.9, "RMSpropTF's decay of the mean square (alpha)", "ALPHA")
    decay_bias_bn: bool = _field(True, "apply weight decay to biases and 1-D (batch-norm) parameters too")
    schedule: str = _field("cosine", "learning-rate schedule: cosine to zero updated every step, the same updated "
                           "once per epoch, or step decay per epoch", "NAME", SCHEDULES)
    decay_epochs: float = _field(2.4, "step schedule: epochs between decays", "E")
    decay_rate: float = _field(0.97, "step schedule: factor of each decay", "F")
    warmup_epochs: int = _field(0, "epochs of linear warm-up from --warmup-lr (per-epoch schedules)", "N")
    warmup_lr: float = _field(1e-6, "learning rate the warm-up starts from", "LR")
    drop_path_schedule: str = _field("linear", "drop-path rate rising linearly from 0, or constant from the start",
                                     "NAME", DROP_PATH_SCHEDULES)
    dropout: float | None = _field(None, "classifier dropout rate (networks that have one; none: the network's own)",
                                   "P")
    ema_warmup: bool = _field(True, "warm the EMA decay up as min(decay, (1 + n) / (10 + n)) over the first updates")
    crop: str = _field("pad", "random crop: zero-padded by --crop-padding, or a random resized crop (8-100% of the "
                       "area, aspect 3/4-4/3)", "NAME", CROPS)
    fill: str = _field("mean", "what crop padding and cutout fill with: the mean (zero after normalisation) or "
                       "black pixels", "NAME", FILLS)
    auto_augment: str | None = _field(None, "augmentation policy: cifar10 (AutoAugment's CIFAR-10 policy), a "
                                      "RandAugment string such as rand-m9-mstd0.5, or none", "POLICY")
    erase_prob: float = _field(0.0, "probability of random erasing (on normalised images)", "P")
    erase_mode: str = _field("const", "random erasing fills with zeros, a normal colour per box or normal noise "
                             "per pixel", "MODE", ERASE_MODES)

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
        self._check_recipe_fields(bad)

    def _check_recipe_fields(self, bad: Any) -> None:
        """The checks of the fields the recipes added."""
        for name, choices in (("recipe", tuple(RECIPES)), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                              ("drop_path_schedule", DROP_PATH_SCHEDULES), ("crop", CROPS), ("fill", FILLS),
                              ("erase_mode", ERASE_MODES)):
            if getattr(self, name) not in choices:
                raise bad(name, f"one of {', '.join(choices)}")
        for name in ("opt_eps", "decay_epochs"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise bad(name, "a positive number")
        if not (math.isfinite(self.warmup_lr) and self.warmup_lr >= 0):
            raise bad("warmup_lr", "a non-negative number")
        if not 0 <= self.rms_decay < 1:
            raise bad("rms_decay", "in [0, 1)")
        if not 0 < self.decay_rate <= 1:
            raise bad("decay_rate", "in (0, 1]")
        if not isinstance(self.warmup_epochs, int) or isinstance(self.warmup_epochs, bool) or self.warmup_epochs < 0:
            raise bad("warmup_epochs", "a non-negative integer")
        if self.warmup_epochs and self.schedule == "cosine":
            raise bad("warmup_epochs", "0 with the per-step cosine schedule (warm up with cosine-epoch or step)")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise bad("dropout", "in [0, 1) (or None: the network's own)")
        if not 0 <= self.erase_prob <= 1:
            raise bad("erase_prob", "in [0, 1]")
        if self.auto_augment is not None:
            from nsganet.data.policies import policy_named

            policy_named(self.auto_augment)

    @classmethod
    def defaults(cls, finetune: bool = False, **overrides: Any) -> RetrainSettings:
        """The v1 recipe from scratch, or for fine-tuning inherited weights (lower lr, EMA on); then
        ``overrides``."""
        base: dict[str, Any] = {"lr": FINETUNE_LR, "ema_decay": FINETUNE_EMA} if finetune else {}
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
        if unknown:
            raise NsganetError(f"unknown re-training setting {unknown[0]!r}")
        return cls(**{**base, **overrides})

    @classmethod
    def for_recipe(cls, name: str = "v1", finetune: bool = False, **overrides: Any) -> RetrainSettings:
        """The settings of recipe ``name`` (:data:`RECIPES`), then ``overrides``.

        ``v1`` is :meth:`defaults` (``finetune`` lowers its learning rate and
        turns its EMA on); ``imagenet`` and ``cifar`` are fine-tuning recipes
        whatever ``finetune`` says. The ``imagenet`` learning rate follows the
        batch size, :data:`IMAGENET_LR_PER_256` per 256 images, unless given.
        """
        if name not in RECIPES:
            raise NsganetError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
        if overrides.get("recipe", name) != name:
            raise NsganetError(f"recipe {name!r} cannot record recipe={overrides['recipe']!r}")
        if name == "v1":
            return cls.defaults(finetune, **overrides)
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
        if unknown:
            raise NsganetError(f"unknown re-training setting {unknown[0]!r}")
        values = {**RECIPES[name], **overrides, "recipe": name}
        if name == "imagenet" and "lr" not in overrides:
            batch = values["batch_size"]
            values["lr"] = IMAGENET_LR_PER_256 * batch / 256 if isinstance(batch, int) and batch > 0 else 1.0
        return cls(**values)

    @property
    def pixel_augmentation(self) -> bool:
        """Whether the training images need the pixel-space pipeline (anything beyond v1's crop, flip and cutout
        in normalised space)."""
        return (self.crop != "pad" or self.fill != "mean" or self.auto_augment is not None
                or self.erase_prob > 0)

    def augmentation(self, dataset: Any, mean: Sequence[float] | None = None) -> Augmentation | RecipeAugmentation:
        """The training augmentation, sized for the dataset's images.

        v1's crop, flip (where the data allows) and cutout run on normalised
        images (:class:`~nsganet.data.Augmentation`); with a policy, random
        erasing, a resized crop or black fill the pipeline runs on pixels
        (:class:`~nsganet.data.policies.RecipeAugmentation`), whose RandAugment
        fills with ``mean`` (the normalisation mean, default grey) as timm's.
        """
        side = dataset.image_size
        padding = self.crop_padding if self.crop_padding is not None else max(1, side // 8)
        cut = self.cutout if self.cutout is not None else side // 2
        if not self.pixel_augmentation:
            from nsganet.data import Augmentation

            return Augmentation(crop_padding=padding, flip=dataset.flip, cutout=cut)
        from nsganet.data.policies import RandomErasing, RecipeAugmentation, policy_named

        channels = dataset.channels
        means = list(mean) if mean is not None else [0.5] * channels
        mean_fill = tuple(min(255, round(255 * m)) / 255.0 for m in means)  # timm's img_mean, as [0, 1] pixels
        policy = policy_named(self.auto_augment, fill=mean_fill) if self.auto_augment is not None else None
        erasing = RandomErasing(self.erase_prob, self.erase_mode) if self.erase_prob > 0 else None
        fill = tuple(means) if self.fill == "mean" else (0.0,) * channels
        return RecipeAugmentation(crop=self.crop, crop_padding=padding if self.crop == "pad" else 0,
                                  flip=dataset.flip, policy=policy, cutout=cut, fill=fill, erasing=erasing)

"""Supernet evaluation (NSGANetV2): inherit weights, recalibrate batch norm, validate.

An architecture of a :class:`~nsganet.spaces.base.SupernetSpace` (the
``mobilenetv3`` space) is extracted from a trained once-for-all supernet with
its weights, its batch-norm statistics are
re-estimated on a few hundred search-train images, optionally it is fine-tuned
for a few epochs, and its error is measured on the held-out validation subset
of the training data (``--vld-size``); the test split is never seen. With
``fgsm_eps`` the subnet is also attacked with FGSM on that subset and
``robustness`` (100 - normalised FGSM area) returned too.
Extraction, calibration and validation take a second or two on a CPU, where
proxy training takes minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nsganet.data import Augmentation, make_loader
from nsganet.errors import ConfigError
from nsganet.evaluators.base import EVALUATORS, EvaluatorRequest
from nsganet.nn.bn_calibration import recalibrate_bn
from nsganet.robustness.fgsm import fgsm_robustness, objective_eps
from nsganet.spaces.base import Architecture, SupernetSpace
from nsganet.supernet.files import TrainedSupernet, fit_supernet, load_supernet
from nsganet.supernet.training import SupernetTrainSettings
from nsganet.train.loop import TrainSettings, accuracy, train
from nsganet.utils.device import resolve_device
from nsganet.utils.seeds import derived_seed


@dataclass(frozen=True)
class SupernetEvalSettings:
    """How each candidate is scored: calibration images, optional fine-tuning, batch sizes, FGSM strengths.

    ``device`` and ``amp`` say where and in what precision subnets run;
    ``data_workers`` are the processes that decode streamed images.
    """

    calibration_images: int = 500
    finetune: TrainSettings | None = None
    batch_size: int = 64
    eval_batch_size: int = 256
    fgsm_eps: tuple[float, ...] | None = None
    device: str = "auto"
    amp: str = "off"
    data_workers: int | None = None


class SupernetEvaluator:
    """Validation error of an architecture with weights inherited from a supernet.

    In memory, images keep their size and a subnet resizes them to its own
    resolution; streamed from files, the loaders decode each image at the
    subnet's resolution (calibration images too, once per resolution).
    """

    provides = frozenset({"error"})

    def __init__(self, supernet: TrainedSupernet, train_set: Any, valid_set: Any,
                 settings: SupernetEvalSettings | None = None, seed: int = 0) -> None:
        supernet.module.eval()
        self.supernet = supernet
        self.space = supernet.space  # the space whose architectures this supernet holds
        self.train_set, self.valid_set = train_set, valid_set
        self.settings, self.seed = settings or SupernetEvalSettings(), seed
        self.mean, self.std = supernet.mean, supernet.std
        if self.settings.fgsm_eps is not None:
            self.provides = frozenset({"error", "robustness"})
        generator = torch.Generator().manual_seed(seed)
        n = min(self.settings.calibration_images, len(train_set))
        self._calibration_set = train_set.subset(torch.sort(torch.randperm(len(train_set), generator=generator)[:n])
                                                 .values)  # the same images for every candidate
        self._calibration: dict[int | None, torch.Tensor] = {}

    @property
    def calibration(self) -> torch.Tensor:
        """The calibration images as the data hold them (normalised)."""
        return self.calibration_at(None)

    def calibration_at(self, resolution: int | None) -> torch.Tensor:
        """The calibration images at ``resolution`` px (streamed data; in memory they keep their size)."""
        key = None if self.train_set.in_memory else resolution
        if key not in self._calibration:
            loader = make_loader(self._calibration_set, len(self._calibration_set), self.mean, self.std,
                                 shuffle=False, resolution=key, workers=self.settings.data_workers)
            self._calibration[key] = next(iter(loader))[0]
        return self._calibration[key]

    def resolution(self, arch: Architecture) -> int:
        """The side of the images an architecture's network computes at."""
        return self.space.input_resolution(np.asarray(arch.genome), self.train_set.image_size)

    @property
    def network_shape(self) -> dict[str, int]:
        return {"num_classes": self.supernet.num_classes, "input_size": self.train_set.image_size,
                "in_channels": self.supernet.in_channels}

    def subnet(self, arch: Architecture, calibrate: bool = True) -> torch.nn.Module:
        """The architecture's network with inherited (and, by default, recalibrated) weights."""
        subnet = self.supernet.extract(arch.genome).to(resolve_device(self.settings.device))
        if calibrate:
            recalibrate_bn(subnet, self.calibration_at(self.resolution(arch)))
        return subnet.eval()

    def error(self, model: torch.nn.Module, resolution: int | None = None) -> float:
        """Validation error of a network, in percent (streamed images decoded at ``resolution`` px)."""
        loader = make_loader(self.valid_set, self.settings.eval_batch_size, self.mean, self.std, shuffle=False,
                             resolution=resolution, workers=self.settings.data_workers)
        device = next(model.parameters()).device
        return 100.0 - accuracy(model, loader, device=device, channels_last=False, amp=self.settings.amp)

    def __call__(self, arch: Architecture) -> dict[str, float]:
        model = self.subnet(arch)
        resolution = self.resolution(arch)
        if self.settings.finetune is not None:
            seed = derived_seed(self.seed, str(arch))
            torch.manual_seed(seed)
            padding = max(1, self.train_set.image_size // 8)
            loader = make_loader(self.train_set, self.settings.batch_size, self.mean, self.std, shuffle=True,
                                 augmentation=Augmentation(crop_padding=padding, flip=self.train_set.flip),
                                 seed=seed, drop_last=len(self.train_set) > self.settings.batch_size,
                                 resolution=resolution, workers=self.settings.data_workers)
            train(model, loader, self.settings.finetune, device=next(model.parameters()).device)
        values = {"error": self.error(model, resolution)}
        if self.settings.fgsm_eps is not None:
            values["robustness"] = 100.0 - fgsm_robustness(
                model, self.valid_set, self.valid_set.labels, self.valid_set.num_classes,
                self.settings.fgsm_eps, self.mean, self.std, batch_size=self.settings.eval_batch_size)
        return values

    def __repr__(self) -> str:
        return (f"SupernetEvaluator({self.train_set.name}, {len(self.valid_set)} validation images, "
                f"{len(self._calibration_set)} calibration images)")


@EVALUATORS.register("supernet")
def supernet_evaluator(request: EvaluatorRequest) -> SupernetEvaluator:
    """Weight inheritance from the configured supernet (searched as it is, or fine-tuned on the data first), or
    from one trained in ``request.work_dir`` first.

    The supernet trained or fine-tuned here sees only the search-train part of
    the data; the validation subset (``vld_size`` images, or
    ``valid_fraction``) stays unseen. Fine-tuning a given supernet is the
    NSGANetV2 recipe for a new dataset: a new classifier when the classes
    differ, the expanded channels sorted by importance, a few epochs of the
    sandwich rule.
    """
    config, space = request.config, request.space
    if not isinstance(space, SupernetSpace):
        raise ConfigError(f"the {space.name} space has no supernet to inherit weights from")
    fgsm_eps = objective_eps(config.objectives, config.fgsm_eps)  # checked before a supernet is trained
    train_set, search_train, search_valid = request.split()
    if config.supernet is not None and not config.supernet_epochs:
        supernet = load_supernet(config.supernet)
        if supernet.num_classes != train_set.num_classes or supernet.in_channels != train_set.channels:
            raise ConfigError(f"supernet {config.supernet} is for {supernet.num_classes} classes of "
                              f"{supernet.in_channels}-channel images, the data has {train_set.num_classes} "
                              f"classes of {train_set.channels}-channel images: fine-tune it on the data first "
                              "with --supernet-epochs N (NSGANetV2 used 5)")
    else:
        settings = SupernetTrainSettings(epochs=config.supernet_epochs, batch_size=max(config.batch_size, 64),
                                         amp=config.amp)
        supernet = fit_supernet(search_train, request.work_dir, settings, space.for_images(search_train.image_size),
                                init=config.supernet, seed=config.seed, progress=request.progress,
                                device=config.device, data_workers=config.data_workers)
    finetune = TrainSettings(epochs=config.finetune_epochs, lr=config.lr * 0.1, amp=config.amp) \
        if config.finetune_epochs else None
    settings = SupernetEvalSettings(finetune=finetune, batch_size=config.batch_size, fgsm_eps=fgsm_eps,
                                    device=config.device, amp=config.amp, data_workers=config.data_workers)
    return SupernetEvaluator(supernet, search_train, search_valid, settings, seed=config.seed)

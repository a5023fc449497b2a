"""Proxy evaluation (V1 paper, Sec. V-C): train a down-scaled network briefly, report validation error.

Every architecture trains from the same seed (derived from the run seed and
the architecture string), on the same search-train images, and is validated on
the search-validation split; the test split is never seen. Width and depth of
the proxy are the space's build options (e.g. ``channels``, ``layers``). With
``fgsm_eps`` the trained proxy is also attacked with FGSM on the validation
split and ``robustness`` (100 - normalised FGSM area, see
:mod:`nsganet.robustness.fgsm`) returned too. :meth:`ProxyEvaluator.with_epochs`
trains for another number of epochs (the rungs of multi-fidelity evaluation).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from nsganet.data import Augmentation, channel_stats, make_loader
from nsganet.evaluators.base import EVALUATORS, EvaluatorRequest
from nsganet.robustness.fgsm import fgsm_robustness, objective_eps
from nsganet.spaces.base import Architecture
from nsganet.train.loop import TrainSettings, accuracy, train
from nsganet.utils.device import resolve_device
from nsganet.utils.seeds import derived_seed


@dataclass(frozen=True)
class ProxySettings:
    """How much training each architecture gets during search: optimisation, batches, images, proxy size.

    ``fgsm_eps`` (pixel scale 0..1) asks for the ``robustness`` objective too.
    ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) is where networks
    train; ``data_workers`` the processes that decode streamed images.
    """

    train: TrainSettings = field(default_factory=lambda: TrainSettings(epochs=2))
    batch_size: int = 128
    train_images: int | None = None
    crop_padding: int | None = None
    cutout: int = 0
    build_options: dict[str, Any] = field(default_factory=dict)
    fgsm_eps: tuple[float, ...] | None = None
    device: str = "auto"
    data_workers: int | None = None


class ProxyEvaluator:
    """Validation error of an architecture's proxy network trained on the search-train split."""

    provides = frozenset({"error"})

    def __init__(self, train_set: Any, valid_set: Any, settings: ProxySettings, seed: int = 0) -> None:
        if settings.train_images is not None and settings.train_images < len(train_set):
            generator = torch.Generator().manual_seed(seed)
            keep = torch.randperm(len(train_set), generator=generator)[: settings.train_images]
            train_set = train_set.subset(torch.sort(keep).values)
        self.train_set, self.valid_set, self.settings, self.seed = train_set, valid_set, settings, seed
        if settings.fgsm_eps is not None:
            self.provides = frozenset({"error", "robustness"})
        self.mean, self.std = channel_stats(train_set)
        padding = settings.crop_padding
        if padding is None:
            padding = max(1, train_set.image_size // 8)
        self.augmentation = Augmentation(crop_padding=padding, flip=train_set.flip, cutout=settings.cutout)

    @property
    def network_shape(self) -> dict[str, int]:
        """``num_classes``, ``input_size`` and ``in_channels`` of the networks this data needs."""
        return {"num_classes": self.train_set.num_classes, "input_size": self.train_set.image_size,
                "in_channels": self.train_set.channels}

    def __call__(self, arch: Architecture) -> dict[str, float]:
        seed = derived_seed(self.seed, str(arch))  # the same for an architecture whenever it is trained
        torch.manual_seed(seed)
        model = arch.build(**self.network_shape, **self.settings.build_options)
        device = resolve_device(self.settings.device)
        pin = device.type == "cuda"
        train_loader = make_loader(self.train_set, self.settings.batch_size, self.mean, self.std, shuffle=True,
                                   augmentation=self.augmentation, seed=seed, drop_last=len(self.train_set) >
                                   self.settings.batch_size, channels_last=True, workers=self.settings.data_workers,
                                   pin_memory=pin)
        train(model, train_loader, self.settings.train, device=device)
        valid_loader = make_loader(self.valid_set, 512, self.mean, self.std, shuffle=False, channels_last=True,
                                   workers=self.settings.data_workers, pin_memory=pin)
        values = {"error": 100.0 - accuracy(model, valid_loader, device=device, amp=self.settings.train.amp)}
        if self.settings.fgsm_eps is not None:
            values["robustness"] = 100.0 - fgsm_robustness(model, self.valid_set, self.valid_set.labels,
                                                           self.valid_set.num_classes, self.settings.fgsm_eps,
                                                           self.mean, self.std, batch_size=512)
        return values

    def with_epochs(self, epochs: int) -> ProxyEvaluator:
        """This evaluator training for ``epochs`` epochs: the same data, seed and settings otherwise.

        Each architecture trains from scratch with its usual seed and a
        learning-rate schedule over ``epochs``, so the result equals that of a
        proxy evaluator configured with ``epochs`` (a multi-fidelity rung).
        """
        other = copy.copy(self)  # shares the data sets
        other.settings = dataclasses.replace(self.settings, train=dataclasses.replace(self.settings.train,
                                                                                      epochs=epochs))
        return other

    def __repr__(self) -> str:
        return (f"ProxyEvaluator({self.train_set.name}, {len(self.train_set)} train / "
                f"{len(self.valid_set)} valid images)")


@EVALUATORS.register("proxy")
def proxy_evaluator(request: EvaluatorRequest) -> ProxyEvaluator:
    """Proxy training on the configured dataset's search-train / search-validation split."""
    config = request.config
    fgsm_eps = objective_eps(config.objectives, config.fgsm_eps)  # None unless robustness is an objective
    _, search_train, search_valid = request.split()
    settings = ProxySettings(train=TrainSettings(epochs=config.epochs, lr=config.lr, amp=config.amp),
                             batch_size=config.batch_size, train_images=config.train_images, cutout=config.cutout,
                             build_options=request.build_options, fgsm_eps=fgsm_eps, device=config.device,
                             data_workers=config.data_workers)
    return ProxyEvaluator(search_train, search_valid, settings, seed=config.seed)
